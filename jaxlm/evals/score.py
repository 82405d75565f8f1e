"""Per-row log-likelihoods of a causal LM, batched and sharded over the run's mesh like the eval step."""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxlm.evals.requests import stack_rows

ROW_MULTIPLE = 16  # rows are padded to a multiple of this many positions (fewer shapes to compile)


def row_loglikelihood(apply_fn: Callable) -> Callable:
    """(params, batch) → [B] summed log-probabilities of each row's weighted targets, in fp32."""
    def score(params, batch: dict) -> jax.Array:
        logits = apply_fn({"params": params}, batch["inputs"], batch["positions"], batch["segment_ids"])
        logp = jax.nn.log_softmax(logits.astype(jnp.float32), -1)
        picked = jnp.take_along_axis(logp, batch["targets"][..., None], -1)[..., 0]
        return jnp.sum(picked * batch["weights"], -1)
    return score


def row_length(rows: list[dict], max_length: int) -> int:
    """The padded length of a set of rows: their longest, rounded up to ROW_MULTIPLE, at most max_length."""
    longest = max(int(np.sum(r["segment_ids"] > 0)) for r in rows)
    return min(-(-longest // ROW_MULTIPLE) * ROW_MULTIPLE, max_length)


def score_rows(score: Callable, params, rows: list[dict], length: int, batch_size: int,
               put_batch: Callable[[dict], dict]) -> np.ndarray:
    """float64 [len(rows)] log-likelihoods; `score` is the jitted row scorer with a replicated output, and each
    process feeds its contiguous block of every global batch (as `jaxlm.train.evaluate` does)."""
    stacked = stack_rows(rows, length, batch_size)
    local = batch_size // jax.process_count()
    start = jax.process_index() * local
    out = []
    for b in range(0, len(stacked["inputs"]), batch_size):
        batch = {k: v[b + start:b + start + local] for k, v in stacked.items()}
        out.append(np.asarray(score(params, put_batch(batch)), np.float64))
    return np.concatenate(out)[:len(rows)]
