"""BERT: encoder-only Transformer with bidirectional attention, a masked-LM head and a next-sentence head.

token + learned position + token-type embeddings → LayerNorm → dropout → `n_layers` blocks, post-LN as in
the original (x = LN(x + f(x))) or pre-LN (`model.norm="pre"`: x + f(LN(x)), then a final LayerNorm), with
exact-erf GELU. Heads: masked LM (dense → GELU → LayerNorm → decoder tied to the token embedding + output
bias) on every position; with `model.nsp_head`, a tanh pooler on [CLS] and a 2-way classifier (index 1 =
"B follows A"). With `model.num_labels` > 0 the model is a sequence classifier instead (BERT's fine-tuning
recipe): the tanh pooler on [CLS] (the pre-trained one when the checkpoint has it) → dropout → a new
`classifier` layer; it then has no masked-LM or NSP head.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxlm.data.masking import max_predictions
from jaxlm.errors import UserError
from jaxlm.models import inventory as inv
from jaxlm.models import layers
from jaxlm.models.attention import attention_mask as segment_mask
from jaxlm.models.layers import (
    MLP,
    Attention,
    HeadInputs,
    dense,
    head_dtype,
    kernel_init,
    layer_norm,
    partitioned,
    token_embedding,
)

NORMS = ("post", "pre")


class EncoderBlock(nn.Module):
    """Bidirectional self-attention and MLP, each with a residual and LayerNorm (post or pre)."""

    cfg: ml_collections.ConfigDict
    dtype: jnp.dtype
    deterministic: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
        c, deterministic = self.cfg, self.deterministic
        attn = Attention(
            c.n_heads,
            c.d_model // c.n_heads,
            scheme=c.init,
            init_std=c.init_std,
            dropout=c.dropout,
            implementation=c.attention,
            dtype=self.dtype,
            name="attn",
        )
        mlp = MLP(
            c.d_ff,
            scheme=c.init,
            init_std=c.init_std,
            dropout=c.dropout,
            approximate_gelu=False,
            dtype=self.dtype,
            name="mlp",
        )
        ln_attn = layer_norm(c.layer_norm_eps, self.dtype, "ln_attn")
        ln_mlp = layer_norm(c.layer_norm_eps, self.dtype, "ln_mlp")
        if c.norm == "pre":
            x = x + attn(ln_attn(x), mask, deterministic=deterministic)
            return x + mlp(ln_mlp(x), deterministic)
        x = ln_attn(x + attn(x, mask, deterministic=deterministic))
        return ln_mlp(x + mlp(x, deterministic))


class Blocks(nn.Module):
    """The `n_layers` encoder blocks through `layer_stack` (unrolled or scanned, remat); BERT shares this module's
    scope, so the blocks' parameters sit at the model's top level (block_0, ... or the scanned `blocks`)."""

    cfg: ml_collections.ConfigDict
    dtype: jnp.dtype

    @nn.compact
    def __call__(self, x: jax.Array, mask: jax.Array, deterministic: bool) -> jax.Array:
        c = self.cfg
        return layers.layer_stack(
            EncoderBlock,
            c.n_layers,
            c.remat,
            c.scan_layers,
            x,
            mask,
            cfg=c,
            dtype=self.dtype,
            deterministic=deterministic,
        )


def _dense(features: int, c: ml_collections.ConfigDict, dtype: jnp.dtype, name: str, axes: tuple) -> nn.Module:
    return dense(features, axes, kernel_init(c.init, c.init_std), True, dtype, name)


def pool(hidden: jax.Array, attention_mask: jax.Array, how: str) -> jax.Array:
    """The classifier's summary of a sequence: the [CLS] state, or the mean over its real tokens."""
    if how == "cls":
        return hidden[:, 0]
    weights = attention_mask.astype(hidden.dtype)[..., None]
    return (hidden * weights).sum(1) / jnp.maximum(weights.sum(1), 1)


class MLMHead(nn.Module):
    """Hidden states → the masked-LM head's HeadInputs: dense → GELU → LayerNorm, then the decoder tied to the
    token embedding, with an output bias."""

    cfg: ml_collections.ConfigDict
    dtype: jnp.dtype

    @nn.compact
    def __call__(self, hidden: jax.Array, embed: nn.Embed) -> HeadInputs:
        c = self.cfg
        h = nn.gelu(_dense(c.d_model, c, self.dtype, "dense", ("embed", "mlp"))(hidden), approximate=False)
        h = layer_norm(c.layer_norm_eps, self.dtype, "ln")(h)
        bias = self.param("bias", partitioned(nn.initializers.zeros, ("vocab",)), (c.vocab_size,))
        return HeadInputs(h.astype(head_dtype(self.dtype)), embed.embedding, bias)


class BERT(nn.Module):
    """(tokens, token types, attention segments) [B, T] → {"mlm_logits": [B, T, vocab], "nsp_logits": [B, 2]}, or
    {"cls_logits": [B, num_labels]} for a classifier.

    `attention_mask` is 1 for real tokens and 0 for padding; more generally tokens attend only to tokens with
    the same non-zero value (packed documents).
    """

    cfg: ml_collections.ConfigDict
    dtype: jnp.dtype = jnp.float32
    decode: bool = False  # the registry's signature; an encoder has no decoding cache

    def setup(self):
        c = self.cfg
        if c.norm not in NORMS:
            raise UserError(f"config.model.norm='{c.norm}' is not supported: use one of {', '.join(NORMS)}")
        if self.decode:
            raise UserError("BERT is an encoder: it cannot decode token by token")
        std = c.init_std
        self.embed = token_embedding(c, "gpt2", "embed")
        self.pos_embed = nn.Embed(
            c.max_len,
            c.d_model,
            name="pos_embed",
            embedding_init=partitioned(nn.initializers.normal(std), (None, "embed")),
        )
        self.type_embed = nn.Embed(
            c.type_vocab_size,
            c.d_model,
            name="type_embed",
            embedding_init=partitioned(nn.initializers.normal(std), (None, "embed")),
        )
        self.ln_embed = layer_norm(c.layer_norm_eps, self.dtype, "ln_embed")
        self.dropout = nn.Dropout(c.dropout)
        self.stack = Blocks(c, self.dtype)
        nn.share_scope(self, self.stack)
        if c.norm == "pre":
            self.ln_final = layer_norm(c.layer_norm_eps, self.dtype, "ln_final")
        self.mlm_head = MLMHead(c, self.dtype, name="mlm_head")
        if c.nsp_head or c.num_labels:
            self.pooler = _dense(c.d_model, c, self.dtype, "pooler", ("embed", "mlp"))
        if c.nsp_head:
            self.nsp = _dense(2, c, self.dtype, "nsp", ("mlp", None))
        if c.num_labels:
            self.classifier = _dense(c.num_labels, c, self.dtype, "classifier", ("mlp", None))

    def encode(
        self,
        tokens: jax.Array,
        segment_ids: jax.Array,
        attention_mask: jax.Array,
        positions: jax.Array | None = None,
        deterministic: bool = True,
    ) -> jax.Array:
        """Final hidden states [B, T, d_model] (after the last block; after the final LayerNorm when pre-LN)."""
        if positions is None:
            positions = jnp.broadcast_to(jnp.arange(tokens.shape[1]), tokens.shape)
        x = self.embed(tokens) + self.pos_embed(positions) + self.type_embed(segment_ids)
        x = self.dropout(self.ln_embed(x.astype(self.dtype)), deterministic=deterministic)
        mask = segment_mask(attention_mask, attention_mask, causal=False)
        x = self.stack(x, mask, deterministic)
        return self.ln_final(x) if self.cfg.norm == "pre" else x

    def __call__(
        self,
        tokens: jax.Array,
        segment_ids: jax.Array,
        attention_mask: jax.Array,
        positions: jax.Array | None = None,
        deterministic: bool = True,
        mlm_positions: jax.Array | None = None,
        return_hidden: bool = False,
    ) -> dict:
        """`mlm_positions` [B, P]: run the MLM head only there (mlm_logits [B, P, vocab]), as google-research/bert
        gathers the masked positions; the head is a large share of a small BERT's FLOPs. `return_hidden`: the MLM
        head's HeadInputs as `mlm_head` instead of `mlm_logits` (for the fused cross-entropy)."""
        hidden = self.encode(tokens, segment_ids, attention_mask, positions, deterministic)
        if self.cfg.num_labels:
            pooled = self.dropout(
                jnp.tanh(self.pooler(pool(hidden, attention_mask, self.cfg.pooling))), deterministic=deterministic
            )
            return {"cls_logits": self.classifier(pooled).astype(jnp.float32)}
        predicted = hidden if mlm_positions is None else jnp.take_along_axis(hidden, mlm_positions[..., None], axis=1)
        head = self.mlm_head(predicted, self.embed)
        out = {"mlm_head": head} if return_hidden else {"mlm_logits": head.logits()}
        if self.cfg.nsp_head:
            pooled = jnp.tanh(self.pooler(hidden[:, 0]))
            out["nsp_logits"] = self.nsp(pooled).astype(jnp.float32)
        return out


def matmuls(cfg: ml_collections.ConfigDict, s: int, t: int) -> list[inv.Matmul]:
    """FLOPs inventory: the blocks, then a classifier on [CLS], or the MLM head at the gathered predicted
    positions (max_predictions) and the NSP pooler on [CLS]."""
    m = cfg.model
    d, head = m.d_model, m.vocab_size * m.d_model
    blocks = inv.Matmul("blocks", m.n_layers * inv.block_weights(m, inv.attention_width(m), 2 * d * m.d_ff), s)
    if m.get("num_labels", 0):
        return [blocks, inv.Matmul("pooler_classifier", d * d + d * m.num_labels, 1)]
    mlm_positions = min(max_predictions(cfg.data), s)
    return [blocks, inv.Matmul("mlm_head", d * d + head, mlm_positions)] + (
        [inv.Matmul("pooler_nsp", d * d + 2 * d, 1)] if m.nsp_head else []
    )


def attentions(cfg: ml_collections.ConfigDict, s: int, t: int) -> list[inv.Attention]:
    return [inv.Attention("self", cfg.model.n_layers, inv.attention_width(cfg.model), s, s, False)]
