"""RoBERTa pre-training: contiguous rows of the packed stream as `[CLS] … [SEP]`, dynamic masks, no NSP.

Rows cross document boundaries (the eos that ends every document in the stream separates them, as in
RoBERTa's FULL-SENTENCES packing). With `config.data.segment_mask=True` attention stays within each
document of a row; RoBERTa itself attends across them (False). The mask is drawn anew every time a row is
seen (dynamic masking).
"""

import ml_collections
import numpy as np

from jaxlm.data.masking import mask_spec
from jaxlm.data.packing import TokenStream
from jaxlm.data.tokenizer import CLS_ID, SEP_ID, Tokenizer
from jaxlm.errors import UserError
from jaxlm.objectives.base import Prepared, SplitData
from jaxlm.objectives.masked import describe, masked_example


class StreamRows:
    """Row i = [CLS] + the stream's tokens [i·(T−2), (i+1)·(T−2)) + [SEP], padded to T (random access)."""

    def __init__(self, stream: TokenStream, seq_len: int, partial: bool, segment_mask: bool):
        self.stream, self.seq_len, self.segment_mask = stream, seq_len, segment_mask
        body = seq_len - 2
        self.n = -(-len(stream) // body) if partial else len(stream) // body

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        body = self.seq_len - 2
        tokens = self.stream.tokens[int(i) * body:(int(i) + 1) * body]
        docs = self.stream.segments[int(i) * body:(int(i) + 1) * body]
        n = len(tokens)
        source = np.zeros(self.seq_len, np.int32)
        source[:n + 2] = np.concatenate([[CLS_ID], tokens, [SEP_ID]])
        attention = np.zeros(self.seq_len, np.int32)
        attention[:n + 2] = np.concatenate([docs[:1], docs, docs[-1:]]) if self.segment_mask else 1
        return dict(source_ids=source, segment_ids=np.zeros(self.seq_len, np.int32), attention_mask=attention)


def prepare(split: SplitData, cfg: ml_collections.ConfigDict, tok: Tokenizer, train: bool) -> Prepared:
    """Training uses whole rows only; evaluation also scores the final partial row, with fixed masks."""
    if cfg.data.seq_len < 3:
        raise UserError(f"config.data.seq_len={cfg.data.seq_len} is too short for [CLS] … [SEP]: use at least 3")
    spec = mask_spec(cfg, tok)
    rows = StreamRows(split.stream, cfg.data.seq_len, partial=not train, segment_mask=cfg.data.segment_mask)
    return Prepared(rows, lambda ex, rng: masked_example(ex, rng, spec), static=False,
                    describe=lambda ex: describe(ex, tok))
