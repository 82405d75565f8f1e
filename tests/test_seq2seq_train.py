"""The T5 and BART presets train end to end (tiny overrides) with falling validation loss; preview and generate."""

import json
import os

import pytest

from jaxlm.cli.main import main
from jaxlm.config.loading import load_config_file
from jaxlm.train.loop import train
from jaxlm.train.metrics import read_metrics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The tests of `span_workdir` run on one worker, which trains it once.
SPAN_WORKDIR = pytest.mark.xdist_group("span_workdir")


def tiny(preset: str):
    """The preset shrunk to a few seconds: 512 vocab, 2×64 model, 64-token inputs, 30 steps."""
    cfg = load_config_file(os.path.join(ROOT, "experiments", f"{preset}.py"))
    cfg.model.update(n_layers=2, n_heads=2, d_model=64, d_kv=32, d_ff=128, vocab_size=512, max_len=64)
    cfg.data.seq_len = 64
    cfg.train.update(
        steps=30, batch_size=8, log_every=10, eval_every=15, eval_batches=2, checkpoint_every=40, progress=False
    )
    cfg.optim.update(peak_lr=3e-3, warmup=5)
    return cfg


@pytest.fixture(scope="module")
def span_workdir(tmp_path_factory):
    """A workdir with the tiny span-corruption T5 trained (shared by the tests below)."""
    workdir = str(tmp_path_factory.mktemp("t5_span"))
    train(tiny("t5_span_corruption"), workdir)
    return workdir


def _check_falling(workdir: str) -> None:
    rows = read_metrics(workdir)
    evals = [r["loss"] for r in rows if r.get("split") == "val"]
    assert len(evals) == 2 and evals[1] < evals[0] < rows[0]["loss"]


@SPAN_WORKDIR
def test_span_corruption_trains_with_falling_validation_loss(span_workdir):
    _check_falling(span_workdir)


@pytest.mark.parametrize("preset", ["t5_prefix_lm", "bart_denoise"])
def test_preset_trains_with_falling_validation_loss(preset, tmp_path):
    run = train(tiny(preset), str(tmp_path))
    _check_falling(str(tmp_path))
    assert "bits_per_byte" in run.results["test"]  # targets are the text itself


@SPAN_WORKDIR
def test_preview_and_generate_cli(span_workdir, tmp_path, capsys):
    cfg = tiny("t5_span_corruption")
    config_file = tmp_path / "tiny.py"
    config_file.write_text(
        f"import ml_collections\ndef get_config():\n    return ml_collections.ConfigDict({cfg.to_dict()!r})\n"
    )
    capsys.readouterr()
    assert main(["data", "preview", "--config", str(config_file), "--num", "2"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for key in ("source_ids", "inputs", "targets", "decoder_inputs", "weights", "inputs_text", "targets_text"):
        assert key in rows[0]
    assert "<extra_id_0>" in rows[0]["inputs_text"] and rows[0]["targets_text"].startswith("<extra_id_0>")
    assert (
        main(
            [
                "generate",
                "--workdir",
                span_workdir,
                "--input",
                "To be<extra_id_0> not",
                "--beam",
                "2",
                "--max-new-tokens",
                "5",
            ]
        )
        == 0
    )
    assert main(["generate", "--workdir", span_workdir, "--prompt", "To be"]) == 2
