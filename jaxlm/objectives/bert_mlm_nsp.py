"""BERT pre-training: sentence pairs `[CLS] A [SEP] B [SEP]` with next-sentence labels and static masks.

Each document is split into sentences (jaxlm.data.sentences), pairs are built as google-research/bert does
(jaxlm.data.pairs), `config.data.dupe_factor` times over the training split with different pairs each time;
each copy gets its own mask that stays fixed across epochs (static masking). Token types: 0 for
`[CLS] A [SEP]`, 1 for `B [SEP]`. With `config.data.nsp=False` the pairs carry no NSP label (the loss is MLM
only: RoBERTa's SEGMENT-PAIR ablation).
"""

import ml_collections
import numpy as np

from jaxlm.data.masking import check_masking, mask_spec
from jaxlm.data.pairs import Pair, document_pairs
from jaxlm.data.special_tokens import SpecialIds
from jaxlm.data.tokenizer import JAXLM_IDS, Tokenizer
from jaxlm.errors import UserError
from jaxlm.losses.mlm import mlm_loss
from jaxlm.objectives.base import Objective, Prepared, SplitData
from jaxlm.objectives.masked import describe, masked_example


class PairExamples:
    """Clean pair examples as fixed-shape arrays (random access); `meta` rows say where each pair came from:
    (doc, A's first sentence, A's end, B's doc, B's first sentence, B's end)."""

    def __init__(self, pairs: list[Pair], seq_len: int, nsp: bool, ids: SpecialIds = JAXLM_IDS):
        self.seq_len, self.nsp = seq_len, nsp
        self.ids = np.full((len(pairs), seq_len), ids.pad, np.int32)
        self.len_a = np.array([len(p.a) for p in pairs], np.int32)
        self.lengths = np.array([len(p.a) + len(p.b) + 3 for p in pairs], np.int32)
        self.is_next = np.array([p.is_next for p in pairs], np.int32)
        self.meta = np.array([(p.doc, *p.a_sents, p.b_doc, *p.b_sents) for p in pairs], np.int32).reshape(-1, 6)
        for row, p in zip(self.ids, pairs):
            seq = np.concatenate([[ids.cls], p.a, [ids.sep], p.b, [ids.sep]])
            row[: len(seq)] = seq

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict:
        source = self.ids[int(i)]
        real = (np.arange(self.seq_len) < self.lengths[int(i)]).astype(np.int32)
        types = (np.arange(self.seq_len) >= self.len_a[int(i)] + 2).astype(np.int32) * real
        ex = dict(source_ids=source, segment_ids=types, attention_mask=real)
        if self.nsp:
            ex["nsp_label"] = self.is_next[int(i)]
        return ex


def make_pairs(docs: list[list[np.ndarray]], seq_len: int, short_seq_prob: float, copies: int, seed: int) -> list[Pair]:
    """`copies` passes of BERT's pair construction over all documents, each with its own randomness."""
    pairs = []
    for copy in range(copies):
        rng = np.random.default_rng([seed, copy])
        for d in range(len(docs)):
            pairs += document_pairs(docs, d, seq_len - 3, short_seq_prob, rng)
    return pairs


def prepare(split: SplitData, cfg: ml_collections.ConfigDict, tok: Tokenizer, train: bool) -> Prepared:
    """Training: dupe_factor copies with static masks; evaluation: one copy, masks fixed by the eval seed."""
    d = cfg.data
    if split.sentences is None:
        raise UserError(
            "bert_mlm_nsp needs a token store made with sentences: load the corpus with "
            "config.data.objective=bert_mlm_nsp"
        )
    spec = mask_spec(cfg, tok)
    pairs = make_pairs(split.sentences, d.seq_len, d.short_seq_prob, d.dupe_factor if train else 1, cfg.train.seed)
    return Prepared(
        PairExamples(pairs, d.seq_len, d.nsp, tok.ids),
        lambda ex, rng: masked_example(ex, rng, spec),
        static=True,
        describe=lambda ex: describe(ex, tok),
    )


def check(cfg: ml_collections.ConfigDict) -> None:
    """The pair and masking settings, and NSP labels need the model's NSP head (checked before any corpus work; a
    pretrained model's head is fixed)."""
    d = cfg.data
    if d.seq_len < 5:
        raise UserError(f"config.data.seq_len={d.seq_len} is too short for [CLS] A [SEP] B [SEP]: use at least 5")
    if not 0.0 <= d.short_seq_prob <= 1.0:
        raise UserError(f"config.data.short_seq_prob={d.short_seq_prob} must be in [0, 1]")
    if d.dupe_factor < 1:
        raise UserError(f"config.data.dupe_factor={d.dupe_factor} must be ≥ 1: pass e.g. --config.data.dupe_factor=5")
    check_masking(d)
    if cfg.data.nsp and not cfg.model.nsp_head:
        fix = (
            "--config.data.objective=roberta_mlm or --config.data.nsp=False"
            if cfg.finetune.init_from
            else "--config.model.nsp_head=True or --config.data.nsp=False"
        )
        raise UserError(f"config.data.nsp=True needs the NSP head, which this model lacks: set {fix}")


OBJECTIVE = Objective(
    prepare=prepare,
    needs=("eos", "pad", "cls", "sep", "mask"),
    sentences=True,
    loss=mlm_loss,
    classifies=False,
    check=check,
)
