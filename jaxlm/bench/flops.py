"""Training FLOPs of a config as pure functions of it (the 6·N + attention convention, per token).

Per training example: every matmul weight w applied at p positions costs 6·w·p (2 forward, 4 backward: the
gradients of its input and of itself); embedding lookups cost nothing, except a token embedding tied to the
output projection, which counts once as that projection. Attention adds, per layer, 12·d_attn·Tq·Tk (QKᵀ and
A·V, forward and backward), halved for causal self-attention (the masked half is not useful work). Biases,
norms, softmaxes, GELUs and the optimizer update are elementwise and left out. FLOPs per token are the
example's FLOPs divided by the positions the step consumes: the sequence for GPT and BERT (padding included),
encoder plus decoder positions for T5 and BART.
"""

from dataclasses import dataclass

import ml_collections

from jaxlm.data.masking import max_predictions
from jaxlm.objectives import t5_noise
from jaxlm.objectives.seq2seq import targets_length
from jaxlm.registry import family


@dataclass(frozen=True)
class Matmul:
    name: str
    weights: int      # parameters of the matmul kernels of this group
    positions: int    # positions of one example each kernel is applied to


@dataclass(frozen=True)
class Attention:
    name: str
    layers: int
    width: int        # heads × head dim
    queries: int
    keys: int
    causal: bool


Lengths = tuple[int, int]   # (encoder or only-stack positions, decoder positions; 0 without a decoder)


def example_lengths(cfg: ml_collections.ConfigDict) -> Lengths:
    """The lengths of one training example of the pre-training objectives (pass the real batch's lengths to the
    functions below for an objective whose decoder length depends on the data, e.g. genre_text_to_text)."""
    d = cfg.data
    if not family(cfg).encoder_decoder:
        return d.seq_len, 0
    needed = d.seq_len
    if d.objective == "t5_span_corruption":
        needed = t5_noise.span_corruption_lengths(d.seq_len, d.noise_density, d.mean_span_length)[1]
    return d.seq_len, targets_length(cfg, needed)


def tokens_per_example(cfg: ml_collections.ConfigDict, lengths: Lengths | None = None) -> int:
    """Positions one example feeds the model: encoder + decoder positions for encoder-decoders."""
    return sum(lengths or example_lengths(cfg))


def _attention_width(m: ml_collections.ConfigDict) -> int:
    head = (m.d_kv or m.d_model // m.n_heads) if m.family == "t5" else m.d_model // m.n_heads
    return m.n_heads * head


def _ff_weights(m: ml_collections.ConfigDict) -> int:
    return (3 if m.family == "t5" and m.ff == "gated_gelu" else 2) * m.d_model * m.d_ff


def matmuls(cfg: ml_collections.ConfigDict, lengths: Lengths | None = None) -> list[Matmul]:
    """The model's matmul kernels grouped by how many positions of an example they see."""
    m = cfg.model
    d, width, head = m.d_model, _attention_width(m), m.vocab_size * m.d_model
    s, t = lengths or example_lengths(cfg)
    if m.family == "gpt":
        return [Matmul("blocks", m.n_layers * (4 * d * width + _ff_weights(m)), s), Matmul("lm_head", head, s)]
    if m.family == "bert":
        blocks = Matmul("blocks", m.n_layers * (4 * d * width + _ff_weights(m)), s)
        if m.get("num_labels", 0):   # a sequence classifier: pooler and classifier on [CLS], no MLM head
            return [blocks, Matmul("pooler_classifier", d * d + d * m.num_labels, 1)]
        mlm_positions = min(max_predictions(cfg.data), s)    # the loss gathers the predicted positions
        return [blocks, Matmul("mlm_head", d * d + head, mlm_positions)] + (
            [Matmul("pooler_nsp", d * d + 2 * d, 1)] if m.nsp_head else [])
    dec_layers = m.n_decoder_layers or m.n_layers
    return [Matmul("encoder", m.n_layers * (4 * d * width + _ff_weights(m)), s),
            Matmul("decoder", dec_layers * (6 * d * width + _ff_weights(m)), t),   # self q,k,v,o + cross q,o
            Matmul("cross_kv", dec_layers * 2 * d * width, s),                      # cross k,v of the encoder output
            Matmul("lm_head", head, t)]


def attentions(cfg: ml_collections.ConfigDict, lengths: Lengths | None = None) -> list[Attention]:
    """The model's attention products: layers, width and the query × key lengths of one example."""
    m = cfg.model
    width, (s, t) = _attention_width(m), lengths or example_lengths(cfg)
    if m.family == "gpt":
        return [Attention("self", m.n_layers, width, s, s, True)]
    if m.family == "bert":
        return [Attention("self", m.n_layers, width, s, s, False)]
    dec_layers = m.n_decoder_layers or m.n_layers
    return [Attention("encoder_self", m.n_layers, width, s, s, False),
            Attention("decoder_self", dec_layers, width, t, t, True),
            Attention("cross", dec_layers, width, t, s, False)]


def matmul_params(cfg: ml_collections.ConfigDict) -> int:
    """N: parameters in matmuls (the tied output projection once; other embeddings excluded)."""
    return sum(mm.weights for mm in matmuls(cfg))


def example_flops(cfg: ml_collections.ConfigDict, lengths: Lengths | None = None,
                  causal_half: bool = True) -> dict[str, float]:
    """Training FLOPs of one example: `dense` (6·w·positions) and `attention`; `causal_half=False` counts causal
    attention in full, as XLA computes it (a masked square)."""
    dense = sum(6 * mm.weights * mm.positions for mm in matmuls(cfg, lengths))
    attention = sum(12 * a.layers * a.width * a.queries * a.keys * (0.5 if a.causal and causal_half else 1.0)
                    for a in attentions(cfg, lengths))
    return {"dense": float(dense), "attention": float(attention)}


def flops_per_token(cfg: ml_collections.ConfigDict, lengths: Lengths | None = None) -> tuple[float, str]:
    """(training FLOPs per token, the convention in words)."""
    flops = example_flops(cfg, lengths)
    tokens = ("encoder + decoder positions (inputs_len + targets_len)" if family(cfg).encoder_decoder
              else "sequence positions")
    convention = ("per example: 6·w·positions for every matmul kernel w (embeddings excluded, a tied output "
                  "projection counted once, BERT's MLM head at the max_predictions gathered positions and its "
                  "pooler/NSP/classifier at one) + 12·d_attn·Tq·Tk per attention layer, halved for causal "
                  "self-attention; divided by the example's " + tokens + ", padding included; elementwise work "
                  "(biases, norms, softmax, optimizer) excluded")
    return (flops["dense"] + flops["attention"]) / tokens_per_example(cfg, lengths), convention
