"""PNG plots of a sweep with matplotlib's object API (no pyplot, so the caller's backend is left alone)."""

import collections
import math
import os
import re

import numpy as np
from matplotlib.figure import Figure

from jaxlm import io
from jaxlm.sweep.runner import run_dir
from jaxlm.sweep.summary import Summary
from jaxlm.train.metrics import read_metrics


def _filename(kind: str, metric: str) -> str:
    """plots/KIND_METRIC.png with a file-system-safe metric name."""
    return f"{kind}_{re.sub(r'[^A-Za-z0-9_.-]', '_', metric)}.png"


def plot_bars(rows: list[Summary], metric: str, best: str, out_dir: str) -> str:
    """Bar chart of a final metric per variant with 95% CI error bars (none with one seed) and each seed as a dot;
    returns the path."""
    fig = Figure(figsize=(max(5.0, 1.1 * len(rows) + 2), 3.5), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(rows))
    means = np.array([r.mean for r in rows])
    halves = np.array([0.0 if math.isnan(r.low) else (r.high - r.low) / 2 for r in rows])
    bars = ax.bar(
        x, means, yerr=halves, capsize=4, color=["tab:orange" if r.variant == best else "tab:blue" for r in rows]
    )
    for i, r in enumerate(rows):
        ax.plot([i] * r.n, r.values, "k.", markersize=4)
    ax.bar_label(bars, fmt="%.4g", padding=2)
    values = np.concatenate([means - halves, means + halves, *[r.values for r in rows]])
    lo, hi = values.min(), values.max()
    pad = 0.5 * (hi - lo) or 0.05 * abs(hi) or 1.0
    ax.set_ylim(lo - pad, hi + pad)  # ablation differences are small: zoom in instead of starting at 0
    ax.set_xticks(x, [r.variant for r in rows], rotation=20, ha="right")
    ax.set_ylabel(metric)
    ax.set_title(f"final {metric}: mean and 95% CI over seeds, best in orange", fontsize="medium")
    path = os.path.join(out_dir, _filename("final", metric))
    fig.savefig(path, dpi=100)
    return path


def _val_curve(directory: str, key: str) -> dict[int, tuple[int | None, float]]:
    """step -> (tokens seen or None, a validation metric), from a run's pretrain/metrics.jsonl."""
    rows = read_metrics(io.join(directory, "pretrain"))
    return {
        r["step"]: (r.get("tokens"), r[key])
        for r in rows
        if r.get("split") == "val" and isinstance(r.get(key), (int, float))
    }


def plot_curves(sweep_dir: str, metrics: list[str], records: list[dict], out_dir: str) -> list[str]:
    """Per validation metric (the report's `val_*` metrics, else val loss): one line per variant, mean over
    seeds at the steps every seed evaluated, shaded ± std, against tokens seen when every evaluation logged
    them (variants with different batch sizes line up), else against the step; returns the paths."""
    by_variant = collections.defaultdict(list)
    for r in records:
        by_variant[r["variant"]].append(run_dir(sweep_dir, r["variant"], r["seed"]))
    paths = []
    for metric in [m for m in metrics if m.startswith("val_")] or ["val_loss"]:
        fig = Figure(figsize=(6, 3.5), layout="constrained")
        ax = fig.subplots()
        curves = {v: [_val_curve(d, metric[len("val_") :]) for d in dirs] for v, dirs in by_variant.items()}
        by_tokens = all(t is not None for cs in curves.values() for c in cs for t, _ in c.values())
        for variant, runs in curves.items():
            steps = sorted(set.intersection(*(set(c) for c in runs)))
            if not steps:
                continue
            ys = np.array([[c[s][1] for s in steps] for c in runs])
            xs = [runs[0][s][0] for s in steps] if by_tokens else steps
            mean, std = ys.mean(axis=0), ys.std(axis=0, ddof=1) if len(ys) > 1 else np.zeros(len(steps))
            ax.plot(xs, mean, marker=".", label=f"{variant} (n={len(ys)})")
            ax.fill_between(xs, mean - std, mean + std, alpha=0.2)
        if not ax.lines:
            continue
        ax.set_xlabel("tokens seen" if by_tokens else "step")
        ax.set_ylabel(metric)
        ax.legend(fontsize="small")
        ax.set_title(f"{metric} during pre-training")
        paths.append(os.path.join(out_dir, _filename("curves", metric)))
        fig.savefig(paths[-1], dpi=100)
    return paths
