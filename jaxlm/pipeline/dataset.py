"""From `config.data` to model-ready batches: token store (memory-mapped) → objective → grain.

Training batches come from a grain pipeline (the objective's examples, seeded shuffle that changes every
epoch, per-process sharding, the objective's random transform, batching; its position is checkpointable);
evaluation walks a split once, in order, with a fixed seed, padding the last batch with all-zero examples.
A mixture (config.data.mixture) is a corpus per source, their training streams mixed by jaxlm/pipeline/mixture.py.
"""

import os
from dataclasses import dataclass, field

import grain
import ml_collections
import numpy as np

from jaxlm.data.packing import TokenStream
from jaxlm.data.prepare import ensure_store, given_tokenizer
from jaxlm.data.progress import Progress
from jaxlm.data.store import StoredDocuments, TokenStore
from jaxlm.data.store_format import TOKENIZER_FILE
from jaxlm.data.tokenizer import Tokenizer
from jaxlm.errors import UserError
from jaxlm.io import atomic_write
from jaxlm.objectives import objective
from jaxlm.objectives.base import HOST_ONLY_KEYS, Prepared, SplitData
from jaxlm.pipeline.mixture import load_parts, mixed, source_seed


@dataclass
class Corpus:
    tokenizer: Tokenizer
    splits: dict[str, SplitData]  # a mixture's: val and test, every source's documents one after another
    store: TokenStore | None  # a mixture's: None (each source has its own)
    parts: dict[str, "Corpus"] = field(default_factory=dict)  # a mixture's sources by entry name, in order


def require_roles(cfg: ml_collections.ConfigDict, workdir: str | None) -> None:
    """UserError when the given tokenizer (the workdir's or config.data.tokenizer_path) lacks a role the objective
    needs: checked before anything is tokenized (`train` and `data prepare` both call this)."""
    given = given_tokenizer(cfg.data, workdir)
    if given is not None:
        given.require(objective(cfg.data.objective).needs, cfg.data.objective)


def load_corpus(cfg: ml_collections.ConfigDict, workdir: str | None = None, progress: bool = True) -> Corpus:
    """Every split of the config's token store (built on first use, see jaxlm/data/prepare.py), memory-mapped;
    the store's tokenizer is copied into the workdir, where later runs (resume, fine-tune) find it. A mixture:
    a corpus per entry (`load_parts`), all with one tokenizer."""
    require_roles(cfg, workdir)
    if cfg.data.mixture:
        parts = load_parts(cfg, workdir, lambda c, w: load_corpus(c, w, progress), progress)
        tok = next(iter(parts.values())).tokenizer
        held_out = HeldOut({s: joined([p.splits[s] for p in parts.values()]) for s in ("val", "test")})
        return Corpus(tok, held_out, None, parts)
    record = objective(cfg.data.objective)
    store = ensure_store(cfg, workdir, sentences=record.sentences, progress=progress)
    tok = store.tokenizer()
    tok.require(record.needs, cfg.data.objective)
    tok.require_vocab_size(cfg.model.vocab_size)
    saved = os.path.join(workdir, TOKENIZER_FILE) if workdir else None
    if saved and not os.path.exists(saved):
        atomic_write(saved, tok.to_bytes())
    splits = {}
    for name, s in store.splits.items():
        splits[name] = SplitData(StoredDocuments(s, tok.decode), s.stream(), store.labels, s.sentences())
    return Corpus(tok, splits, store)


class HeldOut(dict):
    """A mixture's splits: val and test (its training split is read source by source, never joined)."""

    def __missing__(self, split: str):
        raise UserError(f"the {split} split of a mixture is read source by source: use a single-source config")


def joined(splits: list[SplitData]) -> SplitData:
    """Splits of several stores one after another (held-out splits of a mixture: small, so copied)."""
    sizes = np.cumsum([0] + [len(s.docs) for s in splits])
    stream = TokenStream(
        np.concatenate([s.stream.tokens[0 : len(s.stream)] for s in splits]).astype(np.int32),
        np.concatenate([s.stream.segments[0 : len(s.stream)] + n for s, n in zip(splits, sizes)]).astype(np.int32),
    )
    sentences = None if splits[0].sentences is None else [x for s in splits for x in s.sentences]
    return SplitData([d for s in splits for d in s.docs], stream, (), sentences)


def prepare(corpus: Corpus, cfg: ml_collections.ConfigDict, split: str, train: bool) -> Prepared:
    """The configured objective applied to one split."""
    name = cfg.data.objective
    prepared = objective(name).prepare(corpus.splits[split], cfg, corpus.tokenizer, train)
    if train and len(prepared.examples) < 1:
        raise UserError(
            f"the {split} split yields no '{name}' examples of config.data.seq_len={cfg.data.seq_len}: "
            "add text or lower the sequence length"
        )
    return prepared


def example_dataset(prepared: Prepared, seed: int) -> grain.MapDataset:
    """The infinite stream of transformed training examples, shuffled anew each epoch (same on every process)."""
    ds = grain.MapDataset.source(prepared.examples)
    n = len(prepared.examples)
    if prepared.transform and prepared.static:
        # grain passes maps below `repeat` the stream position (epoch·n + i), so the example's index is that
        # position mod n: the same randomness in every epoch.
        ds = ds.map_with_index(lambda i, ex: prepared.transform(ex, np.random.default_rng([seed, i % n])))
    ds = ds.shuffle(seed=seed).repeat(None)
    if prepared.transform and not prepared.static:  # keyed by the position in the stream: new every epoch
        ds = ds.random_map(lambda ex, rng: prepared.transform(ex, rng), seed=seed)
    return ds


def training_splits(corpus: Corpus, cfg: ml_collections.ConfigDict) -> dict[str, Prepared]:
    """The training split of each source under the objective: a mixture's by entry name, else {'': the split}."""
    parts = corpus.parts or {"": corpus}
    return {name: prepare(part, cfg, "train", train=True) for name, part in parts.items()}


def training_examples(
    splits: dict[str, Prepared], cfg: ml_collections.ConfigDict, tagged: bool = False
) -> grain.MapDataset:
    """The training stream of `training_splits`: one source's examples, or a mixture's sources mixed by weight;
    `tagged`: (source index, example) pairs, which say where each row came from."""
    streams = []
    for i, (name, prepared) in enumerate(splits.items()):
        ds = example_dataset(prepared, source_seed(cfg.train.seed, name) if name else cfg.train.seed)
        streams.append(ds.map(lambda ex, i=i: (i, ex)) if tagged else ds)
    return mixed(streams, cfg) if cfg.data.mixture else streams[0]


def train_batches(
    prepared: Prepared, local_batch_size: int, seed: int, process_index: int = 0, process_count: int = 1
) -> grain.IterDataset:
    """`batched` over one prepared split's examples."""
    return batched(example_dataset(prepared, seed), local_batch_size, process_index, process_count)


def batched(
    examples: grain.MapDataset, local_batch_size: int, process_index: int = 0, process_count: int = 1
) -> grain.IterDataset:
    """This process's rows of every global batch of `examples` (`training_examples`): global batch k is stream
    elements [kB, (k+1)B) and process p reads only its contiguous block of them, so the global batches do not
    depend on the number of processes."""
    ds = examples.batch(local_batch_size, drop_remainder=True)[process_index::process_count]
    return ds.to_iter_dataset(grain.ReadOptions(num_threads=1, prefetch_buffer_size=4))


def eval_limit(prepared: Prepared, cfg: ml_collections.ConfigDict, during_training: bool) -> int:
    """The batches an evaluation of `prepared` scores (0 = all): train.eval_batches, or during training when it
    is 0, the batches that hold about train.eval_tokens tokens (0 when they cover the split)."""
    t = cfg.train
    if t.eval_batches or not during_training or not t.eval_tokens:
        return t.eval_batches
    n = -(-t.eval_tokens // (t.eval_batch_size * cfg.data.seq_len))
    return 0 if n >= -(-len(prepared.examples) // t.eval_batch_size) else n


def eval_batches(
    prepared: Prepared,
    batch_size: int,
    max_batches: int = 0,
    seed: int = 0,
    progress: bool = False,
    part: tuple[int, int] = (0, 1),
):
    """Every example of a split once (or its first `max_batches` batches), in order, each transformed with a
    fixed per-example rng; `part` (p, n): only process p's contiguous block of batch_size / n rows of each batch
    is read (as `train_batches` reads them); `progress`: a bar in a terminal, log lines without one."""
    n = len(prepared.examples)
    n_batches = -(-n // batch_size)
    if max_batches:
        n_batches = min(n_batches, max_batches)
    local = batch_size // part[1]
    pad = None
    bar = Progress("eval", total=n_batches, unit="batches", enabled=progress)
    for b in range(n_batches):
        first = b * batch_size + part[0] * local
        rows = [prepared.example(i, np.random.default_rng([seed, i])) for i in range(first, min(n, first + local))]
        if pad is None:  # a process whose block of the last batch is all padding still needs the shapes
            template = rows[0] if rows else prepared.example(0, np.random.default_rng([seed, 0]))
            pad = {k: np.zeros_like(v) for k, v in template.items()}
        rows += [pad] * (local - len(rows))
        yield {k: np.stack([r[k] for r in rows]) for k in rows[0]}
        bar.update(1)  # once the consumer has scored it
    bar.close()


def device_keys(batch: dict) -> dict:
    """The arrays of a batch that the model reads."""
    return {k: v for k, v in batch.items() if k not in HOST_ONLY_KEYS}
