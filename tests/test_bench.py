"""`jaxlm bench --memory`: optimizer-state bytes of Adam ≈ 2× params, Adafactor far below, SGD none."""

import json
import os

from jaxlm.bench.memory import memory_report
from jaxlm.cli.main import main
from jaxlm.config.loading import load_config_file
from conftest import ROOT

TINY = os.path.join(ROOT, "experiments", "gpt_tiny.py")
WIDE = ["--config.model.d_model=128", "--config.model.n_heads=1", "--config.model.d_ff=512"]  # factorable dims


def _config(optimizer: str):
    cfg = load_config_file(TINY)
    cfg.model.update(d_model=128, n_heads=1, d_ff=512)
    cfg.optim.name = optimizer
    return cfg


def test_memory_of_adam_adafactor_sgd(capsys):
    assert main(["bench", "--memory", "--config", TINY, "--config.optim.name=sgd", *WIDE]) == 0
    sgd = json.loads(capsys.readouterr().out)
    adam, adafactor = memory_report(_config("adamw")), memory_report(_config("adafactor"))
    assert sgd["params_bytes"] == adam["params_bytes"] == adafactor["params_bytes"] == 4 * adam["param_count"]
    assert adam["grads_bytes"] == adam["params_bytes"]
    assert 2.0 <= adam["opt_state_to_params"] < 2.001            # first and second moments (+ a step count)
    assert adafactor["opt_state_to_params"] < 0.25               # row/column statistics for ≥128×128 matrices
    assert sgd["opt_state_bytes"] < 64
    for report in (sgd, adam, adafactor):
        assert report["xla_temp_bytes"] > 0 and report["xla_argument_bytes"] >= report["params_bytes"]


def test_bench_needs_a_measurement(capsys):
    assert main(["bench", "--config", TINY]) == 2
    assert "--memory" in capsys.readouterr().err
