"""GPT: decoder-only Transformer. By default GPT-2's (pre-LN, learned positions, GELU MLP, biases, tied
embedding); `config.model` options give the Llama recipe: positions=rope, norm_type=rmsnorm, mlp=swiglu,
n_kv_heads < n_heads (grouped-query attention), use_bias=False, tie_embeddings=False; and its descendants'
options: rope_scaling (Llama 3.1, YaRN), sliding_window (Mistral), qk_norm and d_kv (Qwen3's per-head norms and
head width)."""

import math

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from jaxlm.models import inventory as inv
from jaxlm.models.attention import attention_mask
from jaxlm.models.layers import (
    ACTIVATION,
    MLP,
    Attention,
    HeadInputs,
    Weight,
    constrain,
    decoding_slots,
    head_dtype,
    kernel_init,
    layer_stack,
    norm_layer,
    partitioned,
    token_embedding,
)
from jaxlm.models.rotary import rotary


def _norm(c: ml_collections.ConfigDict, dtype: jnp.dtype, name: str) -> nn.Module:
    return norm_layer(c.norm_type, c.layer_norm_eps, dtype, name, c.use_bias)


class Block(nn.Module):
    """x + Attn(Norm(x)), then x + MLP(Norm(x))."""

    cfg: ml_collections.ConfigDict
    dtype: jnp.dtype
    decode: bool = False
    deterministic: bool = True

    @nn.compact
    def __call__(self, x, mask, cache_index=None, positions=None):
        c, deterministic = self.cfg, self.deterministic
        out_scale = 1.0 / math.sqrt(2 * c.n_layers) if c.init == "gpt2" else 1.0
        h = _norm(c, self.dtype, "ln_attn")(x)
        x = x + Attention(
            c.n_heads,
            inv.head_width(c),
            scheme=c.init,
            init_std=c.init_std,
            out_scale=out_scale,
            use_bias=c.use_bias,
            qkv_bias=c.qkv_bias,
            causal=True,
            dropout=c.dropout,
            decode=self.decode,
            implementation=c.attention,
            n_kv_heads=c.n_kv_heads,
            rotary=rotary(c),
            window=c.sliding_window,
            qk_norm=c.qk_norm,
            norm_eps=c.layer_norm_eps,
            dtype=self.dtype,
            name="attn",
        )(h, mask, cache_index=cache_index, deterministic=deterministic, positions=positions)
        h = _norm(c, self.dtype, "ln_mlp")(x)
        return x + MLP(
            c.d_ff,
            scheme=c.init,
            init_std=c.init_std,
            out_scale=out_scale,
            dropout=c.dropout,
            approximate_gelu=True,
            dtype=self.dtype,
            kind=c.mlp,
            use_bias=c.use_bias,
            name="mlp",
        )(h, deterministic)


class GPT(nn.Module):
    """tokens [B, T] (+ positions, segment ids) → logits [B, T, vocab] in fp32."""

    cfg: ml_collections.ConfigDict
    dtype: jnp.dtype = jnp.float32
    decode: bool = False

    @nn.compact
    def __call__(
        self, tokens, positions=None, segment_ids=None, deterministic: bool = True, return_hidden: bool = False
    ):
        """Logits; or with `return_hidden` the head's HeadInputs (final hidden states, output embedding)."""
        c = self.cfg
        if positions is None:
            positions = jnp.broadcast_to(jnp.arange(tokens.shape[1]), tokens.shape)
        embed = token_embedding(c, c.init, "embed")
        x = embed(tokens)
        if c.positions == "learned":
            x = x + nn.Embed(
                c.max_len,
                c.d_model,
                name="pos_embed",
                embedding_init=partitioned(nn.initializers.normal(c.init_std / 2), (None, "embed")),
            )(positions)
        x = x.astype(self.dtype)
        x = constrain(nn.Dropout(c.dropout)(x, deterministic=deterministic), ACTIVATION)
        if self.decode:
            index, mask = decoding_slots(self, tokens.shape[1])
        else:  # causal attention alone without segments (a pure mask type for cuDNN)
            index, mask = None, None if segment_ids is None else attention_mask(segment_ids, segment_ids, causal=False)
        x = layer_stack(
            Block,
            c.n_layers,
            "none" if self.decode else c.remat,
            c.scan_layers,
            x,
            mask,
            index,
            positions,
            cfg=c,
            dtype=self.dtype,
            decode=self.decode,
            deterministic=deterministic,
        )
        x = _norm(c, self.dtype, "ln_final")(x)
        if c.tie_embeddings:
            head = embed.embedding
        else:  # stored [vocab, d_model] like the token embedding it replaces
            head = Weight(
                (c.vocab_size, c.d_model),
                ("vocab", "embed"),
                kernel_init(c.init, c.init_std, in_axis=1, out_axis=0),
                name="lm_head",
            )()
        head = HeadInputs(x.astype(head_dtype(self.dtype)), head)
        return head if return_hidden else head.logits()


def matmuls(cfg: ml_collections.ConfigDict, s: int, t: int) -> list[inv.Matmul]:
    """FLOPs inventory (jaxlm/models/inventory.py): the blocks (q and out over every head, k and v over the
    key/value heads; two or, gated, three feed-forward kernels) and the vocabulary head at every position."""
    m = cfg.model
    width = inv.attention_width(m)
    kv_width = (m.n_kv_heads or m.n_heads) * inv.head_width(m)
    ff = (3 if m.mlp == "swiglu" else 2) * m.d_model * m.d_ff
    block = inv.block_weights(m, width, ff, attention_kernels=2) + 2 * m.d_model * kv_width
    return [inv.Matmul("blocks", m.n_layers * block, s), inv.Matmul("lm_head", m.vocab_size * m.d_model, s)]


def attentions(cfg: ml_collections.ConfigDict, s: int, t: int) -> list[inv.Attention]:
    return [inv.Attention("self", cfg.model.n_layers, inv.attention_width(cfg.model), s, s, True)]
