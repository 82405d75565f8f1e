"""Log-likelihoods of requests under a causal LM: packed into rows, batched and sharded over the run's mesh like
the eval step, summed per request on the host."""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxlm.evals.requests import pack_rows


def token_loglikelihood(apply_fn: Callable) -> Callable:
    """(params, batch) → [B, T] log-probabilities of the weighted targets (0 elsewhere), in fp32."""

    def score(params, batch: dict) -> jax.Array:
        logits = apply_fn({"params": params}, batch["inputs"], batch["positions"], batch["segment_ids"])
        logp = jax.nn.log_softmax(logits.astype(jnp.float32), -1)
        return jnp.take_along_axis(logp, batch["targets"][..., None], -1)[..., 0] * batch["weights"]

    return score


def score_rows(
    score: Callable, params, rows: list[dict], length: int, batch_size: int, put_batch: Callable[[dict], dict]
) -> np.ndarray:
    """float64 [len(rows)] log-likelihoods of the requests `rows`, packed into rows of `length`; `score` is the
    jitted token scorer with a replicated output, and each process feeds its contiguous block of every global
    batch (as `jaxlm.train.evaluate` does)."""
    packed, owner = pack_rows(rows, length, batch_size)
    local = batch_size // jax.process_count()
    start = jax.process_index() * local
    tokens = np.concatenate(
        [
            np.asarray(
                score(params, put_batch({k: v[b + start : b + start + local] for k, v in packed.items()})), np.float64
            )
            for b in range(0, len(owner), batch_size)
        ]
    )
    real = owner >= 0
    return np.bincount(owner[real], weights=tokens[real], minlength=len(rows))
