"""Weighted token cross-entropy returning sums, so means over any number of batches stay exact."""

import jax
import jax.numpy as jnp
import optax


def cross_entropy_sums(logits: jax.Array, targets: jax.Array, weights: jax.Array) -> dict[str, jax.Array]:
    """Sums over weighted positions: `nats` (−log p(target)), `weight` and `correct` (argmax hits)."""
    logits = logits.astype(jnp.float32)
    nll = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
    correct = (jnp.argmax(logits, -1) == targets).astype(jnp.float32)
    return dict(nats=jnp.sum(nll * weights), weight=jnp.sum(weights), correct=jnp.sum(correct * weights))
