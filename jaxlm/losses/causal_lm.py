"""Next-token maximum likelihood for decoder-only models."""

import jax

from jaxlm.losses.cross_entropy import cross_entropy_sums, mean_term
from jaxlm.losses.fused_cross_entropy import fused_cross_entropy_sums


def causal_lm_loss(apply_fn, params, batch: dict, rng: jax.Array, train: bool = True, loss_chunk: int = 0,
                   norms: dict | None = None):
    """Mean next-token cross-entropy over weighted targets; aux holds the sums for exact aggregation.

    `norms`: see `mean_term`. `loss_chunk` > 0 applies the output projection inside the fused, chunked cross-entropy (that many sequence
    positions at a time) instead of materialising the logits.
    """
    args = (batch["inputs"], batch["positions"], batch["segment_ids"])
    kwargs = dict(deterministic=not train, rngs={"dropout": rng})
    if loss_chunk:
        hidden, embedding = apply_fn({"params": params}, *args, return_hidden=True, **kwargs)
        sums = fused_cross_entropy_sums(hidden, embedding, batch["targets"], batch["weights"], loss_chunk)
    else:
        sums = cross_entropy_sums(apply_fn({"params": params}, *args, **kwargs), batch["targets"], batch["weights"])
    return mean_term(sums, norms=norms), sums
