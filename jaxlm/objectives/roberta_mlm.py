"""RoBERTa pre-training: rows of whole sentences as `[CLS] … [SEP]`, dynamic masks, no NSP.

FULL-SENTENCES (`config.data.roberta_packing=full_sentences`, RoBERTa's choice, Liu et al. 2019 §4.2): each row
holds as many consecutive sentences as fit in T − 2 tokens, crossing document boundaries with a [SEP] between
two documents. DOC-SENTENCES (`doc_sentences`): a row never crosses a document; a document's last row is padded.
A sentence longer than T − 2 tokens is cut into pieces of T − 2. With `config.data.segment_mask=True` attention
stays within each document of a row; RoBERTa itself attends across them (False). The mask is drawn anew every
time a row is seen (dynamic masking).
"""

from collections.abc import Sequence

import ml_collections
import numpy as np

from jaxlm.data.masking import check_masking, mask_spec
from jaxlm.data.special_tokens import SpecialIds
from jaxlm.data.tokenizer import JAXLM_IDS, Tokenizer
from jaxlm.errors import UserError
from jaxlm.losses.mlm import mlm_loss
from jaxlm.objectives.base import Objective, Prepared, SplitData
from jaxlm.objectives.masked import describe, masked_example

PACKINGS = ("full_sentences", "doc_sentences")


def sentence_pieces(sentences: Sequence[Sequence[np.ndarray]], body: int) -> np.ndarray:
    """[n, 4] int64 (document, sentence, start, end): every sentence, those longer than `body` cut into pieces."""
    doc, sent, length = [], [], []
    for k in range(len(sentences)):
        lengths = [len(s) for s in sentences[k]]
        doc += [k] * len(lengths)
        sent += range(len(lengths))
        length += lengths
    length = np.asarray(length, np.int64)
    per = -(-length // body)
    which = np.repeat(np.arange(len(length)), per)
    start = (np.arange(len(which)) - np.repeat(np.cumsum(per) - per, per)) * body
    end = np.minimum(start + body, length[which])
    return np.stack([np.asarray(doc, np.int64)[which], np.asarray(sent, np.int64)[which], start, end], 1)


def pack_rows(pieces: np.ndarray, body: int, cross_documents: bool) -> np.ndarray:
    """Row boundaries (indices into `pieces`, n_rows + 1): greedy, a [SEP] costing one token between documents."""
    bounds, used = [0], 0
    for i in range(len(pieces)):
        n = int(pieces[i, 3] - pieces[i, 2])
        new_doc = i > bounds[-1] and pieces[i, 0] != pieces[i - 1, 0]
        if i > bounds[-1] and ((new_doc and not cross_documents) or used + new_doc + n > body):
            bounds.append(i)
            used, new_doc = 0, False
        used += new_doc + n
    if len(pieces):
        bounds.append(len(pieces))
    return np.asarray(bounds, np.int64)


class SentenceRows:
    """Row i = [CLS] + its sentences (a [SEP] between documents) + [SEP], padded to T (random access)."""

    def __init__(
        self,
        sentences: Sequence[Sequence[np.ndarray]],
        seq_len: int,
        cross_documents: bool,
        segment_mask: bool,
        ids: SpecialIds = JAXLM_IDS,
    ):
        self.sentences, self.seq_len, self.segment_mask, self.ids = sentences, seq_len, segment_mask, ids
        self.pieces = sentence_pieces(sentences, seq_len - 2)
        self.bounds = pack_rows(self.pieces, seq_len - 2, cross_documents)

    def __len__(self) -> int:
        return max(len(self.bounds) - 1, 0)

    def __getitem__(self, i: int) -> dict:
        ids, seg, docs = [self.ids.cls], [1], {}  # seg: 1 + the index of the row's document each token belongs to
        for k, s, lo, hi in self.pieces[self.bounds[int(i)] : self.bounds[int(i) + 1]].tolist():
            if k not in docs:
                docs[k] = self.sentences[k]
                if len(docs) > 1:  # a [SEP] between two documents opens the next one
                    ids.append(self.ids.sep)
                    seg.append(len(docs))
            part = docs[k][s][lo:hi].tolist()
            ids += part
            seg += [len(docs)] * len(part)
        ids.append(self.ids.sep)
        seg.append(len(docs))
        n = len(ids)
        source, attention = np.full(self.seq_len, self.ids.pad, np.int32), np.zeros(self.seq_len, np.int32)
        source[:n] = ids
        attention[:n] = seg if self.segment_mask else 1
        return dict(source_ids=source, segment_ids=np.zeros(self.seq_len, np.int32), attention_mask=attention)


def prepare(split: SplitData, cfg: ml_collections.ConfigDict, tok: Tokenizer, train: bool) -> Prepared:
    """Rows of whole sentences; training masks anew each time, evaluation with fixed masks."""
    d = cfg.data
    if split.sentences is None:
        raise UserError(
            "roberta_mlm needs a token store made with sentences: load the corpus with "
            "config.data.objective=roberta_mlm"
        )
    spec = mask_spec(cfg, tok)
    rows = SentenceRows(split.sentences, d.seq_len, d.roberta_packing == "full_sentences", d.segment_mask, tok.ids)
    return Prepared(
        rows, lambda ex, rng: masked_example(ex, rng, spec), static=False, describe=lambda ex: describe(ex, tok)
    )


def check(cfg: ml_collections.ConfigDict) -> None:
    """The row and masking settings (checked with the config, before any corpus work)."""
    d = cfg.data
    if d.seq_len < 3:
        raise UserError(f"config.data.seq_len={d.seq_len} is too short for [CLS] … [SEP]: use at least 3")
    if d.roberta_packing not in PACKINGS:
        raise UserError(f"unknown config.data.roberta_packing '{d.roberta_packing}': use one of {', '.join(PACKINGS)}")
    check_masking(d)


OBJECTIVE = Objective(
    prepare=prepare,
    needs=("eos", "pad", "cls", "sep", "mask"),
    sentences=True,
    loss=mlm_loss,
    classifies=False,
    check=check,
)
