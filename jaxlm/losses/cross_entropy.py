"""Weighted token cross-entropy returning sums, so means over any number of batches stay exact."""

import jax
import jax.numpy as jnp


def mean_term(sums: dict, prefix: str = "", norms: dict | None = None) -> jax.Array:
    """One loss term: its summed nats over its target count, the batch's own or, under gradient accumulation,
    the whole batch's (`norms`, keyed like the sums), so that the terms of k microbatches add up to the term."""
    weight = (sums if norms is None else norms)[prefix + "weight"]
    return sums[prefix + "nats"] / jnp.maximum(weight, 1.0)


def cross_entropy_sums(logits: jax.Array, targets: jax.Array, weights: jax.Array) -> dict[str, jax.Array]:
    """Sums over weighted positions: `nats` (−log p(target)), `weight` and `correct` (target logit is the max).

    One max over the vocabulary serves both the stable log-sum-exp and the accuracy: a separate argmax is a
    second vocabulary-sized reduction (up to a tenth of a small model's CPU step). Exact ties count as hits.
    """
    logits = logits.astype(jnp.float32)
    top = jax.lax.stop_gradient(jnp.max(logits, axis=-1))
    lse = top + jnp.log(jnp.sum(jnp.exp(logits - top[..., None]), axis=-1))
    target = jnp.take_along_axis(logits, targets[..., None].astype(jnp.int32), axis=-1)[..., 0]
    correct = (target >= top).astype(jnp.float32)
    return dict(nats=jnp.sum((lse - target) * weights), weight=jnp.sum(weights), correct=jnp.sum(correct * weights))
