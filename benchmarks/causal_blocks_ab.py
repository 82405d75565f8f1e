"""jaxlm's GPT train step with causal self-attention in 1 (the whole square), 2, 4 or 8 query blocks, alternating.

    python benchmarks/causal_blocks_ab.py --shape big --blocks 1 2 4 8 --rounds 4 --steps 3

Each variant is the step `jaxlm train` jits (compare_gpt's config and batch) compiled with
jaxlm.models.attention's block count forced to n; after warm-up the variants run `rounds` rounds of `steps`
steps, the order reversing every round. Prints one JSON line per variant: median step ms, speed relative to
one block, MFU of XLA's own fp32 2048³ matmul peak (the best of three), and the final loss.
"""

import argparse
import json
import statistics
import time

import compare_gpt
import jax
import jax.numpy as jnp
import torch_gpt

from jaxlm.bench.flops import flops_per_token
from jaxlm.bench.live import build_step
from jaxlm.bench.peak import measured_matmul_flops
from jaxlm.models import attention


def compiled_step(cfg, batch: dict, blocks: int):
    """(executable, state, device batch) with causal attention forced into `blocks` query blocks while tracing."""
    saved = attention.MAX_CAUSAL_BLOCKS, attention.MIN_CAUSAL_BLOCK
    attention.MAX_CAUSAL_BLOCKS, attention.MIN_CAUSAL_BLOCK = blocks, 1
    try:
        _, state, step, put = build_step(cfg)
        batch = put(batch)
        return step.lower(state, batch).compile(), state, batch
    finally:
        attention.MAX_CAUSAL_BLOCKS, attention.MIN_CAUSAL_BLOCK = saved


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", choices=sorted(compare_gpt.SHAPES), default="big")
    p.add_argument("--blocks", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--steps", type=int, default=3)
    args = p.parse_args()
    shape = compare_gpt.SHAPES[args.shape]
    cfg = compare_gpt.jaxlm_config(shape)
    batch = compare_gpt.jaxlm_batch(*torch_gpt.random_batch(shape))
    runs = {n: list(compiled_step(cfg, batch, n)) for n in args.blocks}
    times, loss = {n: [] for n in runs}, {}

    def run(n: int, steps: int) -> list[float]:
        exe, state, b = runs[n]
        out = []
        for _ in range(steps):
            start = time.perf_counter()
            state, metrics = exe(state, b)
            jax.block_until_ready((state, metrics))
            out.append(time.perf_counter() - start)
        runs[n][1], loss[n] = state, float(metrics["loss"])
        return out

    for n in runs:
        run(n, 2)
    for r in range(args.rounds):
        for n in args.blocks if r % 2 == 0 else args.blocks[::-1]:
            times[n] += run(n, args.steps)
    peak = max(measured_matmul_flops(compare_gpt.PEAK_N, jnp.float32) for _ in range(3))
    flops = flops_per_token(cfg)[0] * shape.batch * shape.seq
    base = statistics.median(times[args.blocks[0]])
    for n in args.blocks:
        step_s = statistics.median(times[n])
        print(
            json.dumps(
                {
                    "shape": args.shape,
                    "blocks": n,
                    "step_ms": round(1e3 * step_s, 1),
                    "speed_vs_first": round(base / step_s, 3),
                    "mfu_of_xla_peak": round(flops / step_s / peak, 4),
                    "xla_peak_flops": round(peak),
                    "final_loss": loss[n],
                    "jax": jax.__version__,
                }
            )
        )


if __name__ == "__main__":
    main()
