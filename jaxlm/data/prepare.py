"""`jaxlm data prepare`: stream a source once into a token store, in parallel, atomically; find or build the store
a config needs (`ensure_store`), cached under a fingerprint of (source, split settings, tokenizer).

Three passes over the source, none holding it in memory: a scan (each document's label and split), a seeded
sample of the training documents for the tokenizer (skipped when the tokenizer is given or already trained
for these settings), and the tokenization itself, by `workers` processes in source order (the store's bytes do
not depend on the number of workers). The store is written into a sibling `*.partial-*` folder that is renamed
into place after its manifest; an interrupted or failed prepare leaves no store, and the next one starts over.
"""

from __future__ import annotations

import array
import collections
import errno
import fcntl
import glob
import hashlib
import json
import multiprocessing
import os
import shutil
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import ml_collections
import numpy as np

from jaxlm.data.corpus import SPLITS, hash_codes, hash_uniform, split_codes
from jaxlm.data.progress import Progress, duration, stage
from jaxlm.data.sentences import split_sentences
from jaxlm.data.sources import fingerprint, iter_documents, provenance
from jaxlm.data.store import SplitWriter, TokenStore, token_dtype
from jaxlm.data.store_format import FORMAT, MANIFEST, SHARD_TOKENS, TOKENIZER_FILE, VERSION, is_store_folder
from jaxlm.data.store_verify import new_hash, stamp
from jaxlm.data.tokenizer import Tokenizer, TokenizerSpec, default_cache_dir, effective_coverage, train_tokenizer
from jaxlm.data.tokenizer_hf import train_tokenizer_json
from jaxlm.errors import UserError
from jaxlm.io import atomic_write

BATCH_BYTES = 1 << 20  # text per worker task
KEEP_BYTES = 1 << 26  # a source up to this size is read once, kept in memory for the later passes and tokenized
# in this process (starting workers would cost more than they save)
SPLIT_MODES = ("count", "hash")
MIN_HELD_OUT_BYTES = 100_000  # a held-out split with less text than this is warned about
CACHE_REBUILD = "`jaxlm data prepare --config FILE --force` (the same overrides as the run)"


def cache_root() -> str:
    """$JAXLM_CACHE/stores (beside the tokenizer cache)."""
    return os.path.join(os.path.dirname(default_cache_dir()), "stores")


@dataclass(frozen=True)
class Plan:
    """What a store is made of, without the tokenizer: the source's fingerprint and the split settings."""

    source: str
    text_field: str
    label_field: str
    source_fingerprint: dict
    settings: dict  # split mode, counts or fractions, seed, stratify, sentences

    @classmethod
    def from_config(cls, data: ml_collections.ConfigDict, sentences: bool) -> Plan:
        if data.split not in SPLIT_MODES:
            raise UserError(
                f"config.data.split='{data.split}' is unknown: use 'count' (val_docs/test_docs whole "
                "documents) or 'hash' (val_fraction/test_fraction by a hash of each document)"
            )
        if data.split == "hash":
            if not (0 <= data.val_fraction and 0 <= data.test_fraction and data.val_fraction + data.test_fraction < 1):
                raise UserError(
                    f"config.data.val_fraction={data.val_fraction} and test_fraction={data.test_fraction} "
                    "must be ≥ 0 and sum to less than 1"
                )
            if data.val_target_docs < 0 or data.test_target_docs < 0:
                raise UserError(
                    f"config.data.val_target_docs={data.val_target_docs} and test_target_docs="
                    f"{data.test_target_docs} must be ≥ 0 (0 = use val_fraction / test_fraction)"
                )
            split = dict(split="hash", val_fraction=data.val_fraction, test_fraction=data.test_fraction)
            if data.val_target_docs or data.test_target_docs:  # the fractions these many documents make
                split.update(val_target_docs=data.val_target_docs, test_target_docs=data.test_target_docs)
        else:
            split = dict(split="count", val_docs=data.val_docs, test_docs=data.test_docs, stratify=data.stratify)
        settings = dict(split, split_seed=data.split_seed, sentences=sentences)
        return cls(
            data.source,
            data.text_field,
            data.label_field,
            fingerprint(data.source, data.text_field, data.label_field),
            settings,
        )

    def documents(self) -> Iterator:
        return iter_documents(self.source, self.text_field, self.label_field)

    def key(self, tokenizer_sha: str = "") -> str:
        """The cache key: the store's (with the tokenizer's sha256) or its trained tokenizer's (without)."""
        blob = json.dumps(
            dict(
                format=FORMAT,
                version=VERSION,
                source=self.source_fingerprint,
                settings=self.settings,
                tokenizer=tokenizer_sha,
            ),
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:32]


@dataclass
class Scan:
    """Pass 1: every document's split code, label index and size."""

    @property
    def train_bytes(self) -> int:
        return int(self.sizes[self.codes == 0].sum())

    codes: np.ndarray  # uint8 split code per document
    labels: np.ndarray  # uint16 per document, index into `names`
    names: tuple[str, ...]
    sizes: np.ndarray  # UTF-8 bytes per document
    kept: list | None  # the documents themselves, for a small source (KEEP_BYTES)

    def documents(self, plan: Plan) -> Iterator:
        """The source's documents again (from memory for a small source)."""
        return iter(self.kept) if self.kept is not None else plan.documents()


def scan(plan: Plan, progress: bool) -> Scan:
    labels, sizes, hashed = array.array("H"), array.array("q"), array.array("d")
    index: dict[str, int] = {}
    s = plan.settings
    kept, total = [], 0
    bar = Progress("scan", unit="docs", enabled=progress)
    for doc in plan.documents():
        bar.update(1)
        labels.append(index.setdefault(doc.label, len(index)))
        sizes.append(len(doc.text.encode("utf-8", "surrogatepass")))
        total += sizes[-1]
        if kept is not None:
            kept.append(doc)
            if total > KEEP_BYTES:
                kept = None
        if s["split"] == "hash":
            hashed.append(hash_uniform(doc.text, s["split_seed"]))
    bar.close()
    if not labels:
        raise UserError(f"corpus '{plan.source}' is empty (no non-whitespace text): give a source with some text")
    names = tuple(sorted(index))
    remap = np.array([names.index(n) for n in index], np.uint16)
    label_ids = remap[np.frombuffer(labels, np.uint16)]
    if s["split"] == "hash":
        codes = hash_codes(np.frombuffer(hashed, np.float64), *hash_fractions(s, len(label_ids)))
    else:
        codes = split_codes(
            [names[i] for i in label_ids], s["val_docs"], s["test_docs"], s["split_seed"], s["stratify"]
        )
    sizes = np.frombuffer(sizes, np.int64)
    if not sizes[codes == 0].sum():
        raise UserError(
            f"the split of '{plan.source}' leaves no training documents: lower the held-out fractions or counts"
        )
    return Scan(codes, label_ids, names, sizes, kept)


def hash_fractions(settings: dict, n_docs: int) -> tuple[float, float]:
    """The val and test fractions of a hash split: the target numbers of documents over the corpus's when set."""
    fractions = [settings[f"{k}_fraction"] for k in ("val", "test")]
    for i, k in enumerate(("val", "test")):
        if settings.get(f"{k}_target_docs"):
            fractions[i] = settings[f"{k}_target_docs"] / n_docs
    if sum(fractions) >= 1:
        raise UserError(f"config.data.val_target_docs and test_target_docs hold out all {n_docs} documents: lower them")
    return fractions[0], fractions[1]


def warn_small_splits(store: TokenStore) -> None:
    """A warning line for each held-out split with less than MIN_HELD_OUT_BYTES of text: its scores are noise."""
    hash_split = store.manifest["settings"]["split"] == "hash"
    for name in ("val", "test"):
        entry = store.splits[name].entry
        if 0 < entry["bytes"] < MIN_HELD_OUT_BYTES:
            fix = f"config.data.{name}_target_docs" if hash_split else f"config.data.{name}_docs"
            print(
                f"jaxlm: warning: the {name} split holds {entry['docs']} documents, {entry['bytes']:,} bytes of "
                f"text (less than {MIN_HELD_OUT_BYTES:,}): its scores will be noisy; raise {fix}",
                file=sys.stderr,
            )


def tokenizer_sample(plan: Plan, sc: Scan, sample_bytes: int, seed: int, progress: bool = False) -> list[str]:
    """Pass 2: the tokenizer's training text, in source order: every training document when they fit in
    `sample_bytes`, else a seeded uniform sample of them cut to exactly `sample_bytes` (the last one chosen cut
    short: a single huge document cannot exceed the bound)."""
    train = np.flatnonzero(sc.codes == 0)
    budget = {}
    if sc.train_bytes > sample_bytes:
        order = np.random.default_rng([seed, 7]).permutation(train)
        total = np.cumsum(sc.sizes[order])
        k = int(np.searchsorted(total, sample_bytes))
        budget = {int(order[k]): sample_bytes - int(total[k - 1] if k else 0)}
        train = np.sort(order[: k + 1])
    chosen, texts = set(train.tolist()), []
    bar = Progress("tokenizer sample", total=int(train[-1]) + 1, unit="docs", enabled=progress and sc.kept is None)
    for i, doc in enumerate(sc.documents(plan)):
        bar.update(1)
        if i in chosen:
            text = doc.text
            if i in budget:
                text = text.encode("utf-8", "surrogatepass")[: budget[i]].decode("utf-8", "ignore")
            texts.append(text)
        if len(texts) == len(chosen):
            break
    bar.close()
    return texts


# --- tokenization workers -------------------------------------------------------------------------------------

_worker: dict = {}


def _init_worker(tokenizer_bytes: bytes, specials: str, sentences: bool) -> None:
    _worker.update(tok=Tokenizer.from_bytes(tokenizer_bytes, specials), sentences=sentences)


def _init_pool_worker(*init_args) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent ends its workers
    _init_worker(*init_args)


def _tokenize(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """A batch of documents → (all ids, ids per document incl. eos, sentence lengths, sentences per document)."""
    tok = _worker["tok"]
    if not _worker["sentences"]:
        docs = tok.encode_batch(texts, num_threads=1)
        ids = [np.append(np.asarray(d, np.int32), np.int32(tok.ids.eos)) for d in docs]
        return np.concatenate(ids), np.array([len(x) for x in ids], np.int64), None, None
    spans = [split_sentences(t) for t in texts]
    flat = [np.asarray(x, np.int32) for x in tok.encode_batch([s for doc in spans for s in doc], num_threads=1)]
    lengths = np.array([len(x) for x in flat], np.int64)
    per_doc = np.array([len(doc) for doc in spans], np.int64)
    bounds = np.concatenate([[0], np.cumsum(per_doc)])
    eos = np.array([tok.ids.eos], np.int32)
    ids = [np.concatenate(flat[bounds[d] : bounds[d + 1]] + [eos]) for d in range(len(texts))]
    return np.concatenate(ids), np.array([len(x) for x in ids], np.int64), lengths, per_doc


def _batches(documents: Iterator) -> Iterator[list]:
    batch, size = [], 0
    for i, doc in enumerate(documents):
        batch.append((i, doc))
        size += len(doc.text)
        if size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _tokenized(plan: Plan, sc: Scan, tok: Tokenizer, workers: int) -> Iterator[tuple[list, tuple]]:
    """(batch, its tokenization) in source order; at most 2 × workers batches in flight."""
    if workers <= 1:
        _init_worker(tok.to_bytes(), tok.specials, plan.settings["sentences"])
        for batch in _batches(sc.documents(plan)):
            yield batch, _tokenize([d.text for _, d in batch])
        return
    with _worker_pool(workers, (tok.to_bytes(), tok.specials, plan.settings["sentences"])) as pool:
        pending: collections.deque = collections.deque()
        for batch in _batches(sc.documents(plan)):
            pending.append((batch, pool.apply_async(_tokenize, ([d.text for _, d in batch],))))
            if len(pending) >= 2 * workers:
                b, r = pending.popleft()
                yield b, r.get()
        while pending:
            b, r = pending.popleft()
            yield b, r.get()


@contextmanager
def _worker_pool(workers: int, init_args: tuple):
    """Spawned workers (never forked: the parent may hold JAX's threads) that do not re-import the caller's
    script: `__main__` is hidden while they start, so a script without a `__main__` guard cannot recurse."""
    main = sys.modules["__main__"]
    hidden = {k: main.__dict__.pop(k) for k in ("__file__", "__spec__") if k in main.__dict__}
    try:
        main.__spec__ = None
        pool = multiprocessing.get_context("spawn").Pool(workers, _init_pool_worker, init_args)
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(hidden)
    with pool:
        yield pool


# --- building -------------------------------------------------------------------------------------------------


def write_store(out: str, plan: Plan, tok: Tokenizer, sc: Scan, workers: int, progress: bool) -> str:
    """Pass 3 into `out` (a store, an empty folder or nothing yet), atomically: a partial folder renamed into place
    after its manifest. The caller holds the lock of `out`, so any partial folder of `out` left is stale."""
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    remove_stale(out)
    tmp = f"{out}.partial-{uuid.uuid4().hex[:8]}"
    try:
        manifest = _write(tmp, plan, tok, sc, workers, progress, SHARD_TOKENS)
        _put_in_place(tmp, out)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if e.errno == errno.ENOSPC:
            raise UserError(
                f"the disk is full while writing the token store '{out}' (the partial store was removed): "
                "free space or set $JAXLM_CACHE / --out to a bigger disk"
            ) from None
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    stamp(out, manifest)  # its writer vouches for it: the first opening need not read it all again
    return out


def remove_stale(out: str) -> None:
    """Remove what a killed prepare of `out` left: `out.partial-*` folders, and `out.old-*` (a replaced store:
    put back when `out` itself is missing, i.e. the kill fell between the two renames of `_put_in_place`)."""
    for stale in glob.glob(f"{glob.escape(out)}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)
    for old in glob.glob(f"{glob.escape(out)}.old-*"):
        if os.path.lexists(out):
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(old, out)


def _put_in_place(tmp: str, out: str) -> None:
    """Rename the finished store `tmp` to `out`; an existing store there is moved aside first, then removed (an
    empty folder is replaced by the rename itself)."""
    if os.path.isdir(out) and os.listdir(out):
        old = f"{out}.old-{uuid.uuid4().hex[:8]}"
        os.rename(out, old)
        os.rename(tmp, out)
        shutil.rmtree(old)
    else:
        os.rename(tmp, out)


def _write(tmp: str, plan: Plan, tok: Tokenizer, sc: Scan, workers: int, progress: bool, shard_tokens: int) -> dict:
    """The store's files in `tmp`, its manifest last; returns the manifest."""
    os.makedirs(tmp)
    dtype = token_dtype(tok.vocab_size)
    sentences = plan.settings["sentences"]
    writers = [SplitWriter(os.path.join(tmp, name), dtype, shard_tokens, sentences) for name in SPLITS]
    bar = Progress("tokenize", total=int(sc.sizes.sum()), unit="B", enabled=progress)
    n_docs = 0
    for batch, (ids, lengths, sent_lengths, per_doc) in _tokenized(plan, sc, tok, workers if sc.kept is None else 1):
        starts = np.concatenate([[0], np.cumsum(lengths)])
        sent_starts = np.concatenate([[0], np.cumsum(per_doc)]) if sentences else None
        for k, (i, doc) in enumerate(batch):
            n_bytes = int(sc.sizes[i])
            sl = sent_lengths[sent_starts[k] : sent_starts[k + 1]] if sentences else None
            source = provenance(plan.source, doc.source)  # where the source lies is the manifest's
            writers[sc.codes[i]].add(ids[starts[k] : starts[k + 1]], int(sc.labels[i]), doc.title, source, n_bytes, sl)
            bar.update(n_bytes)
        n_docs += len(batch)
        bar.set_postfix(docs=n_docs)
    bar.close()
    if n_docs != len(sc.codes):
        raise UserError(
            f"source '{plan.source}' changed while it was being prepared ({len(sc.codes)} documents, "
            f"then {n_docs}): prepare again once it is stable"
        )
    with open(os.path.join(tmp, TOKENIZER_FILE), "wb") as f:
        f.write(tok.to_bytes())
    manifest = dict(
        format=FORMAT,
        version=VERSION,
        dtype=dtype.name,
        shard_tokens=shard_tokens,
        tokenizer=dict(sha256=tok.fingerprint, vocab_size=tok.vocab_size, specials=tok.specials),
        source=plan.source_fingerprint,
        settings=plan.settings,
        labels=list(sc.names),
        checksums={TOKENIZER_FILE: new_hash(tok.to_bytes()).hexdigest()},
        splits={name: w.close() for name, w in zip(SPLITS, writers)},
    )
    with open(os.path.join(tmp, MANIFEST), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    return manifest


@contextmanager
def _locked(path: str):
    """An exclusive flock on `path` (processes sharing a cache build each store once)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def _folder_locked(folder: str):
    """An exclusive flock on an existing folder itself: no lock file is created or left behind."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# --- the store a config needs -----------------------------------------------------------------------------------


def given_tokenizer(data: ml_collections.ConfigDict, workdir: str | None) -> Tokenizer | None:
    """The workdir's tokenizer (a run's own, e.g. on resume), else config.data.tokenizer_path, else None."""
    saved = os.path.join(workdir, TOKENIZER_FILE) if workdir else None
    if saved and os.path.exists(saved):
        return Tokenizer(saved, data.tokenizer_specials)
    if data.tokenizer_path:
        return Tokenizer(data.tokenizer_path, data.tokenizer_specials)
    return None


TRAINERS = ("sentencepiece", "hf_bpe")
SECONDS_PER_MB = {"sentencepiece": 3.0, "hf_bpe": 0.5}  # training time per MB of sample on 2 cores (RESULTS §7)


def check_trainer(d: ml_collections.ConfigDict) -> None:
    """UserError for tokenizer training settings that cannot work (checked before anything is read)."""
    if d.tokenizer_trainer not in TRAINERS:
        raise UserError(
            f"config.data.tokenizer_trainer='{d.tokenizer_trainer}' is unknown: use "
            f"--config.data.tokenizer_trainer=sentencepiece or hf_bpe"
        )
    if not 0.0 < d.tokenizer_character_coverage <= 1.0:
        raise UserError(
            f"config.data.tokenizer_character_coverage={d.tokenizer_character_coverage} is out of range: "
            "use a value in (0, 1], e.g. --config.data.tokenizer_character_coverage=0.9995"
        )
    if d.tokenizer_sample_bytes < 1:
        raise UserError(
            f"config.data.tokenizer_sample_bytes={d.tokenizer_sample_bytes} must be positive: "
            "pass e.g. --config.data.tokenizer_sample_bytes=10000000"
        )


def train_configured(texts: list[str], cfg: ml_collections.ConfigDict, progress: bool = True) -> str:
    """Train (or reuse from the cache) the tokenizer config.data asks for on `texts`; returns its file's path.
    A stage line on stderr gives the sample's size and an estimate of the time."""
    d = cfg.data
    check_trainer(d)
    mb = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts) / 1e6
    what = f"{d.tokenizer} ({d.tokenizer_trainer})" if d.tokenizer_trainer == "sentencepiece" else d.tokenizer_trainer
    estimate = SECONDS_PER_MB[d.tokenizer_trainer] * mb
    stage(
        f"tokenizer: training a {cfg.model.vocab_size}-piece {what} tokenizer on {mb:.1f} MB of {len(texts)} "
        f"training documents (about {duration(estimate)} on 2 idle cores, unless cached)",
        progress and mb >= 1,
    )
    start, cpu = time.perf_counter(), time.process_time()
    if d.tokenizer_trainer == "hf_bpe":
        path = train_tokenizer_json(texts, TokenizerSpec(vocab_size=cfg.model.vocab_size), default_cache_dir())
    else:
        coverage = effective_coverage(texts, cfg.model.vocab_size, d.tokenizer_character_coverage)
        path = train_tokenizer(texts, TokenizerSpec(cfg.model.vocab_size, d.tokenizer, coverage))
    took = time.perf_counter() - start
    stage(
        f"tokenizer: trained in {duration(took)} ({duration(time.process_time() - cpu)} of CPU)", progress and mb >= 1
    )
    return path


def _trained_tokenizer(plan: Plan, sc: Scan, cfg: ml_collections.ConfigDict, progress: bool) -> Tokenizer:
    return Tokenizer(train_configured(sample_for(plan, sc, cfg, progress), cfg, progress))


def sample_for(plan: Plan, sc: Scan, cfg: ml_collections.ConfigDict, progress: bool) -> list[str]:
    """The tokenizer's training text for config.data."""
    check_trainer(cfg.data)
    return tokenizer_sample(plan, sc, cfg.data.tokenizer_sample_bytes, cfg.data.split_seed, progress)


def _alias(plan: Plan, cfg: ml_collections.ConfigDict) -> str:
    """Where the tokenizer trained for (plan, tokenizer settings) is remembered, so a cached store is found
    without scanning the source."""
    d = cfg.data
    settings = f"{cfg.model.vocab_size}:{d.tokenizer}:{d.tokenizer_sample_bytes}"
    if (d.tokenizer_trainer, d.tokenizer_character_coverage) != ("sentencepiece", 1.0):
        settings += f":{d.tokenizer_trainer}:{d.tokenizer_character_coverage}"
    return os.path.join(cache_root(), "tokenizers", f"{plan.key(f'trained:{settings}')}.model")


def workers_for(data: ml_collections.ConfigDict) -> int:
    if data.prepare_workers < 0:
        raise UserError(f"config.data.prepare_workers={data.prepare_workers} must be ≥ 0 (0 = one per core)")
    return data.prepare_workers or (os.cpu_count() or 1)


def ensure_store(
    cfg: ml_collections.ConfigDict,
    workdir: str | None,
    sentences: bool,
    progress: bool = True,
    out: str | None = None,
    force: bool = False,
) -> TokenStore:
    """The store for this config: config.data.store (or `out`) if set, else the cache's, built when missing;
    a warning line for a held-out split too small to score."""
    store = _ensure_store(cfg, workdir, sentences, progress, out, force)
    if progress:
        warn_small_splits(store)
    return store


def _ensure_store(
    cfg: ml_collections.ConfigDict, workdir: str | None, sentences: bool, progress: bool, out: str | None, force: bool
) -> TokenStore:
    plan = Plan.from_config(cfg.data, sentences)
    tok = given_tokenizer(cfg.data, workdir)
    if tok is None:
        check_trainer(cfg.data)
    if tok is not None:  # every store ends each document with eos (the objective's other roles: load_corpus)
        tok.require(("eos",), cfg.data.objective)
        tok.require_vocab_size(
            cfg.model.vocab_size,
            "use a fresh --workdir"
            if workdir  # the workdir's tokenizer
            else "give another config.data.tokenizer_path",
        )
    explicit = out or cfg.data.store
    if explicit:
        return _explicit_store(explicit, plan, cfg, tok, progress, build=bool(out), force=force)
    alias = _alias(plan, cfg)
    if tok is None and os.path.isfile(alias):
        tok = Tokenizer(alias)
    if tok is not None and not force:
        path = os.path.join(cache_root(), plan.key(tok.fingerprint))
        if os.path.isfile(os.path.join(path, MANIFEST)):
            return TokenStore(path, CACHE_REBUILD)
    with _locked(os.path.join(cache_root(), f"{plan.key()}.lock")):
        sc = scan(plan, progress)
        if tok is None:
            tok = _trained_tokenizer(plan, sc, cfg, progress)
            atomic_write(alias, tok.to_bytes())
        path = os.path.join(cache_root(), plan.key(tok.fingerprint))
        built = force or not os.path.isfile(os.path.join(path, MANIFEST))  # another process may have built it
        if built:
            write_store(path, plan, tok, sc, workers_for(cfg.data), progress)
    return TokenStore(path, CACHE_REBUILD, built=built)


def _explicit_store(
    path: str,
    plan: Plan,
    cfg: ml_collections.ConfigDict,
    tok: Tokenizer | None,
    progress: bool,
    build: bool,
    force: bool,
) -> TokenStore:
    """A store at a chosen path: checked against the config (source, split settings, tokenizer). Reading one
    (config.data.store) creates, locks and removes nothing. `jaxlm data prepare --out` builds it when missing (or
    an empty folder), and rebuilds it only with --force, under a lock on the folder that holds it."""
    rebuild = f"`jaxlm data prepare --config FILE --out {path} --force`"
    if not build:
        if not os.path.exists(path):
            raise UserError(
                f"token store '{path}' (config.data.store) does not exist: make it with `jaxlm data "
                f"prepare --config FILE --out {path}`"
            )
        return _matching_store(path, plan, tok, rebuild)
    with _folder_locked(os.path.dirname(os.path.abspath(path))):
        remove_stale(path)
        if os.path.isdir(path) and os.listdir(path):
            if not is_store_folder(path):  # never replaced, even with --force
                raise UserError(f"'{path}' exists and is not a token store: choose another --out or config.data.store")
            if not force:
                return _matching_store(path, plan, tok, rebuild)
        sc = scan(plan, progress)
        tok = tok or _trained_tokenizer(plan, sc, cfg, progress)
        write_store(path, plan, tok, sc, workers_for(cfg.data), progress)
    return TokenStore(path, rebuild, built=True)


def _matching_store(path: str, plan: Plan, tok: Tokenizer | None, rebuild: str) -> TokenStore:
    """The store at `path` if it is whole and made from this source, split settings and tokenizer."""
    if not os.path.isfile(os.path.join(path, MANIFEST)):
        raise UserError(
            f"'{path}' is not a token store (no {MANIFEST}): make one with `jaxlm data prepare --config "
            f"FILE --out {path}`, or point config.data.store at one"
        )
    store = TokenStore(path, rebuild)
    problem = _mismatch(store.manifest, plan, tok)
    if problem:
        raise UserError(f"token store '{path}' {problem}: rebuild it with {rebuild}, or prepare another --out")
    return store


def _mismatch(m: dict, plan: Plan, tok: Tokenizer | None) -> str:
    """Why the store with manifest `m` is not the one the config asks for ('' when it is)."""
    if m["source"] != plan.source_fingerprint:
        return "was made from another source or the source changed since"
    if m["settings"] != plan.settings:
        return f"was made with other split settings ({m['settings']}, the config asks for {plan.settings})"
    if tok is not None and m["tokenizer"]["sha256"] != tok.fingerprint:
        return "was made with another tokenizer than the workdir's or config.data.tokenizer_path"
    return ""
