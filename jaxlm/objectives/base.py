"""What every objective is (one `Objective` record) and provides: examples of a split and a random transform.

An objective's `prepare(split, cfg, tokenizer)` returns a `Prepared`: an indexable sequence of deterministic
examples plus an optional transform `(example, np.random.Generator) -> dict of fixed-shape numpy arrays`.
With `static=True` the transform's randomness is tied to the example (the same every epoch, like BERT's
pre-computed masks); otherwise it is drawn anew every time the example is seen (RoBERTa's dynamic masking).
Every array that the loss reads must be weighted so that an all-zeros example contributes nothing (padding).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ml_collections
import numpy as np

from jaxlm.data.corpus import Document
from jaxlm.data.packing import TokenStream

HOST_ONLY_KEYS = ("source_ids",)  # kept for `jaxlm data preview`, never sent to the device


@dataclass
class SplitData:
    """One split: its documents (text, title, label), all of them packed into one stream (each document followed
    by eos), the label vocabulary (the sorted labels of the documents of *every* split, so label ids agree across
    splits), and, for objectives that need sentences, each document's non-empty tokenized sentences."""

    docs: Sequence[Document]
    stream: TokenStream
    labels: tuple[str, ...] = ()
    sentences: Sequence[Sequence[np.ndarray]] | None = None


@dataclass
class Prepared:
    examples: Sequence[Any]
    transform: Callable[[Any, np.random.Generator], dict] | None = None
    static: bool = True
    bits_per_byte: bool = False  # targets are the text itself, so bits per byte is meaningful
    describe: Callable[[dict], dict] = field(default=lambda ex: {})  # extra decoded fields for `data preview`

    def example(self, index: int, rng: np.random.Generator) -> dict:
        ex = self.examples[index]
        return self.transform(ex, rng) if self.transform else ex


@dataclass(frozen=True, kw_only=True)
class Objective:
    """Everything the core needs to know about one objective; every field is required (no defaults), and the
    registry derives its tables (which families it trains, its loss, its tokenizer roles) from these records."""

    prepare: Callable[..., Prepared]  # (split: SplitData, cfg, tokenizer, train: bool) -> Prepared
    needs: tuple[str, ...]  # the tokenizer roles its examples are built from (jaxlm/data/special_tokens.py)
    sentences: bool  # its token store is tokenized sentence by sentence (split.sentences)
    loss: Callable  # (apply_fn, params, batch, rng, train, norms=None) -> (mean loss, dict of sums);
    #                                    the families whose `losses` hold it are the ones it trains
    classifies: bool  # trains a classifier head: config.model.num_labels > 0 exactly then
    check: Callable[[ml_collections.ConfigDict], None] | None  # UserError for impossible settings of its own,
    #                                    run when the config is validated (None: it has no settings of its own)
