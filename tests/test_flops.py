"""FLOPs per token (jaxlm/bench/flops.py): hand-computed values for one preset of each family, and agreement
with XLA's own count of the compiled train step.

XLA's `cost_analysis()['flops']` of the step always comes out a few % above the convention once causal
attention is counted as the full square XLA computes (the masked half is still multiplied): it also counts
elementwise work the convention leaves out — softmax cross-entropy and argmax over the vocabulary, attention
softmaxes, GELU (erf's polynomial for BERT and BART), LayerNorm/RMSNorm, biases, global-norm clipping, the
non-finite checks and the AdamW update (≈ 20 FLOPs per parameter per step). That work grows like d per token
while matmuls grow like d², so the excess shrinks with width: 2–4% for the d=128–192 presets, 3–6% here.
"""

import os

import pytest
from conftest import ROOT

from jaxlm.bench.flops import (
    example_flops,
    example_lengths,
    flops_per_token,
    matmul_params,
    tokens_per_example,
)
from jaxlm.bench.setup import abstract_setup
from jaxlm.bench.speed import xla_flops
from jaxlm.config.loading import load_config_file


def _preset(name: str):
    return load_config_file(os.path.join(ROOT, "experiments", f"{name}.py"))


def test_gpt_shakespeare_by_hand():
    # L=4, d=192, d_ff=768, V=4096 (tied), T=128.
    blocks = 4 * (4 * 192 * 192 + 2 * 192 * 768)  # qkv + out, up + down: 4 · 442_368 = 1_769_472
    head = 4096 * 192  # the tied embedding as output projection: 786_432
    attention = 6 * 4 * 192 * 128  # causal: half of 12·L·d·T = 589_824
    cfg = _preset("gpt_shakespeare")
    assert matmul_params(cfg) == blocks + head == 2_555_904
    assert flops_per_token(cfg)[0] == 6 * (blocks + head) + attention == 15_925_248


def test_bert_shakespeare_by_hand():
    # L=4, d=128, d_ff=512, V=4096, T=128, NSP head: the MLM head runs on the max_predictions = 20 gathered
    # positions, the pooler and the NSP classifier on [CLS] only (so 20/T and 1/T of them per token).
    blocks = 4 * (4 * 128 * 128 + 2 * 128 * 512)  # 786_432
    mlm_head = 128 * 128 + 4096 * 128  # dense + tied decoder: 540_672
    pooler_nsp = 128 * 128 + 128 * 2  # 16_640 per example
    attention = 12 * 4 * 128 * 128  # full: 786_432
    per_token = 6 * blocks + 6 * mlm_head * 20 / 128 + 6 * pooler_nsp / 128 + attention
    assert per_token == 4_718_592 + 506_880 + 780 + 786_432 == 6_012_684
    assert flops_per_token(_preset("bert_shakespeare"))[0] == per_token


def test_t5_span_corruption_by_hand():
    # 2+2 layers, d=128, 4 heads × d_kv 32 = 128, relu FF 512, V=4096 tied; inputs 128 → targets 29 (T5's rule).
    cfg = _preset("t5_span_corruption")
    assert example_lengths(cfg) == (128, 29) and tokens_per_example(cfg) == 157
    encoder = 2 * (4 * 128 * 128 + 2 * 128 * 512)  # 393_216 weights × 128 positions
    decoder = 2 * (6 * 128 * 128 + 2 * 128 * 512)  # self q,k,v,o + cross q,o + FF: 458_752 × 29
    cross_kv = 2 * 2 * 128 * 128  # cross k,v on the encoder output: 65_536 × 128
    head = 4096 * 128  # 524_288 × 29
    dense = 6 * ((encoder + cross_kv) * 128 + (decoder + head) * 29)  # 523_370_496
    attention = (
        12 * 2 * 128 * 128 * 128  # encoder self, full: 50_331_648
        + 6 * 2 * 128 * 29 * 29  # decoder self, causal: 1_291_776
        + 12 * 2 * 128 * 29 * 128
    )  # cross, full: 11_403_264
    assert dense == 523_370_496 and attention == 63_026_688
    assert flops_per_token(cfg)[0] == pytest.approx((dense + attention) / 157, rel=1e-12)  # 3_735_013.9…


def test_bart_denoise_by_hand():
    # 2+2 layers, d=128, 4 heads, FF 512, V=4096 tied; inputs 128 and targets 128: 256 tokens per example.
    cfg = _preset("bart_denoise")
    assert example_lengths(cfg) == (128, 128)
    weights = 2 * (4 * 128 * 128 + 2 * 128 * 512) + 2 * (6 * 128 * 128 + 2 * 128 * 512) + 2 * 2 * 128 * 128 + 4096 * 128
    assert weights == 1_441_792 == matmul_params(cfg)
    attention = 12 * 2 * 128**3 + 6 * 2 * 128**3 + 12 * 2 * 128**3  # 125_829_120 per example
    assert flops_per_token(cfg)[0] == (6 * weights * 128 + attention) / 256 == 4_325_376 + 491_520


def test_bert_classifier_and_real_batch_lengths():
    # A classifier (model.num_labels) has no MLM head: blocks on every position, pooler + classifier on [CLS].
    cfg = _preset("bert_shakespeare")
    cfg.model.num_labels = 5
    blocks = 4 * (4 * 128 * 128 + 2 * 128 * 512)
    assert flops_per_token(cfg)[0] == 6 * blocks + 6 * (128 * 128 + 128 * 5) / 128 + 12 * 4 * 128 * 128
    # Lengths taken from a real batch replace the config's (a decoder of 10 positions here).
    t5 = _preset("t5_span_corruption")
    assert tokens_per_example(t5, (128, 10)) == 138
    assert (
        example_flops(t5, (128, 10))["attention"]
        == 12 * 2 * 128 * 128**2 + 6 * 2 * 128 * 10**2 + 12 * 2 * 128 * 10 * 128
    )


def test_convention_is_stated():
    _, convention = flops_per_token(_preset("t5_span_corruption"))
    assert "encoder + decoder" in convention and "causal" in convention and "embeddings excluded" in convention


SMALL = {"n_layers": 1, "n_heads": 2, "d_model": 128, "d_ff": 512, "vocab_size": 512, "max_len": 64}


@pytest.mark.parametrize("name", ["gpt_tiny", "bert_shakespeare", "t5_span_corruption", "bart_denoise"])
def test_agrees_with_xla_cost_analysis(name):
    cfg = _preset(name)
    cfg.model.update(**SMALL, d_kv=64)
    cfg.data.update(seq_len=64, dupe_factor=1)
    cfg.train.batch_size = 8
    setup = abstract_setup(cfg)
    inputs, targets = example_lengths(cfg)
    assert setup.batch["inputs"].shape == (8, inputs)
    if targets:
        assert setup.batch["decoder_inputs"].shape == (8, targets)
    xla = xla_flops(setup.train_step.lower(setup.state, setup.batch).compile())
    flops = example_flops(cfg, causal_half=False)
    assert 1.0 < xla / (8 * (flops["dense"] + flops["attention"])) < 1.08
