"""Building blocks shared by every model family: initializers, one projection, one attention (self or cross, with
an optional bias and one decoding cache), MLP, layer norm, and the layer stack (unrolled or scanned, remat).

Every parameter carries logical axis names ('embed', 'mlp', 'heads', 'kv', 'vocab'); jaxlm.sharding maps
them to mesh axes with one rules table.
"""

import functools
from collections.abc import Callable
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxlm.config.schema import REMAT_CHOICES
from jaxlm.models.attention import attention_mask, dot_product_attention, window_mask
from jaxlm.models.rotary import Rotary

Initializer = Callable[..., jax.Array]
ACTIVATION = ("batch", "length", "act_embed")  # the residual stream: split over the batch, whole along d_model


def kernel_init(scheme: str, std: float, in_axis=0, out_axis=-1, scale: float = 1.0) -> Initializer:
    """'gpt2': N(0, (std·scale)²); 'fan_in' and 't5': N(0, scale²/fan_in) with fan_in over `in_axis`."""
    if scheme == "gpt2":
        return nn.initializers.normal(std * scale)
    if scheme in ("fan_in", "t5"):
        return nn.initializers.variance_scaling(scale**2, "fan_in", "normal", in_axis=in_axis, out_axis=out_axis)
    raise ValueError(f"unknown init scheme {scheme!r}")


def qkv_init(scheme: str, std: float, head_dim: int) -> Initializer:
    """A fused [d_model, 3, heads, head_dim] kernel by `kernel_init`; 't5' folds the 1/sqrt(head_dim) logit scaling
    into the query slice (std (d_model·d_kv)^-1/2, as mesh-tf/t5x), so attention uses unscaled dot products."""

    def init(key, shape, dtype=jnp.float32):
        w = kernel_init(scheme, std, 0, (1, 2, 3))(key, shape, dtype)
        return w.at[:, 0].multiply(head_dim**-0.5) if scheme == "t5" else w

    return init


def q_init(scheme: str, std: float, head_dim: int) -> Initializer:
    """A cross-attention query kernel [d_model, heads, head_dim], scaled as `qkv_init`'s query slice."""

    def init(key, shape, dtype=jnp.float32):
        w = kernel_init(scheme, std, 0, (1, 2))(key, shape, dtype)
        return w * head_dim**-0.5 if scheme == "t5" else w

    return init


def embed_init(scheme: str, std: float) -> Initializer:
    """Token embeddings: N(0, 1) for 't5' (mesh-tf), N(0, std²) otherwise."""
    return nn.initializers.normal(1.0 if scheme == "t5" else std)


def token_embedding(c: ml_collections.ConfigDict, scheme: str, name: str | None = None) -> nn.Embed:
    """The [vocab, d_model] token embedding every family has, initialised by `embed_init(scheme)` (the family's
    init scheme: config.model.init for GPT, always 't5' for T5 and 'gpt2' for BERT and BART)."""
    return nn.Embed(
        c.vocab_size,
        c.d_model,
        name=name,
        embedding_init=partitioned(embed_init(scheme, c.init_std), ("vocab", "embed")),
    )


def attention_scale(scheme: str, head_dim: int) -> float:
    """Logit scaling: 1 under 't5' (folded into the query init), else 1/sqrt(head_dim)."""
    return 1.0 if scheme == "t5" else head_dim**-0.5


def head_dtype(compute_dtype: jnp.dtype) -> jnp.dtype:
    """Operand dtype of the output projection (logits accumulate in fp32 either way): bf16 under bf16, as MaxText's
    and PyTorch autocast's heads (in fp32 the largest matmul would run at a fraction of the bf16 rate); fp32
    otherwise (fp16's range would flush the small, not yet loss-scaled logit gradients to zero)."""
    return jnp.bfloat16 if jnp.dtype(compute_dtype) == jnp.dtype(jnp.bfloat16) else jnp.float32


class Weight(nn.Module):
    """A bare parameter `kernel` of `shape` with logical axis names: an output projection its head applies itself."""

    shape: tuple[int, ...]
    axes: tuple
    initializer: Initializer

    @nn.compact
    def __call__(self) -> jax.Array:
        return self.param("kernel", partitioned(self.initializer, self.axes), self.shape)


class HeadInputs(NamedTuple):
    """What a vocabulary head projects (for a loss that applies it itself, jaxlm.losses.fused_cross_entropy):
    logits = hidden · embeddingᵀ + bias, hidden [B, T, d_model], embedding [vocab, d_model], bias [vocab] or None."""

    hidden: jax.Array
    embedding: jax.Array
    bias: jax.Array | None = None

    def logits(self) -> jax.Array:
        """The head's logits [B, T, vocab] in fp32 (operands in the hidden states' dtype)."""
        logits = jnp.einsum(
            "btd,vd->btv", self.hidden, self.embedding.astype(self.hidden.dtype), preferred_element_type=jnp.float32
        )
        return logits if self.bias is None else logits + self.bias.astype(jnp.float32)


def partitioned(init: Initializer, axes: tuple) -> Initializer:
    """Attach logical axis names to an initializer (Flax logical partitioning)."""
    return nn.with_logical_partitioning(init, axes)


def constrain(x: jax.Array, axes: tuple) -> jax.Array:
    """Pin an activation's layout by logical axis names; a no-op unless traced under a mesh and rules
    (jaxlm.train.step does that), so models also run unsharded (generation, tests)."""
    return nn.with_logical_constraint(x, axes)


class Projection(nn.Module):
    """x·W + b contracting x's last `n_in` axes with W's leading ones. W keeps its full N-d shape (flax's
    DenseGeneral hands initializers a flattened 2-d shape, which breaks per-axis fan-in and logical names)."""

    features: tuple[int, ...]
    kernel_axes: tuple
    kernel_init: Initializer
    n_in: int = 1
    use_bias: bool = True
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        in_shape = x.shape[x.ndim - self.n_in :]
        kernel = self.param("kernel", partitioned(self.kernel_init, self.kernel_axes), in_shape + self.features)
        y = jnp.tensordot(x.astype(self.dtype), kernel.astype(self.dtype), axes=self.n_in)
        if self.use_bias:
            bias = self.param("bias", partitioned(nn.initializers.zeros, self.kernel_axes[self.n_in :]), self.features)
            y = y + bias.astype(self.dtype)
        return y


def dense(features: int, axes: tuple, init: Initializer, use_bias: bool, dtype: jnp.dtype, name: str) -> Projection:
    """[..., in] → [..., features]: nn.Dense's parameters (kernel [in, out], bias [out]) with logical names."""
    return Projection((features,), axes, init, use_bias=use_bias, dtype=dtype, name=name)


def decoding_slots(module: nn.Module, length: int) -> tuple[jax.Array | None, jax.Array | None]:
    """(cache index, [1, 1, length, slots] mask) for a decoding call of `length` queries: they sit at the
    model's cache index (then advanced) and see every slot up to themselves. (None, None) on the init call,
    which only sizes the caches (slots = the init call's length)."""
    initialized = module.has_variable("cache", "index")
    index = module.variable("cache", "index", lambda: jnp.array(0, jnp.int32))
    slots = module.variable("cache", "slots", jnp.zeros, (1, length), jnp.int32)  # only its shape counts
    if not initialized:
        return None, None
    i = index.value
    index.value = i + length
    mask = jnp.arange(slots.value.shape[1])[None, :] <= (i + jnp.arange(length))[:, None]
    return i, mask[None, None]


def decoder_geometry(module: nn.Module, decode: bool, segment_ids: jax.Array, positions: jax.Array):
    """(query positions, key positions, causal self mask, cache index) for an encoder-decoder's decoder call.

    Training/scoring: keys are the queries (packed segments, causal). Decoding: queries sit at the cache index,
    keys are all cache slots (sized by the init call), and a query sees the slots up to itself.
    """
    full = (positions, positions, attention_mask(segment_ids, segment_ids, causal=True), None)
    index, mask = decoding_slots(module, positions.shape[1]) if decode else (None, None)
    if index is None:
        return full
    q_pos = jnp.broadcast_to(index + jnp.arange(positions.shape[1]), positions.shape)
    k_pos = jnp.broadcast_to(jnp.arange(mask.shape[-1]), (positions.shape[0], mask.shape[-1]))
    return q_pos, k_pos, mask, index


def default_ids(tokens: jax.Array, segment_ids: jax.Array | None = None, positions: jax.Array | None = None):
    """Segment ids (all 1) and positions (0, 1, ...) for unpacked inputs."""
    if segment_ids is None:
        segment_ids = jnp.ones_like(tokens)
    if positions is None:
        positions = jnp.broadcast_to(jnp.arange(tokens.shape[1]), tokens.shape)
    return segment_ids, positions


class EncoderDecoder(nn.Module):
    """An encoder-decoder model (T5, BART): a subclass defines `encode(inputs, segment_ids, positions,
    deterministic)` and `decode_logits(decoder_inputs, encoded, inputs_segment_ids, segment_ids, positions,
    deterministic, return_hidden)`; calling the model runs one, then the other."""

    cfg: ml_collections.ConfigDict
    dtype: jnp.dtype = jnp.float32
    decode: bool = False

    def __call__(
        self,
        inputs,
        decoder_inputs,
        inputs_segment_ids=None,
        targets_segment_ids=None,
        inputs_positions=None,
        targets_positions=None,
        deterministic: bool = True,
        return_hidden: bool = False,
    ):
        inputs_segment_ids, inputs_positions = default_ids(inputs, inputs_segment_ids, inputs_positions)
        encoded = self.encode(inputs, inputs_segment_ids, inputs_positions, deterministic)
        return self.decode_logits(
            decoder_inputs,
            encoded,
            inputs_segment_ids,
            targets_segment_ids,
            targets_positions,
            deterministic,
            return_hidden,
        )


class Seq2SeqBlock(nn.Module):
    """The fields of an encoder-decoder's block (T5's, BART's): with `cross`, a decoder block that also attends
    over the encoder's output; `decode` keeps a KV cache."""

    cfg: ml_collections.ConfigDict
    dtype: jnp.dtype
    cross: bool
    decode: bool = False
    deterministic: bool = True


class Attention(nn.Module):
    """Multi-head attention, the one every family uses: self-attention (one fused [embed, 3, heads, kv]
    projection `qkv`; with fewer `n_kv_heads`, grouped-query attention: `q` and a fused `kv` over the key/value
    heads) or, with `cross`, attention over another sequence (`q`, and a fused `kv`); an optional additive bias
    (T5's relative positions) or rotary positions (`rotary`), a sliding `window` over the most recent keys
    (Mistral's), RMSNorm over each head's queries and keys (`qk_norm`, Qwen3's); an output projection `out`. Decoding
    (`decode`) keeps one cache: self-attention writes its keys/values at the model's cache index
    (`decoding_slots`), cross-attention computes them once from the encoder output (the first call that passes
    it) and reads them back later."""

    n_heads: int
    head_dim: int
    scheme: str = "gpt2"  # init scheme (config.model.init); not `init`, which would shadow Module.init
    init_std: float = 0.02
    out_scale: float = 1.0  # GPT-2 residual scaling of the output projection
    use_bias: bool = True
    qkv_bias: bool = False  # biases on the q/k/v projections even without `use_bias` (Qwen2's attention)
    cross: bool = False
    causal: bool = False  # each query also sees only keys at or before it
    dropout: float = 0.0
    decode: bool = False
    implementation: str = "auto"  # ATTENTION_IMPLEMENTATIONS
    n_kv_heads: int = 0  # key/value heads of self-attention (0 = n_heads; 1 = multi-query)
    rotary: Rotary | None = None  # rotary positions on self-attention's queries and keys
    window: int = 0  # > 0: a query sees only the `window` most recent positions (itself included)
    qk_norm: bool = False  # RMSNorm (eps `norm_eps`) over each head's query and key, before rotary positions
    norm_eps: float = 1e-6
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(
        self,
        x: jax.Array,
        mask: jax.Array | None,
        kv: jax.Array | None = None,
        bias: jax.Array | None = None,
        cache_index: jax.Array | None = None,
        deterministic: bool = True,
        positions: jax.Array | None = None,
    ) -> jax.Array:
        """`mask` [B, 1, Tq, Tk] (None = all keys); `kv` the cross-attended sequence (None while decoding after
        the first step); `bias` [B, heads, Tq, Tk]; `cache_index` the decoding slot of x's first position;
        `positions` [B, T] x's positions (rotary positions only)."""
        d_model, heads = x.shape[-1], (self.n_heads, self.head_dim)
        kv_heads = self.n_kv_heads or self.n_heads
        project = functools.partial(Projection, use_bias=self.use_bias or self.qkv_bias, dtype=self.dtype)
        if not self.cross and kv_heads == self.n_heads:
            qkv = project(
                (3, *heads),
                ("embed", None, "heads", "kv"),
                qkv_init(self.scheme, self.init_std, self.head_dim),
                name="qkv",
            )(x)
            qkv = constrain(qkv, ("batch", "length", None, "heads", "kv"))
            q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        else:
            q = project(heads, ("embed", "heads", "kv"), q_init(self.scheme, self.init_std, self.head_dim), name="q")(x)
        if self.cross and kv is None:  # decoding: the encoder's keys/values were cached on the first step
            k, v = self.get_variable("cache", "cross_key"), self.get_variable("cache", "cross_value")
        elif self.cross or kv_heads != self.n_heads:
            head_axis = "heads" if kv_heads == self.n_heads else "kv_heads"
            kv = project(
                (2, kv_heads, self.head_dim),
                ("embed", None, head_axis, "kv"),
                kernel_init(self.scheme, self.init_std, 0, (1, 2, 3)),
                name="kv",
            )(kv if self.cross else x)
            k, v = kv[:, :, 0], kv[:, :, 1]
            if self.decode and self.cross:
                self.put_variable("cache", "cross_key", k)
                self.put_variable("cache", "cross_value", v)
        if self.qk_norm:
            q = RMSNorm(self.norm_eps, self.dtype, axis="kv", name="q_norm")(q)
            k = RMSNorm(self.norm_eps, self.dtype, axis="kv", name="k_norm")(k)
        if self.rotary is not None:
            q, k = self.rotary(q, positions), self.rotary(k, positions)
        causal, impl, window = self.causal, self.implementation, self.window
        if self.decode and not self.cross:
            k, v = self._write_cache(k, v, cache_index)
            causal, impl = False, "xla"  # the slots mask already limits each query to filled slots up to itself
            if window and cache_index is not None:  # ... and the window to the slots of its last `window` positions
                slots = window_mask(cache_index + jnp.arange(q.shape[1]), jnp.arange(k.shape[1]), window)
                mask, window = slots if mask is None else mask & slots, 0
        if bias is not None:
            bias = bias.astype(q.dtype)
        y = dot_product_attention(
            q, k, v, mask, attention_scale(self.scheme, self.head_dim), causal, impl, bias, window=window
        )
        y = Projection(
            (d_model,),
            ("heads", "kv", "embed"),
            kernel_init(self.scheme, self.init_std, (0, 1), 2, self.out_scale),
            n_in=2,
            use_bias=self.use_bias,
            dtype=self.dtype,
            name="out",
        )(y)
        return nn.Dropout(self.dropout)(y, deterministic=deterministic)

    def _write_cache(self, k: jax.Array, v: jax.Array, index: jax.Array | None):
        """Write k/v at `index`; the init call (index None) only sizes the cache: [batch, slots, heads, kv]."""
        cache_k = self.variable("cache", "key", jnp.zeros, k.shape, k.dtype)
        cache_v = self.variable("cache", "value", jnp.zeros, v.shape, v.dtype)
        if index is None:
            return k, v
        cache_k.value = jax.lax.dynamic_update_slice(cache_k.value, k, (0, index, 0, 0))
        cache_v.value = jax.lax.dynamic_update_slice(cache_v.value, v, (0, index, 0, 0))
        return cache_k.value, cache_v.value


def gelu(x: jax.Array, approximate: bool = True) -> jax.Array:
    """GELU whose backward pass keeps only its input: autodiff of the tanh form otherwise saves ~6 intermediates
    of the [batch, length, d_ff] hidden layer (a third of a GPT's saved activations); recomputing them is cheap
    elementwise work inside the backward fusion."""
    return jax.checkpoint(lambda h: nn.gelu(h, approximate=approximate))(x)


class MLP(nn.Module):
    """Position-wise feed-forward, output projection scaled for the residual stream: 'gelu' down(GELU(up x));
    'swiglu' down(SiLU(gate x) · up x) (Shazeer 2020, as Llama)."""

    d_ff: int
    scheme: str = "gpt2"  # init scheme (config.model.init)
    init_std: float = 0.02
    out_scale: float = 1.0
    dropout: float = 0.0
    approximate_gelu: bool = True
    dtype: jnp.dtype = jnp.float32
    kind: str = "gelu"  # config.schema.MLP_KINDS
    use_bias: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool = True) -> jax.Array:
        up_init = kernel_init(self.scheme, self.init_std)
        down_init = kernel_init(self.scheme, self.init_std, scale=self.out_scale)
        h = dense(self.d_ff, ("embed", "mlp"), up_init, self.use_bias, self.dtype, "up")(x)
        if self.kind == "swiglu":
            h = nn.silu(dense(self.d_ff, ("embed", "mlp"), up_init, self.use_bias, self.dtype, "gate")(x)) * h
        else:
            h = gelu(h, self.approximate_gelu)
        h = constrain(h, ("batch", "length", "mlp"))
        h = dense(x.shape[-1], ("mlp", "embed"), down_init, self.use_bias, self.dtype, "down")(h)
        return nn.Dropout(self.dropout)(h, deterministic=deterministic)


def layer_norm(eps: float, dtype: jnp.dtype, name: str, use_bias: bool = True) -> nn.LayerNorm:
    """LayerNorm with logically named scale and bias (computed in fp32 inside flax, cast to `dtype`)."""
    return nn.LayerNorm(
        epsilon=eps,
        dtype=dtype,
        name=name,
        use_bias=use_bias,
        scale_init=partitioned(nn.initializers.ones, ("embed",)),
        bias_init=partitioned(nn.initializers.zeros, ("embed",)),
    )


class RMSNorm(nn.Module):
    """x / rms(x) · scale, computed in fp32 (T5's and Llama's layer norm: no mean subtraction, no bias)."""

    eps: float = 1e-6
    dtype: jnp.dtype = jnp.float32
    axis: str = "embed"  # the logical name of the normalised axis

    @nn.compact
    def __call__(self, x):
        scale = self.param("scale", partitioned(nn.initializers.ones, (self.axis,)), (x.shape[-1],))
        x32 = x.astype(jnp.float32)
        y = x32 * jax.lax.rsqrt(jnp.mean(jnp.square(x32), -1, keepdims=True) + self.eps)
        return (y * scale).astype(self.dtype)


def norm_layer(kind: str, eps: float, dtype: jnp.dtype, name: str, use_bias: bool = True) -> nn.Module:
    """The residual stream's normalisation by config.schema.NORM_TYPES name (`use_bias` only for layernorm)."""
    return RMSNorm(eps, dtype, name=name) if kind == "rmsnorm" else layer_norm(eps, dtype, name, use_bias)


REMAT_POLICIES = {  # what a block keeps for the backward pass; the rest is recomputed there
    "none": None,  # keep everything (no rematerialisation)
    "full": jax.checkpoint_policies.nothing_saveable,  # keep only the block's input
    "save_dots": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,  # keep weight matmul outputs
}
assert tuple(REMAT_POLICIES) == REMAT_CHOICES, "config.schema.REMAT_CHOICES names these policies"


def remat_block(
    block: type[nn.Module], remat: str, static_argnums: tuple[int, ...] = (), prevent_cse: bool = True
) -> type[nn.Module]:
    """`block` with its backward pass rematerialised under REMAT_POLICIES[remat] (`block` itself for 'none');
    parameter names and layout are unchanged. `static_argnums` (self = 0) marks Python-valued call arguments."""
    if remat == "none":
        return block
    return nn.remat(block, policy=REMAT_POLICIES[remat], static_argnums=static_argnums, prevent_cse=prevent_cse)


def layer_stack(
    block: type[nn.Module], n: int, remat: str, scan: bool, x: jax.Array, *args, axes: tuple = ACTIVATION, **attrs
) -> jax.Array:
    """x through `n` blocks `block(**attrs)(x, *args)`: unrolled as block_0..block_{n-1}, or with `scan` one
    block body looped by nn.scan over parameters stacked on a leading 'layers' axis (compile time flat in
    depth); `remat` names a REMAT_POLICIES entry. `axes` pins the residual stream's layout after each block."""
    block = remat_block(block, remat, prevent_cse=not scan)
    if not scan:
        for i in range(n):
            x = constrain(block(**attrs, name=f"block_{i}")(x, *args), axes)
        return x

    def body(module, carry, *xs):
        return constrain(module(carry, *xs), axes), None

    scanned = nn.scan(
        body,
        variable_axes={"params": 0, "cache": 0},
        split_rngs={"params": True, "dropout": True},
        in_axes=nn.broadcast,
        length=n,
        metadata_params={nn.PARTITION_NAME: "layers"},
    )
    x, _ = scanned(block(**attrs, name="blocks"), x, *args)
    return x
