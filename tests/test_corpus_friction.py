"""Issue 40: the character coverage and its fixes, the hf_bpe trainer, log lines without a terminal, the bounded
evaluation during training, and split by a target number of documents."""

import json
import sys
import types

import numpy as np
import pytest
from conftest import ROOT, jaxlm_cli, snapshot

from jaxlm.data import progress
from jaxlm.data.corpus import hash_codes, hash_uniform
from jaxlm.data.prepare import hash_fractions
from jaxlm.data.tokenizer import FIRST_ORDINARY_ID, N_BYTE_PIECES, Tokenizer, TokenizerSpec, effective_coverage
from jaxlm.data.tokenizer_hf import train_bytes
from jaxlm.errors import UserError
from jaxlm.pipeline.dataset import eval_limit

TEXT = "The quick brown fox, 42 times; naïve café — 中文 ✓ \t tabs\n  indented\n\n" * 40


def test_coverage_is_one_when_characters_fit_and_lowered_to_fit_otherwise():
    room = (4096 - FIRST_ORDINARY_ID - 1 - N_BYTE_PIECES) // 2  # 1866
    assert effective_coverage([TEXT], 4096, 0.9995) == 1.0
    rare = "".join(chr(0x4E00 + k) for k in range(room + 100))  # each once: more characters than the room
    texts = ["a" * 1_000_000, rare]
    assert effective_coverage(texts, 4096, 0.9995) == 0.9995  # the 100 rarest are 0.01% of the text
    few = ["a" * 10_000, rare]  # now they are 1%: the coverage falls to what the room holds
    expected = np.floor((10_000 + room - 1) / (10_000 + room + 100) * 1e4) / 1e4
    assert effective_coverage(few, 4096, 0.9995) == expected


def test_sentencepiece_refusal_names_the_overrides(tmp_path):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text("just a few words here and there\n" * 20)
    p = jaxlm_cli(
        "tokenizer",
        "train",
        "--config",
        f"{ROOT}/experiments/gpt_tiny.py",
        "--out",
        str(tmp_path / "t.model"),
        f"--config.data.source={corpus}",
        "--config.data.val_docs=0",
        "--config.data.test_docs=0",
        "--config.model.vocab_size=5000",
    )
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr, p.stderr
    assert "set --config.model.vocab_size=512 (the most this sample allows)" in p.stderr
    assert "bigger corpus" not in p.stderr and not (tmp_path / "t.model").exists()


def test_hf_bpe_tokenizer_is_lossless_with_jaxlm_roles():
    rng = np.random.default_rng(0)
    words = ["".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), size=rng.integers(2, 9))) for _ in range(400)]
    tok = Tokenizer.from_bytes(
        train_bytes([TEXT, " ".join(rng.choice(words, size=5000))], TokenizerSpec(vocab_size=512))
    )
    assert tok.vocab_size == 512
    assert (tok.ids.pad, tok.ids.eos, tok.ids.bos, tok.ids.unk, tok.ids.cls, tok.ids.sep, tok.ids.mask) == tuple(
        range(7)
    )
    assert tok.ids.sentinels == tuple(range(7, 107))
    for text in (TEXT, "unseen: ∮ 𝔘 ﷽ \x00\r\n", "<extra_id_0>[MASK]</s>"):
        ids = tok.encode(text)
        assert tok.decode(ids) == text and max(ids) < 512
        assert int(tok.byte_lengths()[ids].sum()) == len(text.encode())
    with pytest.raises(UserError, match="vocab_size=") as e:
        train_bytes(["ab\n"], TokenizerSpec(vocab_size=4096))
    assert "\n" not in str(e.value)


def test_progress_prints_log_lines_without_a_terminal(monkeypatch, capsys):
    monkeypatch.setattr(progress, "LOG_SECONDS", 0.0)
    monkeypatch.setattr(
        sys, "stderr", types.SimpleNamespace(isatty=lambda: False, write=sys.stderr.write, flush=sys.stderr.flush)
    )
    bar = progress.Progress("train", total=4, unit="steps", initial=1)
    bar.set_postfix(loss="2.500")
    bar.update(1)  # the rate counts from here: no rate, no ETA yet
    bar.update(1)
    bar.close()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3 and lines[0].startswith("jaxlm: train: 2/4 steps (50%), loss 2.500, elapsed ")
    assert all(
        ln.startswith("jaxlm: train: 3/4 steps (75%), loss 2.500, ") and " steps/s, ETA " in ln for ln in lines[1:]
    )
    assert (
        progress.duration(3725) == "1h02m"
        and progress.duration(185) == "3m05s"
        and progress.amount(2.5e9, "B") == "2.50 GB"
    )


def test_eval_limit_bounds_evaluations_during_training_only(tiny_config):
    cfg = tiny_config
    cfg.train.update(eval_batches=0, eval_batch_size=4, eval_tokens=1000)
    cfg.data.seq_len = 64  # a batch holds 256 tokens: 1000 tokens are 4 batches
    prepared = types.SimpleNamespace(examples=range(100))  # 25 batches
    assert eval_limit(prepared, cfg, during_training=True) == 4
    assert eval_limit(prepared, cfg, during_training=False) == 0
    assert eval_limit(types.SimpleNamespace(examples=range(16)), cfg, during_training=True) == 0  # all of it
    cfg.train.eval_batches = 3
    assert eval_limit(prepared, cfg, during_training=True) == eval_limit(prepared, cfg, during_training=False) == 3


def test_hash_split_by_target_documents():
    settings = dict(val_fraction=0.5, test_fraction=0.0, val_target_docs=0, test_target_docs=30)
    assert hash_fractions(settings, 1000) == (0.5, 0.03)
    u = np.array([hash_uniform(f"document {i}", 0) for i in range(1000)])
    codes = hash_codes(
        u, *hash_fractions(dict(val_fraction=0, test_fraction=0, val_target_docs=100, test_target_docs=0), 1000)
    )
    assert 80 <= (codes == 1).sum() <= 120 and (codes == 2).sum() == 0
    assert codes.tolist() == [int(x < 0.1) for x in u]  # val_fraction=0.1: the same documents
    with pytest.raises(UserError, match="lower them"):
        hash_fractions(dict(val_fraction=0, test_fraction=0, val_target_docs=600, test_target_docs=400), 1000)


def test_prepare_warns_about_a_small_split_and_says_reused(tmp_path):
    corpus = tmp_path / "c.jsonl"
    rng = np.random.default_rng(0)
    words = ["".join(rng.choice(list("abcdefghijklmnop"), size=rng.integers(2, 8))) for _ in range(300)]
    corpus.write_text("".join(json.dumps({"text": " ".join(rng.choice(words, size=300))}) + "\n" for _ in range(40)))
    args = (
        "data",
        "prepare",
        "--config",
        f"{ROOT}/experiments/gpt_tiny.py",
        f"--config.data.source={corpus}",
        "--config.data.split=hash",
        "--config.data.val_target_docs=4",
        "--config.data.test_target_docs=4",
        "--config.data.tokenizer_trainer=hf_bpe",
        "--out",
        str(tmp_path / "store"),
    )
    first, second = jaxlm_cli(*args), jaxlm_cli(*args)
    assert first.returncode == 0 and second.returncode == 0, first.stderr
    assert json.loads(first.stdout)["built"] is True and json.loads(second.stdout)["built"] is False
    assert "jaxlm: reused the token store" in second.stderr and "reused" not in first.stderr
    val = json.loads(first.stdout)["val"]
    assert f"warning: the val split holds {val['docs']} documents, {val['bytes']:,} bytes" in first.stderr
    with open(tmp_path / "store" / "tokenizer.model", "rb") as f:
        assert f.read(1) == b"{"  # hf_bpe's tokenizer.json


@pytest.mark.parametrize(
    "override, named",
    [
        ("--config.data.tokenizer_trainer=wordpiece", "--config.data.tokenizer_trainer=sentencepiece or hf_bpe"),
        ("--config.data.tokenizer_character_coverage=1.5", "--config.data.tokenizer_character_coverage=0.9995"),
        ("--config.data.val_target_docs=-1", "val_target_docs=-1"),
    ],
)
def test_bad_tokenizer_and_split_settings_are_refused_before_anything_is_read(tmp_path, override, named):
    (tmp_path / "c.txt").write_text("a document\n")
    before = snapshot(tmp_path)
    p = jaxlm_cli(
        "data",
        "prepare",
        "--config",
        f"{ROOT}/experiments/gpt_tiny.py",
        "--config.data.split=hash",
        override,
        "--out",
        str(tmp_path / "store"),
        f"--config.data.source={tmp_path / 'c.txt'}",
    )
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr, p.stderr
    assert named in p.stderr and snapshot(tmp_path) == before


def test_datasetdict_message_names_the_split_folder(tmp_path):
    from jaxlm.data.sources import source_files

    (tmp_path / "dataset_dict.json").write_text('{"splits": ["train"]}')
    with pytest.raises(UserError) as e:
        source_files(str(tmp_path))
    assert f"(e.g. '{tmp_path}/train')" in str(e.value)
