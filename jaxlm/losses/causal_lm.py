"""Next-token maximum likelihood for decoder-only models."""

import jax
import jax.numpy as jnp

from jaxlm.losses.cross_entropy import cross_entropy_sums


def causal_lm_loss(apply_fn, params, batch: dict, rng: jax.Array, train: bool = True):
    """Mean next-token cross-entropy over weighted targets; aux holds the sums for exact aggregation."""
    logits = apply_fn({"params": params}, batch["inputs"], batch["positions"], batch["segment_ids"],
                      deterministic=not train, rngs={"dropout": rng})
    sums = cross_entropy_sums(logits, batch["targets"], batch["weights"])
    loss = sums["nats"] / jnp.maximum(sums["weight"], 1.0)
    return loss, sums
