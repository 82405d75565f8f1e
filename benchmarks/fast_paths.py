"""What each of jaxlm's fast paths buys on this machine: one `jaxlm bench` per variant, as a table.

    python benchmarks/fast_paths.py --out benchmarks/results/fast_paths.json            # ~10 min on 2 cores
    python benchmarks/fast_paths.py --out /tmp/f.json --only loss --steps 2             # one group

Every variant is the "big" comparison shape (6 layers, 6 heads, d 384, seq 256, batch 16, vocab 8192) on
experiments/gpt_shakespeare.py, changed by the listed overrides, measured with
`jaxlm bench --memory --steps N` in its own process (the scan group keeps the preset's 4 × 192 width and
seq 128). 48 unrolled layers are left out: XLA:CPU takes many minutes to compile them, which is the point of
scanning; time that alone with `jaxlm bench --steps 1 --config.model.n_layers=48`. Groups: the fused cross-entropy (`train.loss_chunk`),
rematerialisation (`model.remat`), scanned layers (`model.scan_layers`, compile time at 6 and 48 layers) and
the compute dtype (`train.precision`). The `scan_families` group times the same 6 → 48 layer compile for BERT,
T5 and BART (their CPU presets; an encoder-decoder scans 6 or 48 layers in each stack). Writes one JSON object:
{group: {variant: bench report}}.
"""

import argparse
import json
import os
import subprocess
import sys

BIG = {
    "model.n_layers": 6,
    "model.n_heads": 6,
    "model.d_model": 384,
    "model.d_ff": 1536,
    "model.vocab_size": 8192,
    "model.max_len": 256,
    "data.seq_len": 256,
    "train.batch_size": 16,
    "train.precision": "fp32",
}
GROUPS = {
    "loss": {
        "logits": {"train.loss_chunk": 0},
        "fused_auto": {"train.loss_chunk": -1},
        "fused_4": {"train.loss_chunk": 4},
        "fused_64": {"train.loss_chunk": 64},
    },
    "remat": {name: {"model.remat": name} for name in ("none", "save_dots", "full")},
    "scan": {
        "unrolled_6": {"model.scan_layers": False, "model.n_layers": 6},  # the preset's 4 × 192 width, seq 128
        "scan_6": {"model.scan_layers": True, "model.n_layers": 6},
        "scan_48": {"model.scan_layers": True, "model.n_layers": 48},
    },
    "precision": {name: {"train.precision": name} for name in ("fp32", "bf16")},
    "scan_families": {
        f"{family}_scan_{n}": {"model.scan_layers": True, "model.n_layers": n}
        | ({} if family == "bert" else {"model.n_decoder_layers": n})
        for family in ("bert", "t5", "bart")
        for n in (6, 48)
    },
}
PRESETS = {"bert": "bert_shakespeare", "t5": "t5_span_corruption", "bart": "bart_denoise"}  # scan_families' configs
KEEP = (
    "n_params",
    "n_layers",
    "step_ms",
    "tokens_per_s",
    "compile_s",
    "mfu",
    "peak_flops",
    "activation_bytes",
    "xla_temp_bytes",
    "params_bytes",
    "opt_state_bytes",
)


def bench(overrides: dict, steps: int, base: dict, preset: str = "gpt_shakespeare") -> dict:
    """`jaxlm bench --memory` of experiments/`preset`.py with `base` and `overrides`, in a fresh process."""
    args = [f"--config.{k}={v}" for k, v in (base | overrides).items()]
    jaxlm = os.path.join(os.path.dirname(sys.executable), "jaxlm")
    cmd = [jaxlm, "bench", "--config", f"experiments/{preset}.py", "--memory", "--steps", str(steps), *args]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    report = json.loads(out.strip().splitlines()[-1])
    return {k: report.get(k) for k in KEEP} | {"overrides": overrides}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--only", choices=sorted(GROUPS), action="append", help="run only these groups")
    a = p.parse_args()
    results = {}
    for group in a.only or GROUPS:
        results[group] = {}
        for name, overrides in GROUPS[group].items():
            base = BIG if group in ("loss", "remat", "precision") else {"train.precision": "fp32"}
            preset = PRESETS[name.split("_")[0]] if group == "scan_families" else "gpt_shakespeare"
            results[group][name] = bench(overrides, a.steps, base, preset)
            print(group, name, json.dumps(results[group][name]), flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
