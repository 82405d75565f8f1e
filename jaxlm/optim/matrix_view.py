"""Let a transformation see every N-d kernel as the matrix it multiplies by, so Adafactor can factor it.

jaxlm keeps attention kernels at their true rank ([embed, heads, kv] in, [heads, kv, embed] out) for
sharding by logical axis. optax's factored second moments look at the two largest dims of a leaf; on
[512, 8, 64] those are 512 and 64, so a T5-base query kernel would not be factored (64 < 128) and would keep
a full-size second moment. Viewed as the [512, 512] matrix the layer applies, it keeps 512 + 512 numbers.
"""

import math

import jax
import jax.numpy as jnp
import optax


def matrix_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """[in..., out...] as a matrix: the largest dim stands alone on its side (d_model of an attention kernel)."""
    if len(shape) <= 2:
        return tuple(shape)
    if shape[0] >= max(shape[1:]):
        return shape[0], math.prod(shape[1:])
    return math.prod(shape[:-1]), shape[-1]


def _as_matrices(tree):
    return jax.tree_util.tree_map(lambda x: None if x is None else jnp.reshape(x, matrix_shape(x.shape)), tree)


def as_matrices(inner: optax.GradientTransformation) -> optax.GradientTransformation:
    """`inner` applied to 2-d views of the updates (and params); updates come back in their own shapes."""

    def init_fn(params):
        return inner.init(_as_matrices(params))

    def update_fn(updates, state, params=None):
        out, state = inner.update(_as_matrices(updates), state, None if params is None else _as_matrices(params))
        return jax.tree_util.tree_map(lambda o, u: jnp.reshape(o, u.shape), out, updates), state

    return optax.GradientTransformation(init_fn, update_fn)
