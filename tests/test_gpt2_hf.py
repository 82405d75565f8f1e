"""Hugging Face GPT-2 both ways: an imported GPT2LMHeadModel gives `transformers`' logits, and an exported jaxlm GPT
loads with `from_pretrained` and gives jaxlm's (small random models; the CLI is in test_pretrained_tokenizer)."""

import json

import jax
import numpy as np
import pytest
import torch
from test_bert_hf import _randomize
from transformers import GPT2Config, GPT2LMHeadModel, GPT2Model

from jaxlm.config.schema import base_config
from jaxlm.data.tokenizer import Tokenizer
from jaxlm.errors import UserError
from jaxlm.generate.sampling import generate
from jaxlm.interop import export_hf, import_hf
from jaxlm.interop.hf_files import read_state_dict
from jaxlm.interop.hf_gpt2 import export_state_dict
from jaxlm.models.gpt import GPT

# One worker builds the module's `hf_dir` model, not one per worker.
pytestmark = pytest.mark.xdist_group("gpt2_hf")

TOL = 1e-4


def _hf_config(**kw) -> GPT2Config:
    return GPT2Config(
        vocab_size=99, n_positions=40, n_embd=32, n_layer=2, n_head=4, n_inner=48, layer_norm_epsilon=1e-6, **kw
    )


IDS = np.random.default_rng(0).integers(0, 99, (3, 17))


def _jaxlm_logits(cfg, params) -> np.ndarray:
    return np.asarray(GPT(cfg).apply({"params": params}, IDS))


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("gpt2")
    _randomize(GPT2LMHeadModel(_hf_config())).save_pretrained(d)
    return str(d)


def test_imported_gpt2_gives_the_same_logits(hf_dir, tmp_path):
    hf = GPT2LMHeadModel.from_pretrained(hf_dir).eval()
    with torch.no_grad():
        ref = hf(torch.tensor(IDS)).logits.numpy()
    cfg, params = import_hf(hf_dir)
    assert (cfg.family, cfg.d_ff, cfg.layer_norm_eps, cfg.max_len) == ("gpt", 48, 1e-6, 40)
    assert np.max(np.abs(_jaxlm_logits(cfg, params) - ref)) <= TOL
    base = tmp_path / "base"
    GPT2Model(_hf_config()).save_pretrained(base)  # the headless layout (no `transformer.` prefix) imports too
    assert import_hf(str(base))[1]["embed"]["embedding"].shape == (99, 32)


def greedy_tokens(cfg, params, hf_model, prompt=(5, 17, 3, 42, 8), n: int = 24) -> tuple[list[int], list[int]]:
    """n greedy tokens after `prompt`: jaxlm's KV-cache decoding, and transformers' `generate` of `hf_model`."""
    mine = generate(GPT(cfg, decode=True), params, list(prompt), n, jax.random.PRNGKey(0), temperature=0.0)
    with torch.no_grad():
        theirs = hf_model.eval().generate(
            torch.tensor([prompt]),
            attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
            max_new_tokens=n,
            min_new_tokens=n,
            do_sample=False,
            pad_token_id=0,
        )
    return mine, theirs[0, len(prompt) :].tolist()


def test_kv_cache_greedy_decoding_equals_transformers_generate(hf_dir):
    mine, theirs = greedy_tokens(*import_hf(hf_dir), GPT2LMHeadModel.from_pretrained(hf_dir))
    assert mine == theirs


def test_export_is_the_exact_inverse_and_loads_in_transformers(hf_dir, tmp_path):
    cfg, params = import_hf(hf_dir)
    original = read_state_dict(hf_dir)
    exported = export_state_dict(params, cfg)
    assert set(exported) == {k for k in original if k != "lm_head.weight"}
    for k, v in exported.items():
        np.testing.assert_array_equal(v, original[k], err_msg=k)
    out = tmp_path / "out"
    export_hf(str(out), cfg, params)
    assert json.load(open(out / "config.json"))["model_type"] == "gpt2"
    back = GPT2LMHeadModel.from_pretrained(out).eval()
    with torch.no_grad():
        logits = back(torch.tensor(IDS)).logits.numpy()
    assert np.max(np.abs(_jaxlm_logits(cfg, params) - logits)) <= TOL


def test_unsupported_variants_are_refused(tmp_path):
    _randomize(GPT2LMHeadModel(_hf_config(activation_function="relu"))).save_pretrained(tmp_path / "relu")
    with pytest.raises(UserError, match="unsupported GPT-2 variant"):
        import_hf(str(tmp_path / "relu"))
    bert = base_config().model
    bert.update(family="bert", norm="pre")  # every family exports now; a pre-LN BERT has no Hugging Face class
    with pytest.raises(UserError, match="config.model.norm='pre' does not export"):
        export_hf(str(tmp_path / "bert_out"), bert, {})


def test_convert_then_train_from_it_then_export(tmp_path, capsys):
    """GPT-2 with its tokenizer.json → `jaxlm convert` → `jaxlm train --config.finetune.init_from` (the imported
    weights and tokenizer) → `jaxlm export` → transformers: the tokenizer travels, the weights are the trained ones."""
    from conftest import ROOT
    from test_pretrained_tokenizer import TEXTS, _byte_level_bpe

    from jaxlm.cli.main import main

    hf_dir = tmp_path / "hf"
    hf_dir.mkdir()
    vocab = Tokenizer(_byte_level_bpe(hf_dir / "tokenizer.json")).vocab_size
    _randomize(
        GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_positions=64, n_embd=32, n_layer=2, n_head=2, n_inner=64))
    ).save_pretrained(hf_dir)
    conv, wd, out, src = tmp_path / "converted", tmp_path / "run", tmp_path / "export", tmp_path / "corpus.jsonl"
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS[:12]))
    assert main(["convert", "--from-hf", str(hf_dir), "--out", str(conv)]) == 0
    assert (conv / "tokenizer.model").read_bytes() == (hf_dir / "tokenizer.json").read_bytes()
    assert (
        main(
            [
                "train",
                "--config",
                f"{ROOT}/experiments/gpt_tiny.py",
                "--workdir",
                str(wd),
                f"--config.finetune.init_from={conv}",
                f"--config.data.source={src}",
                "--config.data.val_docs=1",
                "--config.data.test_docs=1",
                "--config.train.steps=2",
                "--config.train.eval_every=2",
                "--config.train.eval_batches=1",
                "--config.train.sample_tokens=0",
                "--config.train.progress=False",
            ]
        )
        == 0
    )
    assert main(["export", "--workdir", str(wd), "--to-hf", str(out)]) == 0
    trained = {k: v.detach().numpy() for k, v in GPT2LMHeadModel.from_pretrained(out).state_dict().items()}
    imported = read_state_dict(str(hf_dir))
    assert trained["transformer.wte.weight"].shape == (vocab, 32)
    assert not np.array_equal(trained["transformer.h.0.mlp.c_fc.weight"], imported["transformer.h.0.mlp.c_fc.weight"])
    assert np.max(np.abs(trained["transformer.wpe.weight"] - imported["transformer.wpe.weight"])) < 0.05  # 2 steps
    assert (out / "tokenizer.json").read_bytes() == (hf_dir / "tokenizer.json").read_bytes()
