"""Training FLOPs of a config as pure functions of it (the 6·N + attention convention, per token).

Per training example: every matmul weight w applied at p positions costs 6·w·p (2 forward, 4 backward: the
gradients of its input and of itself); embedding lookups cost nothing, except a token embedding tied to the
output projection, which counts once as that projection. Attention adds, per layer, 12·d_attn·Tq·Tk (QKᵀ and
A·V, forward and backward), halved for causal self-attention (the masked half is not useful work). Biases,
norms, softmaxes, GELUs and the optimizer update are elementwise and left out. FLOPs per token are the
example's FLOPs divided by the positions the step consumes: the sequence for GPT and BERT (padding included),
encoder plus decoder positions for T5 and BART.
"""

import ml_collections

from jaxlm.models.inventory import Attention, Matmul
from jaxlm.objectives import t5_noise
from jaxlm.objectives.seq2seq import targets_length
from jaxlm.registry import family

Lengths = tuple[int, int]  # (encoder or only-stack positions, decoder positions; 0 without a decoder)


def example_lengths(cfg: ml_collections.ConfigDict) -> Lengths:
    """The lengths of one training example of the pre-training objectives (pass the real batch's lengths to the
    functions below for an objective whose decoder length depends on the data, e.g. a label as the target)."""
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


def matmuls(cfg: ml_collections.ConfigDict, lengths: Lengths | None = None) -> list[Matmul]:
    """The model's matmul kernels grouped by how many positions of an example they see (the family's inventory)."""
    return family(cfg).matmuls(cfg, *(lengths or example_lengths(cfg)))


def attentions(cfg: ml_collections.ConfigDict, lengths: Lengths | None = None) -> list[Attention]:
    """The model's attention products: layers, width and the query × key lengths of one example."""
    return family(cfg).attentions(cfg, *(lengths or example_lengths(cfg)))


def matmul_params(cfg: ml_collections.ConfigDict) -> int:
    """N: parameters in matmuls (the tied output projection once; other embeddings excluded)."""
    return sum(mm.weights for mm in matmuls(cfg))


def example_flops(
    cfg: ml_collections.ConfigDict, lengths: Lengths | None = None, causal_half: bool = True
) -> dict[str, float]:
    """Training FLOPs of one example: `dense` (6·w·positions) and `attention`; `causal_half=False` counts causal
    attention in full, as XLA computes it (a masked square)."""
    dense = sum(6 * mm.weights * mm.positions for mm in matmuls(cfg, lengths))
    attention = sum(
        12 * a.layers * a.width * a.queries * a.keys * (0.5 if a.causal and causal_half else 1.0)
        for a in attentions(cfg, lengths)
    )
    return {"dense": float(dense), "attention": float(attention)}


def flops_per_token(cfg: ml_collections.ConfigDict, lengths: Lengths | None = None) -> tuple[float, str]:
    """(training FLOPs per token, the convention in words)."""
    flops = example_flops(cfg, lengths)
    tokens = (
        "encoder + decoder positions (inputs_len + targets_len)"
        if family(cfg).encoder_decoder
        else "sequence positions"
    )
    convention = (
        "per example: 6·w·positions for every matmul kernel w (embeddings excluded, a tied output "
        "projection counted once, BERT's MLM head at the max_predictions gathered positions and its "
        "pooler/NSP/classifier at one) + 12·d_attn·Tq·Tk per attention layer, halved for causal "
        "self-attention; divided by the example's " + tokens + ", padding included; elementwise work "
        "(biases, norms, softmax, optimizer) excluded"
    )
    return (flops["dense"] + flops["attention"]) / tokens_per_example(cfg, lengths), convention
