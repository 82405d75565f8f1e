"""BART encoder-decoder: learned positions (offset 2, as fairseq/Hugging Face), embedding LayerNorm, post-LN
blocks with biases, exact GELU, tied token embedding with a final logits bias."""

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from jaxlm.models import inventory as inv
from jaxlm.models.attention import attention_mask
from jaxlm.models.layers import (
    Attention,
    EncoderDecoder,
    HeadInputs,
    Seq2SeqBlock,
    decoder_geometry,
    default_ids,
    dense,
    gelu,
    head_dtype,
    layer_norm,
    layer_stack,
    partitioned,
    token_embedding,
)

POSITION_OFFSET = 2  # fairseq reserves the first two rows of the position table


def bart_attention(c: ml_collections.ConfigDict, dtype, cross: bool, decode: bool, name: str) -> Attention:
    return Attention(
        c.n_heads,
        c.d_model // c.n_heads,
        scheme="gpt2",
        init_std=c.init_std,
        cross=cross,
        decode=decode,
        implementation="xla",
        dtype=dtype,
        name=name,
    )


class Block(Seq2SeqBlock):
    """x = LN(x + SelfAttn(x)) [; x = LN(x + CrossAttn(x, encoded))]; x = LN(x + FF(x))."""

    @nn.compact
    def __call__(self, x, mask, encoded=None, cross_mask=None, cache_index=None):
        c, deterministic = self.cfg, self.deterministic
        drop = nn.Dropout(c.dropout)
        init = nn.initializers.normal(c.init_std)
        h = bart_attention(c, self.dtype, False, self.decode, "self_attn")(x, mask, cache_index=cache_index)
        x = layer_norm(c.layer_norm_eps, self.dtype, "ln_self")(x + drop(h, deterministic=deterministic))
        if self.cross:
            h = bart_attention(c, self.dtype, True, self.decode, "cross_attn")(x, cross_mask, encoded)
            x = layer_norm(c.layer_norm_eps, self.dtype, "ln_cross")(x + drop(h, deterministic=deterministic))
        h = dense(c.d_ff, ("embed", "mlp"), init, True, self.dtype, "fc1")(x)
        h = drop(gelu(h, approximate=False), deterministic=deterministic)
        h = dense(c.d_model, ("mlp", "embed"), init, True, self.dtype, "fc2")(h)
        return layer_norm(c.layer_norm_eps, self.dtype, "ln_ff")(x + drop(h, deterministic=deterministic))


class Stack(nn.Module):
    """Token + position embeddings → embedding LayerNorm → blocks (cross-attending when a decoder)."""

    cfg: ml_collections.ConfigDict
    dtype: jnp.dtype
    is_decoder: bool
    decode: bool = False

    @nn.compact
    def __call__(self, x, segment_ids, positions, deterministic, encoded=None, inputs_segment_ids=None):
        c = self.cfg
        if self.is_decoder:
            positions, _, mask, index = decoder_geometry(self, self.decode, segment_ids, positions)
            cross_mask = attention_mask(segment_ids, inputs_segment_ids, causal=False)
        else:
            mask, index, cross_mask = attention_mask(segment_ids, segment_ids, causal=False), None, None
        pos_embed = nn.Embed(
            c.max_len + POSITION_OFFSET,
            c.d_model,
            name="pos_embed",
            embedding_init=partitioned(nn.initializers.normal(c.init_std), (None, "embed")),
        )
        x = x + pos_embed(positions + POSITION_OFFSET).astype(self.dtype)
        x = layer_norm(c.layer_norm_eps, self.dtype, "ln_embed")(x)
        x = nn.Dropout(c.dropout)(x, deterministic=deterministic)
        n_layers = (c.n_decoder_layers or c.n_layers) if self.is_decoder else c.n_layers
        return layer_stack(
            Block,
            n_layers,
            "none" if self.decode else c.remat,
            c.scan_layers,
            x,
            mask,
            encoded,
            cross_mask,
            index,
            cfg=c,
            dtype=self.dtype,
            cross=self.is_decoder,
            decode=self.decode,
            deterministic=deterministic,
        )


class BART(EncoderDecoder):
    """(inputs [B, S], decoder_inputs [B, T], segment ids, positions) → logits [B, T, vocab] in fp32."""

    def setup(self):
        c = self.cfg
        self.embed = token_embedding(c, "gpt2")
        self.encoder = Stack(c, self.dtype, False)
        self.decoder = Stack(c, self.dtype, True, self.decode)
        self.final_logits_bias = self.param(
            "final_logits_bias", partitioned(nn.initializers.zeros, ("vocab",)), (c.vocab_size,)
        )

    def _embed(self, tokens):
        scale = self.cfg.d_model**0.5 if self.cfg.scale_embedding else 1.0
        return (self.embed(tokens) * scale).astype(self.dtype)

    def encode(self, inputs, segment_ids=None, positions=None, deterministic: bool = True):
        segment_ids, positions = default_ids(inputs, segment_ids, positions)
        return self.encoder(self._embed(inputs), segment_ids, positions, deterministic)

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
            self._embed(decoder_inputs), segment_ids, positions, deterministic, encoded, inputs_segment_ids
        )
        head = HeadInputs(x.astype(head_dtype(self.dtype)), self.embed.embedding, self.final_logits_bias)
        return head if return_hidden else head.logits()


def matmuls(cfg: ml_collections.ConfigDict, s: int, t: int) -> list[inv.Matmul]:
    """FLOPs inventory: a plain encoder-decoder."""
    return inv.encoder_decoder_matmuls(
        cfg, s, t, inv.attention_width(cfg.model), 2 * cfg.model.d_model * cfg.model.d_ff
    )


def attentions(cfg: ml_collections.ConfigDict, s: int, t: int) -> list[inv.Attention]:
    return inv.encoder_decoder_attentions(cfg, s, t, inv.attention_width(cfg.model))
