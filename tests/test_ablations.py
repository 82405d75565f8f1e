"""The ablation modules in experiments/ablations/: headers, every variant valid at both scales, each module's train
step lowered, the BART module's fixed evaluations; `grad_zero_frac` of the train step; the sweep runner's per-run
bytes and training-log metrics."""

import ast
import json
import os
import shutil
import types

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import ROOT

from jaxlm.bench.setup import abstract_setup
from jaxlm.cli.main import main
from jaxlm.data.tokenizer import MASK_ID
from jaxlm.pipeline.dataset import prepare
from jaxlm.sweep.runner import extra_evals, state_bytes, train_log_metrics
from jaxlm.sweep.spec import SCALES, eval_config, load_sweep
from jaxlm.train.loop import Run, train
from jaxlm.train.precision import init_loss_scale
from jaxlm.train.state import TrainState
from jaxlm.train.step import make_train_step, zero_fraction

ABLATIONS = os.path.join(ROOT, "experiments", "ablations")
MODULES = sorted(f[:-3] for f in os.listdir(ABLATIONS) if f.endswith(".py"))
HEADER = ("Claim:", "Source:", "Expected", "Runtime (cpu scale, 2 cores):", "Seeds:")


def _path(name: str) -> str:
    return os.path.join(ABLATIONS, f"{name}.py")


def test_the_nine_ablations_exist():
    assert {
        "optimizers",
        "precision",
        "warmup",
        "init",
        "gpt3_recipe",
        "bart_noising",
        "bert_masking",
        "nsp",
        "t5_objectives",
    } <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_header(name):
    with open(_path(name)) as f:
        doc = ast.get_docstring(ast.parse(f.read()))
    for field in HEADER:
        assert field in doc, f"{name}: the docstring lacks '{field}'"
    assert f"Command: jaxlm sweep --config experiments/ablations/{name}.py --workdir " in doc
    assert "RUNTIME_CPU" not in doc and " s for " in doc.split("Runtime (cpu scale, 2 cores):")[1].split("\n")[0]


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name", MODULES)
def test_every_variant_validates(name, scale):
    sweep = load_sweep(_path(name), scale)
    assert len(sweep.variants) >= 2 and sweep.seeds and sweep.metrics
    assert sweep.claims, f"{name} declares no claim (config.sweep.claims): its report could reach no verdict"
    if scale == "accelerator":
        cpu = load_sweep(_path(name), "cpu")
        assert len(sweep.seeds) >= len(cpu.seeds)
        assert set(cpu.variants) <= set(sweep.variants)
        assert any(sweep.variants[v].train.steps > cpu.variants[v].train.steps for v in cpu.variants)


@pytest.mark.parametrize("name", MODULES)
def test_committed_report_verdicts_are_computed_from_its_results(name, tmp_path, capsys):
    """Each committed study (sweep.json, results.csv, curves) is re-reported by `jaxlm sweep --report-only` to the
    same verdict lines: one per claim the module declares, none written by hand, each from ≥ 3 seeds."""
    committed = os.path.join(ABLATIONS, "results", name)
    shutil.copytree(committed, tmp_path / name, ignore=shutil.ignore_patterns("report.md"))
    assert main(["sweep", "--report-only", "--workdir", str(tmp_path / name), "--config", _path(name)]) == 0
    capsys.readouterr()

    def verdicts(report: str) -> list[str]:
        return [x for x in report.split("## Verdicts")[1].split("\n## ")[0].splitlines() if x.startswith("- ")]

    with open(os.path.join(committed, "report.md")) as f:
        lines = verdicts(f.read())
    assert lines == verdicts((tmp_path / name / "report.md").read_text())
    assert len(lines) == len(load_sweep(_path(name), "cpu").claims)
    assert all("**" in x and "over " in x and int(x.split(" over ")[1].split()[0]) >= 3 for x in lines)


@pytest.mark.parametrize("name", MODULES)
def test_last_variant_lowers(name):
    """The most specific (last) variant's full train step traces and lowers at its real shapes (with a 512-piece
    vocabulary, so no second tokenizer is trained): compiling and stepping all six would take a minute, and each
    family's step is trained by the other test files."""
    cfg = list(load_sweep(_path(name), "cpu", [("model.vocab_size", "512")]).variants.values())[-1]
    setup = abstract_setup(cfg)
    assert setup.train_step.lower(setup.state, setup.batch).as_text()


def test_bart_module_fixed_evals(tmp_path):
    """The sweep's `recipe` and `clean` evaluations of a (shrunk, untrained) infill_permute model: finite losses
    on the same number of target tokens, different inputs."""
    shrink = {
        "model.n_layers": "1",
        "model.d_model": "64",
        "model.d_ff": "128",
        "model.vocab_size": "512",
        "model.max_len": "32",
        "data.seq_len": "32",
        "train.eval_batches": "1",
        "train.eval_batch_size": "4",
    }
    sweep = load_sweep(_path("bart_noising"), "cpu", list(shrink.items()))
    metrics = extra_evals(Run(sweep.variants["infill_permute"], str(tmp_path)), sweep.evals)
    assert all(np.isfinite(metrics[f"{name}_val_loss"]) for name in ("recipe", "clean"))
    assert metrics["recipe_val_target_tokens"] == metrics["clean_val_target_tokens"]
    assert metrics["recipe_val_loss"] != metrics["clean_val_loss"]


TINY = {
    "model.n_layers": "1",
    "model.d_model": "32",
    "model.d_ff": "64",
    "model.n_heads": "2",
    "model.vocab_size": "512",
    "model.max_len": "32",
    "data.seq_len": "32",
    "train.steps": "2",
    "train.batch_size": "2",
    "train.eval_batches": "1",
    "train.eval_batch_size": "2",
    "train.log_every": "1",
    "train.eval_every": "2",
    "train.checkpoint_every": "2",
    "optim.warmup": "1",
    "data.dupe_factor": "1",
}


@pytest.mark.parametrize(
    "name, variant", [("bert_masking", "mask100_rnd0_same0"), ("nsp", "pairs_no_nsp"), ("t5_objectives", "prefix_lm")]
)
def test_finetune_ablations_train_two_steps(name, variant, tmp_path):
    """A shrunk variant of each fine-tune ablation trains two steps to finite validation losses, pre-trained on the
    stratified split its fine-tune uses (one play per genre held out), so no held-out play is trained on."""
    sweep = load_sweep(_path(name), "cpu", list(TINY.items()))
    cfg = sweep.variants[variant]
    assert (cfg.data.stratify, cfg.data.val_docs, cfg.data.test_docs) == (True, 1, 1)
    ft = sweep.finetune_config
    assert ft.data.stratify and ft.train.steps * ft.data.seq_len < 300 * 128  # shrunk at cpu scale (300 × 128)
    run = train(cfg, str(tmp_path))
    assert int(run.state.step) == 2 and np.isfinite(run.results["val"]["loss"])
    titles = {split: {d.title for d in run.corpus.splits[split].docs} for split in ("train", "val", "test")}
    assert len(titles["val"]) == len(titles["test"]) == 6 and not (titles["val"] | titles["test"]) & titles["train"]


def test_bert_masking_kept_eval_predicts_the_shown_token(tmp_path):
    """The `kept` evaluation (mask_token_frac = random_token_frac = 0) predicts ~15% of positions with the real
    token in the input; `masked` shows [MASK] at every one of them; both score the same positions."""
    sweep = load_sweep(_path("bert_masking"), "cpu", list(TINY.items()))
    run = Run(sweep.variants["mask80_rnd10_same10"], str(tmp_path))
    batches = {}
    for name, fields in sweep.evals.items():
        data = prepare(run.corpus, eval_config(run.cfg, fields), "val", train=False)
        batches[name] = [data.example(i, np.random.default_rng(i)) for i in range(8)]
    for kept, masked in zip(batches["kept"], batches["masked"]):
        chosen = kept["mlm_weights"] > 0
        assert chosen.any() and np.array_equal(kept["inputs"], kept["source_ids"])
        assert np.array_equal(kept["mlm_targets"][chosen], kept["inputs"][chosen])
        assert np.array_equal(masked["mlm_weights"], kept["mlm_weights"])
        assert np.all(masked["inputs"][chosen] == MASK_ID)
    metrics = extra_evals(run, sweep.evals)
    assert np.isfinite(metrics["kept_val_loss"]) and np.isfinite(metrics["masked_val_loss"])
    assert metrics["kept_val_target_tokens"] == metrics["masked_val_target_tokens"]


def test_zero_fraction_of_a_hand_made_tree():
    grads = {"a": jnp.array([0.0, 1.0, 0.0, -2.0]), "b": {"c": jnp.array([[0.0, 0.0], [3.0, 0.0]])}}
    assert float(zero_fraction(grads)) == 5 / 8


@pytest.mark.parametrize("scale", [None, 2.0**10])
def test_train_step_reports_grad_zero_frac(scale):
    """loss = Σ w·x + Σ b·y has gradients exactly x and y: 3 of their 7 elements are zero, with or without a
    loss scale (gradients are unscaled before counting)."""
    x, y = jnp.array([0.0, 1.5, 0.0, 2.0]), jnp.array([0.0, 0.25, 4.0])

    def loss_fn(apply_fn, params, batch, rng, train, norms=None):
        loss = jnp.sum(params["w"] * batch["x"]) + jnp.sum(params["b"] * batch["y"])
        return loss, {"nats": loss, "weight": jnp.ones(())}

    params = {"w": jnp.ones(4), "b": jnp.ones(3)}
    tx = optax.sgd(0.1)
    state = TrainState(
        jnp.zeros((), jnp.int32), params, tx.init(params), jax.random.PRNGKey(0), init_loss_scale(scale or 1.0)
    )
    step = jax.jit(make_train_step(None, loss_fn, tx, loss_scale_period=2000 if scale else 0))
    _, metrics = step(state, {"x": x, "y": y})
    assert float(metrics["grad_zero_frac"]) == pytest.approx(3 / 7, rel=1e-7)


def test_state_bytes_and_train_log_metrics(tmp_path):
    params = {"w": jnp.zeros((2, 5), jnp.float32)}
    run = types.SimpleNamespace(state=types.SimpleNamespace(params=params, opt_state=optax.adam(1e-3).init(params)))
    assert state_bytes(run.state) == {"param_bytes": 40, "opt_state_bytes": 84, "opt_state_to_params": 2.1}
    rows = [
        {"step": 1, "tokens": 64, "loss": 5.0, "grad_zero_frac": 0.1, "tokens_per_s": 10.0},
        {"step": 2, "split": "val", "loss": 9.0},
        {"step": 2, "tokens": 128, "loss": 4.0, "grad_zero_frac": 0.3, "tokens_per_s": 30.0, "skipped_steps": 1},
    ]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert train_log_metrics(str(tmp_path)) == pytest.approx(
        {
            "train_tokens": 128,
            "train_loss": 4.0,
            "train_skipped_steps": 1,
            "train_grad_zero_frac": 0.2,
            "train_tokens_per_s": 20.0,
        }
    )
    assert train_log_metrics(str(tmp_path / "missing")) == {}
