"""T5-specific layers: bucketed relative position bias, ReLU / gated-GELU feed-forward (RMSNorm is in layers.py)."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxlm.models.layers import dense, gelu, partitioned

FF_KINDS = ("relu", "gated_gelu")


def relative_position_bucket(relative: jax.Array, bidirectional: bool, n_buckets: int, max_distance: int):
    """T5's buckets of (key − query): exact for small distances, logarithmic up to max_distance, then clamped."""
    bucket = jnp.zeros_like(relative)
    if bidirectional:
        n_buckets //= 2
        bucket += (relative > 0).astype(relative.dtype) * n_buckets
        distance = jnp.abs(relative)
    else:
        distance = -jnp.minimum(relative, 0)
    max_exact = n_buckets // 2
    log_ratio = jnp.log(jnp.maximum(distance, 1).astype(jnp.float32) / max_exact) / math.log(max_distance / max_exact)
    large = max_exact + (log_ratio * (n_buckets - max_exact)).astype(relative.dtype)
    large = jnp.minimum(large, n_buckets - 1)
    return bucket + jnp.where(distance < max_exact, distance, large)


class RelativeBias(nn.Module):
    """[B, heads, Tq, Tk] additive bias from bucketed relative positions; one table per stack."""

    n_heads: int
    n_buckets: int
    max_distance: int
    bidirectional: bool
    std: float

    @nn.compact
    def __call__(self, q_positions: jax.Array, k_positions: jax.Array) -> jax.Array:
        table = self.param(
            "table", partitioned(nn.initializers.normal(self.std), (None, "heads")), (self.n_buckets, self.n_heads)
        )
        relative = jnp.asarray(k_positions, jnp.int32)[:, None, :] - jnp.asarray(q_positions, jnp.int32)[:, :, None]
        buckets = relative_position_bucket(relative, self.bidirectional, self.n_buckets, self.max_distance)
        return jnp.transpose(table[buckets], (0, 3, 1, 2))


class FeedForward(nn.Module):
    """'relu': wo(relu(wi x)); 'gated_gelu': wo(gelu(wi_0 x) · wi_1 x); no biases, T5 init."""

    d_ff: int
    kind: str
    dropout: float
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, deterministic: bool = True):
        d_model = x.shape[-1]

        def project(features, std, axes, name):
            return dense(features, axes, nn.initializers.normal(std), False, self.dtype, name)

        if self.kind == "relu":
            h = nn.relu(project(self.d_ff, d_model**-0.5, ("embed", "mlp"), "wi")(x))
        else:
            h = gelu(project(self.d_ff, d_model**-0.5, ("embed", "mlp"), "wi_0")(x), approximate=True)
            h = h * project(self.d_ff, d_model**-0.5, ("embed", "mlp"), "wi_1")(x)
        h = nn.Dropout(self.dropout)(h, deterministic=deterministic)
        return project(d_model, self.d_ff**-0.5, ("mlp", "embed"), "wo")(h)
