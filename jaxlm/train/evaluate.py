"""Evaluation over a whole split: loss (nats per target), perplexity, accuracies and bits per byte."""

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
        totals = sum_metrics(totals, eval_step(params, put_batch(batch)))
    if jax.process_count() > 1 and prepared.bits_per_byte:  # each process counted its own rows' bytes
        n_bytes = int(np.sum(multihost_utils.process_allgather(np.int64(n_bytes))))
    if totals is None or totals["weight"] == 0:
        return {}
    out = summarize(totals)
    out["perplexity"] = math.exp(min(out["loss"], 700.0))
    out["target_tokens"] = int(totals["weight"])
    if prepared.bits_per_byte:
        out.update(bits_per_byte=totals["nats"] / (max(n_bytes, 1) * math.log(2)), target_bytes=n_bytes)
    return out
