"""The token store: a corpus tokenized once, on disk, read memory-mapped by every run (format in the README).

A store is a folder: `manifest.json`, `tokenizer.model`, and per split (`train/`, `val/`, `test/`):
`tokens-NNNNN.bin` (the split's documents, each followed by eos, as one stream cut into shards of
`shard_tokens` ids; uint16 when the vocabulary fits, else uint32), `doc_offsets.bin` (int64, documents + 1
stream offsets), `labels.bin` (uint16 index into the manifest's labels, one per document), `meta.jsonl`
(title and source of each document), and for stores made with sentences `sentence_spans.bin` (int64 pairs: each
sentence's [start, end) in the stream) and `doc_sentences.bin` (int64, each document's first sentence, + 1).
The manifest (`store_format.py`) is written last, with every file's checksum, and the folder renamed into place,
so a store that has one is complete. Opening a store checks the manifest's fields and every file's size and end
offsets; the contents are verified once (`store_verify.py`).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from jaxlm.data.corpus import SPLITS, Document
from jaxlm.data.packing import TokenStream
from jaxlm.data.store_format import TOKENIZER_FILE, damaged, read_manifest, shard_name
from jaxlm.data.store_verify import new_hash, verify
from jaxlm.data.tokenizer import Tokenizer


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.uint32)


class _Appender:
    """An append-only file, checksummed as it is written; `append` takes values of a little-endian dtype."""

    def __init__(self, path: str, dtype=np.uint8):
        self.f, self.dtype, self.count, self.hash = open(path, "wb"), np.dtype(dtype).newbyteorder("<"), 0, new_hash()

    def append(self, values) -> None:
        self.write(np.asarray(values, self.dtype).tobytes())

    def write(self, data: bytes) -> None:
        self.f.write(data)
        self.hash.update(data)
        self.count += len(data) // self.dtype.itemsize

    def close(self) -> str:
        """Close the file; returns its checksum."""
        self.f.close()
        return self.hash.hexdigest()


class SplitWriter:
    """Writes one split's files; documents arrive in order as (token ids, label index, title, source,
    sentence lengths or None)."""

    def __init__(self, folder: str, dtype: np.dtype, shard_tokens: int, sentences: bool):
        os.makedirs(folder)
        self.folder, self.dtype, self.shard_tokens = folder, dtype, shard_tokens
        self.shards: list[int] = []
        self.checksums: dict[str, str] = {}
        self._shard: _Appender | None = None
        self.tokens = self.bytes = 0
        self.offsets = _Appender(os.path.join(folder, "doc_offsets.bin"), np.int64)
        self.labels = _Appender(os.path.join(folder, "labels.bin"), np.uint16)
        self.meta = _Appender(os.path.join(folder, "meta.jsonl"))
        self.sentence_spans = _Appender(os.path.join(folder, "sentence_spans.bin"), np.int64) if sentences else None
        self.doc_sentences = _Appender(os.path.join(folder, "doc_sentences.bin"), np.int64) if sentences else None
        self.offsets.append([0])
        if sentences:
            self.doc_sentences.append([0])

    def add(
        self, ids: np.ndarray, label: int, title: str, source: str, n_bytes: int, sentence_lengths: np.ndarray | None
    ) -> None:
        self._write_tokens(np.asarray(ids, self.dtype))
        self.offsets.append([self.tokens])
        self.labels.append([label])
        self.meta.write((json.dumps({"title": title, "source": source}, ensure_ascii=False) + "\n").encode())
        self.bytes += n_bytes
        if self.sentence_spans is not None:
            ends = self.tokens - len(ids) + np.cumsum(sentence_lengths, dtype=np.int64)
            self.sentence_spans.append(np.stack([ends - sentence_lengths, ends], axis=1))
            self.doc_sentences.append([self.sentence_spans.count // 2])

    def _write_tokens(self, ids: np.ndarray) -> None:
        while len(ids):
            if self._shard is None or self.shards[-1] == self.shard_tokens:
                self._close_shard()
                self._shard = _Appender(os.path.join(self.folder, shard_name(len(self.shards))), self.dtype)
                self.shards.append(0)
            take = min(len(ids), self.shard_tokens - self.shards[-1])
            self._shard.append(ids[:take])
            self.shards[-1] += take
            self.tokens += take
            ids = ids[take:]

    def _close_shard(self) -> None:
        if self._shard is not None:
            self.checksums[shard_name(len(self.shards) - 1)] = self._shard.close()

    def close(self) -> dict:
        """Flush everything; returns the split's manifest entry (counts, shard lengths and every file's checksum)."""
        self._close_shard()
        for f in (self.offsets, self.labels, self.meta, self.sentence_spans, self.doc_sentences):
            if f is not None:
                self.checksums[os.path.basename(f.f.name)] = f.close()
        out = dict(docs=self.offsets.count - 1, tokens=self.tokens, bytes=self.bytes, shards=self.shards)
        if self.sentence_spans is not None:
            out["sentences"] = self.sentence_spans.count // 2
        return dict(out, checksums=self.checksums)


# --- reading ----------------------------------------------------------------------------------------------------


def _memmap(path: str, dtype, count: int, rebuild: str) -> np.ndarray:
    """A read-only memory map of `count` values; UserError if the file is missing or has another size."""
    dtype = np.dtype(dtype).newbyteorder("<")
    expected = count * dtype.itemsize
    if not os.path.isfile(path):
        raise damaged(path, "is missing", rebuild)
    size = os.path.getsize(path)
    if size != expected:
        raise damaged(path, f"has {size} bytes, the manifest says {expected} (truncated or changed)", rebuild)
    if count == 0:
        return np.zeros(0, dtype)
    return np.memmap(path, dtype=dtype, mode="r", shape=(count,))


class ShardedTokens:
    """The token ids of one split across its shard files, sliced like an array (slices come back as int32)."""

    def __init__(self, folder: str, dtype: np.dtype, shards: list[int], rebuild: str):
        self.shards = [_memmap(os.path.join(folder, shard_name(i)), dtype, n, rebuild) for i, n in enumerate(shards)]
        self.starts = np.concatenate([[0], np.cumsum(shards, dtype=np.int64)])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, key) -> np.ndarray:
        if not isinstance(key, slice):
            i = int(key) + (len(self) if int(key) < 0 else 0)
            return self[i : i + 1][0]
        start, stop, step = key.indices(len(self))
        if step != 1:
            raise ValueError("ShardedTokens supports contiguous slices only")
        if stop <= start:
            return np.zeros(0, np.int32)
        first = int(np.searchsorted(self.starts, start, "right")) - 1
        last = int(np.searchsorted(self.starts, stop - 1, "right")) - 1
        parts = [
            self.shards[s][max(start - self.starts[s], 0) : min(stop, self.starts[s + 1]) - self.starts[s]]
            for s in range(first, last + 1)
        ]
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
        return Document(
            text=self.decode(s.tokens[lo : hi - 1].tolist()),
            title=meta["title"],
            label=s.label_names[int(s.labels[i])],
            source=meta["source"],
        )


@dataclass
class StoredSplit:
    """One split of a store, memory-mapped."""

    folder: str
    entry: dict
    dtype: np.dtype
    label_names: tuple[str, ...]
    rebuild: str  # the command that rebuilds the store, for error messages

    @property
    def n_docs(self) -> int:
        return self.entry["docs"]

    @cached_property
    def tokens(self) -> ShardedTokens:
        return ShardedTokens(self.folder, self.dtype, self.entry["shards"], self.rebuild)

    @cached_property
    def offsets(self) -> np.ndarray:
        return _memmap(os.path.join(self.folder, "doc_offsets.bin"), np.int64, self.n_docs + 1, self.rebuild)

    @cached_property
    def labels(self) -> np.ndarray:
        return _memmap(os.path.join(self.folder, "labels.bin"), np.uint16, self.n_docs, self.rebuild)

    @cached_property
    def meta(self) -> list[dict]:
        with open(os.path.join(self.folder, "meta.jsonl"), encoding="utf-8") as f:
            return [json.loads(line) for line in f]

    def _sentence_spans(self) -> np.ndarray:
        n = self.entry["sentences"]
        return _memmap(os.path.join(self.folder, "sentence_spans.bin"), np.int64, 2 * n, self.rebuild).reshape(n, 2)

    def stream(self) -> TokenStream:
        return TokenStream(self.tokens, DocSegments(self.offsets))

    def sentences(self) -> StoredSentences | None:
        """Each document's non-empty tokenized sentences (documents without any left out), read on access, or
        None if the store was made without sentences."""
        if "sentences" not in self.entry:
            return None
        first = _memmap(os.path.join(self.folder, "doc_sentences.bin"), np.int64, self.n_docs + 1, self.rebuild)
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
        spans = self.spans[int(self.doc_first[d]) : int(self.doc_first[d + 1])]
        if not len(spans):
            return []
        block = self.tokens[int(spans[0, 0]) : int(spans[-1, 1])]
        return [block[lo - spans[0, 0] : hi - spans[0, 0]] for lo, hi in spans.tolist() if hi > lo]


class TokenStore:
    """A complete store on disk. Opening it checks the manifest's fields, every file's size and the ends of the
    offsets (cheap, every time), and verifies the contents once (`store_verify.verify`); `rebuild` is the command
    that rebuilds it, for error messages (default: `jaxlm data prepare --out PATH --force`)."""

    def __init__(self, path: str, rebuild: str = "", built: bool = False):
        self.path, self.built = path, built  # built: made by this process (else found and reused)
        rebuild = rebuild or f"`jaxlm data prepare --config FILE --out {path} --force`"
        self.manifest = m = read_manifest(path, rebuild)
        self.dtype = np.dtype(m["dtype"])
        self.labels = tuple(m["labels"])
        self.splits = {
            name: StoredSplit(os.path.join(path, name), m["splits"][name], self.dtype, self.labels, rebuild)
            for name in SPLITS
        }
        if not os.path.isfile(self.tokenizer_path):
            raise damaged(self.tokenizer_path, "is missing", rebuild)
        for s in self.splits.values():  # every file now: a bad store fails at start-up, in one line
            s.tokens, s.labels  # noqa: B018
            _ends(s.offsets, s.entry["tokens"], os.path.join(s.folder, "doc_offsets.bin"), rebuild)
            if "sentences" in s.entry:
                s._sentence_spans()
                _ends(
                    _memmap(os.path.join(s.folder, "doc_sentences.bin"), np.int64, s.n_docs + 1, rebuild),
                    s.entry["sentences"],
                    os.path.join(s.folder, "doc_sentences.bin"),
                    rebuild,
                )
        verify(path, m, rebuild)

    @property
    def tokenizer_path(self) -> str:
        return os.path.join(self.path, TOKENIZER_FILE)

    def tokenizer(self) -> Tokenizer:
        """The store's tokenizer, with the special-token names it was made with."""
        return Tokenizer(self.tokenizer_path, self.manifest["tokenizer"]["specials"])


def _ends(offsets: np.ndarray, total: int, file: str, rebuild: str) -> None:
    if offsets[0] != 0 or offsets[-1] != total:
        raise damaged(file, f"runs from {offsets[0]} to {offsets[-1]}, not from 0 to {total}", rebuild)
