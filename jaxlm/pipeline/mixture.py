"""A weighted mixture of sources as one grain dataset of training examples (config.data.mixture, docs/DATA.md).

Each source is its own shuffled, repeated example stream (`example_dataset`, seeded by train.seed and the entry's
name). Constant weights mix them with grain's `MapDataset.mix`: a fixed interleave in which every source holds its
share of every stretch of rows. A schedule (config.data.mixture_schedule_steps) mixes them through grain's
`select_from_datasets` with `ScheduledMix`, which moves the shares linearly from the entries' weights to their
final weights. Both are random-access maps of the row position, so the pipeline's checkpointed position resumes
them exactly, as it does a single source.
"""

import sys
import zlib
from collections.abc import Callable, Sequence

import grain
import ml_collections
import numpy as np

from jaxlm.config.mixture import MixtureEntry, mixture_entries
from jaxlm.data.mixture_tokenizer import mixture_tokenizer_path
from jaxlm.data.sources import fingerprint

MIN_BLOCK = 1024  # rows per block of a scheduled mixture (more when a share is below 2 / MIN_BLOCK)


def source_seed(seed: int, name: str) -> int:
    """The shuffle seed of a mixture's source: train.seed and the entry's name (reordering entries keeps it)."""
    return (seed * 1_000_003 + zlib.crc32(name.encode())) % 2**32


def shares(weights: Sequence[float]) -> np.ndarray:
    """Weights → fractions of the rows that sum to 1."""
    w = np.asarray(weights, np.float64)
    return w / w.sum()


class ScheduledMix(grain.transforms.DatasetSelectionMap):
    """Row k → (source, index in that source) with shares moving linearly from `start` to `end` over the first
    `rows` rows, then staying at `end`.

    Source i's rows among the first r number about T_i(r), the integral of its share; the counts are fixed at
    block boundaries (floors of the cumulative sums over sources, so they add up to r), and within a block each
    source's rows are spread evenly. Every count is closed-form in r: no state, exact resumption."""

    def __init__(self, start: Sequence[float], end: Sequence[float], rows: int):
        self.start, self.end, self.rows = shares(start), shares(end), rows
        self.block = max(MIN_BLOCK, int(np.ceil(2 / min(self.start.min(), self.end.min()))))
        self._cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return sys.maxsize

    def share(self, r: float) -> np.ndarray:
        """The shares at row r."""
        return self.start + (self.end - self.start) * min(r / self.rows, 1.0)

    def expected(self, r: int) -> np.ndarray:
        """T(r): each source's expected rows among the first r."""
        a = min(r, self.rows)
        t = self.start * a + (self.end - self.start) * a * a / (2 * self.rows)
        return t + self.end * max(r - self.rows, 0)

    def counts(self, r: int) -> np.ndarray:
        """Each source's rows among the first r (r a block boundary): differences of the floored cumulative sums."""
        bounds = np.floor(np.cumsum(self.expected(r))).astype(np.int64)
        bounds[-1] = r
        return np.diff(bounds, prepend=0)

    def _block(self, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(source of each row of block b, its index among the block's rows of that source, counts before b)."""
        if b not in self._cache:
            before = self.counts(b * self.block)
            n = self.counts((b + 1) * self.block) - before
            keys = np.concatenate([(np.arange(c) + 0.5) / c for c in n])
            order = np.argsort(keys, kind="stable")
            source = np.repeat(np.arange(len(n)), n)[order]
            rank = np.concatenate([np.arange(c) for c in n])[order]
            if len(self._cache) > 8:
                self._cache.clear()
            self._cache[b] = (source, rank, before)
        return self._cache[b]

    def __getitem__(self, index: int) -> tuple[int, int]:
        b, j = divmod(int(index), self.block)
        source, rank, before = self._block(b)
        i = int(source[j])
        return i, int(before[i] + rank[j])


def mixed(parents: Sequence[grain.MapDataset], cfg: ml_collections.ConfigDict) -> grain.MapDataset:
    """The sources' example streams (in config.data.mixture's order) mixed by the config's weights or schedule."""
    entries = mixture_entries(cfg.data)
    weights = [e.weight for e in entries]
    if not cfg.data.mixture_schedule_steps:
        return grain.MapDataset.mix(parents, weights)
    rows = cfg.data.mixture_schedule_steps * cfg.train.batch_size
    selection = ScheduledMix(weights, [e.final_weight for e in entries], rows)
    return grain.MapDataset.select_from_datasets(parents, selection)


def entry_config(cfg: ml_collections.ConfigDict, entry: MixtureEntry, tokenizer_path: str) -> ml_collections.ConfigDict:
    """The single-source config of one entry: config.data with its source (and the mixture's tokenizer)."""
    out = ml_collections.ConfigDict(cfg.to_dict())
    out.data.update(source=entry.source, mixture=[], mixture_schedule_steps=0, tokenizer_path=tokenizer_path)
    return out


def load_parts(cfg: ml_collections.ConfigDict, workdir: str | None, load: Callable, progress: bool) -> dict:
    """Every entry's corpus by name, `load(config, workdir)` loading one, all tokenized with the mixture's
    tokenizer (`mixture_tokenizer_path`); every source is looked at before anything is built."""
    entries = mixture_entries(cfg.data)
    for e in entries:
        fingerprint(e.source, cfg.data.text_field, cfg.data.label_field)  # UserError for a missing source
    path = mixture_tokenizer_path(cfg, workdir, progress)
    return {e.name: load(entry_config(cfg, e, path), workdir if i == 0 else None) for i, e in enumerate(entries)}
