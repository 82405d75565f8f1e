"""Encoder-decoder building blocks shared by T5 and BART: attention with self/cross decoding caches.

Decoding keeps two caches per decoder layer: self-attention keys/values written one step at a time at the
decoder's cache index, and cross-attention keys/values computed once from the encoder output (on the first
call that passes it) and read back on every later step.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxlm.models.layers import attention_mask, partitioned


class Projection(nn.Module):
    """x · kernel (+ bias) over the leading kernel axes `n_in`; N(0, std) kernel with logical axis names.

    The kernel is created at its true rank (not flattened as nn.DenseGeneral does), so its logical names
    also hold while it is initialised under a mesh."""

    shape: tuple
    axes: tuple
    n_in: int
    std: float
    use_bias: bool
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        kernel = self.param("kernel", partitioned(nn.initializers.normal(self.std), self.axes), self.shape)
        y = jnp.tensordot(x.astype(self.dtype), kernel.astype(self.dtype),
                          (tuple(range(x.ndim - self.n_in, x.ndim)), tuple(range(self.n_in))))
        if self.use_bias:
            bias_init = partitioned(nn.initializers.zeros, self.axes[self.n_in:])
            y = y + self.param("bias", bias_init, self.shape[self.n_in:]).astype(self.dtype)
        return y


def dense_heads(d_model: int, n_heads: int, head_dim: int, std: float, use_bias: bool, dtype, name: str) -> Projection:
    """[..., embed] → [..., heads, kv] projection."""
    return Projection((d_model, n_heads, head_dim), ("embed", "heads", "kv"), 1, std, use_bias, dtype, name=name)


class Attention(nn.Module):
    """Multi-head attention of x over kv with an additive bias; `cache` is '' (none), 'self' or 'cross'."""

    n_heads: int
    head_dim: int
    q_std: float
    kv_std: float
    out_std: float
    use_bias: bool = False
    scale: float | None = None   # logits scale; None = 1/sqrt(head_dim), T5 uses 1.0 (folded into q init)
    cache: str = ""
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, kv, mask, bias=None, cache_index=None):
        """kv None (cross, decoding) reads the cached encoder keys/values; cache_index is the self-cache slot."""
        d = x.shape[-1]
        q = dense_heads(d, self.n_heads, self.head_dim, self.q_std, self.use_bias, self.dtype, "q")(x)
        if self.cache == "cross" and kv is None:
            k, v = self.get_variable("cache", "cross_key"), self.get_variable("cache", "cross_value")
        else:
            k = dense_heads(d, self.n_heads, self.head_dim, self.kv_std, self.use_bias, self.dtype, "k")(kv)
            v = dense_heads(d, self.n_heads, self.head_dim, self.kv_std, self.use_bias, self.dtype, "v")(kv)
            if self.cache == "cross":
                self.put_variable("cache", "cross_key", k)
                self.put_variable("cache", "cross_value", v)
            elif self.cache == "self":
                k, v = self._write_self_cache(k, v, cache_index)
        if bias is not None:
            bias = bias.astype(q.dtype)
        y = jax.nn.dot_product_attention(q, k, v, bias=bias, mask=mask, scale=self.scale)
        return Projection((self.n_heads, self.head_dim, d), ("heads", "kv", "embed"), 2, self.out_std, self.use_bias,
                          self.dtype, name="o")(y)

    def _write_self_cache(self, k, v, index):
        """Write k/v at `index`; the init call (no cache yet) only sizes it: [batch, slots, heads, kv]."""
        initialized = self.has_variable("cache", "key")
        cache_k = self.variable("cache", "key", jnp.zeros, k.shape, k.dtype)
        cache_v = self.variable("cache", "value", jnp.zeros, v.shape, v.dtype)
        if not initialized:
            return k, v
        cache_k.value = jax.lax.dynamic_update_slice(cache_k.value, k, (0, index, 0, 0))
        cache_v.value = jax.lax.dynamic_update_slice(cache_v.value, v, (0, index, 0, 0))
        return cache_k.value, cache_v.value


def decoder_geometry(module: nn.Module, decode: bool, segment_ids, positions):
    """(query positions, key positions, causal self mask, cache index) for a decoder call.

    Training/scoring: keys are the queries (packed segments, causal). Decoding: queries sit at the cache index,
    keys are all cache slots (sized by the init call), and a query sees the slots up to itself.
    """
    full = (positions, positions, attention_mask(segment_ids, segment_ids, causal=True), None)
    if not decode:
        return full
    initialized = module.has_variable("cache", "index")
    index = module.variable("cache", "index", lambda: jnp.array(0, jnp.int32))
    slots = module.variable("cache", "slots", jnp.zeros, (1, positions.shape[1]), jnp.int32)  # only its shape counts
    if not initialized:
        return full
    i, t = index.value, positions.shape[1]
    q_pos = jnp.broadcast_to(i + jnp.arange(t), positions.shape)
    k_pos = jnp.broadcast_to(jnp.arange(slots.value.shape[1]), (positions.shape[0], slots.value.shape[1]))
    mask = (k_pos[:, None, :] <= q_pos[:, :, None])[:, None]
    index.value = i + t
    return q_pos, k_pos, mask, i


def default_ids(tokens, segment_ids=None, positions=None):
    """Segment ids (all 1) and positions (0, 1, ...) for unpacked inputs."""
    if segment_ids is None:
        segment_ids = jnp.ones_like(tokens)
    if positions is None:
        positions = jnp.broadcast_to(jnp.arange(tokens.shape[1]), tokens.shape)
    return segment_ids, positions
