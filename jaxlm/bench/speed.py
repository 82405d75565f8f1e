"""`jaxlm bench`: the real jitted train step's median time, tokens/s, FLOPs per token and MFU of a config.

Compile time is `lower(...).compile()` of the step (the jitted call then reuses that executable). Steps run
on real batches of the config's objective, already on the device, cycling through a few of them; each step
blocks on its new state and metrics, and the median over `steps` timed steps follows `WARMUP` untimed ones.
Tokens and FLOPs use the lengths of those real batches (encoder + decoder positions for encoder-decoders).
`xla_flops_per_token` is XLA's own count, a cross-check only for unrolled steps: it counts a loop body once
(the chunked loss, scanned layers, microbatches) and custom calls (cuDNN attention) not at all, so it falls far
below the convention's figure whenever those run; MFU always uses the convention.
"""

import contextlib
import glob
import os
import statistics
import time

import jax
import ml_collections

from jaxlm.bench.flops import Lengths, attentions, flops_per_token, matmul_params
from jaxlm.bench.live import LiveSetup, batch_lengths, param_count
from jaxlm.bench.peak import peak_flops
from jaxlm.bench.profile_table import profile_table, read_trace
from jaxlm.models.attention import causal_blocks
from jaxlm.registry import PRECISIONS, attention, precision

WARMUP = 2
DISTINCT_BATCHES = 4


def model_dims(cfg: ml_collections.ConfigDict, lengths: Lengths) -> dict:
    """The config's shape, objective and precision (what the timings depend on); `causal_blocks`: the query
    blocks of each causal self-attention on XLA (jaxlm.models.attention)."""
    m, (inputs, targets), impl = cfg.model, lengths, attention(cfg)
    blocks = {
        a.name: causal_blocks(a.queries)
        for a in attentions(cfg, lengths)
        if impl == "xla" and a.causal and a.queries == a.keys
    }
    dims = {
        "family": m.family,
        "objective": cfg.data.objective,
        "precision": precision(cfg),
        "attention": impl,
        "causal_blocks": blocks,
        "n_layers": m.n_layers,
        "d_model": m.d_model,
        "n_heads": m.n_heads,
        "d_ff": m.d_ff,
        "vocab_size": m.vocab_size,
        "seq_len": cfg.data.seq_len,
        "batch_size": cfg.train.batch_size,
        "microbatches": cfg.train.microbatches,
    }
    if targets:
        dims.update(n_decoder_layers=m.n_decoder_layers or m.n_layers, inputs_len=inputs, targets_len=targets)
    return dims


def xla_flops(compiled) -> float | None:
    """XLA's own FLOP count of a compiled step, where the backend provides one."""
    analysis = compiled.cost_analysis()
    analysis = analysis[0] if isinstance(analysis, (list, tuple)) and analysis else analysis
    flops = analysis.get("flops") if isinstance(analysis, dict) else None
    return float(flops) if flops and flops > 0 else None


def time_steps(live: LiveSetup, steps: int, profile_dir: str | None = None) -> dict:
    """compile_s, step_ms (median), the batches' lengths and XLA's FLOPs of the step; `live.state` advances by
    WARMUP + steps. With `profile_dir` the timed steps run inside a jax.profiler trace written there (tracing
    adds a little time to each step)."""
    it = live.batches()
    host = [live.next_batch(it) for _ in range(min(DISTINCT_BATCHES, WARMUP + steps))]
    batches = [live.put(b) for b in host]
    start = time.perf_counter()
    compiled = live.train_step.lower(live.state, batches[0]).compile()
    compile_s = time.perf_counter() - start
    times = []

    def step(i: int) -> None:
        start = time.perf_counter()
        live.state, metrics = live.train_step(live.state, batches[i % len(batches)])
        jax.block_until_ready((live.state, metrics))
        times.append(time.perf_counter() - start)

    for i in range(WARMUP):
        step(i)
    with jax.profiler.trace(profile_dir) if profile_dir else contextlib.nullcontext():
        for i in range(WARMUP, WARMUP + steps):
            step(i)
    out = {
        "compile_s": compile_s,
        "step_ms": 1e3 * statistics.median(times[WARMUP:]),
        "lengths": batch_lengths(host[0]),
        "xla_flops": xla_flops(compiled),
    }
    if profile_dir:
        out["profile"] = summarize_profile(profile_dir, compiled.as_text(), steps)
    return out


def summarize_profile(profile_dir: str, hlo_text: str, steps: int) -> dict | None:
    """The newest trace in `profile_dir` summed by category (`profile_table`); the step's HLO is kept beside it
    as train_step.hlo.txt (the table's op names refer to it). None if jax wrote no trace."""
    with open(os.path.join(profile_dir, "train_step.hlo.txt"), "w", encoding="utf-8") as f:
        f.write(hlo_text)
    traces = glob.glob(os.path.join(profile_dir, "**", "*.trace.json.gz"), recursive=True)
    return profile_table(read_trace(max(traces, key=os.path.getmtime)), hlo_text, steps) if traces else None


def speed_report(live: LiveSetup, steps: int, peak_n: int | None = None, profile_dir: str | None = None) -> dict:
    """One flat dict: model dims, step time, tokens/s, FLOPs per token, achieved and peak FLOP/s, MFU."""
    cfg = live.cfg
    timed = time_steps(live, steps, profile_dir)
    lengths = timed["lengths"]
    tokens_per_step = cfg.train.batch_size * sum(lengths)
    tokens_per_s = tokens_per_step / (timed["step_ms"] / 1e3)
    per_token, convention = flops_per_token(cfg, lengths)
    peak, source = peak_flops(PRECISIONS[precision(cfg)], peak_n)
    achieved = tokens_per_s * per_token
    counted = (
        "encoder + decoder positions per example (inputs_len + targets_len), padding included"
        if lengths[1]
        else "sequence positions per example, padding included"
    )
    return dict(
        model_dims(cfg, lengths),
        n_params=param_count(live.state),
        n_matmul_params=matmul_params(cfg),
        device=jax.devices()[0].device_kind,
        steps=steps,
        compile_s=round(timed["compile_s"], 3),
        step_ms=round(timed["step_ms"], 3),
        tokens_per_step=tokens_per_step,
        tokens_counted=counted,
        tokens_per_s=round(tokens_per_s, 1),
        flops_per_token=per_token,
        flops_convention=convention,
        xla_flops_per_token=timed["xla_flops"] / tokens_per_step if timed["xla_flops"] else None,
        achieved_flops=achieved,
        peak_flops=peak,
        peak_source=source,
        mfu=round(achieved / peak, 4),
        **({"profile": timed["profile"]} if "profile" in timed else {}),
    )
