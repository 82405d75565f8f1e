"""How jaxlm's GPT train step (and the PyTorch peer's) scale with width, depth and sequence length on this CPU.

    python benchmarks/scaling.py --out benchmarks/results          # ~6 min on 2 cores
    python benchmarks/scaling.py --out /tmp/s --quick              # 2 points per axis, for a smoke test

Around one base shape (4 layers, d 256, head width 64, seq 128, batch 16, vocab 8192), one axis varies at a
time. Each point times both frameworks with the alternating rounds of compare_gpt.py (same network, same
initial parameters, same batch) and records tokens/s and MFU against the measured fp32 matmul peak. Writes
`scaling.json` (every point, with the environment) and `scaling.png` (tokens/s and MFU against each axis).
"""

import argparse
import json
import os
import sys
from dataclasses import asdict, replace

import jax
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_gpt  # the sibling module
import torch_gpt

BASE = torch_gpt.Shape(layers=4, heads=4, width=256, seq=128, batch=16, vocab=8192)
AXES = {"width": [128, 256, 384, 512, 768], "layers": [2, 4, 8, 16], "seq": [64, 128, 256, 512]}
HEAD_WIDTH = 64


def point(axis: str, value: int) -> torch_gpt.Shape:
    """BASE with one axis changed (width keeps the head width at HEAD_WIDTH)."""
    shape = replace(BASE, **{axis: value})
    return replace(shape, heads=shape.width // HEAD_WIDTH) if axis == "width" else shape


def measure(axes: dict[str, list[int]], rounds: int, steps: int) -> list[dict]:
    rows = []
    for axis, values in axes.items():
        for value in values:
            r = compare_gpt.compare(point(axis, value), rounds, steps, threads=2)
            rows.append(
                {
                    "axis": axis,
                    "value": value,
                    **{
                        k: r[k]
                        for k in (
                            "shape",
                            "jaxlm_step_ms",
                            "jaxlm_tokens_per_s",
                            "jaxlm_mfu",
                            "torch_step_ms",
                            "torch_tokens_per_s",
                            "torch_mfu",
                            "ratio_jaxlm_over_torch",
                            "jaxlm_compile_s",
                            "flops_per_token",
                            "peak_flops",
                        )
                    },
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    return rows


def plot(rows: list[dict], path: str) -> None:
    """Two rows of panels (tokens/s, MFU), one column per axis; jaxlm solid, the torch peer dashed."""
    axes = list(dict.fromkeys(r["axis"] for r in rows))
    fig, grid = plt.subplots(2, len(axes), figsize=(4.2 * len(axes), 7), squeeze=False)
    for j, axis in enumerate(axes):
        pts = [r for r in rows if r["axis"] == axis]
        xs = [r["value"] for r in pts]
        for i, (metric, label) in enumerate((("tokens_per_s", "tokens/s"), ("mfu", "MFU (of measured fp32 peak)"))):
            ax = grid[i][j]
            ax.plot(xs, [r[f"jaxlm_{metric}"] for r in pts], "o-", label="jaxlm (JAX/XLA)")
            ax.plot(xs, [r[f"torch_{metric}"] for r in pts], "s--", label="PyTorch peer")
            ax.set_xscale("log", base=2)
            ax.set_xticks(xs, [str(x) for x in xs])
            ax.set_xlabel({"width": "d_model (head width 64)", "layers": "layers", "seq": "sequence length"}[axis])
            ax.set_ylabel(label)
            if metric == "mfu":
                ax.set_ylim(0, 1)
            ax.grid(alpha=0.3)
    grid[0][0].legend()
    fig.suptitle(f"GPT train step on {os.cpu_count()} CPU cores, fp32; base {asdict(BASE)}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="folder for scaling.json and scaling.png")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=3, help="steps per framework per round")
    p.add_argument("--quick", action="store_true", help="two small points per axis")
    a = p.parse_args()
    axes = {k: v[:2] for k, v in AXES.items()} if a.quick else AXES
    os.makedirs(a.out, exist_ok=True)
    rows = measure(axes, a.rounds, a.steps)
    env = {
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
        "torch": compare_gpt.torch.__version__,
        "base": asdict(BASE),
        "rounds": a.rounds,
        "steps_per_round": a.steps,
    }
    with open(os.path.join(a.out, "scaling.json"), "w") as f:
        json.dump({"environment": env, "points": rows}, f, indent=1)
    plot(rows, os.path.join(a.out, "scaling.png"))


if __name__ == "__main__":
    main()
