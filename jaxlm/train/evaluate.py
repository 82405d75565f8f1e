"""Evaluation over a whole split: nats per token, perplexity, accuracy and bits per byte."""

import math

import numpy as np

from jaxlm.data.dataset import eval_batches
from jaxlm.data.packing import TokenStream
from jaxlm.train.step import sum_metrics


def evaluate(eval_step, params, stream: TokenStream, seq_len: int, batch_size: int, byte_lengths: np.ndarray,
             put_batch, max_batches: int = 0) -> dict:
    """bits_per_byte = total nats / (UTF-8 bytes of the evaluated target text × ln 2), comparable across tokenizers."""
    totals, n_bytes = None, 0
    for batch in eval_batches(stream, seq_len, batch_size, max_batches):
        n_bytes += int(np.sum(byte_lengths[batch["targets"]] * batch["weights"]))
        totals = sum_metrics(totals, eval_step(params, put_batch(batch)))
    if totals is None or totals["weight"] == 0:
        return {}
    loss = totals["nats"] / totals["weight"]
    return dict(loss=loss, perplexity=math.exp(min(loss, 700.0)), accuracy=totals["correct"] / totals["weight"],
                bits_per_byte=totals["nats"] / (max(n_bytes, 1) * math.log(2)), target_tokens=int(totals["weight"]),
                target_bytes=n_bytes)


