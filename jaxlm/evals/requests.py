"""Documents → scored token rows, as lm-eval's `hf` backend builds them for a causal LM.

A (context, continuation) pair: the context's trailing whitespace moves to the continuation, the continuation's
tokens are those that encoding context + continuation adds after the context's own, an empty context is the
prefix token (jaxlm's eos), and the row keeps the last `max_length` + 1 tokens. A rolling document is scored in
disjoint windows from the prefix token (`jaxlm.data.packing.rolling_row`).
"""

from collections.abc import Callable

import numpy as np

from jaxlm.data.packing import rolling_row, rolling_windows
from jaxlm.errors import UserError

ROW_KEYS = ("inputs", "targets", "positions", "segment_ids")


def encode_pair(
    encode: Callable[[str], list[int]], prefix_id: int, context: str, continuation: str
) -> tuple[list[int], list[int]]:
    """(context ids, continuation ids) of one request."""
    if context == "":
        cont = encode(continuation)
        return ([prefix_id], cont) if not cont or cont[0] != prefix_id else (cont[:1], cont[1:])
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    ctx = encode(context)
    return ctx, encode(context + continuation)[len(ctx) :]


def pair_row(context: list[int], continuation: list[int], max_length: int) -> dict[str, np.ndarray]:
    """One row: the last max_length + 1 tokens of context + continuation, the continuation's tokens weighted."""
    if not 0 < len(continuation) <= max_length:
        raise UserError(
            f"a choice is {len(continuation)} tokens, but the rows hold {max_length} (config.data.seq_len): "
            "shorten the task's choices or raise seq_len"
        )
    seq = np.asarray(context + continuation, np.int32)[-(max_length + 1) :]
    n = len(seq) - 1
    return {
        "inputs": seq[:-1],
        "targets": seq[1:],
        "positions": np.arange(n, dtype=np.int32),
        "segment_ids": np.ones(n, np.int32),
        "weights": (np.arange(n) >= n - len(continuation)).astype(np.float32),
    }


def rolling_rows(doc: list[int], max_length: int, prefix_id: int) -> list[dict[str, np.ndarray]]:
    """The disjoint windows that score every token of a document once (lm-eval's loglikelihood_rolling)."""
    return [
        rolling_row(np.asarray(doc), first, end, max_length, prefix_id)
        for first, end in rolling_windows(len(doc), max_length)
    ]


def pack_rows(rows: list[dict[str, np.ndarray]], length: int, batch: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Requests packed into rows of `length` positions (first fit, longest first), each its own segment with
    positions from 0, so none sees another; padded with empty rows to a multiple of `batch`. Returns the packed
    batch and, per position, the index of the request it belongs to (-1: padding)."""
    sizes = [int(np.sum(r["segment_ids"] > 0)) for r in rows]
    free: dict[int, list[int]] = {}  # free positions -> the packed rows with that many
    used: list[int] = []  # positions taken in each packed row
    count: list[int] = []  # requests in each packed row
    placed = []  # (request, packed row, its first position, its segment id)
    for i in sorted(range(len(rows)), key=lambda i: -sizes[i]):
        room = min((f for f, js in free.items() if f >= sizes[i] and js), default=None)
        j = free[room].pop() if room is not None else len(used)
        if j == len(used):
            used.append(0)
            count.append(0)
        count[j] += 1
        placed.append((i, j, used[j], count[j]))
        used[j] += sizes[i]
        free.setdefault(length - used[j], []).append(j)
    n = -(-len(used) // batch) * batch
    out = {k: np.zeros((n, length), np.int32) for k in ROW_KEYS}
    out["weights"] = np.zeros((n, length), np.float32)
    owner = np.full((n, length), -1, np.int64)
    for i, j, at, segment in placed:
        m = sizes[i]
        for k in ("inputs", "targets", "positions", "weights"):
            out[k][j, at : at + m] = rows[i][k][:m]
        out["segment_ids"][j, at : at + m], owner[j, at : at + m] = segment, i
    return out, owner
