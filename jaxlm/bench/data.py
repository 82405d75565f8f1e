"""`jaxlm bench --data`: the input pipeline's own throughput, and how long the training loop waits for it.

`data_tokens_per_s`: full host batches (the grain pipeline of `jaxlm train`, microbatches interleaved) pulled
back to back for at least `seconds` after one warm-up batch, in the step's token convention. `host_wait_ms`:
the loop's pattern over `steps` steps — fetch the next batch and put it on the device, dispatch the step
(asynchronously), then wait for the previous step's metrics (where `jaxlm train` checks its non-finite flags),
so each fetch overlaps the step in flight — the mean time each fetch + put takes; `loop_step_ms`: the wall
time per step of that loop (step_ms plus any time the device sat idle waiting for the host).
"""

import time

import jax

from jaxlm.bench.live import LiveSetup, batch_lengths

MIN_BATCHES = 10


def pipeline_tokens_per_s(live: LiveSetup, seconds: float = 2.0) -> float:
    """This process's pipeline throughput in tokens/s (at least MIN_BATCHES batches and `seconds`)."""
    it = live.batches()
    batch = live.next_batch(it)
    tokens = len(batch["inputs"]) * sum(batch_lengths(batch))
    n, start = 0, time.perf_counter()
    while n < MIN_BATCHES or time.perf_counter() - start < seconds:
        live.next_batch(it)
        n += 1
    return n * tokens / (time.perf_counter() - start)


def host_wait(live: LiveSetup, steps: int) -> dict:
    """host_wait_ms (mean fetch + put per step while the previous step runs) and loop_step_ms."""
    it = live.batches()
    batch = live.put(live.next_batch(it))
    live.state, metrics = live.train_step(live.state, batch)
    jax.block_until_ready((live.state, metrics))
    waits, start = [], time.perf_counter()
    for _ in range(steps):
        fetch = time.perf_counter()
        batch = live.put(live.next_batch(it))
        waits.append(time.perf_counter() - fetch)
        previous = metrics
        live.state, metrics = live.train_step(live.state, batch)
        jax.block_until_ready(previous)
    jax.block_until_ready((live.state, metrics))
    return {
        "host_wait_ms": round(1e3 * sum(waits) / steps, 3),
        "loop_step_ms": round(1e3 * (time.perf_counter() - start) / steps, 3),
    }


def data_report(live: LiveSetup, steps: int, step_tokens_per_s: float, seconds: float = 2.0) -> dict:
    """data_tokens_per_s, its ratio to the step's per-process tokens/s, host_wait_ms and loop_step_ms."""
    rate = pipeline_tokens_per_s(live, seconds)
    return dict(
        data_tokens_per_s=round(rate, 1),
        data_to_step_ratio=round(rate / (step_tokens_per_s / jax.process_count()), 2),
        **host_wait(live, steps),
    )
