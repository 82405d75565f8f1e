"""Hugging Face BERT import: hidden states, MLM and NSP logits match `transformers` on small random models."""

import json

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertForPreTraining, BertModel

from jaxlm.cli.main import main
from jaxlm.interop import import_hf, load_converted
from jaxlm.models.bert import BERT

TOL = 1e-4


def _hf_config() -> BertConfig:
    return BertConfig(
        vocab_size=99,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=40,
        layer_norm_eps=1e-7,
    )


def _randomize(model: torch.nn.Module) -> torch.nn.Module:
    """Perturb every weight (LayerNorms included) so that a wrong mapping cannot hide behind ones and zeros."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model.eval()


def _batch():
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 99, (3, 16))
    types = np.zeros((3, 16), np.int64)
    types[:, 9:] = 1
    mask = np.ones((3, 16), np.int64)
    mask[1, 12:], mask[2, 5:] = 0, 0
    return ids, types, mask


def bert_hidden_states(model_cfg, params: dict, input_ids, token_type_ids, attention_mask):
    """Final hidden states [B, T, d_model] (Hugging Face's `last_hidden_state`); padding rows are unspecified."""
    return BERT(model_cfg).apply({"params": params}, input_ids, token_type_ids, attention_mask, method=BERT.encode)


def _max_diff(a, b, mask) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))[mask.astype(bool)]))


@pytest.mark.parametrize("safetensors", [True, False])
def test_bert_model_hidden_states_match(tmp_path, safetensors):
    hf = _randomize(BertModel(_hf_config()))
    hf.save_pretrained(tmp_path, safe_serialization=safetensors)
    ids, types, mask = _batch()
    with torch.no_grad():
        ref = hf(
            input_ids=torch.tensor(ids), token_type_ids=torch.tensor(types), attention_mask=torch.tensor(mask)
        ).last_hidden_state.numpy()
    cfg, params = import_hf(str(tmp_path))
    assert cfg.layer_norm_eps == 1e-7 and cfg.norm == "post" and not cfg.nsp_head
    assert _max_diff(bert_hidden_states(cfg, params, ids, types, mask), ref, mask) <= TOL


def test_pretraining_layout_heads_and_convert_cli(tmp_path):
    hf = _randomize(BertForPreTraining(_hf_config()))
    hf.save_pretrained(tmp_path / "hf")
    assert any(k.startswith("bert.") for k in hf.state_dict())
    ids, types, mask = _batch()
    with torch.no_grad():
        out = hf(
            input_ids=torch.tensor(ids),
            token_type_ids=torch.tensor(types),
            attention_mask=torch.tensor(mask),
            output_hidden_states=True,
        )
    cfg, params = import_hf(str(tmp_path / "hf"))
    assert cfg.nsp_head
    hidden = bert_hidden_states(cfg, params, ids, types, mask)
    assert _max_diff(hidden, out.hidden_states[-1].numpy(), mask) <= TOL
    ours = BERT(cfg).apply({"params": params}, ids, types, mask)
    assert _max_diff(ours["mlm_logits"], out.prediction_logits.numpy(), mask) <= TOL
    np.testing.assert_allclose(ours["nsp_logits"], out.seq_relationship_logits.numpy()[:, ::-1], atol=TOL)

    assert main(["convert", "--from-hf", str(tmp_path / "hf"), "--out", str(tmp_path / "out")]) == 0
    saved_cfg, saved = load_converted(str(tmp_path / "out"))
    assert json.loads(saved_cfg.model.to_json()) == json.loads(cfg.to_json())
    again = bert_hidden_states(saved_cfg.model, saved, ids, types, mask)
    np.testing.assert_array_equal(np.asarray(again), np.asarray(hidden))
    assert main(["convert", "--from-hf", str(tmp_path / "hf"), "--out", str(tmp_path / "out")]) == 2


def test_unsupported_checkpoints_are_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt_neo"}))
    assert main(["convert", "--from-hf", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert main(["convert", "--from-hf", str(tmp_path / "missing"), "--out", str(tmp_path / "out")]) == 2
