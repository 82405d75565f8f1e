"""`jaxlm bench`: step time, tokens/s, FLOPs and MFU as one JSON object (+ --data, --memory); optimizer-state
bytes of Adam ≈ 2× params, Adafactor far below, SGD none."""

import json
import os

import pytest
from conftest import ROOT

from jaxlm.bench.memory import memory_report
from jaxlm.bench.peak import table_peak
from jaxlm.cli.main import main
from jaxlm.config.loading import load_config_file
from jaxlm.registry import build_model

TINY = os.path.join(ROOT, "experiments", "gpt_tiny.py")
SPEED_KEYS = (
    "family",
    "objective",
    "precision",
    "n_layers",
    "d_model",
    "n_heads",
    "seq_len",
    "batch_size",
    "vocab_size",
    "n_params",
    "step_ms",
    "tokens_per_s",
    "compile_s",
    "flops_per_token",
    "flops_convention",
    "achieved_flops",
    "peak_flops",
    "peak_source",
    "mfu",
)
DATA_KEYS = ("data_tokens_per_s", "data_to_step_ratio", "host_wait_ms", "loop_step_ms")


def _config(optimizer: str, precision: str = "fp32"):
    cfg = load_config_file(TINY)
    cfg.model.update(d_model=128, n_heads=4, d_ff=512)
    cfg.optim.name = optimizer
    cfg.train.precision = precision
    return cfg


def test_memory_of_adam_adafactor_sgd():
    sgd, adam, adafactor = (memory_report(_config(name)) for name in ("sgd", "adamw", "adafactor"))
    assert sgd["params_bytes"] == adam["params_bytes"] == adafactor["params_bytes"] == 4 * adam["param_count"]
    assert adam["grads_bytes"] == adam["params_bytes"]
    assert 2.0 <= adam["opt_state_to_params"] < 2.001  # first and second moments (+ a step count)
    assert adafactor["opt_state_to_params"] < 0.05  # rows + columns of ≥128×128 matrices (attention too)
    assert sgd["opt_state_bytes"] < 64
    for report in (sgd, adam, adafactor):
        assert report["xla_temp_bytes"] > 0 and report["xla_argument_bytes"] >= report["params_bytes"]
    bf16 = memory_report(_config("adamw", "bf16"))
    assert bf16["opt_state_bytes"] == adam["opt_state_bytes"]  # fp32 master weights and moments either way
    assert 0.5 < bf16["activation_bytes"] / adam["activation_bytes"] < 0.85  # bf16 activations; fp32 logits/loss


def test_bench_speed_data_and_memory(capsys):
    assert (
        main(
            [
                "bench",
                "--config",
                TINY,
                "--steps",
                "2",
                "--data",
                "--memory",
                "--peak-n",
                "256",
                "--generate",
                "--new-tokens",
                "8",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    for key in SPEED_KEYS + DATA_KEYS + ("params_bytes", "xla_temp_bytes"):
        assert key in report, key
    assert (report["family"], report["objective"], report["n_layers"], report["seq_len"]) == ("gpt", "causal_lm", 2, 64)
    assert report["causal_blocks"] == {"self": 1}  # 64 positions: one block
    for key in (
        "n_params",
        "step_ms",
        "tokens_per_s",
        "compile_s",
        "flops_per_token",
        "achieved_flops",
        "peak_flops",
        "data_tokens_per_s",
        "data_to_step_ratio",
        "loop_step_ms",
    ):
        assert report[key] > 0, key
    assert report["host_wait_ms"] >= 0
    assert report["mfu"] == pytest.approx(report["achieved_flops"] / report["peak_flops"], abs=1e-4)  # timings vary
    assert report["tokens_per_s"] == pytest.approx(8 * 64 / (report["step_ms"] / 1e3), rel=1e-3)
    assert report["achieved_flops"] == pytest.approx(report["tokens_per_s"] * report["flops_per_token"], rel=1e-3)
    assert report["peak_source"].startswith("measured") and "256³" in report["peak_source"]
    assert report["xla_flops_per_token"] > report["flops_per_token"]
    assert (report["decode_prompt_len"], report["decode_new_tokens"], report["decode_cache_slots"]) == (8, 8, 64)
    assert report["decode_tokens_per_s"] == pytest.approx(8 / report["decode_s"], rel=1e-2)


def test_bench_reports_the_causal_blocks_of_each_self_attention():
    """GPT at 256 positions: 4 query blocks; T5 at 512 → 128: its decoder in 2, its encoder and cross-attention
    are not causal; BERT has none."""
    from jaxlm.bench.speed import model_dims

    gpt, t5, bert = (
        load_config_file(os.path.join(ROOT, "experiments", f"{n}.py"))
        for n in ("gpt_tiny", "t5_span_corruption", "bert_shakespeare")
    )
    assert model_dims(gpt, (256, 0))["causal_blocks"] == {"self": 4}
    assert model_dims(t5, (512, 128))["causal_blocks"] == {"decoder_self": 2}
    assert model_dims(bert, (128, 0))["causal_blocks"] == {}


def test_bench_data_vocab_feeds_a_larger_model(capsys):
    """--data-vocab: batches from the preset's own 512-piece tokenizer drive an 8192-entry model."""
    runs = {}
    for vocab in (512, 8192):
        assert (
            main(
                [
                    "bench",
                    "--config",
                    TINY,
                    "--steps",
                    "1",
                    "--peak-n",
                    "128",
                    "--data-vocab",
                    "512",
                    f"--config.model.vocab_size={vocab}",
                ]
            )
            == 0
        )
        runs[vocab] = json.loads(capsys.readouterr().out)
    assert (runs[8192]["vocab_size"], runs[8192]["attention"], runs[8192]["precision"]) == (8192, "xla", "fp32")
    assert runs[8192]["n_params"] - runs[512]["n_params"] == (8192 - 512) * 64  # only the tied embedding grew
    assert runs[8192]["tokens_per_step"] == runs[512]["tokens_per_step"]


def test_bench_profile_writes_a_trace_of_the_timed_steps(capsys, tmp_path):
    trace = tmp_path / "trace"
    assert main(["bench", "--config", TINY, "--steps", "1", "--peak-n", "128", "--profile", str(trace)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["profile_dir"] == str(trace)
    assert list(trace.rglob("*.xplane.pb")) and (trace / "train_step.hlo.txt").is_file()
    table, ms = report["profile"], {c: v["ms"] for c, v in report["profile"]["categories"].items()}
    # the step's ops, found by name in its HLO: the scoped loss and optimizer, GPT's matmuls and attention
    assert table["module"] == "jit_train_step" and table["steps"] == 1 and table["events"] > 100
    assert all(ms[c] > 0 for c in ("matmuls", "attention", "loss", "optimizer", "step guard/metrics"))
    assert ms["collectives"] == 0 and 0 <= table["idle_ms"] < table["step_ms"]
    assert sum(v["share"] for v in table["categories"].values()) == pytest.approx(1.0)
    afile = tmp_path / "file"
    afile.write_text("x")
    assert main(["bench", "--config", TINY, "--profile", str(afile)]) == 2
    assert capsys.readouterr().err.count("\n") == 1 and afile.read_text() == "x"


@pytest.mark.parametrize(
    "args",
    [
        ["--steps", "0"],
        ["--steps", "-3"],
        ["--peak-n", "0"],
        ["--steps", "two"],
        ["--data-vocab", "100"],
        ["--prompt-len", "0"],
        ["--new-tokens", "0"],
    ],
)
def test_bench_refuses_bad_arguments(capsys, args):
    assert main(["bench", "--config", TINY, *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error" in err


def test_bench_generate_refuses_models_that_do_not_sample_text(capsys):
    bert = os.path.join(ROOT, "experiments", "bert_shakespeare.py")
    assert main(["bench", "--config", bert, "--generate"]) == 2
    assert "decoder-only" in capsys.readouterr().err


def test_dense_peak_table():
    assert table_peak("NVIDIA H100 80GB HBM3") == (989e12, "table: NVIDIA H100 SXM dense bf16 (NVIDIA H100 80GB HBM3)")
    assert table_peak("NVIDIA A100-SXM4-40GB")[0] == 312e12
    assert table_peak("TPU v4")[0] == 275e12 and table_peak("TPU v5 lite")[0] == 197e12
    assert table_peak("TPU v5p")[0] == 459e12
    assert table_peak("cpu") is None


def test_torch_peer_is_the_same_gpt(monkeypatch):
    torch = pytest.importorskip("torch")
    import flax.linen as nn
    import jax
    import numpy as np

    monkeypatch.syspath_prepend(os.path.join(ROOT, "benchmarks"))
    import compare_gpt
    import torch_gpt

    shape = torch_gpt.Shape(layers=2, heads=2, width=32, seq=16, batch=4, vocab=256)
    cfg = compare_gpt.jaxlm_config(shape)
    inputs, _ = torch_gpt.random_batch(shape)
    params = nn.unbox(build_model(cfg).init(jax.random.PRNGKey(1), inputs.numpy())["params"])
    model = torch_gpt.GPT(shape)
    compare_gpt.copy_params(params, model)
    assert sum(p.numel() for p in model.parameters()) == sum(np.size(x) for x in jax.tree_util.tree_leaves(params))
    expected = build_model(cfg).apply({"params": params}, inputs.numpy())
    with torch.no_grad():
        np.testing.assert_allclose(model(inputs).numpy(), np.asarray(expected), atol=2e-5)
    monkeypatch.setattr(compare_gpt, "PEAK_N", 128)
    report = compare_gpt.compare(shape, rounds=2, steps=2, threads=2)  # same start, same batches: same losses
    assert report["jaxlm_final_loss"] == pytest.approx(report["torch_final_loss"], abs=1e-4)
    assert report["jaxlm_final_loss"] < np.log(256)
    for name in ("jaxlm", "torch"):
        assert report[f"{name}_tokens_per_s"] > 0 and 0 < report[f"{name}_mfu"] < 1.5
        assert len(report[f"{name}_round_ms"]) == 2
    assert report["ratio_jaxlm_over_torch"] > 0


def test_scaling_sweep_varies_one_axis_and_plots(monkeypatch, tmp_path):
    """benchmarks/scaling.py: each point changes one axis of the base shape (width keeps the head width) and is
    timed for both frameworks; the plot is written."""
    pytest.importorskip("torch")
    monkeypatch.syspath_prepend(os.path.join(ROOT, "benchmarks"))
    import compare_gpt
    import scaling
    import torch_gpt

    monkeypatch.setattr(compare_gpt, "PEAK_N", 128)
    monkeypatch.setattr(scaling, "BASE", torch_gpt.Shape(layers=1, heads=2, width=32, seq=16, batch=2, vocab=128))
    monkeypatch.setattr(scaling, "HEAD_WIDTH", 16)
    rows = scaling.measure({"width": [32, 64], "seq": [8]}, rounds=1, steps=1)
    assert [(r["axis"], r["value"]) for r in rows] == [("width", 32), ("width", 64), ("seq", 8)]
    assert rows[1]["shape"]["heads"] == 4 and rows[1]["shape"]["seq"] == 16 and rows[2]["shape"]["width"] == 32
    assert all(r["jaxlm_tokens_per_s"] > 0 and r["torch_tokens_per_s"] > 0 for r in rows)
    scaling.plot(rows, str(tmp_path / "scaling.png"))
    assert (tmp_path / "scaling.png").stat().st_size > 10_000
