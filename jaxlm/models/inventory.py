"""What a model family declares for FLOPs counting: its matmul kernels and attention products per example.

Each family's model file defines `matmuls(cfg, s, t)` and `attentions(cfg, s, t)` (s: encoder or only-stack
positions, t: decoder positions, 0 without a decoder); `jaxlm/bench/flops.py` turns them into FLOPs.
"""

from dataclasses import dataclass

import ml_collections


@dataclass(frozen=True)
class Matmul:
    name: str
    weights: int  # parameters of the matmul kernels of this group
    positions: int  # positions of one example each kernel is applied to


@dataclass(frozen=True)
class Attention:
    name: str
    layers: int
    width: int  # heads × head dim
    queries: int
    keys: int
    causal: bool


def head_width(m: ml_collections.ConfigDict) -> int:
    """One attention head's width: config.model.d_kv, or d_model / n_heads when it is 0."""
    return m.d_kv or m.d_model // m.n_heads


def attention_width(m: ml_collections.ConfigDict) -> int:
    """heads × head width."""
    return m.n_heads * head_width(m)


def block_weights(m: ml_collections.ConfigDict, width: int, ff_weights: int, attention_kernels: int = 4) -> int:
    """One block's matmul parameters: `attention_kernels` d_model × width projections plus the feed-forward."""
    return attention_kernels * m.d_model * width + ff_weights


def encoder_decoder_matmuls(
    cfg: ml_collections.ConfigDict,
    s: int,
    t: int,
    width: int,
    ff_weights: int,
) -> list[Matmul]:
    """A transformer encoder-decoder with a (tied or untied) vocabulary head on the decoder."""
    m = cfg.model
    dec_layers = m.n_decoder_layers or m.n_layers
    return [
        Matmul("encoder", m.n_layers * block_weights(m, width, ff_weights), s),
        Matmul("decoder", dec_layers * block_weights(m, width, ff_weights, 6), t),  # self q,k,v,o + cross q,o
        Matmul("cross_kv", dec_layers * 2 * m.d_model * width, s),  # cross k,v of the encoder
        Matmul("lm_head", m.vocab_size * m.d_model, t),
    ]


def encoder_decoder_attentions(cfg: ml_collections.ConfigDict, s: int, t: int, width: int) -> list[Attention]:
    m = cfg.model
    dec_layers = m.n_decoder_layers or m.n_layers
    return [
        Attention("encoder_self", m.n_layers, width, s, s, False),
        Attention("decoder_self", dec_layers, width, t, t, True),
        Attention("cross", dec_layers, width, t, s, False),
    ]
