"""DIR/results.csv, DIR/report.md (the claims' verdicts first, then per metric: mean ± std and 95% CI over seeds,
best variant marked) and plots, for any sweep dir: `write_report(DIR)` is what `jaxlm sweep` and `jaxlm sweep
--report-only` call. Without run folders (a committed study: sweep.json and results.csv) it reads results.csv."""

import collections
import csv
import dataclasses
import datetime
import json
import math
import os
import shlex

from jaxlm import io
from jaxlm.errors import UserError
from jaxlm.io.staging import staged_folder
from jaxlm.sweep.claims import failure_lines, verdict_line
from jaxlm.sweep.environment import describe
from jaxlm.sweep.plots import plot_bars, plot_curves
from jaxlm.sweep.runner import RESULTS_FILE, read_sweep_json, run_dir
from jaxlm.sweep.summary import Summary, best, higher_is_better, summarize


@dataclasses.dataclass
class Report:
    """What `write_report` wrote: the markdown, its header and metric tables alone, the plots, metric errors."""

    markdown: str
    header: str
    tables: str
    plots: list[str]
    errors: list[str]


ORIGIN = ("hardware", "commit")  # results.csv's columns naming where a run ran (from its environment)


def read_csv(path: str) -> list[dict]:
    """The run records of a results.csv (variant, seed, metrics, wall seconds, hardware and commit)."""
    rows = list(csv.DictReader(io.read_text(path).splitlines()))
    return [
        {
            "variant": row.pop("variant"),
            "seed": int(row.pop("seed")),
            "wall_s": float(row.pop("wall_s")),
            **{k: row.pop(k) for k in ORIGIN if row.get(k)},
            "metrics": {k: int(v) if v.lstrip("-").isdigit() else float(v) for k, v in row.items() if v},
        }
        for row in rows
    ]


def origin(record: dict) -> dict[str, str]:
    """Where a run ran: {"hardware": ..., "commit": ...}, from its environment or its results.csv row."""
    env = record.get("environment")
    if env:
        return {"hardware": describe(env), "commit": env["jaxlm_commit"]}
    return {k: record[k] for k in ORIGIN if k in record}


def load_sweep_dir(sweep_dir: str) -> tuple[dict, list[dict]]:
    """The sweep's recorded definition and the records of its finished runs, in definition order: from the run
    folders, or from results.csv when the sweep dir has none."""
    meta, records = read_sweep_json(sweep_dir), []
    csv_path = io.join(sweep_dir, "results.csv")
    if not io.is_dir(io.join(sweep_dir, "runs")) and io.is_file(csv_path):
        return meta, read_csv(csv_path)
    for variant in meta["variants"]:
        for seed in meta["seeds"]:
            results = io.join(run_dir(sweep_dir, variant, seed), RESULTS_FILE)
            if io.exists(results):
                records.append(json.loads(io.read_text(results)))
    return meta, records


def fmt(x: float, scale: float) -> str:
    """4 decimals; whole numbers with thousands separators for large metrics (bytes); 3 significant digits for
    small ones (fractions below 0.01, which 4 decimals would show as 0.0000)."""
    if math.isnan(x):
        return "n/a"
    if abs(scale) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.3g}" if 0 < abs(scale) < 0.01 else f"{x:.4f}"


def metric_table(rows: list[Summary], metric: str) -> str:
    """A markdown table: variant, mean ± std, 95% CI, n seeds; the best variant in bold."""
    direction = "higher" if higher_is_better(metric) else "lower"
    lines = [
        f"### {metric} ({direction} is better)",
        "",
        "| variant | mean ± std | 95% CI | n seeds |",
        "|---|---:|---:|---:|",
    ]
    top = best(rows, metric)
    for r in rows:
        name = f"**{r.variant}** (best)" if r.variant == top else r.variant
        ci = "n/a" if math.isnan(r.low) else f"[{fmt(r.low, r.mean)}, {fmt(r.high, r.mean)}]"
        lines.append(f"| {name} | {fmt(r.mean, r.mean)} ± {fmt(r.std, r.mean)} | {ci} | {r.n} |")
    return "\n".join(lines)


def runs_table(records: list[dict], metrics: list[str]) -> str:
    """A markdown table of every finished run: variant, seed, the report's metrics, wall seconds."""
    lines = ["| variant | seed | " + " | ".join(metrics) + " | wall s |", "|---|---:|" + "---:|" * (len(metrics) + 1)]
    for r in records:
        values = [fmt(r["metrics"][m], r["metrics"][m]) if m in r["metrics"] else "missing" for m in metrics]
        lines.append(f"| {r['variant']} | {r['seed']} | " + " | ".join(values) + f" | {r['wall_s']:.1f} |")
    return "\n".join(lines)


def write_csv(path: str, records: list[dict]) -> None:
    """One row per finished run: variant, seed, every final metric, wall seconds, hardware and commit."""
    metrics = sorted(set().union(*(r["metrics"] for r in records))) if records else []
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, ["variant", "seed", *metrics, "wall_s", *ORIGIN], restval="")
        writer.writeheader()
        for r in records:
            row = dict(variant=r["variant"], seed=r["seed"], **r["metrics"], wall_s=round(r["wall_s"], 2))
            writer.writerow(dict(row, **origin(r)))


def _header(sweep_dir: str, meta: dict, records: list[dict]) -> list[str]:
    """Title, the module's docstring, command, dates, hardware, commit and run count, as markdown lines."""
    command = [
        "jaxlm",
        "sweep",
        "--config",
        meta["config"],
        "--workdir",
        sweep_dir,
        "--scale",
        meta["scale"],
        *(f"--config.{k}={v}" for k, v in meta["overrides"]),
    ]
    envs = collections.Counter(origin(r)["hardware"] for r in records if "hardware" in origin(r))
    commits = collections.Counter(origin(r)["commit"] for r in records if "commit" in origin(r))
    finished = sorted(r["finished"] for r in records if "finished" in r)
    expected = len(meta["variants"]) * len(meta["seeds"])
    lines = [f"# Sweep report: {os.path.basename(meta['config'])}", ""]
    if meta["description"]:
        lines += ["```text", meta["description"], "```", ""]
    lines += [
        f"- **Command**: `{shlex.join(command)}`",
        f"- **Report written**: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC"
        + (f"; runs finished {finished[0]} … {finished[-1]}" if finished else ""),
        *(f"- **Hardware**: {env} ({n} run{'s' * (n > 1)})" for env, n in envs.items()),
        *(f"- **jaxlm commit**: {c} ({n} run{'s' * (n > 1)})" for c, n in commits.items()),
        (
            f"- **Runs**: {len(records)} of {expected} finished ({len(meta['variants'])} variants × seeds "
            f"{', '.join(map(str, meta['seeds']))}); every run's numbers are in results.csv"
        ),
        f"- **Runtime**: {sum(r['wall_s'] for r in records) / 60:.1f} min, the finished runs' wall times added up",
        "",
    ]
    return lines


def write_report(sweep_dir: str) -> Report:
    """Write results.csv, report.md and plots/*.png for a sweep dir; returns what was written."""
    meta, records = load_sweep_dir(sweep_dir)
    with staged_folder(sweep_dir, replace=False) as out:  # a bucket's report is written locally, then uploaded
        report = _write_report(sweep_dir, out, meta, records)
    return dataclasses.replace(report, plots=[io.join(sweep_dir, os.path.relpath(p, out)) for p in report.plots])


def _write_report(sweep_dir: str, out: str, meta: dict, records: list[dict]) -> Report:
    """Write the report's files into the local folder `out`; its plots' paths are under `out`."""
    write_csv(os.path.join(out, "results.csv"), records)
    os.makedirs(os.path.join(out, "plots"), exist_ok=True)
    tables, plots, errors = [], [], []
    claims = meta.get("claims", [])
    verdicts = [verdict_line(c, records) for c in claims] if records else []
    if verdicts:
        tables.append("### Verdicts\n\n" + "\n".join(verdicts))
    body = [
        "## Verdicts",
        "",
        *(verdicts or ["No claim is declared (config.sweep.claims)." if not claims else "No run has finished yet."]),
        "",
    ]
    if meta.get("failure") and records:
        body += ["## Failed runs", "", *failure_lines(meta["failure"], records), ""]
    body += [
        "## Final metrics",
        "",
    ]
    for metric in meta["metrics"] if records else []:
        try:
            rows = summarize(records, metric)
        except UserError as e:
            errors.append(str(e))
            tables.append(f"### {metric}\n\n**Error**: {e}")
            body += [tables[-1], ""]
            continue
        tables.append(metric_table(rows, metric))
        plots.append(plot_bars(rows, metric, best(rows, metric), os.path.join(out, "plots")))
        body += [tables[-1], "", f"![{metric}](plots/{os.path.basename(plots[-1])})", ""]
    plots_dir = os.path.join(out, "plots")
    if io.is_dir(io.join(sweep_dir, "runs")):
        curves = plot_curves(sweep_dir, meta["metrics"], records, plots_dir)
    else:  # a committed study keeps the curves drawn from its runs
        curves = sorted(
            os.path.join(plots_dir, f) for f in io.listdir(io.join(sweep_dir, "plots")) if f.startswith("curves_")
        )
    body += [
        "## Validation curves (mean over seeds, band ± std)",
        "",
        *(f"![{os.path.basename(p)}](plots/{os.path.basename(p)})" for p in curves),
        "",
        "## Every run",
        "",
        runs_table(records, meta["metrics"]),
        "",
    ]
    header = "\n".join(_header(sweep_dir, meta, records))
    markdown = header + "\n" + ("\n".join(body) if records else "No run has finished yet.\n")
    with open(os.path.join(out, "report.md"), "w") as f:  # `out` is local (staged_folder)
        f.write(markdown)
    return Report(markdown=markdown, header=header, tables="\n\n".join(tables), plots=plots + curves, errors=errors)
