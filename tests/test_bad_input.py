"""The bad-input catalogue: each case exits 2 with one line, no traceback, and leaves existing files unchanged."""

import errno
import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT, fails, snapshot

from jaxlm.cli.main import main

TINY = os.path.join(ROOT, "experiments", "gpt_tiny.py")
QUICK = ["--config.train.steps=4", "--config.train.log_every=2", "--config.train.eval_every=2",
         "--config.train.checkpoint_every=2", "--config.train.eval_batches=1", "--config.train.progress=False",
         "--config.train.sample_tokens=0"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    wd = str(tmp_path_factory.mktemp("trained") / "w")
    assert main(["train", "--config", TINY, "--workdir", wd, *QUICK]) == 0
    return wd


def _train(tmp_path, *extra):
    return ("train", "--config", TINY, "--workdir", str(tmp_path / "w"), *QUICK, *extra)


def test_binary_file(capsys, tmp_path):
    f = tmp_path / "blob.txt"
    f.write_bytes(b"\x00\xff\xfe binary \x80\x81")
    assert "non-UTF-8" in fails(capsys, *_train(tmp_path, f"--config.data.source={f}"))


def test_jsonl_bad_line_names_it(capsys, tmp_path):
    f = tmp_path / "c.jsonl"
    f.write_text('{"text": "fine"}\n{"text": broken\n')
    assert ":2" in fails(capsys, *_train(tmp_path, f"--config.data.source={f}"))


def test_jsonl_missing_text_field(capsys, tmp_path):
    f = tmp_path / "c.jsonl"
    f.write_text('{"body": "no text field here"}\n')
    assert "text" in fails(capsys, *_train(tmp_path, f"--config.data.source={f}"))


def test_sequence_longer_than_positions(capsys, tmp_path):
    assert "max_len" in fails(capsys, *_train(tmp_path, "--config.data.seq_len=65"))


@pytest.mark.parametrize("lr", ["nan", "-0.1"])
def test_bad_learning_rate(capsys, tmp_path, lr):
    value = "float('nan')" if lr == "nan" else lr
    assert "peak_lr" in fails(capsys, *_train(tmp_path, f"--config.optim.peak_lr={value}"))


def test_negative_labelled_passages(capsys, tmp_path):
    assert "finetune.train_passages=-1" in fails(capsys, *_train(tmp_path, "--config.finetune.train_passages=-1"))


def test_resume_with_other_model_shape(capsys, trained):
    before = snapshot(trained)
    err = fails(capsys, "train", "--config", TINY, "--workdir", trained, *QUICK, "--config.model.d_model=128")
    assert "d_model" in err and snapshot(trained) == before


def test_tokenizer_that_does_not_match_the_checkpoint(capsys, trained, tmp_path):
    import shutil
    wd = str(tmp_path / "copy")
    shutil.copytree(trained, wd)
    tok_dir = tmp_path / "other"
    assert main(["tokenizer", "train", "--config", TINY, "--out", str(tok_dir) + ".model",
                 "--config.model.vocab_size=600"]) == 0
    capsys.readouterr()
    shutil.copyfile(str(tok_dir) + ".model", os.path.join(wd, "tokenizer.model"))
    before = snapshot(wd)
    assert "vocab_size" in fails(capsys, "train", "--config", TINY, "--workdir", wd, *QUICK)
    assert snapshot(wd) == before


def test_corrupt_tokenizer_file(capsys, trained, tmp_path):
    import shutil
    wd = str(tmp_path / "copy")
    shutil.copytree(trained, wd)
    with open(os.path.join(wd, "tokenizer.model"), "wb") as f:
        f.write(b"not a sentencepiece model")
    before = snapshot(wd)
    assert "corrupt" in fails(capsys, "eval", "--workdir", wd)
    assert snapshot(wd) == before


def test_unwritable_workdir(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert "cannot write" in fails(capsys, "train", "--config", TINY, "--workdir", str(blocker / "w"), *QUICK)


def test_disk_full_during_checkpoint(capsys, trained, tmp_path, monkeypatch):
    import shutil

    import orbax.checkpoint as ocp
    wd = str(tmp_path / "copy")
    shutil.copytree(trained, wd)
    before = snapshot(os.path.join(wd, "checkpoints"))

    def full_disk(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(ocp.CheckpointManager, "save", full_disk)
    err = fails(capsys, "train", "--config", TINY, "--workdir", wd, *QUICK, "--config.train.steps=6")
    assert "No space left" in err
    assert snapshot(os.path.join(wd, "checkpoints")) == before  # the good checkpoints are untouched


def test_generate_bad_arguments(capsys, trained):
    fails(capsys, "generate", "--workdir", trained, "--prompt", "word " * 100)
    fails(capsys, "generate", "--workdir", trained, "--prompt", "x", "--top-p", "0")


def test_eval_of_a_folder_that_is_not_a_workdir(capsys, tmp_path):
    assert "config.json" in fails(capsys, "eval", "--workdir", str(tmp_path))


def test_metadata_is_json_not_pickle(trained):
    with open(os.path.join(trained, "config.json")) as f:
        assert json.load(f)["model"]["family"] == "gpt"


def test_global_batch_not_divisible_by_data_parallel_size(tmp_path):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "PYTHONPATH": ROOT}
    p = subprocess.run([sys.executable, "-m", "jaxlm.cli.main", *_train(tmp_path, "--config.train.batch_size=3")],
                       env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and "not divisible by the data-parallel size 2" in p.stderr
    assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
