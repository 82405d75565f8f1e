"""Bytes the backward pass keeps from the forward pass (activations), counted by JAX's autodiff itself.

XLA's `temp_size_in_bytes` is backend-dependent: XLA:CPU computes bf16 dots by upcasting to fp32 and
keeps fp32 temporaries, so bf16 barely moves it on a CPU. The residuals autodiff saves for the backward
pass are what a bf16 policy halves on every backend; parameters (the step's arguments) are not counted.
"""

import jax
import ml_collections
import numpy as np

try:  # jax's own residual accounting (the data behind jax.ad_checkpoint.print_saved_residuals)
    from jax._src.ad_checkpoint import saved_residuals
except ImportError:  # pragma: no cover - a future jax that moved it
    saved_residuals = None

from jaxlm.registry import build_model, loss_fn


def residual_bytes(cfg: ml_collections.ConfigDict, params, batch: dict) -> int | None:
    """Bytes of forward values saved for the backward pass of one microbatch (None if jax cannot tell)."""
    if saved_residuals is None:
        return None
    model, loss = build_model(cfg), loss_fn(cfg)
    k = cfg.train.microbatches
    micro = {name: jax.ShapeDtypeStruct((x.shape[0] // k, *x.shape[1:]), x.dtype) for name, x in batch.items()}

    def objective(p, b):
        return loss(model.apply, p, b, jax.random.PRNGKey(0), True)[0]

    saved = saved_residuals(objective, params, micro)
    return int(
        sum(
            np.prod(a.shape, dtype=np.int64) * np.dtype(a.dtype).itemsize
            for a, source in saved
            if "from the argument" not in source
        )
    )
