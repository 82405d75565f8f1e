"""T5 encoder-decoder: pre-RMSNorm blocks without biases, shared relative position bias per stack, T5 init.

The 1/sqrt(d_kv) attention scaling lives in the query initialisation (N(0, (d_model·d_kv)^-1/2)), so the
logits are not scaled, exactly as T5 and Hugging Face's T5 compute them. With tied embeddings the decoder
output is scaled by d_model^-1/2 before the (shared) output projection.
"""

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from jaxlm.errors import UserError
from jaxlm.models import inventory as inv
from jaxlm.models.attention import attention_mask
from jaxlm.models.layers import (
    Attention,
    EncoderDecoder,
    HeadInputs,
    RMSNorm,
    Seq2SeqBlock,
    Weight,
    decoder_geometry,
    default_ids,
    head_dtype,
    layer_stack,
    token_embedding,
)
from jaxlm.models.t5_layers import FF_KINDS, FeedForward, RelativeBias


def t5_attention(c: ml_collections.ConfigDict, dtype, cross: bool, decode: bool, name: str) -> Attention:
    """No biases; T5's init folds the 1/sqrt(d_kv) logit scaling into the queries."""
    return Attention(
        c.n_heads,
        inv.head_width(c),
        scheme="t5",
        use_bias=False,
        cross=cross,
        decode=decode,
        implementation="xla",
        dtype=dtype,
        name=name,
    )


class Block(Seq2SeqBlock):
    """x + SelfAttn(norm x) [+ CrossAttn(norm x, encoded)] + FF(norm x), each with dropout."""

    @nn.compact
    def __call__(self, x, mask, bias, encoded=None, cross_mask=None, cache_index=None):
        c, deterministic = self.cfg, self.deterministic
        drop = nn.Dropout(c.dropout)
        h = RMSNorm(c.layer_norm_eps, self.dtype, name="ln_self")(x)
        h = t5_attention(c, self.dtype, False, self.decode, "self_attn")(h, mask, bias=bias, cache_index=cache_index)
        x = x + drop(h, deterministic=deterministic)
        if self.cross:
            h = RMSNorm(c.layer_norm_eps, self.dtype, name="ln_cross")(x)
            h = t5_attention(c, self.dtype, True, self.decode, "cross_attn")(h, cross_mask, encoded)
            x = x + drop(h, deterministic=deterministic)
        h = RMSNorm(c.layer_norm_eps, self.dtype, name="ln_ff")(x)
        h = FeedForward(c.d_ff, c.ff, c.dropout, self.dtype, name="ff")(h, deterministic)
        return x + drop(h, deterministic=deterministic)


def _relative_bias(c: ml_collections.ConfigDict, bidirectional: bool) -> RelativeBias:
    return RelativeBias(
        c.n_heads, c.relative_buckets, c.relative_max_distance, bidirectional, c.d_model**-0.5, name="rel_bias"
    )


class Encoder(nn.Module):
    cfg: ml_collections.ConfigDict
    dtype: jnp.dtype

    @nn.compact
    def __call__(self, x, segment_ids, positions, deterministic):
        c = self.cfg
        bias = _relative_bias(c, True)(positions, positions)
        mask = attention_mask(segment_ids, segment_ids, causal=False)
        x = nn.Dropout(c.dropout)(x, deterministic=deterministic)
        x = layer_stack(
            Block,
            c.n_layers,
            c.remat,
            c.scan_layers,
            x,
            mask,
            bias,
            cfg=c,
            dtype=self.dtype,
            cross=False,
            deterministic=deterministic,
        )
        x = RMSNorm(c.layer_norm_eps, self.dtype, name="ln_final")(x)
        return nn.Dropout(c.dropout)(x, deterministic=deterministic)


class Decoder(nn.Module):
    cfg: ml_collections.ConfigDict
    dtype: jnp.dtype
    decode: bool = False

    @nn.compact
    def __call__(self, x, encoded, inputs_segment_ids, segment_ids, positions, deterministic):
        c = self.cfg
        q_pos, k_pos, mask, index = decoder_geometry(self, self.decode, segment_ids, positions)
        bias = _relative_bias(c, False)(q_pos, k_pos)
        cross_mask = attention_mask(segment_ids, inputs_segment_ids, causal=False)
        x = nn.Dropout(c.dropout)(x, deterministic=deterministic)
        x = layer_stack(
            Block,
            c.n_decoder_layers or c.n_layers,
            "none" if self.decode else c.remat,
            c.scan_layers,
            x,
            mask,
            bias,
            encoded,
            cross_mask,
            index,
            cfg=c,
            dtype=self.dtype,
            cross=True,
            decode=self.decode,
            deterministic=deterministic,
        )
        x = RMSNorm(c.layer_norm_eps, self.dtype, name="ln_final")(x)
        return nn.Dropout(c.dropout)(x, deterministic=deterministic)


class T5(EncoderDecoder):
    """(inputs [B, S], decoder_inputs [B, T], segment ids, positions) → logits [B, T, vocab] in fp32."""

    def setup(self):
        c = self.cfg
        if c.ff not in FF_KINDS:
            raise UserError(f"config.model.ff='{c.ff}' is not a T5 feed-forward: use one of {', '.join(FF_KINDS)}")
        self.embed = token_embedding(c, "t5")
        self.encoder = Encoder(c, self.dtype)
        self.decoder = Decoder(c, self.dtype, self.decode)
        if not c.tie_embeddings:  # [d_model, vocab], as Hugging Face's lm_head.weight transposed
            self.lm_head = Weight(
                (c.d_model, c.vocab_size), ("embed", "vocab"), nn.initializers.normal(c.d_model**-0.5)
            )

    def encode(self, inputs, segment_ids=None, positions=None, deterministic: bool = True):
        segment_ids, positions = default_ids(inputs, segment_ids, positions)
        return self.encoder(self.embed(inputs).astype(self.dtype), segment_ids, positions, deterministic)

    def decode_logits(
        self,
        decoder_inputs,
        encoded,
        inputs_segment_ids,
        segment_ids=None,
        positions=None,
        deterministic: bool = True,
        return_hidden: bool = False,
    ):
        """Decoder logits (or, with `return_hidden`, the head's HeadInputs); while decoding, `encoded` is needed
        only on the first call (cross K/V are cached)."""
        segment_ids, positions = default_ids(decoder_inputs, segment_ids, positions)
        x = self.decoder(
            self.embed(decoder_inputs).astype(self.dtype),
            encoded,
            inputs_segment_ids,
            segment_ids,
            positions,
            deterministic,
        )
        if self.cfg.tie_embeddings:
            x, embedding = x.astype(jnp.float32) * self.cfg.d_model**-0.5, self.embed.embedding
        else:
            embedding = self.lm_head().T
        head = HeadInputs(x.astype(head_dtype(self.dtype)), embedding)
        return head if return_hidden else head.logits()


def matmuls(cfg: ml_collections.ConfigDict, s: int, t: int) -> list[inv.Matmul]:
    """FLOPs inventory: heads of d_kv, a gated feed-forward has three kernels."""
    m = cfg.model
    ff = (3 if m.ff == "gated_gelu" else 2) * m.d_model * m.d_ff
    return inv.encoder_decoder_matmuls(cfg, s, t, inv.attention_width(m), ff)


def attentions(cfg: ml_collections.ConfigDict, s: int, t: int) -> list[inv.Attention]:
    return inv.encoder_decoder_attentions(cfg, s, t, inv.attention_width(cfg.model))
