"""The command line: bad input gives one line and exit status 2; the commands work on a trained workdir."""

import json
import os

import pytest
from conftest import ROOT, jaxlm_cli

from jaxlm.cli.main import main

TINY = os.path.join(ROOT, "experiments", "gpt_tiny.py")


def _error(capsys, *argv) -> str:
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_missing_corpus_path(capsys, tmp_path):
    err = _error(
        capsys,
        "train",
        "--config",
        TINY,
        "--workdir",
        str(tmp_path / "w"),
        f"--config.data.source={tmp_path / 'nope.txt'}",
    )
    assert "does not exist" in err


def test_empty_corpus(capsys, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n\n")
    err = _error(capsys, "train", "--config", TINY, "--workdir", str(tmp_path / "w"), f"--config.data.source={empty}")
    assert "empty" in err


def test_unknown_config_key_suggests_nearest(capsys, tmp_path):
    err = _error(capsys, "train", "--config", TINY, "--workdir", str(tmp_path / "w"), "--config.model.n_layer=3")
    assert "model.n_layers" in err


@pytest.mark.parametrize("value", ["0", "-4"])
def test_non_positive_batch_size(capsys, tmp_path, value):
    err = _error(
        capsys, "train", "--config", TINY, "--workdir", str(tmp_path / "w"), f"--config.train.batch_size={value}"
    )
    assert "batch_size" in err


def test_wrong_value_type(capsys, tmp_path):
    err = _error(capsys, "train", "--config", TINY, "--workdir", str(tmp_path / "w"), "--config.train.steps=many")
    assert "expects int" in err


def test_help_names_every_verb_and_errors_say_jaxlm_once(capsys):
    from jaxlm.cli.main import _parser

    verbs = _parser()._subparsers._group_actions[0].choices
    with pytest.raises(SystemExit):
        main(["--help"])
    listing = capsys.readouterr().out
    assert len(verbs) == 12 and all(f"\n    {verb} " in listing for verb in verbs), listing
    assert main(["train", "--bogus"]) == 2
    assert capsys.readouterr().err.startswith("jaxlm: error: train: the following arguments are required")


def test_error_in_a_real_process_has_no_traceback(tmp_path):
    p = jaxlm_cli("train", "--config", TINY, "--workdir", str(tmp_path / "w"), "--config.train.batch_size=0")
    assert p.returncode == 2 and "Traceback" not in p.stderr and p.stderr.count("\n") == 1


def test_train_eval_generate_preview_export(tmp_path, capsys):
    wd = str(tmp_path / "w")
    assert main(["train", "--config", TINY, "--workdir", wd, "--config.train.progress=False"]) == 0
    out = capsys.readouterr().out
    assert "val: loss" in out and "bits_per_byte" in out and "workdir:" in out
    assert main(["eval", "--workdir", wd]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["step"] == 60 and result["val"]["bits_per_byte"] > 0 and result["test"]["loss"] > 0
    _error(capsys, "eval", "--workdir", wd, "--context-ablation")  # a GPT's context is its own targets
    assert main(["generate", "--workdir", wd, "--prompt", "ROMEO", "--max-new-tokens", "10", "--seed", "1"]) == 0
    assert capsys.readouterr().out.startswith("ROMEO")
    _error(capsys, "generate", "--workdir", wd, "--prompt", "x " * 200)
    _error(capsys, "generate", "--workdir", wd, "--prompt", "x", "--top-p", "1.5")
    assert main(["data", "preview", "--config", TINY, "--num", "2"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2 and len(lines[0]["inputs"]) == 64
    assert lines[0]["source_ids"][1:65] == lines[0]["targets"]
    out_file = tmp_path / "val.txt"
    assert main(["data", "export", "--config", TINY, "--split", "val", "--out", str(out_file)]) == 0
    assert len(out_file.read_text()) > 10000
    before = out_file.read_text()
    _error(capsys, "data", "export", "--config", TINY, "--split", "val", "--out", str(out_file))
    assert out_file.read_text() == before
