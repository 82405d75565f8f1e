"""The token store: a corpus tokenized once, on disk, read memory-mapped by every run (format in the README).

A store is a folder: `manifest.json`, `tokenizer.model`, and per split (`train/`, `val/`, `test/`):
`tokens-NNNNN.bin` (the split's documents, each followed by eos, as one stream cut into shards of
`shard_tokens` ids; uint16 when the vocabulary fits, else uint32), `doc_offsets.bin` (int64, documents + 1
stream offsets), `labels.bin` (uint16 index into the manifest's labels, one per document), `meta.jsonl`
(title and source of each document), and for stores made with sentences `sentence_spans.bin` (int64 pairs: each
sentence's [start, end) in the stream) and `doc_sentences.bin` (int64, each document's first sentence, + 1).
The manifest is written last and the folder renamed into place, so a store that has one is complete.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from jaxlm import checks
from jaxlm.data.corpus import SPLITS, Document
from jaxlm.data.packing import TokenStream
from jaxlm.data.tokenizer import Tokenizer
from jaxlm.errors import UserError

FORMAT = "jaxlm-token-store"
VERSION = 1
MANIFEST = "manifest.json"
TOKENIZER_FILE = "tokenizer.model"
SHARD_TOKENS = 1 << 26  # 64M ids: 128 MiB shards at uint16


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.uint32)


class _Appender:
    """An append-only little-endian array file."""

    def __init__(self, path: str, dtype):
        self.f, self.dtype, self.count = open(path, "wb"), np.dtype(dtype).newbyteorder("<"), 0

    def append(self, values) -> None:
        a = np.asarray(values, self.dtype)
        self.f.write(a.tobytes())
        self.count += a.size

    def close(self) -> None:
        self.f.close()


class SplitWriter:
    """Writes one split's files; documents arrive in order as (token ids, label index, title, source,
    sentence lengths or None)."""

    def __init__(self, folder: str, dtype: np.dtype, shard_tokens: int, sentences: bool):
        os.makedirs(folder)
        self.folder, self.dtype, self.shard_tokens = folder, dtype, shard_tokens
        self.shards: list[int] = []
        self._shard = None
        self.tokens = self.bytes = 0
        self.offsets = _Appender(os.path.join(folder, "doc_offsets.bin"), np.int64)
        self.labels = _Appender(os.path.join(folder, "labels.bin"), np.uint16)
        self.meta = open(os.path.join(folder, "meta.jsonl"), "w", encoding="utf-8")
        self.sentence_spans = _Appender(os.path.join(folder, "sentence_spans.bin"), np.int64) if sentences else None
        self.doc_sentences = _Appender(os.path.join(folder, "doc_sentences.bin"), np.int64) if sentences else None
        self.offsets.append([0])
        if sentences:
            self.doc_sentences.append([0])

    def add(self, ids: np.ndarray, label: int, title: str, source: str, n_bytes: int,
            sentence_lengths: np.ndarray | None) -> None:
        self._write_tokens(np.asarray(ids, self.dtype))
        self.offsets.append([self.tokens])
        self.labels.append([label])
        self.meta.write(json.dumps({"title": title, "source": source}, ensure_ascii=False) + "\n")
        self.bytes += n_bytes
        if self.sentence_spans is not None:
            ends = self.tokens - len(ids) + np.cumsum(sentence_lengths, dtype=np.int64)
            self.sentence_spans.append(np.stack([ends - sentence_lengths, ends], axis=1))
            self.doc_sentences.append([self.sentence_spans.count // 2])

    def _write_tokens(self, ids: np.ndarray) -> None:
        while len(ids):
            if self._shard is None or self.shards[-1] == self.shard_tokens:
                if self._shard is not None:
                    self._shard.close()
                self._shard = open(os.path.join(self.folder, shard_name(len(self.shards))), "wb")
                self.shards.append(0)
            take = min(len(ids), self.shard_tokens - self.shards[-1])
            self._shard.write(ids[:take].astype(self.dtype.newbyteorder("<")).tobytes())
            self.shards[-1] += take
            self.tokens += take
            ids = ids[take:]

    def close(self) -> dict:
        """Flush everything; returns the split's manifest entry."""
        for f in (self._shard, self.offsets, self.labels, self.meta, self.sentence_spans, self.doc_sentences):
            if f is not None:
                f.close()
        out = dict(docs=self.offsets.count - 1, tokens=self.tokens, bytes=self.bytes, shards=self.shards)
        if self.sentence_spans is not None:
            out["sentences"] = self.sentence_spans.count // 2
        return out


def shard_name(i: int) -> str:
    return f"tokens-{i:05d}.bin"


# --- reading ----------------------------------------------------------------------------------------------------


def read_manifest(path: str) -> dict:
    """The manifest of the store at `path`; UserError for a missing, foreign or other-version store."""
    file = os.path.join(path, MANIFEST)
    if not os.path.isfile(file):
        raise UserError(f"'{path}' is not a complete token store (no {MANIFEST}): build it with "
                        "`jaxlm data prepare --config FILE --out DIR`")
    manifest = checks.load_json(file, "rebuild the store with `jaxlm data prepare --force`")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise UserError(f"'{file}' is not a jaxlm token store manifest: point config.data.store at a folder made by "
                        "`jaxlm data prepare`")
    if manifest.get("version") != VERSION:
        raise UserError(f"token store '{path}' has format version {manifest.get('version')}, this jaxlm reads version "
                        f"{VERSION}: rebuild it with `jaxlm data prepare --force`")
    return manifest


def _memmap(path: str, dtype, count: int) -> np.ndarray:
    """A read-only memory map of `count` values; UserError if the file is missing or has another size."""
    dtype = np.dtype(dtype).newbyteorder("<")
    expected = count * dtype.itemsize
    if not os.path.isfile(path):
        raise UserError(f"token store file '{path}' is missing: rebuild the store with `jaxlm data prepare --force`")
    size = os.path.getsize(path)
    if size != expected:
        raise UserError(f"token store file '{path}' has {size} bytes, the manifest says {expected} (truncated or "
                        "changed): rebuild the store with `jaxlm data prepare --force`")
    if count == 0:
        return np.zeros(0, dtype)
    return np.memmap(path, dtype=dtype, mode="r", shape=(count,))


class ShardedTokens:
    """The token ids of one split across its shard files, sliced like an array (slices come back as int32)."""

    def __init__(self, folder: str, dtype: np.dtype, shards: list[int]):
        self.shards = [_memmap(os.path.join(folder, shard_name(i)), dtype, n) for i, n in enumerate(shards)]
        self.starts = np.concatenate([[0], np.cumsum(shards, dtype=np.int64)])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, key) -> np.ndarray:
        if not isinstance(key, slice):
            i = int(key) + (len(self) if int(key) < 0 else 0)
            return self[i:i + 1][0]
        start, stop, step = key.indices(len(self))
        if step != 1:
            raise ValueError("ShardedTokens supports contiguous slices only")
        if stop <= start:
            return np.zeros(0, np.int32)
        first = int(np.searchsorted(self.starts, start, "right")) - 1
        last = int(np.searchsorted(self.starts, stop - 1, "right")) - 1
        parts = [self.shards[s][max(start - self.starts[s], 0):min(stop, self.starts[s + 1]) - self.starts[s]]
                 for s in range(first, last + 1)]
        return np.concatenate(parts).astype(np.int32)


class DocSegments:
    """Segment ids of a stream (1 + the index of each token's document), computed from the document offsets."""

    def __init__(self, offsets: np.ndarray):
        self.offsets = offsets

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, key: slice) -> np.ndarray:
        start, stop, _ = key.indices(len(self))
        return np.searchsorted(self.offsets, np.arange(start, max(stop, start)), "right").astype(np.int32)


class StoredDocuments(Sequence):
    """A split's documents: text decoded from the store's ids (the tokenizer is lossless), label and title."""

    def __init__(self, split: StoredSplit, decode):
        self.split, self.decode = split, decode

    def __len__(self) -> int:
        return self.split.n_docs

    def __getitem__(self, i: int) -> Document:
        if not 0 <= i < len(self):
            raise IndexError(i)
        s = self.split
        lo, hi = int(s.offsets[i]), int(s.offsets[i + 1])
        meta = s.meta[i]
        return Document(text=self.decode(s.tokens[lo:hi - 1].tolist()), title=meta["title"],
                        label=s.label_names[int(s.labels[i])], source=meta["source"])


@dataclass
class StoredSplit:
    """One split of a store, memory-mapped."""

    folder: str
    entry: dict
    dtype: np.dtype
    label_names: tuple[str, ...]

    @property
    def n_docs(self) -> int:
        return self.entry["docs"]

    @cached_property
    def tokens(self) -> ShardedTokens:
        return ShardedTokens(self.folder, self.dtype, self.entry["shards"])

    @cached_property
    def offsets(self) -> np.ndarray:
        return _memmap(os.path.join(self.folder, "doc_offsets.bin"), np.int64, self.n_docs + 1)

    @cached_property
    def labels(self) -> np.ndarray:
        return _memmap(os.path.join(self.folder, "labels.bin"), np.uint16, self.n_docs)

    @cached_property
    def meta(self) -> list[dict]:
        with open(os.path.join(self.folder, "meta.jsonl"), encoding="utf-8") as f:
            return [json.loads(line) for line in f]

    def _sentence_spans(self) -> np.ndarray:
        n = self.entry["sentences"]
        return _memmap(os.path.join(self.folder, "sentence_spans.bin"), np.int64, 2 * n).reshape(n, 2)

    def stream(self) -> TokenStream:
        return TokenStream(self.tokens, DocSegments(self.offsets))

    def sentences(self) -> StoredSentences | None:
        """Each document's non-empty tokenized sentences (documents without any left out), read on access, or
        None if the store was made without sentences."""
        if "sentences" not in self.entry:
            return None
        first = _memmap(os.path.join(self.folder, "doc_sentences.bin"), np.int64, self.n_docs + 1)
        return StoredSentences(self.tokens, self._sentence_spans(), first)


class StoredSentences(Sequence):
    """Documents (those with a non-empty sentence) as lists of their non-empty sentences' ids, memory-mapped (the
    64 last read kept)."""

    def __init__(self, tokens: ShardedTokens, spans: np.ndarray, doc_first: np.ndarray):
        self.tokens, self.spans, self.doc_first = tokens, spans, doc_first
        nonempty = np.concatenate([[0], np.cumsum(spans[:, 1] > spans[:, 0])]) if len(spans) else np.zeros(1, int)
        self.docs = np.flatnonzero(nonempty[doc_first[1:]] > nonempty[doc_first[:-1]])

    def __len__(self) -> int:
        return len(self.docs)

    def __getitem__(self, k: int) -> list[np.ndarray]:
        return self._document(int(k))

    @functools.lru_cache(maxsize=64)  # noqa: B019 - lives with its store; pair building reads a document's sentences one by one
    def _document(self, k: int) -> list[np.ndarray]:
        d = int(self.docs[k])
        spans = self.spans[int(self.doc_first[d]):int(self.doc_first[d + 1])]
        if not len(spans):
            return []
        block = self.tokens[int(spans[0, 0]):int(spans[-1, 1])]
        return [block[lo - spans[0, 0]:hi - spans[0, 0]] for lo, hi in spans.tolist() if hi > lo]


class TokenStore:
    """A complete store on disk (checked against its manifest: format version and every file's size)."""

    def __init__(self, path: str):
        self.path = path
        self.manifest = read_manifest(path)
        m = self.manifest
        self.dtype = np.dtype(m["dtype"])
        self.labels = tuple(m["labels"])
        self.splits = {name: StoredSplit(os.path.join(path, name), m["splits"][name], self.dtype, self.labels)
                       for name in SPLITS}
        for s in self.splits.values():  # validate every file now: a bad store fails at start-up, in one line
            s.tokens, s.offsets, s.labels  # noqa: B018
            if "sentences" in s.entry:
                s._sentence_spans()
        if not os.path.isfile(self.tokenizer_path):
            raise UserError(f"token store '{path}' lacks {TOKENIZER_FILE}: rebuild it with `jaxlm data prepare --force`")

    @property
    def tokenizer_path(self) -> str:
        return os.path.join(self.path, TOKENIZER_FILE)

    def tokenizer(self) -> Tokenizer:
        """The store's tokenizer, with the special-token names it was made with."""
        return Tokenizer(self.tokenizer_path, self.manifest["tokenizer"].get("specials", ""))
