"""`jaxlm sweep` on a tiny ablation (2 learning rates × 2 seeds): resume, results.csv, report.md, plots, errors."""

import csv
import json
import os
import pathlib
import re
import statistics
import sys
import types

import matplotlib.image
import numpy as np
import pytest
from conftest import ROOT, sweep_run_files

from jaxlm.cli.main import main

TINY = os.path.join(ROOT, "tests", "data", "tiny_ablation.py")
VARIANTS, SEEDS, METRICS = ("lr_3e-3", "lr_1e-2"), (0, 1), ("val_loss", "val_bits_per_byte")
# One worker builds the session's sweep fixture, not one per worker.
pytestmark = pytest.mark.xdist_group("sweep")


@pytest.fixture(scope="module")
def sweep(tiny_sweep):
    """A half-finished sweep (--only the first variant), then the whole sweep in the same dir (conftest.py)."""
    return tiny_sweep


def test_resume_runs_only_the_missing_runs(sweep):
    d, first, second, finished = sweep
    assert first.count("training in") == 2 and f"{VARIANTS[1]} seed" not in first
    for s in SEEDS:
        assert f"{VARIANTS[0]} seed {s}: finished earlier, skipped" in second
        assert f"{VARIANTS[1]} seed {s}: training in" in second
        assert sweep_run_files(os.path.join(d, "runs", VARIANTS[0], f"seed_{s}")) == finished[s]
    assert second.count("training in") == 2


def _csv(d: str) -> list[dict]:
    with open(os.path.join(d, "results.csv")) as f:
        return list(csv.DictReader(f))


def test_results_csv_has_one_row_per_run(sweep):
    d = sweep[0]
    rows = _csv(d)
    assert [(r["variant"], int(r["seed"])) for r in rows] == [(v, s) for v in VARIANTS for s in SEEDS]
    for r in rows:
        with open(os.path.join(d, "runs", r["variant"], f"seed_{r['seed']}", "results.json")) as f:
            record = json.load(f)
        assert float(r["val_loss"]) == record["metrics"]["val_loss"] and float(r["wall_s"]) > 0
        assert {"test_loss", "val_bits_per_byte", "val_accuracy"} <= set(r)


def test_report_tables_match_the_csv(sweep):
    d = sweep[0]
    rows, report = _csv(d), pathlib.Path(d, "report.md").read_text()
    assert "jaxlm sweep --config" in report and "Hardware" in report and "jaxlm commit" in report
    for metric in METRICS:
        table = report.split(f"### {metric} ")[1].split("###")[0]
        shown = {
            m[1]: (float(m[2]), float(m[3]), float(m[4]), float(m[5]), int(m[6]))
            for m in re.finditer(
                r"\| \**([\w.+=-]+)\**(?: \(best\))? \| ([\d.]+) ± ([\d.]+) \| \[([\d.-]+), ([\d.-]+)\] "
                r"\| (\d+) \|",
                table,
            )
        }
        assert set(shown) == set(VARIANTS)
        for v in VARIANTS:
            xs = [float(r[metric]) for r in rows if r["variant"] == v]
            mean, std, low, high, n = shown[v]
            assert abs(mean - statistics.fmean(xs)) < 1e-4 and abs(std - statistics.stdev(xs)) < 1e-4 and n == 2
            half = 12.706204736174707 * statistics.stdev(xs) / 2**0.5  # t(1 degree of freedom, 0.975)
            assert abs(low - (statistics.fmean(xs) - half)) < 1e-4 and abs(high - (statistics.fmean(xs) + half)) < 1e-4
        best = min(VARIANTS, key=lambda v: shown[v][0])
        assert f"| **{best}** (best) |" in table


def test_plots_are_valid_pngs(sweep):
    plots = os.path.join(sweep[0], "plots")
    names = {f"{kind}_{m}.png" for kind in ("final", "curves") for m in METRICS}
    assert set(os.listdir(plots)) == names
    for name in names:
        assert pathlib.Path(plots, name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert matplotlib.image.imread(os.path.join(plots, name)).shape[0] > 100


def _one_line_error(capsys, *argv) -> str:
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_changed_definition_is_refused(sweep, capsys):
    err = _one_line_error(capsys, "sweep", "--config", TINY, "--workdir", sweep[0], "--config.optim.warmup=3")
    assert "optim.warmup=3" in err and "--workdir" in err


def test_seeds_and_variants_may_be_added_to_a_sweep_but_not_removed(sweep):
    """More seeds or variants extend a sweep dir (its finished runs stay valid); dropping one is another sweep."""
    from jaxlm.sweep.runner import _first_difference

    old = json.loads(pathlib.Path(sweep[0], "sweep.json").read_text())
    new = {k: old[k] for k in ("seeds", "finetune", "evals", "finetune_config", "variants", "warm_start")}
    assert _first_difference(old, dict(new, seeds=[0, 1, 2, 3])) is None
    assert "seeds may only be added" in _first_difference(old, dict(new, seeds=[1, 2]))
    more = dict(new["variants"], lr_3e_2=new["variants"]["lr_1e-2"])
    assert _first_difference(old, dict(new, variants=more)) is None
    fewer = {"lr_1e-2": new["variants"]["lr_1e-2"]}
    assert "variant 'lr_3e-3' is gone" in _first_difference(old, dict(new, variants=fewer))


def _module(tmp_path, body: str) -> str:
    path = tmp_path / "ablation.py"
    path.write_text(
        "from jaxlm.config.schema import base_config\n\n"
        "def get_config(scale='cpu'):\n    return base_config()\n\n" + body
    )
    return str(path)


def test_module_without_get_variants(tmp_path, capsys):
    err = _one_line_error(capsys, "sweep", "--config", _module(tmp_path, ""), "--workdir", str(tmp_path / "w"))
    assert "get_variants" in err
    assert not os.path.exists(tmp_path / "w")


def test_variant_with_unknown_key(tmp_path, capsys):
    module = _module(tmp_path, "def get_variants(scale='cpu'):\n    return {'ok': {}, 'deep': {'model.n_layer': 3}}\n")
    err = _one_line_error(capsys, "sweep", "--config", module, "--workdir", str(tmp_path / "w"))
    assert "variant 'deep'" in err and "model.n_layer" in err and "model.n_layers" in err


def test_finetune_metrics_and_missing_metric(tmp_path, monkeypatch):
    """With config.sweep.finetune, each run is fine-tuned from its pretrain dir and finetune_* metrics are
    recorded; a report metric no run has becomes an error in the report, not a crash (training is faked)."""
    from jaxlm.sweep import runner
    from jaxlm.sweep.report import write_report
    from jaxlm.sweep.spec import load_sweep

    calls = []

    def fake_train(cfg, workdir):
        os.makedirs(workdir)
        with open(os.path.join(workdir, "metrics.jsonl"), "w") as f:
            f.write(json.dumps({"step": 5, "split": "val", "loss": 5.0 + cfg.train.seed}) + "\n")
        state = types.SimpleNamespace(params={"w": np.zeros(4, np.float32)}, opt_state=())  # a Run's fields
        return types.SimpleNamespace(
            results={"val": {"loss": 5.0 + cfg.train.seed}, "test": {"loss": 5.5}}, state=state
        )

    def fake_finetune(cfg, workdir, init_from):
        calls.append((cfg.train.seed, workdir, init_from))
        return {"accuracy": 0.5 + cfg.train.seed / 10, "macro_f1": 0.25}

    monkeypatch.setattr(runner, "train", fake_train)
    monkeypatch.setitem(sys.modules, "jaxlm.projects.genre.finetune", types.SimpleNamespace(finetune=fake_finetune))
    (tmp_path / "ft.py").write_text(
        "from jaxlm.config.schema import base_config\n"
        "from jaxlm.projects.genre.finetune import finetune\n\ndef get_config():\n"
        "    return base_config()\n"
    )
    ablation = _module(tmp_path, "def get_variants(scale='cpu'):\n    return {'a': {}, 'b': {'model.n_layers': 2}}\n")
    sweep = load_sweep(
        ablation,
        overrides=[
            ("sweep.finetune", str(tmp_path / "ft.py")),
            ("sweep.seeds", "(0, 1)"),
            ("sweep.metrics", "('finetune_accuracy', 'val_mlm_loss')"),
        ],
    )
    runner.run_sweep(sweep, str(tmp_path / "s"), log=lambda line: None)
    run = str(tmp_path / "s" / "runs" / "a" / "seed_1")
    assert (1, os.path.join(run, "finetune"), os.path.join(run, "pretrain")) in calls and len(calls) == 4
    report = write_report(str(tmp_path / "s"))
    assert "| **a** (best) | 0.5500 ± 0.0707 | [-0.0853, 1.1853] | 2 |" in report.tables  # CI: 0.55 ± t(1)·0.0707/√2
    assert len(report.errors) == 1 and "'val_mlm_loss' is missing" in report.errors[0]
    assert "**Error**: metric 'val_mlm_loss'" in (tmp_path / "s" / "report.md").read_text()


def _finetune_module(tmp_path, overrides: str) -> str:
    (tmp_path / "ft.py").write_text(
        "from jaxlm.config.schema import base_config\n"
        "from jaxlm.projects.genre.finetune import finetune\n\ndef get_config():\n"
        "    c = base_config()\n    c.train.steps = 300\n    return c\n"
    )
    path = tmp_path / "ablation.py"
    path.write_text(
        "from jaxlm.config.schema import base_config\n\ndef get_config(scale='cpu'):\n"
        f"    c = base_config()\n    c.sweep = {{'finetune': {str(tmp_path / 'ft.py')!r}, "
        f"'finetune_overrides': {overrides}}}\n    return c\n\n"
        "def get_variants(scale='cpu'):\n    return {'a': {}, 'b': {'model.n_layers': 2}}\n"
    )
    return str(path)


def test_finetune_overrides_change_only_the_finetune_config(tmp_path):
    """config.sweep.finetune_overrides ({section: {field: value}}) applies to the fine-tune module's config, which
    is part of the recorded definition; the pre-training variants keep their own values."""
    from jaxlm.sweep.spec import load_sweep

    sweep = load_sweep(_finetune_module(tmp_path, "{'train': {'steps': 7}, 'optim': {'warmup': 1}}"))
    assert (sweep.finetune_config.train.steps, sweep.finetune_config.optim.warmup) == (7, 1)
    assert sweep.definition()["finetune_config"]["train"]["steps"] == 7
    assert sweep.variants["a"].train.steps != 7


@pytest.mark.parametrize(
    "overrides, words",
    [
        ("{'train': {'stepz': 7}}", ("finetune_overrides", "stepz")),
        ("{'train': {'steps': 'many'}}", ("finetune_overrides", "steps")),
        ("{'train': 7}", ("finetune_overrides", "sections")),
    ],
)
def test_bad_finetune_overrides_are_one_line_errors(tmp_path, capsys, overrides, words):
    err = _one_line_error(
        capsys, "sweep", "--config", _finetune_module(tmp_path, overrides), "--workdir", str(tmp_path / "w")
    )
    assert all(w in err for w in words)


def test_verdicts_come_first_and_a_copy_with_only_results_csv_gives_the_same_report(sweep, tmp_path, capsys):
    """The report opens with the module's claims decided from the runs; a committed study (sweep.json and
    results.csv, no run folders) is re-reported by --report-only from results.csv to the same verdicts and tables."""
    from jaxlm.sweep.claims import verdict_line
    from jaxlm.sweep.report import read_csv

    d = sweep[0]
    report = pathlib.Path(d, "report.md").read_text()
    meta = json.loads(pathlib.Path(d, "sweep.json").read_text())
    assert meta["claims"] == [
        {"kind": "order", "a": "lr_1e-2", "op": "<", "b": "lr_3e-3", "metric": "val_loss", "margin": 0.0}
    ]
    line = verdict_line(meta["claims"][0], read_csv(os.path.join(d, "results.csv")))
    assert report.index("## Verdicts") < report.index("## Final metrics") and f"\n{line}\n" in report
    assert re.match(r"- val_loss: lr_1e-2 < lr_3e-3: \*\*(agrees|disagrees|not resolved)\*\* \(paired difference", line)
    copy = tmp_path / "study"
    copy.mkdir()
    for name in ("sweep.json", "results.csv"):
        (copy / name).write_bytes(pathlib.Path(d, name).read_bytes())
    assert main(["sweep", "--report-only", "--workdir", str(copy)]) == 0
    again = (copy / "report.md").read_text()
    assert f"\n{line}\n" in again
    assert (
        again.split("## Final metrics")[1].split("## Validation")[0]
        == report.split("## Final metrics")[1].split("## Validation")[0]
    )
    assert (copy / "results.csv").read_text() == pathlib.Path(d, "results.csv").read_text()
    origin = [x for x in report.splitlines() if x.startswith(("- **Hardware**", "- **jaxlm commit**", "- **Runtime**"))]
    assert len(origin) == 3 and all(x in again.splitlines() for x in origin)  # results.csv keeps where runs ran
    capsys.readouterr()


def test_report_only_takes_the_modules_revised_claims(sweep, tmp_path, capsys):
    copy = tmp_path / "study"
    copy.mkdir()
    for name in ("sweep.json", "results.csv"):
        (copy / name).write_bytes(pathlib.Path(sweep[0], name).read_bytes())
    module = tmp_path / "revised.py"
    module.write_text(
        pathlib.Path(TINY)
        .read_text()
        .replace(
            'expect("lr_1e-2", "<", "lr_3e-3", metric="val_loss")',
            'expect_equivalent("lr_1e-2", "lr_3e-3", metric="val_bits_per_byte", margin=0.5)',
        )
        .replace('"claims":', '"failure": failure("val_loss", above=0.0),\n        "claims":')
        .replace("import expect", "import expect_equivalent, failure")
    )
    assert main(["sweep", "--report-only", "--workdir", str(copy), "--config", str(module)]) == 0
    report = (copy / "report.md").read_text()
    assert "- val_bits_per_byte: lr_1e-2 ≈ lr_3e-3 within ±0.5: **" in report and "- val_loss: lr_1e-2 <" not in report
    assert json.loads((copy / "sweep.json").read_text())["claims"][0]["kind"] == "equivalent"
    failures = report.split("## Failed runs")[1].split("## Final metrics")[0]  # every loss is above 0: all fail
    assert "final val_loss is above 0 or not finite" in failures
    assert all(f"| {v} | {len(SEEDS)} / {len(SEEDS)} | 0, 1 |" in failures for v in VARIANTS)
    capsys.readouterr()


def test_warm_start_is_trained_once_and_every_run_starts_from_it(tmp_path, capsys):
    """config.sweep.warm_start: one model trained first; a run at learning rate 0 keeps its weights, so its
    validation loss is the warm start's exactly; a second sweep command reuses it."""
    module = tmp_path / "warm.py"
    module.write_text(
        pathlib.Path(TINY)
        .read_text()
        .replace('"seeds": (0, 1),', '"seeds": (0,),\n        "warm_start": {"train": {"steps": 4}},')
        .replace("steps=10 if", "steps=2 if")
        .replace('"claims": (expect("lr_1e-2", "<", "lr_3e-3", metric="val_loss"),),', '"claims": (),')
        .replace(
            '{"lr_3e-3": {"optim.peak_lr": 3e-3}, "lr_1e-2": {"optim.peak_lr": 1e-2}}',
            '{"lr_0": {"optim.peak_lr": 0.0}}',
        )
    )
    d = tmp_path / "sweep"
    assert main(["sweep", "--config", str(module), "--workdir", str(d)]) == 0
    first = capsys.readouterr().out
    assert "warm start: training in" in first
    warm = json.loads((d / "warm_start.json").read_text())["metrics"]
    run = d / "runs" / "lr_0" / "seed_0"
    assert json.loads((run / "pretrain" / "config.json").read_text())["finetune"]["init_from"] == str(d / "warm_start")
    assert json.loads((run / "results.json").read_text())["metrics"]["val_loss"] == warm["val_loss"]
    assert json.loads((d / "sweep.json").read_text())["warm_start"]["train"]["steps"] == 4
    assert main(["sweep", "--config", str(module), "--workdir", str(d)]) == 0
    assert "warm start: finished earlier" in capsys.readouterr().out
