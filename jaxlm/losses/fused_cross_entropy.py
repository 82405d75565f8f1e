"""Cross-entropy through the output projection, fused and chunked: the [tokens, vocab] logits never exist whole.

The plain path materialises the logits, keeps them (or the softmax) for the backward pass and, on XLA:CPU,
copies the transposed logit gradient for the embedding's gradient: three vocabulary-sized buffers. Here the
forward pass walks the sequence in chunks of `chunk` positions (all batch rows at once, so batch sharding is
untouched); per chunk it computes the logits, the loss and at once their gradient, and folds that into the
gradients of the hidden states and the output embedding. The backward pass only scales those by the incoming
cotangent. The three matmuls take operands in the hidden states' dtype (the model picks it, e.g. bf16 under
bf16) and accumulate in fp32; the softmax, loss and gradients are fp32. Peak extra memory is one chunk of
logits; the FLOPs are the plain path's (one logits matmul forward, two backward). The embedding gradient
accumulates transposed ([d, V], contracting over the chunk's positions in place), which spares XLA:CPU a
transpose of every chunk's logit gradient. Without differentiation (evaluation) no gradient is computed.
"""

from functools import partial

import jax
import jax.numpy as jnp

from jaxlm.losses.cross_entropy import cross_entropy_sums
from jaxlm.models.layers import HeadInputs

# Automatic chunks hold at most this many logits: 8 MB of fp32 on a CPU (cache-sized); 512 MB on an accelerator,
# where a chunk must be a large matmul (GPT-2's head at batch 32 would otherwise run 1024 tiny sequential steps).
CHUNK_LOGITS = {"cpu": 2**21}
ACCELERATOR_CHUNK_LOGITS = 2**27


def auto_chunk(batch: int, seq_len: int, vocab: int, budget: int | None = None) -> int:
    """The largest divisor of `seq_len` whose chunk of logits (batch × chunk × vocab) fits `budget` (default: the
    backend's CHUNK_LOGITS)."""
    budget = budget or CHUNK_LOGITS.get(jax.default_backend(), ACCELERATOR_CHUNK_LOGITS)
    return max([c for c in range(1, seq_len + 1) if seq_len % c == 0 and batch * c * vocab <= budget] or [1])


def fused_cross_entropy_sums(
    hidden: jax.Array,
    embedding: jax.Array,
    targets: jax.Array,
    weights: jax.Array,
    chunk: int = -1,
    bias: jax.Array | None = None,
) -> dict[str, jax.Array]:
    """Sums like `cross_entropy_sums(hidden @ embedding.T + bias, ...)`: `nats`, `weight` and `correct`.

    hidden [B, T, d]; embedding [V, d] (the output projection in embedding layout); targets, weights [B, T];
    bias [V] or None (BERT's MLM and BART's output biases). `chunk` (sequence positions per chunk) must divide T;
    -1 picks `auto_chunk`.
    """
    if chunk == -1:
        chunk = auto_chunk(hidden.shape[0], hidden.shape[1], embedding.shape[0])
    if hidden.shape[1] % chunk:
        raise ValueError(f"loss chunk {chunk} does not divide the sequence length {hidden.shape[1]}")
    bias = jnp.zeros(embedding.shape[:1], jnp.float32) if bias is None else bias
    nats, correct = _nats_correct(
        hidden, embedding, bias, targets.astype(jnp.int32), weights.astype(jnp.float32), chunk
    )
    return dict(nats=nats, weight=jnp.sum(weights), correct=correct)


def _chunks(x: jax.Array, chunk: int) -> jax.Array:
    """[B, T, ...] → [T // chunk, B, chunk, ...]: the scan axis first, every batch row in each chunk."""
    b, t = x.shape[:2]
    return jnp.moveaxis(x.reshape(b, t // chunk, chunk, *x.shape[2:]), 1, 0)


def _unchunk(x: jax.Array) -> jax.Array:
    n, b, c = x.shape[:3]
    return jnp.moveaxis(x, 0, 1).reshape(b, n * c, *x.shape[3:])


def _mm(spec: str, a: jax.Array, b: jax.Array, dtype) -> jax.Array:
    """A matmul on operands of the hidden states' `dtype`, accumulated and returned in fp32; fp16 operands are
    upcast, since fp16's range would flush the logit gradients (not yet loss-scaled here) to zero."""
    dtype = jnp.float32 if dtype == jnp.float16 else dtype
    return jnp.einsum(spec, a.astype(dtype), b.astype(dtype), preferred_element_type=jnp.float32)


def _chunk_loss(h, embedding, bias, t, w):
    """One chunk: (logits, log-sum-exp, summed nats, summed hits); one max serves the LSE and the accuracy."""
    logits = _mm("bcd,vd->bcv", h, embedding, h.dtype) + bias.astype(jnp.float32)
    top = jnp.max(logits, axis=-1)
    lse = top + jnp.log(jnp.sum(jnp.exp(logits - top[..., None]), axis=-1))
    target = jnp.take_along_axis(logits, t[..., None], axis=-1)[..., 0]
    return logits, lse, jnp.sum((lse - target) * w), jnp.sum((target >= top) * w)


@partial(jax.custom_vjp, nondiff_argnums=(5,))
def _nats_correct(hidden, embedding, bias, targets, weights, chunk):
    def body(carry, xs):
        h, t, w = xs
        _, _, nats, hits = _chunk_loss(h, embedding, bias, t, w)
        return (carry[0] + nats, carry[1] + hits), None

    zero = jnp.zeros((), jnp.float32)
    (nats, hits), _ = jax.lax.scan(body, (zero, zero), tuple(_chunks(a, chunk) for a in (hidden, targets, weights)))
    return nats, hits


def _forward(hidden, embedding, bias, targets, weights, chunk):
    """Loss and its gradient together, chunk by chunk: d nats / d logits = (softmax − one_hot) · weight."""

    def body(carry, xs):
        h, t, w = xs
        logits, lse, nats, hits = _chunk_loss(h, embedding, bias, t, w)
        dlogits = jnp.exp(logits - lse[..., None])
        dlogits = (dlogits - jax.nn.one_hot(t, logits.shape[-1], dtype=jnp.float32)) * w[..., None]
        dh = _mm("bcv,vd->bcd", dlogits, embedding, h.dtype)
        d_emb_t = carry[0] + _mm("bcd,bcv->dv", h, dlogits, h.dtype)
        return (d_emb_t, carry[1] + jnp.sum(dlogits, (0, 1)), carry[2] + nats, carry[3] + hits), dh

    zero = jnp.zeros((), jnp.float32)
    init = (jnp.zeros(embedding.shape[::-1], jnp.float32), jnp.zeros(bias.shape, jnp.float32), zero, zero)
    (d_emb_t, d_bias, nats, hits), dh = jax.lax.scan(
        body, init, tuple(_chunks(a, chunk) for a in (hidden, targets, weights))
    )
    # Gradients stay fp32 until scaled by the cotangent (under fp16 that is the loss scale, which must reach them
    # before the cast, or small ones underflow); the empty array carries hidden's dtype to the backward pass.
    return (nats, hits), (_unchunk(dh), d_emb_t.T, d_bias.astype(bias.dtype), jnp.zeros((0,), hidden.dtype))


def _backward(chunk, residuals, cotangents):
    dh, d_emb, d_bias, like_hidden = residuals
    g = cotangents[0]  # the accuracy count has no gradient
    return ((dh * g).astype(like_hidden.dtype), d_emb * g, d_bias * g, None, None)


_nats_correct.defvjp(_forward, _backward)


def head_cross_entropy_sums(head: HeadInputs, targets: jax.Array, weights: jax.Array, chunk: int) -> dict:
    """Cross-entropy sums of a vocabulary head: through its logits when `chunk` is 0, else fused over `chunk`
    positions at a time (-1, or a `chunk` that does not divide the head's length: `auto_chunk`). Its ops carry the
    name scope `loss`, which profiles (`jaxlm bench --profile`) count apart."""
    with jax.named_scope("loss"):
        if chunk == 0:
            return cross_entropy_sums(head.logits(), targets, weights)
        chunk = chunk if chunk > 0 and head.hidden.shape[1] % chunk == 0 else -1
        return fused_cross_entropy_sums(head.hidden, head.embedding, targets, weights, chunk, head.bias)
