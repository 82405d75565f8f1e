"""The shared cross-entropy equals optax's (value and gradient) and counts argmax hits."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxlm.losses.cross_entropy import cross_entropy_sums


def test_cross_entropy_sums_match_optax_and_argmax():
    logits = 5 * jax.random.normal(jax.random.PRNGKey(0), (4, 7, 64))
    targets = jax.random.randint(jax.random.PRNGKey(1), (4, 7), 0, 64).at[:, 0].set(jnp.argmax(logits[:, 0], -1))
    weights = jnp.ones((4, 7)).at[3].set(0.0)
    sums = cross_entropy_sums(logits, targets, weights)
    reference = lambda x: jnp.sum(optax.softmax_cross_entropy_with_integer_labels(x, targets) * weights)
    np.testing.assert_allclose(sums["nats"], reference(logits), rtol=1e-6)
    np.testing.assert_allclose(jax.grad(lambda x: cross_entropy_sums(x, targets, weights)["nats"])(logits),
                               jax.grad(reference)(logits), atol=1e-6)
    assert float(sums["weight"]) == 21.0
    assert float(sums["correct"]) == float(jnp.sum((jnp.argmax(logits, -1) == targets) * weights)) >= 3.0
