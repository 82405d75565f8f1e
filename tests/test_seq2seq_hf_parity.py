"""Hugging Face import (through the model_type registry): random T5 and BART saved to tmp give the same logits
in jaxlm (max difference ≤ 1e-4)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from jaxlm.interop import import_hf
from jaxlm.registry import FAMILIES


def _batch(vocab: int, low: int):
    rng = np.random.default_rng(0)
    inputs = rng.integers(low, vocab, (2, 11))
    mask = np.ones_like(inputs)
    mask[1, 7:] = 0  # the second input is padded
    decoder = rng.integers(low, vocab, (2, 9))
    return inputs, mask, decoder


def _compare(hf_model, load, tmp_path, low: int) -> float:
    hf_model.eval()
    hf_model.save_pretrained(tmp_path)
    cfg, params = load(str(tmp_path))
    inputs, mask, decoder = _batch(cfg.vocab_size, low)
    with torch.no_grad():
        want = hf_model(
            input_ids=torch.tensor(inputs), attention_mask=torch.tensor(mask), decoder_input_ids=torch.tensor(decoder)
        ).logits.numpy()
    got = FAMILIES[cfg.family].model(cfg).apply({"params": params}, inputs, decoder, mask)
    return float(np.max(np.abs(np.asarray(got) - want)))


@pytest.mark.parametrize("ff,tied", [("relu", True), ("gated-gelu", False)])
def test_t5_logits_match_transformers(tmp_path, ff, tied):
    torch.manual_seed(0)
    hf_cfg = transformers.T5Config(
        vocab_size=96,
        d_model=32,
        d_kv=8,
        d_ff=48,
        num_layers=2,
        num_decoder_layers=3,
        num_heads=4,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=16,
        feed_forward_proj=ff,
        tie_word_embeddings=tied,
        dropout_rate=0.0,
    )
    assert _compare(transformers.T5ForConditionalGeneration(hf_cfg), import_hf, tmp_path, 2) <= 1e-4


@pytest.mark.parametrize("scale_embedding", [False, True])
def test_bart_logits_match_transformers(tmp_path, scale_embedding):
    torch.manual_seed(0)
    hf_cfg = transformers.BartConfig(
        vocab_size=96,
        d_model=32,
        encoder_layers=2,
        decoder_layers=3,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=48,
        decoder_ffn_dim=48,
        max_position_embeddings=32,
        scale_embedding=scale_embedding,
        dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
    )
    model = transformers.BartForConditionalGeneration(hf_cfg)
    with torch.no_grad():  # non-zero biases and logits bias, so every tensor is exercised
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
        model.final_logits_bias.normal_(0, 0.1)
    assert _compare(model, import_hf, tmp_path, 4) <= 1e-4
