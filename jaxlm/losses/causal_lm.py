"""Next-token maximum likelihood for decoder-only models."""

import jax

from jaxlm.losses.cross_entropy import mean_term
from jaxlm.losses.fused_cross_entropy import head_cross_entropy_sums


def causal_lm_loss(
    apply_fn, params, batch: dict, rng: jax.Array, train: bool = True, *, norms: dict | None = None, loss_chunk: int = 0
):
    """Mean next-token cross-entropy over weighted targets; aux holds the sums for exact aggregation.

    `norms`: see `mean_term`. `loss_chunk` > 0 applies the output projection inside the fused, chunked cross-entropy (that many sequence
    positions at a time) instead of materialising the logits.
    """
    head = apply_fn(
        {"params": params},
        batch["inputs"],
        batch["positions"],
        batch["segment_ids"],
        deterministic=not train,
        rngs={"dropout": rng},
        return_hidden=True,
    )
    sums = head_cross_entropy_sums(head, batch["targets"], batch["weights"], loss_chunk)
    return mean_term(sums, norms=norms), sums
