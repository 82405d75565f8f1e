"""`jaxlm bench --memory`: bytes of parameters, gradients, optimizer state, and XLA's buffers for the train step.

Parameters and optimizer state are counted from their shapes; gradients have the parameters' shapes and
dtypes (fp32 master copies under every precision). `temp_bytes` is XLA's compiled scratch memory for one
step (activations kept for the backward pass, gradients being built, workspaces), from
`jax.jit(train_step).lower(...).compile().memory_analysis()`; it depends on the backend (XLA:CPU upcasts bf16
dots to fp32 and keeps fp32 scratch). `activation_bytes` counts what autodiff saves from the forward pass for
the backward pass of one microbatch (jaxlm/bench/residuals.py): the figure a bf16 policy lowers everywhere.
"""

import jax
import ml_collections
import numpy as np

from jaxlm.bench.residuals import residual_bytes
from jaxlm.bench.setup import abstract_setup
from jaxlm.registry import precision


def tree_bytes(tree) -> int:
    """Total bytes of the array (or ShapeDtypeStruct) leaves of a tree."""
    return int(
        sum(np.prod(x.shape, dtype=np.int64) * np.dtype(x.dtype).itemsize for x in jax.tree_util.tree_leaves(tree))
    )


def memory_report(cfg: ml_collections.ConfigDict) -> dict:
    """One flat dict of byte counts for `cfg`'s train step (and the settings that determine them)."""
    s = abstract_setup(cfg)
    params = tree_bytes(s.state.params)
    opt_state = tree_bytes(s.state.opt_state)
    stats = s.train_step.lower(s.state, s.batch).compile().memory_analysis()
    xla = {name: getattr(stats, f"{name}_size_in_bytes", None) for name in ("temp", "argument", "output", "alias")}
    return dict(
        family=cfg.model.family,
        optimizer=cfg.optim.name,
        precision=precision(cfg),
        batch_size=cfg.train.batch_size,
        microbatches=cfg.train.microbatches,
        seq_len=cfg.data.seq_len,
        param_count=sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(s.state.params)),
        params_bytes=params,
        grads_bytes=params,
        opt_state_bytes=opt_state,
        opt_state_to_params=round(opt_state / params, 4),
        activation_bytes=residual_bytes(cfg, s.state.params, s.batch),
        **{f"xla_{name}_bytes": value for name, value in xla.items()},
    )
