"""Before/after of XLA attention's layout (jaxlm.models.layers._xla_attention) on the GPT train step: the same
step built twice in one process, once with jax.nn.dot_product_attention's XLA path (the layout before), once
with jaxlm's (heads ahead of positions), timed in alternating rounds (the order flips every round).

    python benchmarks/attention_ab.py --shape big --rounds 4 --steps 4      # ~6 min on 2 cores

Prints one JSON object: each variant's median step ms and per-round medians, after / before, and whether the
final losses agree.
"""

import argparse
import json
import os
import statistics
import sys

import jax

from jaxlm.models import layers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_gpt  # the sibling module: the GPT shapes, config and stepper of the PyTorch comparison
import torch_gpt


def before(q, k, v, mask, scale, bias):
    """The XLA attention as it was: jax.nn's, which contracts over [B, T, N, H] operands as they are."""
    return jax.nn.dot_product_attention(q, k, v, bias=bias, mask=mask, scale=scale)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", choices=sorted(compare_gpt.SHAPES), default="big")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--steps", type=int, default=4)
    a = p.parse_args()
    shape = compare_gpt.SHAPES[a.shape]
    cfg, batch = compare_gpt.jaxlm_config(shape), compare_gpt.jaxlm_batch(*torch_gpt.random_batch(shape))
    after_impl, layers._xla_attention = layers._xla_attention, before
    steppers = {"before": compare_gpt.JaxlmStepper(cfg, batch)}  # traced and compiled with the old attention
    layers._xla_attention = after_impl
    steppers["after"] = compare_gpt.JaxlmStepper(cfg, batch)
    times, rounds = {n: [] for n in steppers}, {n: [] for n in steppers}
    for stepper in steppers.values():
        stepper.run(2)
    for r in range(a.rounds):
        for name in ("before", "after") if r % 2 == 0 else ("after", "before"):
            t = steppers[name].run(a.steps)
            times[name] += t
            rounds[name].append(round(1e3 * statistics.median(t), 1))
    ms = {n: 1e3 * statistics.median(t) for n, t in times.items()}
    print(json.dumps({"shape": a.shape, "step_ms": {n: round(v, 1) for n, v in ms.items()}, "round_ms": rounds,
                      "after_over_before": round(ms["after"] / ms["before"], 3),
                      "final_loss": {n: s.loss for n, s in steppers.items()}}))


if __name__ == "__main__":
    main()
