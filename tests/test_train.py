"""End to end on the tiny GPT: the validation loss falls, and stop-then-resume equals an uninterrupted run."""

import jax
import numpy as np

from jaxlm.train.loop import train
from jaxlm.train.metrics import read_metrics

VOLATILE = {"tokens_per_s"}


def _strip(rows):
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in rows]


def test_validation_loss_falls(tiny_config, tmp_path):
    run = train(tiny_config, str(tmp_path))
    evals = [r for r in read_metrics(str(tmp_path)) if r.get("split") == "val"]
    assert len(evals) == 2
    first_train = read_metrics(str(tmp_path))[0]["loss"]
    assert evals[-1]["loss"] < evals[0]["loss"] < first_train
    assert run.results["val"]["bits_per_byte"] < 4.5 and run.results["test"]["bits_per_byte"] < 4.5
    for key in ("step", "tokens", "loss", "lr", "grad_norm", "tokens_per_s"):
        assert key in read_metrics(str(tmp_path))[0]


def test_resume_reproduces_uninterrupted_run(tiny_config, tmp_path):
    full, resumed = str(tmp_path / "full"), str(tmp_path / "resumed")
    a = train(tiny_config, full)
    train(tiny_config, resumed, stop_after=20)
    steps_before = {r["step"] for r in read_metrics(resumed)}
    assert max(steps_before) == 20
    b = train(tiny_config, resumed)
    rows_a, rows_b = _strip(read_metrics(full)), _strip(read_metrics(resumed))
    assert rows_a == rows_b  # identical losses, grad norms, lrs and evals, with no duplicated steps
    leaves_a = jax.tree_util.tree_leaves(jax.device_get(a.state))
    leaves_b = jax.tree_util.tree_leaves(jax.device_get(b.state))
    for x, y in zip(leaves_a, leaves_b):
        assert np.asarray(x).tobytes() == np.asarray(y).tobytes()
