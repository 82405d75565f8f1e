"""GPT: decoder-only Transformer, GPT-2 style (pre-LN, learned positions, GELU MLP, tied embedding)."""

import math

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from jaxlm.models import inventory as inv
from jaxlm.models.layers import (
    ACTIVATION,
    MLP,
    Attention,
    HeadInputs,
    Weight,
    attention_mask,
    constrain,
    decoding_slots,
    head_dtype,
    kernel_init,
    layer_norm,
    layer_stack,
    partitioned,
    token_embedding,
)


class Block(nn.Module):
    """x + Attn(LN(x)), then x + MLP(LN(x))."""

    cfg: ml_collections.ConfigDict
    dtype: jnp.dtype
    decode: bool = False
    deterministic: bool = True

    @nn.compact
    def __call__(self, x, mask, cache_index=None):
        c, deterministic = self.cfg, self.deterministic
        out_scale = 1.0 / math.sqrt(2 * c.n_layers) if c.init == "gpt2" else 1.0
        h = layer_norm(c.layer_norm_eps, self.dtype, "ln_attn")(x)
        x = x + Attention(c.n_heads, c.d_model // c.n_heads, c.init, c.init_std, out_scale, causal=True,
                          dropout=c.dropout, decode=self.decode, implementation=c.attention, dtype=self.dtype,
                          name="attn")(h, mask, cache_index=cache_index, deterministic=deterministic)
        h = layer_norm(c.layer_norm_eps, self.dtype, "ln_mlp")(x)
        return x + MLP(c.d_ff, c.init, c.init_std, out_scale, c.dropout, True, self.dtype, name="mlp")(h, deterministic)


class GPT(nn.Module):
    """tokens [B, T] (+ positions, segment ids) → logits [B, T, vocab] in fp32."""

    cfg: ml_collections.ConfigDict
    dtype: jnp.dtype = jnp.float32
    decode: bool = False

    @nn.compact
    def __call__(self, tokens, positions=None, segment_ids=None, deterministic: bool = True,
                 return_hidden: bool = False):
        """Logits; or with `return_hidden` the head's HeadInputs (final hidden states, output embedding)."""
        c = self.cfg
        if positions is None:
            positions = jnp.broadcast_to(jnp.arange(tokens.shape[1]), tokens.shape)
        embed = token_embedding(c, c.init, "embed")
        pos_embed = nn.Embed(c.max_len, c.d_model, name="pos_embed",
                             embedding_init=partitioned(nn.initializers.normal(c.init_std / 2), (None, "embed")))
        x = (embed(tokens) + pos_embed(positions)).astype(self.dtype)
        x = constrain(nn.Dropout(c.dropout)(x, deterministic=deterministic), ACTIVATION)
        if self.decode:
            index, mask = decoding_slots(self, tokens.shape[1])
        else:  # causal attention alone without segments (a pure mask type for cuDNN)
            index, mask = None, None if segment_ids is None else attention_mask(segment_ids, segment_ids, causal=False)
        x = layer_stack(Block, c.n_layers, "none" if self.decode else c.remat, c.scan_layers, x, mask, index, cfg=c,
                        dtype=self.dtype, decode=self.decode, deterministic=deterministic)
        x = layer_norm(c.layer_norm_eps, self.dtype, "ln_final")(x)
        if c.tie_embeddings:
            head = embed.embedding
        else:  # stored [vocab, d_model] like the token embedding it replaces
            head = Weight((c.vocab_size, c.d_model), ("vocab", "embed"),
                          kernel_init(c.init, c.init_std, in_axis=1, out_axis=0), name="lm_head")()
        head = HeadInputs(x.astype(head_dtype(self.dtype)), head)
        return head if return_hidden else head.logits()


def matmuls(cfg: ml_collections.ConfigDict, s: int, t: int) -> list[inv.Matmul]:
    """FLOPs inventory (jaxlm/models/inventory.py): the blocks and the (tied) vocabulary head at every position."""
    m = cfg.model
    return [inv.Matmul("blocks", m.n_layers * inv.block_weights(m, inv.attention_width(m), 2 * m.d_model * m.d_ff), s),
            inv.Matmul("lm_head", m.vocab_size * m.d_model, s)]


def attentions(cfg: ml_collections.ConfigDict, s: int, t: int) -> list[inv.Attention]:
    return [inv.Attention("self", cfg.model.n_layers, inv.attention_width(cfg.model), s, s, True)]
