"""Evaluation over a whole split: loss (nats per target), perplexity, accuracies and bits per byte."""

import functools
import math
from collections.abc import Callable

import jax
import numpy as np
from jax.experimental import multihost_utils

from jaxlm.objectives.base import Prepared
from jaxlm.pipeline.dataset import eval_batches
from jaxlm.train.step import sum_metrics


def summarize(totals: dict) -> dict:
    """Sums → means: `nats`/`weight` → loss, `correct`/`weight` → accuracy, and the same for every
    `X_nats`, `X_correct` over `X_weight` (e.g. mlm_loss, nsp_accuracy)."""
    out = {}
    for key, weight in totals.items():
        if not key.endswith("weight") or weight <= 0:
            continue
        prefix = key[: -len("weight")]
        if prefix + "nats" in totals:
            out[prefix + "loss"] = totals[prefix + "nats"] / weight
        if prefix + "correct" in totals:
            out[prefix + "accuracy"] = totals[prefix + "correct"] / weight
    return out


def evaluate(
    eval_step,
    params,
    prepared: Prepared,
    batch_size: int,
    byte_lengths: np.ndarray,
    put_batch,
    max_batches: int = 0,
    transform: Callable[[dict], dict] | None = None,
    progress: bool = False,
) -> dict:
    """bits_per_byte = total nats / (UTF-8 bytes of the evaluated target text × ln 2), comparable across
    tokenizers (only for objectives whose targets are the text itself). Each process reads and feeds only its
    contiguous block of every global batch; `transform` (e.g. a context ablation) changes each global batch first,
    so with it every process reads whole batches."""
    score = functools.partial(_score, eval_step, params, put_batch)
    sums = evaluate_sums(score, prepared, batch_size, byte_lengths, max_batches, transform, progress)
    return metrics(*sums, prepared.bits_per_byte)


def _score(eval_step, params, put_batch, local_batch: dict) -> dict:
    return eval_step(params, put_batch(local_batch))


def evaluate_sums(
    score: Callable[[dict], dict],
    prepared: Prepared,
    batch_size: int,
    byte_lengths: np.ndarray,
    max_batches: int,
    transform: Callable[[dict], dict] | None,
    progress: bool,
) -> tuple[dict | None, int]:
    """(the summed metrics that `score` gives this process's block of each global batch, UTF-8 bytes of the
    scored targets of every process) over the evaluated batches."""
    totals, n_bytes = None, 0
    local = batch_size // jax.process_count()
    start = jax.process_index() * local
    whole = transform is not None  # it mixes the rows of a batch
    part = (0, 1) if whole else (jax.process_index(), jax.process_count())
    for batch in eval_batches(
        prepared, batch_size, max_batches, progress=progress and jax.process_index() == 0, part=part
    ):
        if whole:
            batch = {k: v[start : start + local] for k, v in transform(batch).items()}
        if prepared.bits_per_byte:
            n_bytes += int(np.sum(byte_lengths[batch["targets"]] * batch["weights"]))
        totals = sum_metrics(totals, score(batch))
    if jax.process_count() > 1 and prepared.bits_per_byte:  # each process counted its own rows' bytes
        n_bytes = int(np.sum(multihost_utils.process_allgather(np.int64(n_bytes))))
    return totals, n_bytes


def metrics(totals: dict | None, n_bytes: int, bits_per_byte: bool) -> dict:
    """`evaluate_sums`' sums → loss, perplexity, accuracies, target tokens and bits per byte ({} for no targets)."""
    if totals is None or totals["weight"] == 0:
        return {}
    out = summarize(totals)
    out["perplexity"] = math.exp(min(out["loss"], 700.0))
    out["target_tokens"] = int(totals["weight"])
    if bits_per_byte:
        out.update(bits_per_byte=totals["nats"] / (max(n_bytes, 1) * math.log(2)), target_bytes=n_bytes)
    return out


def pooled(sums: list[tuple[dict | None, int]], bits_per_byte: bool) -> dict:
    """The metrics of several evaluations together (a mixture's sources): every scored target counts once."""
    scored = [(t, b) for t, b in sums if t is not None]
    if not scored:
        return {}
    totals = {k: sum(t[k] for t, _ in scored) for k in scored[0][0]}
    return metrics(totals, sum(b for _, b in scored), bits_per_byte)


def evaluate_sources(
    eval_step,
    params,
    parts: dict[str, Prepared],
    limits: dict[str, int],
    batch_size: int,
    byte_lengths: np.ndarray,
    put_batch,
    transform: Callable[[dict], dict] | None = None,
    progress: bool = False,
) -> tuple[dict, dict[str, dict]]:
    """(all sources pooled, each source's metrics) of a mixture's split: source `name` scored on its first
    `limits[name]` batches (0 = all)."""
    score = functools.partial(_score, eval_step, params, put_batch)
    sums = {
        name: evaluate_sums(score, data, batch_size, byte_lengths, limits[name], transform, progress)
        for name, data in parts.items()
    }
    bits = next(iter(parts.values())).bits_per_byte
    return pooled(list(sums.values()), bits), {name: metrics(*s, bits) for name, s in sums.items()}
