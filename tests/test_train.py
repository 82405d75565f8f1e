"""End to end on the tiny GPT: the validation loss falls, and stop-then-resume equals an uninterrupted run."""

import os

import jax
import numpy as np
import pytest

from jaxlm.config.loading import load_config_file
from jaxlm.train.loop import train
from jaxlm.train.metrics import read_metrics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOLATILE = {"tokens_per_s"}
# Both tests read the one uninterrupted run, so one worker trains it.
pytestmark = pytest.mark.xdist_group("train_full")


def _strip(rows):
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in rows]


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """(workdir, Run) of experiments/gpt_tiny.py trained uninterrupted; tests only read it."""
    cfg = load_config_file(os.path.join(ROOT, "experiments", "gpt_tiny.py"))
    cfg.train.progress = False
    workdir = str(tmp_path_factory.mktemp("full"))
    return workdir, train(cfg, workdir)


def test_validation_loss_falls(full):
    workdir, run = full
    evals = [r for r in read_metrics(workdir) if r.get("split") == "val"]
    assert len(evals) == 2
    first_train = read_metrics(workdir)[0]["loss"]
    assert evals[-1]["loss"] < evals[0]["loss"] < first_train
    assert run.results["val"]["bits_per_byte"] < 4.5 and run.results["test"]["bits_per_byte"] < 4.5
    for key in ("step", "tokens", "loss", "lr", "grad_norm", "tokens_per_s"):
        assert key in read_metrics(workdir)[0]


def test_resume_reproduces_uninterrupted_run(full, tiny_config, tmp_path):
    (workdir, a), resumed = full, str(tmp_path / "resumed")
    train(tiny_config, resumed, stop_after=20)
    steps_before = {r["step"] for r in read_metrics(resumed)}
    assert max(steps_before) == 20
    b = train(tiny_config, resumed)
    rows_a, rows_b = _strip(read_metrics(workdir)), _strip(read_metrics(resumed))
    assert rows_a == rows_b  # identical losses, grad norms, lrs and evals, with no duplicated steps
    leaves_a = jax.tree_util.tree_leaves(jax.device_get(a.state))
    leaves_b = jax.tree_util.tree_leaves(jax.device_get(b.state))
    for x, y in zip(leaves_a, leaves_b):
        assert np.asarray(x).tobytes() == np.asarray(y).tobytes()
