"""Next-token prediction over fixed-length rows of the packed stream (GPT)."""

import ml_collections
import numpy as np

from jaxlm.data.packing import (
    TokenStream,
    causal_lm_row,
    document_spans,
    num_rows,
    rolling_row,
    rolling_windows,
)
from jaxlm.data.tokenizer import Tokenizer
from jaxlm.losses.causal_lm import causal_lm_loss
from jaxlm.objectives.base import Objective, Prepared, SplitData


class Rows:
    """Row i of the stream as a model-ready dict (random access, as grain sources are)."""

    def __init__(self, stream: TokenStream, seq_len: int, partial: bool, eos_id: int):
        self.stream, self.seq_len, self.eos_id = stream, seq_len, eos_id
        self.n = num_rows(stream, seq_len, partial)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        return causal_lm_row(self.stream, int(i), self.seq_len, self.eos_id)


def source_ids(row: dict) -> np.ndarray:
    """The row's stretch of the stream, [first input] + targets, zero-padded to seq_len + 1 (what `jaxlm data
    preview` shows; computed there only, not for every training row)."""
    n = int(np.sum(row["segment_ids"] > 0))
    source = np.zeros(len(row["inputs"]) + 1, np.int32)
    source[: n + 1 if n else 0] = np.append(row["inputs"][:1], row["targets"])[: n + 1 if n else 0]
    return source


def prepare(split: SplitData, cfg: ml_collections.ConfigDict, tok: Tokenizer, train: bool) -> Prepared:
    """Training uses whole rows only; evaluation also scores the final partial row."""
    return Prepared(
        Rows(split.stream, cfg.data.seq_len, not train, tok.ids.eos),
        bits_per_byte=True,
        describe=lambda ex: {"text": tok.decode(ex["inputs"].tolist()), "source_ids": source_ids(ex).tolist()},
    )


OBJECTIVE = Objective(
    prepare=prepare, needs=("eos",), sentences=False, loss=causal_lm_loss, classifies=False, check=None
)


class RollingRows:
    """Every document on its own in lm-eval's rolling windows (see `rolling_row`), document after document."""

    def __init__(self, stream: TokenStream, seq_len: int, eos_id: int):
        self.stream, self.seq_len, self.eos_id = stream, seq_len, eos_id
        self.windows = [
            (s, e, first, end) for s, e in document_spans(stream) for first, end in rolling_windows(e - s, seq_len)
        ]

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> dict:
        s, e, first, end = self.windows[int(i)]
        return rolling_row(self.stream.tokens[s:e], first, end, self.seq_len, self.eos_id)


def prepare_rolling(split: SplitData, cfg: ml_collections.ConfigDict, tok: Tokenizer) -> Prepared:
    """Each document scored apart, from the eos before it, in disjoint windows of seq_len; its closing eos is
    not predicted, so bits per byte counts exactly the documents' text (lm-eval's loglikelihood_rolling)."""
    return Prepared(RollingRows(split.stream, cfg.data.seq_len, tok.ids.eos), bits_per_byte=True)
