"""Checkpoints that `transformers` itself writes (GPT-2, Llama, Qwen2, BERT, T5, BART), with tokenizer files built by
`tokenizers`, `sentencepiece` and transformers' tokenizer classes, through the commands a user types: convert, eval,
generate, a 2-step fine-tune and export, none of which changes the converted folder (the tokenizers' own ids:
tests/test_hf_tokenizer_parity.py)."""

import dataclasses
import json
import os
from collections.abc import Callable

import pytest
import torch
from conftest import jaxlm_cli, snapshot
from test_hf_tokenizer_parity import bart_tokenizer, llama_tokenizer, qwen2_tokenizer, with_padding_block
from test_pretrained_tokenizer import TEXTS, _byte_level_bpe, _t5_style_sentencepiece, _wordpiece
from transformers import (
    BartConfig,
    BartForConditionalGeneration,
    BertConfig,
    BertModel,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    T5Config,
    T5ForConditionalGeneration,
)

from jaxlm.cli.main import main
from jaxlm.data.tokenizer import Tokenizer


def _randomize(model):
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.05)
    return model


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> str:
    """A folder of 8 short plays' excerpts (one document per .txt file)."""
    d = tmp_path_factory.mktemp("corpus")
    for i, text in enumerate(TEXTS[:8]):
        (d / f"{i}.txt").write_text(text[:3000], encoding="utf-8")
    return str(d)


def _hf_bert(d) -> str:
    d.mkdir()
    tok = Tokenizer.from_bytes(open(with_padding_block(_wordpiece(d / "tokenizer.json")), "rb").read())
    cfg = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    _randomize(BertModel(cfg)).save_pretrained(d)  # headless, as MiniLM: no NSP head
    return str(d)


def _hf_gpt2(d) -> str:
    d.mkdir()
    tok = Tokenizer.from_bytes(open(_byte_level_bpe(d / "tokenizer.json"), "rb").read())
    cfg = GPT2Config(vocab_size=tok.vocab_size, n_embd=32, n_layer=2, n_head=2, n_positions=64)
    _randomize(GPT2LMHeadModel(cfg)).save_pretrained(d)
    return str(d)


def _hf_t5(d) -> str:
    d.mkdir()
    tok = Tokenizer.from_bytes(open(_t5_style_sentencepiece(d / "spiece.model"), "rb").read())
    cfg = T5Config(
        vocab_size=tok.vocab_size + 8,  # padded past the tokenizer's ids, as T5's 32,128 rows for 32,100 ids
        d_model=32,
        d_kv=16,
        d_ff=64,
        num_layers=2,
        num_heads=2,
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=1,
    )
    _randomize(T5ForConditionalGeneration(cfg)).save_pretrained(d)
    return str(d)


def _hf_folder(d, write_tokenizer: Callable, model: Callable) -> str:
    """A folder `d` with the tokenizer files `write_tokenizer(d)` writes and the random `model(its tokenizer)`."""
    d.mkdir()
    _randomize(model(write_tokenizer(d))).save_pretrained(d)
    return str(d)


DECODER = dict(  # grouped-query attention: 4 heads, 2 key/value heads
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=64,
)


def _hf_llama(d) -> str:
    """A Llama 2-style checkpoint (sentencepiece BPE with byte fallback, untied embeddings)."""
    return _hf_folder(d, llama_tokenizer, lambda tok: LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), **DECODER)))


def _hf_qwen2(d) -> str:
    """A Qwen2.5-style checkpoint: Qwen2's tokenizer, q/k/v biases, tied embeddings and an embedding table padded
    past the tokenizer's ids, as Qwen's are."""
    return _hf_folder(
        d,
        qwen2_tokenizer,
        lambda tok: Qwen2ForCausalLM(Qwen2Config(vocab_size=len(tok) + 4, tie_word_embeddings=True, **DECODER)),
    )


def _hf_bart(d) -> str:
    """A BART checkpoint with BART's tokenizer files and a shallower decoder than encoder, as distilled BARTs have."""
    cfg = dict(
        d_model=32,
        encoder_layers=2,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=64,
    )
    return _hf_folder(
        d, bart_tokenizer, lambda tok: BartForConditionalGeneration(BartConfig(vocab_size=len(tok), **cfg))
    )


@dataclasses.dataclass(frozen=True)
class Family:
    write: Callable  # writes the Hugging Face folder
    objective: str  # the objective convert gives it
    hf_cls: type  # the class that loads the export
    family: str = ""  # jaxlm's family (the key's when empty)
    generate: tuple[str, str] = ()  # ("--prompt" or "--input", its text); none for an encoder-only model


FAMILIES = {
    "bert": Family(_hf_bert, "roberta_mlm", BertModel),  # a headless BERT exports as one
    "gpt": Family(_hf_gpt2, "causal_lm", GPT2LMHeadModel, generate=("--prompt", "ROMEO:")),
    "t5": Family(_hf_t5, "t5_span_corruption", T5ForConditionalGeneration, generate=("--input", "ROMEO: <extra_id_0>")),
    "llama": Family(_hf_llama, "causal_lm", LlamaForCausalLM, family="gpt", generate=("--prompt", "ROMEO:")),
    "qwen2": Family(_hf_qwen2, "causal_lm", Qwen2ForCausalLM, family="gpt", generate=("--prompt", "ROMEO:")),
    "bart": Family(_hf_bart, "bart_denoise", BartForConditionalGeneration, generate=("--input", "But <mask> light")),
}


@pytest.mark.parametrize("name", list(FAMILIES))
def test_converted_checkpoint_through_every_verb(name, corpus, tmp_path, capsys):
    f = FAMILIES[name]
    hf = f.write(tmp_path / "hf")
    c = str(tmp_path / "c")
    assert main(["convert", "--from-hf", hf, "--out", c]) == 0
    assert json.load(open(os.path.join(c, "config.json")))["data"]["objective"] == f.objective
    before = snapshot(c)
    small = [
        f"--config.data.source={corpus}",
        "--config.data.seq_len=32",
        "--config.train.eval_batches=1",
        "--config.train.eval_batch_size=2",
    ]

    if f.generate:
        assert main(["generate", "--workdir", c, *f.generate, "--max-new-tokens", "4"]) == 0
    if name in ("bert", "gpt", "t5"):  # the wrong flag's refusal, once per kind: encoder, decoder, encoder-decoder
        wrong = "--input" if f.generate[:1] == ("--prompt",) else "--prompt"
        refused = jaxlm_cli("generate", "--workdir", c, wrong, "x")
        assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    capsys.readouterr()
    assert main(["eval", "--workdir", c, *small]) == 0
    out = capsys.readouterr()
    assert f"config.data.source='{corpus}'" in out.err and json.loads(out.out)["val"]["loss"] > 0

    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--config",
                "experiments/gpt_tiny.py",
                "--workdir",
                str(run),
                f"--config.model.family={f.family or name}",
                f"--config.data.objective={f.objective}",
                f"--config.finetune.init_from={c}",
                "--config.train.steps=2",
                "--config.train.batch_size=2",
                "--config.train.checkpoint_every=2",
                "--config.train.eval_every=2",
                "--config.train.sample_tokens=0",
                *small,
            ]
        )
        == 0
    )

    out = tmp_path / "export"
    assert main(["export", "--workdir", c, "--to-hf", str(out)]) == 0
    _, info = f.hf_cls.from_pretrained(out, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    if name != "t5":  # (T5's spiece.model is exported converted to a tokenizer.json)
        with open(os.path.join(hf, "tokenizer.json"), "rb") as a, open(out / "tokenizer.json", "rb") as b:
            assert a.read() == b.read()  # the original's padding and truncation block, byte for byte
    assert snapshot(c) == before


def test_bert_mlm_nsp_from_a_headless_bert_is_refused_before_the_corpus(tmp_path):
    c = str(tmp_path / "c")
    assert main(["convert", "--from-hf", _hf_bert(tmp_path / "hf"), "--out", c]) == 0
    before = snapshot(tmp_path)
    r = jaxlm_cli(
        "train",
        "--config",
        "experiments/gpt_tiny.py",
        "--workdir",
        str(tmp_path / "run"),
        "--config.model.family=bert",
        "--config.data.objective=bert_mlm_nsp",
        f"--config.finetune.init_from={c}",
        f"--config.data.source={tmp_path / 'no such corpus'}",
    )
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "jaxlm: error: config.data.nsp=True needs the NSP head, which this model lacks: set "
        "--config.data.objective=roberta_mlm or --config.data.nsp=False"
    ], r.stderr
    assert snapshot(tmp_path) == before
