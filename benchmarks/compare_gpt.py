"""jaxlm's real GPT train step against the same GPT in PyTorch (torch_gpt.py), side by side in one process.

    python benchmarks/compare_gpt.py --shape tiny     # 4 layers/4 heads/d 128/seq 64/batch 12/vocab 8192
    python benchmarks/compare_gpt.py --shape big      # 6 layers/6 heads/d 384/seq 256/batch 16/vocab 8192
    python benchmarks/compare_gpt.py --layers 2 --heads 2 --width 64 --seq 32 --batch 4 --vocab 512
    python benchmarks/compare_gpt.py --shape big --profile /tmp/prof   # + where jaxlm's step time goes

The jaxlm config is built from `base_config()` (fp32, AdamW b1 0.9 / b2 0.95 / wd 0.1, clip 1.0, d_ff 4·d) and
its step is the one `jaxlm train` jits (jaxlm.bench.live.build_step), with a constant learning rate like the
peer's. The torch model starts from a copy of jaxlm's initial parameters and both train on the same random
tokens (one document per row), so they run the same computation: their final losses are reported and agree.
After warm-up (compilation, a few steps each) they alternate in `rounds` rounds of `steps` steps, the order
flipping every round, each step timed until its result is ready; torch runs with `torch.set_num_threads`
(`--threads`, default 2) and XLA's CPU backend uses one thread per core. Prints one JSON object: each
framework's median step time and tokens/s, the ratio jaxlm/torch of tokens/s, the per-round medians, and MFU
against the machine's measured fp32 matmul peak (the better of jax's and torch's 2048³ matmul), and jaxlm's
against XLA's own. `--profile DIR` then traces `steps` more jaxlm steps into DIR and adds `jaxlm_profile`, the
step's time by category (jaxlm.bench.profile_table).
"""

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import asdict

import jax
import jax.numpy as jnp
import numpy as np
import torch

from jaxlm.bench.flops import flops_per_token
from jaxlm.bench.live import build_step
from jaxlm.bench.peak import measured_matmul_flops
from jaxlm.bench.speed import summarize_profile
from jaxlm.config.schema import base_config

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_gpt  # the sibling module, importable however this script is started

SHAPES = {
    "big": torch_gpt.Shape(layers=6, heads=6, width=384, seq=256, batch=16, vocab=8192),
    "tiny": torch_gpt.Shape(layers=4, heads=4, width=128, seq=64, batch=12, vocab=8192),
}
PEAK_N = 2048
OPTIM = torch_gpt.Optim()


def jaxlm_config(shape: torch_gpt.Shape, optim: torch_gpt.Optim = OPTIM):
    """The jaxlm GPT config of `shape`, with the optimizer settings the torch peer uses."""
    c = base_config()
    c.model.update(
        family="gpt",
        n_layers=shape.layers,
        n_heads=shape.heads,
        d_model=shape.width,
        d_ff=shape.hidden,
        vocab_size=shape.vocab,
        max_len=shape.seq,
        init_std=optim.init_std,
        layer_norm_eps=optim.ln_eps,
    )
    c.data.seq_len = shape.seq
    c.train.update(batch_size=shape.batch, precision="fp32", progress=False)
    c.optim.update(
        name="adamw",
        peak_lr=optim.lr,
        b1=optim.b1,
        b2=optim.b2,
        eps=optim.eps,
        weight_decay=optim.weight_decay,
        clip=optim.clip,
        schedule="constant",
        warmup=0,
    )
    return c


def copy_params(params: dict, model: torch_gpt.GPT) -> None:
    """Load jaxlm GPT parameters into the torch peer (kernels [in, out] become Linear weights [out, in])."""

    def put(tensor: torch.Tensor, value) -> None:
        tensor.data.copy_(torch.from_numpy(np.array(value, np.float32)).reshape(tensor.shape))

    def linear(layer: torch.nn.Linear, p: dict) -> None:
        put(layer.weight, np.asarray(p["kernel"]).reshape(layer.in_features, layer.out_features).T)
        put(layer.bias, p["bias"])

    def norm(layer: torch.nn.LayerNorm, p: dict) -> None:
        put(layer.weight, p["scale"])
        put(layer.bias, p["bias"])

    put(model.embed.weight, params["embed"]["embedding"])
    put(model.pos_embed.weight, np.asarray(params["pos_embed"]["embedding"])[: model.pos_embed.num_embeddings])
    norm(model.ln_final, params["ln_final"])
    for i, block in enumerate(model.blocks):
        p = params[f"block_{i}"]
        norm(block.ln_attn, p["ln_attn"])
        norm(block.ln_mlp, p["ln_mlp"])
        linear(block.qkv, p["attn"]["qkv"])
        linear(block.attn_out, p["attn"]["out"])
        linear(block.up, p["mlp"]["up"])
        linear(block.down, p["mlp"]["down"])


def jaxlm_batch(inputs: torch.Tensor, targets: torch.Tensor) -> dict:
    """The causal_lm objective's arrays for rows that are each one whole document."""
    x, y = inputs.numpy().astype(np.int32), targets.numpy().astype(np.int32)
    return {
        "inputs": x,
        "targets": y,
        "positions": np.broadcast_to(np.arange(x.shape[1], dtype=np.int32), x.shape),
        "segment_ids": np.ones_like(x),
        "weights": np.ones(x.shape, np.float32),
    }


class JaxlmStepper:
    """jaxlm's jitted train step on one device-resident batch."""

    def __init__(self, cfg, batch: dict):
        _, self.state, self.step, put = build_step(cfg)
        self.batch = put(batch)
        start = time.perf_counter()
        self.compiled = self.step.lower(self.state, self.batch).compile()
        self.compile_s = time.perf_counter() - start

    def run(self, steps: int) -> list[float]:
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            self.state, metrics = self.step(self.state, self.batch)
            jax.block_until_ready((self.state, metrics))
            times.append(time.perf_counter() - start)
        self.loss = float(metrics["loss"])
        return times


class TorchStepper:
    """The torch peer's train step on one batch."""

    def __init__(self, shape: torch_gpt.Shape, batch, params: dict):
        self.model = torch_gpt.GPT(shape)
        copy_params(params, self.model)
        self.opt = torch_gpt.optimizer(self.model)
        self.batch = batch

    def run(self, steps: int) -> list[float]:
        times, self.loss = torch_gpt.time_steps(self.model, self.opt, self.batch, steps)
        return times


def torch_matmul_flops(n: int) -> float:
    """Median FLOP/s of 5 torch fp32 n³ matmuls after a warm-up."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    times = []
    for _ in range(5):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times)


def compare(shape: torch_gpt.Shape, rounds: int, steps: int, threads: int, profile_dir: str | None = None) -> dict:
    """Alternating rounds of both steps; medians, tokens/s, ratio and MFU as one dict."""
    torch.set_num_threads(threads)
    cfg = jaxlm_config(shape)
    batch = torch_gpt.random_batch(shape)
    jaxlm = JaxlmStepper(cfg, jaxlm_batch(*batch))
    steppers = {"jaxlm": jaxlm, "torch": TorchStepper(shape, batch, jax.device_get(jaxlm.state.params))}
    for stepper in steppers.values():
        stepper.run(3)
    times = {name: [] for name in steppers}
    rounds_ms = {name: [] for name in steppers}
    for r in range(rounds):
        for name in ("jaxlm", "torch") if r % 2 == 0 else ("torch", "jaxlm"):
            t = steppers[name].run(steps)
            times[name] += t
            rounds_ms[name].append(round(1e3 * statistics.median(t), 2))
    peaks = {"jax": measured_matmul_flops(PEAK_N, jnp.float32), "torch": torch_matmul_flops(PEAK_N)}
    peak = max(peaks.values())
    per_token, convention = flops_per_token(cfg)
    tokens = shape.batch * shape.seq
    out = {
        "shape": asdict(shape) | {"d_ff": shape.hidden},
        "rounds": rounds,
        "steps_per_round": steps,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "jax": jax.__version__,
        "device": jax.devices()[0].device_kind,
        "jaxlm_compile_s": round(steppers["jaxlm"].compile_s, 2),
        "flops_per_token": per_token,
        "flops_convention": convention,
        "peak_flops": peak,
        "peak_source": f"max of measured fp32 {PEAK_N}³ matmuls (jax {peaks['jax']:.4g}, torch {peaks['torch']:.4g})",
    }
    for name in steppers:
        step_s = statistics.median(times[name])
        out.update(
            {
                f"{name}_step_ms": round(1e3 * step_s, 3),
                f"{name}_tokens_per_s": round(tokens / step_s, 1),
                f"{name}_round_ms": rounds_ms[name],
                f"{name}_mfu": round(tokens / step_s * per_token / peak, 4),
            }
        )
    out.update(jaxlm_final_loss=steppers["jaxlm"].loss, torch_final_loss=steppers["torch"].loss)
    out["ratio_jaxlm_over_torch"] = round(out["jaxlm_tokens_per_s"] / out["torch_tokens_per_s"], 3)
    out["jaxlm_mfu_of_xla_peak"] = round(out["jaxlm_mfu"] * peak / peaks["jax"], 4)
    if profile_dir:
        with jax.profiler.trace(profile_dir):
            jaxlm.run(steps)
        out["jaxlm_profile"] = summarize_profile(profile_dir, jaxlm.compiled.as_text(), steps)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    for name in ("layers", "heads", "width", "seq", "batch", "vocab"):
        p.add_argument(f"--{name}", type=int, help=f"override the shape's {name}")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=10, help="steps per framework per round")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    p.add_argument("--profile", metavar="DIR", help="also trace `--steps` jaxlm steps into DIR and summarise them")
    a = p.parse_args()
    if min(a.rounds, a.steps, a.threads) < 1:
        p.error("--rounds, --steps and --threads must be ≥ 1")
    given = {k: getattr(a, k) for k in ("layers", "heads", "width", "seq", "batch", "vocab") if getattr(a, k)}
    shape = torch_gpt.Shape(**(asdict(SHAPES[a.shape]) | given))
    if shape.width % shape.heads:
        p.error(f"--width {shape.width} is not divisible by --heads {shape.heads}")
    print(json.dumps(compare(shape, a.rounds, a.steps, a.threads, a.profile)))


if __name__ == "__main__":
    main()
