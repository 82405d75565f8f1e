"""Fixed-length packing: documents → one token stream (each ends with eos) → rows with segment ids and positions."""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TokenStream:
    """Concatenated documents. `segments[i]` is 1 + the index of the document token i belongs to."""

    tokens: np.ndarray  # int32 [N]
    segments: np.ndarray  # int32 [N]

    def __len__(self) -> int:
        return len(self.tokens)


def num_rows(stream: TokenStream, seq_len: int, partial: bool = False) -> int:
    """Rows of `seq_len` next-token pairs of [eos] + stream; `partial` counts a final shorter row (padded) too."""
    pairs = len(stream)
    return -(-pairs // seq_len) if partial else pairs // seq_len


def causal_lm_row(stream: TokenStream, index: int, seq_len: int, eos_id: int) -> dict[str, np.ndarray]:
    """Row `index` of [eos] + stream: inputs = its tokens [iT, iT+T), targets shifted by one, pads (segment 0)
    where it ends.

    Every token is a target (weight 1), each document's first token too: it is predicted from the eos before
    it, which is the document's start context, as in GPT-2's packing. Each input token belongs to the document
    of the token it predicts (that eos to the next document), so attention never crosses a document boundary;
    positions restart at 0 at each document start inside the row.
    """
    start = index * seq_len  # in [eos] + stream, so stream[start - 1] is the row's first token
    window = np.asarray(stream.tokens[max(start - 1, 0) : start + seq_len], np.int32)
    seg = np.asarray(stream.segments[max(start - 1, 0) : start + seq_len], np.int32)
    if start == 0:
        window, seg = np.concatenate([[eos_id], window]).astype(np.int32), np.concatenate([[0], seg]).astype(np.int32)
    n = max(len(window) - 1, 0)
    inputs = np.zeros(seq_len, np.int32)
    targets = np.zeros(seq_len, np.int32)
    segment_ids = np.zeros(seq_len, np.int32)
    inputs[:n], targets[:n], segment_ids[:n] = window[:-1], window[1:], seg[1:]
    weights = np.zeros(seq_len, np.float32)
    weights[:n] = 1.0
    return dict(
        inputs=inputs, targets=targets, segment_ids=segment_ids, positions=row_positions(segment_ids), weights=weights
    )


def row_positions(segment_ids: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... restarting wherever the segment id changes."""
    idx = np.arange(len(segment_ids))
    starts = np.concatenate([[True], segment_ids[1:] != segment_ids[:-1]])
    return (idx - np.maximum.accumulate(np.where(starts, idx, 0))).astype(np.int32)


def document_spans(stream: TokenStream) -> list[tuple[int, int]]:
    """[start, end) of each document's tokens in the stream, its closing eos left out."""
    if not len(stream):
        return []
    bounds = np.flatnonzero(np.diff(stream.segments[: len(stream)])) + 1
    starts, ends = np.concatenate([[0], bounds]), np.concatenate([bounds, [len(stream)]]) - 1
    return [(int(s), int(e)) for s, e in zip(starts, ends)]


def rolling_windows(n_tokens: int, seq_len: int) -> list[tuple[int, int]]:
    """[first, end) of the tokens each window of a document newly scores: disjoint blocks of `seq_len`, as
    lm-eval's loglikelihood_rolling (context_len=1) scores them."""
    return [(s, min(s + seq_len, n_tokens)) for s in range(0, n_tokens, seq_len)]


def rolling_row(doc: np.ndarray, first: int, end: int, seq_len: int, eos_id: int) -> dict[str, np.ndarray]:
    """One window of a document on its own: the up to `seq_len` tokens of [eos] + doc before token `end` predict
    doc[max(end - seq_len, 0):end], and only doc[first:end] are weighted (earlier ones are context)."""
    window = np.concatenate([[eos_id], np.asarray(doc, np.int32)])[max(end - seq_len, 0) : end + 1].astype(np.int32)
    n = len(window) - 1
    row = {k: np.zeros(seq_len, np.int32) for k in ("inputs", "targets", "segment_ids", "positions")}
    row["inputs"][:n], row["targets"][:n], row["segment_ids"][:n] = window[:-1], window[1:], 1
    row["positions"][:n] = np.arange(n)
    row["weights"] = np.zeros(seq_len, np.float32)
    row["weights"][:n] = np.arange(end - n, end) >= first
    return row
