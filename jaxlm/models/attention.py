"""The attention function every family's Attention module calls: masks, the implementation choice (cuDNN's fused
kernel or XLA's), and XLA's attention, which computes causal self-attention by query blocks.

Causal self-attention over T positions multiplies the whole T×T square on XLA although every key after its query
is masked. Split the queries into n blocks and block i needs only the keys up to its own end: (n+1)/2n of the
square (62.5% at n = 4), in the logits, softmax and both backward matmuls alike. The blocks' products are
batched over (batch, heads) with the heads ahead of the positions. The result is the same attention up to
rounding (the skipped keys carry exactly zero weight); only a query with no allowed key at all (padding, never
read by a loss) averages its block's keys instead of all keys.
"""

import warnings

import jax
import jax.numpy as jnp

# Causal blocks: at most this many, each at least this long (smaller matmuls lose more than the skipped keys
# save; 4 blocks of 64 beat 2 and 8 at T = 256 on 2 CPU cores, RESULTS §10).
MAX_CAUSAL_BLOCKS = 8
MIN_CAUSAL_BLOCK = 64


def attention_mask(q_segments: jax.Array, kv_segments: jax.Array, causal: bool) -> jax.Array:
    """[B, 1, Tq, Tk] boolean mask: same (non-pad) segment, and k ≤ q when causal."""
    mask = (q_segments[:, :, None] == kv_segments[:, None, :]) & (kv_segments[:, None, :] > 0)
    if causal:
        tq, tk = q_segments.shape[1], kv_segments.shape[1]
        mask &= jnp.arange(tk)[None, :] <= jnp.arange(tq)[:, None]
    return mask[:, None]


def window_mask(q_positions: jax.Array, k_positions: jax.Array, window: int) -> jax.Array:
    """[1, 1, Tq, Tk]: the key is among the query's `window` most recent positions (itself included)."""
    return (k_positions[None, :] > q_positions[:, None] - window)[None, None]


def attention_implementation(choice: str, dtype: jnp.dtype, head_dim: int) -> str:
    """'auto' → cuDNN's fused (flash) attention on GPU for bf16/fp16 with head widths it supports (a multiple of
    8, at most 128), XLA's otherwise; jax's own default (implementation=None) is always XLA."""
    if choice != "auto":
        return choice
    fused = jnp.dtype(dtype) in (jnp.dtype(jnp.bfloat16), jnp.dtype(jnp.float16)) and head_dim % 8 == 0
    return "cudnn" if jax.default_backend() == "gpu" and fused and head_dim <= 128 else "xla"


def causal_blocks(length: int) -> int:
    """How many query blocks XLA's causal self-attention over `length` positions uses (1 = the whole square)."""
    return max(
        [n for n in range(1, MAX_CAUSAL_BLOCKS + 1) if length % n == 0 and length // n >= MIN_CAUSAL_BLOCK] or [1]
    )


def dot_product_attention(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    mask: jax.Array | None,
    scale: float,
    causal: bool = False,
    implementation: str = "xla",
    bias: jax.Array | None = None,
    blocks: int | None = None,
    window: int = 0,
) -> jax.Array:
    """softmax(q·kᵀ·scale + bias) v over [B, T, heads, head_dim] (k, v may have fewer heads, each shared by a group
    of query heads), keys allowed by `mask` [B, 1, Tq, Tk] (None = all) and, when `causal`, at or before the
    query, and with `window` > 0 among its `window` most recent positions; `bias` [B, heads, Tq, Tk] runs on XLA.
    'cudnn' hands the causal part (and the window) to the fused kernel as its mask type (the rest becomes a bias);
    under 'auto' a cuDNN refusal while tracing (its version, a shape) falls back to XLA with a warning. On XLA,
    causal self-attention runs in `blocks` query blocks (None: `causal_blocks`), and fp16 always takes that path
    (fp32 logits and softmax), because the fixed F16_F16_F32 dot algorithm jax picks for fp16 fails to compile on
    CPU under jit."""
    impl = "xla" if bias is not None else attention_implementation(implementation, q.dtype, q.shape[-1])
    if impl == "cudnn":
        try:
            return jax.nn.dot_product_attention(
                q,
                k,
                v,
                mask=mask,
                scale=scale,
                is_causal=causal,
                local_window_size=(window - 1, 0) if window else None,
                implementation="cudnn",
            )
        except (RuntimeError, ValueError, NotImplementedError) as e:
            if implementation != "auto":
                raise
            warnings.warn(f"cuDNN attention refused these inputs ({e}); using XLA's attention")
    tq, tk = q.shape[1], k.shape[1]
    self_causal = causal and tq == tk
    blocks = (causal_blocks(tq) if blocks is None else blocks) if self_causal else 1
    if tq % blocks:
        raise ValueError(f"{blocks} causal blocks do not divide {tq} positions")
    if causal:
        lower = (jnp.arange(tk)[None, :] <= jnp.arange(tq)[:, None])[None, None]
        if window:
            lower &= window_mask(jnp.arange(tq), jnp.arange(tk), window)
        mask = lower if mask is None else mask & lower
    if blocks == 1 and q.dtype != jnp.float16:
        return jax.nn.dot_product_attention(q, k, v, bias=bias, mask=mask, scale=scale)
    return _blocked_attention(q, k, v, mask, scale, bias, blocks)


def _blocked_attention(q, k, v, mask, scale, bias, blocks):
    """XLA attention with the heads ahead of the positions, by `blocks` query blocks over the keys up to each
    block's end (the whole key range when blocks = 1): fp32 logits and softmax, probabilities in v's dtype."""
    (b, t, n, h), kv_heads = q.shape, k.shape[2]
    group = n // kv_heads
    qh = q.reshape(b, t, kv_heads, group, h).transpose(0, 2, 3, 1, 4)  # [B, K, G, T, H]
    kh, vh = (jnp.swapaxes(a, 1, 2) for a in (k, v))  # [B, K, S, H]
    if bias is not None:
        bias = bias.reshape(bias.shape[0], kv_heads, group, t, -1)
    if mask is not None:
        mask = mask[:, :, None]  # [B, 1, 1, T, S]
    size, outs = t // blocks, []
    for i in range(blocks):
        lo, hi = i * size, (i + 1) * size
        end = hi if blocks > 1 else k.shape[1]
        logits = (
            jnp.einsum("bkgth,bksh->bkgts", qh[:, :, :, lo:hi], kh[:, :, :end], preferred_element_type=jnp.float32)
            * scale
        )
        if bias is not None:
            logits = logits + bias[..., lo:hi, :end].astype(jnp.float32)
        if mask is not None:
            logits = jnp.where(mask[..., lo:hi, :end], logits, jnp.finfo(jnp.float32).min)
        probs = jax.nn.softmax(logits, axis=-1).astype(v.dtype)
        outs.append(jnp.einsum("bkgts,bksh->bkgth", probs, vh[:, :, :end]))
    out = outs[0] if blocks == 1 else jnp.concatenate(outs, axis=3)
    return out.transpose(0, 3, 1, 2, 4).reshape(b, t, n, h)
