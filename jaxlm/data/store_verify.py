"""A token store's contents, verified once: every file against its xxh3-64 checksum in the manifest, token ids below
the vocabulary size, document and sentence offsets in order and in range, one label and one meta line per document.

The verification is remembered in a stamp ($JAXLM_CACHE/verified/) holding every file's inode, size, mtime and
ctime: a later opening compares `stat`s only, and any write to a file (which changes its ctime), a copy or a
replacement verifies the store again. The writer stamps the store it has just written.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import xxhash

from jaxlm.data.corpus import SPLITS
from jaxlm.data.store_format import MANIFEST, TOKENIZER_FILE, damaged, split_files
from jaxlm.data.tokenizer import default_cache_dir
from jaxlm.io import atomic_write

READ_BYTES = 1 << 26  # read and hashed at a time


def new_hash(data: bytes = b"") -> xxhash.xxh3_64:
    """The checksum of a store file (xxh3-64: several GB/s on one core), fed `data` so far."""
    return xxhash.xxh3_64(data)


def store_files(m: dict) -> list[str]:
    """Every file of the store with manifest `m`, relative to its folder."""
    return [MANIFEST, TOKENIZER_FILE, *(f"{s}/{f}" for s in SPLITS for f in split_files(m["splits"][s]))]


def stamp_path(path: str) -> str:
    """Where the verification of the store at `path` is remembered."""
    key = hashlib.sha256(os.path.realpath(path).encode()).hexdigest()[:32]
    return os.path.join(os.path.dirname(default_cache_dir()), "verified", f"{key}.json")


def _stats(path: str, files: list[str]) -> dict:
    out = {}
    for f in files:
        st = os.stat(os.path.join(path, f))
        out[f] = [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
    return out


def stamp(path: str, m: dict) -> None:
    """Record that the store at `path` is verified as its files are now (nothing when the cache is not writable)."""
    try:
        atomic_write(stamp_path(path), json.dumps(_stats(path, store_files(m))))
    except OSError:
        pass


def verify(path: str, m: dict, rebuild: str) -> bool:
    """Verify the store at `path` (manifest `m`, every file present with its size) unless its stamp matches; returns
    whether it did. UserError, naming the file, for the first problem found."""
    try:
        with open(stamp_path(path), encoding="utf-8") as f:
            if json.load(f) == _stats(path, store_files(m)):
                return False
    except (OSError, ValueError):
        pass
    _hashed(os.path.join(path, TOKENIZER_FILE), m["checksums"][TOKENIZER_FILE], rebuild)
    for name in SPLITS:
        _verify_split(
            os.path.join(path, name),
            m["splits"][name],
            np.dtype(m["dtype"]).newbyteorder("<"),
            m["tokenizer"]["vocab_size"],
            len(m["labels"]),
            rebuild,
        )
    stamp(path, m)
    return True


def _hashed(file: str, expected: str, rebuild: str, each=None) -> None:
    """Read `file` once, hashing it and passing each block to `each`; UserError if the checksum differs."""
    h = new_hash()
    buffer = memoryview(bytearray(min(READ_BYTES, os.path.getsize(file)) or 1))
    with open(file, "rb", buffering=0) as f:
        while n := f.readinto(buffer):
            h.update(buffer[:n])
            if each is not None:
                each(buffer[:n])
    if h.hexdigest() != expected:
        raise damaged(
            file, "does not match its checksum in the manifest (damaged or changed since it was written)", rebuild
        )


def _verify_split(folder: str, entry: dict, dtype: np.dtype, vocab: int, n_labels: int, rebuild: str) -> None:
    sums = entry["checksums"]
    shards = split_files(entry)[: len(entry["shards"])]
    for file in shards:
        top = [0]
        _hashed(
            os.path.join(folder, file),
            sums[file],
            rebuild,
            lambda block: top.append(int(np.frombuffer(block, dtype).max())),
        )  # whole ids: READ_BYTES % 4 == 0
        if max(top) >= vocab:
            raise damaged(
                os.path.join(folder, file), f"holds token id {max(top)}, but the vocabulary has {vocab} ids", rebuild
            )
    for file in split_files(entry)[len(shards) :]:
        _hashed(os.path.join(folder, file), sums[file], rebuild)
    docs, tokens = entry["docs"], entry["tokens"]
    _check_offsets(os.path.join(folder, "doc_offsets.bin"), docs, tokens, rebuild, strictly=True)
    labels = np.fromfile(os.path.join(folder, "labels.bin"), "<u2")
    if docs and int(labels.max()) >= n_labels:
        raise damaged(
            os.path.join(folder, "labels.bin"),
            f"holds label {int(labels.max())}, but the manifest names {n_labels} labels",
            rebuild,
        )
    with open(os.path.join(folder, "meta.jsonl"), "rb") as f:
        lines = sum(block.count(b"\n") for block in iter(lambda: f.read(READ_BYTES), b""))
    if lines != docs:
        raise damaged(os.path.join(folder, "meta.jsonl"), f"has {lines} lines for {docs} documents", rebuild)
    if "sentences" in entry:
        n = entry["sentences"]
        _check_offsets(os.path.join(folder, "doc_sentences.bin"), docs, n, rebuild, strictly=False)
        spans = np.fromfile(os.path.join(folder, "sentence_spans.bin"), "<i8").reshape(n, 2)
        if n and not (spans.min() >= 0 and spans.max() <= tokens and np.all(spans[:, 0] <= spans[:, 1])):
            raise damaged(os.path.join(folder, "sentence_spans.bin"), f"has spans outside [0, {tokens}]", rebuild)


def _check_offsets(file: str, count: int, total: int, rebuild: str, strictly: bool) -> None:
    """`count` + 1 int64 offsets from 0 to `total`, increasing (strictly: each document holds at least its eos)."""
    offsets = np.fromfile(file, "<i8")
    steps = np.diff(offsets)
    if (
        offsets[0] != 0
        or offsets[-1] != total
        or len(offsets) != count + 1
        or not np.all(steps >= 1 if strictly else steps >= 0)
    ):
        raise damaged(file, f"does not hold {count + 1} increasing offsets from 0 to {total}", rebuild)
