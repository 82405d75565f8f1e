"""Where jaxlm's GPT train step spends its time, next to the torch peer: phases, variants and XLA's ops.

    python benchmarks/profile_gpt.py --shape tiny [--rounds 5 --steps 5 --top 25]

Prints one JSON object with
- `phases_ms`: median milliseconds of forward (loss), forward+backward and the full step, for jaxlm and torch,
  timed in alternating rounds;
- `variants_ms`: jaxlm's real step (jaxlm.train.step, donated state) with one thing changed at a time: the
  loss without the argmax accuracy metric (`no_argmax`), and on top of that cross-entropy through a one-hot
  product instead of optax's gather/scatter, causal attention through `jax.nn.dot_product_attention(
  is_causal=True)` instead of the materialised segment mask, or a lean update (value_and_grad, optax update,
  apply: no non-finite guard, no grad-norm metric);
- `xla_ops`: XLA's per-op CPU time inside the real step (jax.profiler trace, summed over threads), grouped by
  what the op does (from its HLO metadata), plus the `top` most expensive ops with their jax op names;
- `torch_ops`: the peer's step under torch.profiler, the `top` operators by self CPU time (calling thread).
Variants are measurements only: they patch nothing in jaxlm except, inside this process, the attention
function the models call, and they put it back.
"""

import argparse
import collections
import glob
import gzip
import json
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import asdict

import jax
import jax.numpy as jnp
import optax
import torch
import torch.nn.functional as F

from jaxlm.bench.live import build_step
from jaxlm.losses.causal_lm import causal_lm_loss
from jaxlm.models import layers
from jaxlm.registry import build_model
from jaxlm.train.build import build

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_gpt  # the sibling modules, importable however this script is started
import torch_gpt

NAME_RE = re.compile(r"^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*(.*)$")
OP_NAME_RE = re.compile(r'op_name="([^"]+)"')


def ce_optax(logits, targets, weights):
    """optax's cross-entropy sum (gather forward, scatter backward), without jaxlm's argmax accuracy."""
    return jnp.sum(optax.softmax_cross_entropy_with_integer_labels(logits, targets) * weights)


def ce_one_hot(logits, targets, weights):
    """logsumexp minus the target logit picked by a one-hot product (dense forward and backward)."""
    picked = jnp.sum(logits * jax.nn.one_hot(targets, logits.shape[-1], dtype=logits.dtype), -1)
    return jnp.sum((jax.nn.logsumexp(logits, -1) - picked) * weights)


def causal_loss(ce):
    """jaxlm's causal_lm_loss with cross-entropy `ce` and no accuracy: (loss, {nats, weight})."""

    def loss(apply_fn, params, batch, rng, train=True):
        logits = apply_fn(
            {"params": params},
            batch["inputs"],
            batch["positions"],
            batch["segment_ids"],
            deterministic=not train,
            rngs={"dropout": rng},
        )
        nats, weight = ce(logits, batch["targets"], batch["weights"]), jnp.sum(batch["weights"])
        return nats / jnp.maximum(weight, 1.0), {"nats": nats, "weight": weight}

    return loss


def causal_attention(q, k, v, mask, scale):
    """Causal attention without the [B, 1, T, T] mask (valid for rows that are one document)."""
    return jax.nn.dot_product_attention(q, k, v, is_causal=True, scale=scale)


def stepper(cfg, batch: dict, loss=None):
    """A blocking zero-argument callable running a (compiled) variant of the real train step on `batch`."""
    _, state, step, put = build_step(cfg, loss)
    batch = put(batch)
    holder = [state]

    def run():
        holder[0], metrics = step(holder[0], batch)
        jax.block_until_ready((holder[0], metrics))

    run()
    return run


def lean_stepper(cfg, batch: dict, loss):
    """value_and_grad, optax update, apply (donated): the step without the guard and metrics."""
    built = build(cfg)
    model, tx, state, sharding = built.model, built.tx, built.state, built.batch_sharding
    batch = {k: jax.device_put(v, sharding) for k, v in batch.items()}

    def step(params, opt_state, batch):
        grad_fn = jax.value_and_grad(lambda p: loss(model.apply, p, batch, state.rng), has_aux=True)
        (value, _), grads = grad_fn(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    step = jax.jit(step, donate_argnums=(0, 1))
    holder = {"params": state.params, "opt_state": state.opt_state}

    def run():
        holder["params"], holder["opt_state"], value = step(holder["params"], holder["opt_state"], batch)
        jax.block_until_ready((holder, value))

    run()
    return run


def jitted(fn, *args):
    """fn jitted and run once (compiled), returned as a blocking zero-argument callable."""
    f = jax.jit(fn)
    jax.block_until_ready(f(*args))
    return lambda: jax.block_until_ready(f(*args))


def time_rounds(runners: dict, rounds: int, steps: int) -> dict:
    """Median ms of each runner, alternating runners in every round (order rotated per round)."""
    times = {name: [] for name in runners}
    names = list(runners)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            for _ in range(steps):
                start = time.perf_counter()
                runners[name]()
                times[name].append(time.perf_counter() - start)
    return {name: round(1e3 * statistics.median(t), 2) for name, t in times.items()}


def hlo_ops(hlo_text: str) -> dict:
    """HLO instruction name → (result shape text, jax op name or '')."""
    ops = {}
    for line in hlo_text.splitlines():
        m = NAME_RE.match(line)
        if m:
            op_name = OP_NAME_RE.search(m.group(2))
            ops.setdefault(
                m.group(1),
                (m.group(2).split(" fusion(")[0].split(" copy(")[0][:60], op_name.group(1) if op_name else ""),
            )
    return ops


MODULES = (
    ("/attn/", "attention (mask, scale, softmax, head reshapes)"),
    ("/mlp/", "MLP (biases, GELU)"),
    ("/ln_", "LayerNorm"),
    ("embed", "embeddings"),
    ("(GPT)", "residual adds and other model ops"),
)


def category(name: str, op_name: str) -> str:
    """What an op of the train step does, from its HLO name and jax op name."""
    phase = "backward" if "transpose(" in op_name else "forward" if "jvp(" in op_name else "update"
    if "dot_general" in op_name or name.startswith(("ynn_fusion", "dot")):
        return f"matmul {phase}: {'lm head (tied embedding)' if 'embed.attend' in op_name else 'blocks'}"
    if not op_name:
        return "copies and other ops without a jax op (layout, buffer aliasing)"
    if phase == "update":
        return "optimizer, clipping, grad norm, non-finite guard"
    module = next(
        (what for key, what in MODULES if key in op_name),
        "loss over the vocabulary (log-softmax, cross-entropy, argmax accuracy)",
    )
    return f"elementwise {phase}: {module}"


def xla_profile(step, state, batch, steps: int, top: int) -> dict:
    """Per-op thread time of `steps` real steps from a jax.profiler trace, grouped and ranked."""
    ops = hlo_ops(step.lower(state, batch).compile().as_text())
    with tempfile.TemporaryDirectory() as folder:
        jax.profiler.start_trace(folder)
        for _ in range(steps):
            state, metrics = step(state, batch)
            jax.block_until_ready((state, metrics))
        jax.profiler.stop_trace()
        with gzip.open(max(glob.glob(f"{folder}/**/*.trace.json.gz", recursive=True))) as f:
            trace = json.load(f)
    per_op = collections.Counter()
    for event in trace["traceEvents"]:
        if event.get("ph") == "X" and event["name"] in ops:
            per_op[event["name"]] += event["dur"] / 1e3 / steps
    total = sum(per_op.values())
    groups = collections.Counter()
    for name, ms in per_op.items():
        groups[category(name, ops[name][1])] += ms
    return {
        "total_thread_ms_per_step": round(total, 2),
        "groups_pct": {k: round(100 * v / total, 1) for k, v in groups.most_common()},
        "top": [
            {
                "op": name,
                "thread_ms": round(ms, 2),
                "pct": round(100 * ms / total, 1),
                "shape": ops[name][0],
                "jax_op": ops[name][1],
            }
            for name, ms in per_op.most_common(top)
        ],
    }, state


def torch_profile(step, steps: int, top: int) -> dict:
    """Self CPU time per step of the `top` torch operators over `steps` steps."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    rows = [(e.key, e.self_cpu_time_total / 1e3 / steps) for e in prof.key_averages()]
    total = sum(ms for _, ms in rows)
    return {
        "total_self_ms_per_step": round(total, 2),
        "top": [
            {"op": key, "self_ms": round(ms, 2), "pct": round(100 * ms / total, 1)}
            for key, ms in sorted(rows, key=lambda r: -r[1])[:top]
        ],
    }


def profile(shape: torch_gpt.Shape, rounds: int, steps: int, top: int, threads: int) -> dict:
    torch.set_num_threads(threads)
    cfg = compare_gpt.jaxlm_config(shape)
    inputs, targets = torch_gpt.random_batch(shape)
    host = compare_gpt.jaxlm_batch(inputs, targets)
    real = compare_gpt.JaxlmStepper(cfg, host)
    params = jax.tree_util.tree_map(jnp.copy, real.state.params)  # the step donates its state's buffers
    torch_model = torch_gpt.GPT(shape)
    compare_gpt.copy_params(jax.device_get(params), torch_model)
    torch_opt = torch_gpt.optimizer(torch_model)
    model, rng = build_model(cfg), jax.random.PRNGKey(0)

    def forward(p, b):
        return causal_lm_loss(model.apply, p, b, rng)[0]

    def torch_forward():
        return F.cross_entropy(torch_model(inputs).reshape(-1, shape.vocab), targets.reshape(-1))

    def torch_step():
        torch_gpt.train_step(torch_model, torch_opt, inputs, targets)

    phases = time_rounds(
        {
            "jaxlm_forward": jitted(forward, params, real.batch),
            "jaxlm_forward_backward": jitted(jax.value_and_grad(forward), params, real.batch),
            "jaxlm_step": lambda: real.run(1),
            "torch_forward": torch_forward,
            "torch_forward_backward": lambda: torch_forward().backward(),
            "torch_step": torch_step,
        },
        rounds,
        steps,
    )
    no_argmax = causal_loss(ce_optax)
    variants = {
        "real_step": lambda: real.run(1),
        "no_argmax": stepper(cfg, host, no_argmax),
        "no_argmax_one_hot_ce": stepper(cfg, host, causal_loss(ce_one_hot)),
        "no_argmax_lean_update": lean_stepper(cfg, host, no_argmax),
    }
    original, layers.dot_product_attention = layers.dot_product_attention, causal_attention
    try:
        variants["no_argmax_is_causal"] = stepper(cfg, host, no_argmax)
    finally:
        layers.dot_product_attention = original
    ops, real.state = xla_profile(real.step, real.state, real.batch, steps, top)
    return {
        "shape": asdict(shape),
        "rounds": rounds,
        "steps": steps,
        "torch_threads": torch.get_num_threads(),
        "phases_ms": phases,
        "variants_ms": time_rounds(variants, rounds, steps),
        "xla_ops": ops,
        "torch_ops": torch_profile(torch_step, steps, top),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", choices=sorted(compare_gpt.SHAPES), default="tiny")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    if min(a.rounds, a.steps, a.top, a.threads) < 1:
        p.error("--rounds, --steps, --top and --threads must be ≥ 1")
    print(json.dumps(profile(compare_gpt.SHAPES[a.shape], a.rounds, a.steps, a.top, a.threads)))


if __name__ == "__main__":
    main()
