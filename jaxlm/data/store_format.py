"""The token store's format: its file names, its version, and the manifest's schema, checked field by field.

Every problem with a store is one UserError line that names the file and says how to rebuild the store
(`rebuild`: the command for this store, given by whoever opened it).
"""

from __future__ import annotations

import os
from typing import Any

from jaxlm import checks
from jaxlm.data.corpus import SPLITS
from jaxlm.errors import UserError

FORMAT = "jaxlm-token-store"
VERSION = 2  # 2: per-file checksums in the manifest (version 1 stores are refused with the command to rebuild them)
MANIFEST = "manifest.json"
TOKENIZER_FILE = "tokenizer.model"
SHARD_TOKENS = 1 << 26  # 64M ids: 128 MiB shards at uint16
DTYPES = ("uint16", "uint32")
SPLIT_FILES = ("doc_offsets.bin", "labels.bin", "meta.jsonl")
SENTENCE_FILES = ("sentence_spans.bin", "doc_sentences.bin")


def shard_name(i: int) -> str:
    return f"tokens-{i:05d}.bin"


def split_files(entry: dict) -> list[str]:
    """Every file of a split, as named in its manifest entry."""
    return [
        *(shard_name(i) for i in range(len(entry["shards"]))),
        *SPLIT_FILES,
        *(SENTENCE_FILES if "sentences" in entry else ()),
    ]


def damaged(file: str, problem: str, rebuild: str) -> UserError:
    """The one line for a damaged store file."""
    return UserError(f"token store file '{file}' {problem}: rebuild the store with {rebuild}")


def is_store_folder(path: str) -> bool:
    """Whether `path` holds a token store, whole or damaged (a manifest that names the format): such a folder may be
    rebuilt with --force; any other folder is never replaced."""
    try:
        with open(os.path.join(path, MANIFEST), "rb") as f:
            return FORMAT.encode() in f.read(1 << 20)
    except OSError:
        return False


def read_manifest(path: str, rebuild: str) -> dict:
    """The manifest of the store at `path`, every field checked; UserError for a missing, foreign, other-version
    or damaged one."""
    file = os.path.join(path, MANIFEST)
    if not os.path.isfile(file):
        raise UserError(
            f"'{path}' is not a complete token store (no {MANIFEST}): build it with "
            "`jaxlm data prepare --config FILE --out DIR`"
        )
    m = checks.load_json(file, f"rebuild the store with {rebuild}", "token store manifest")
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        if is_store_folder(path):
            raise damaged(file, "is not a whole manifest", rebuild)
        raise UserError(
            f"'{file}' is not a jaxlm token store manifest: point config.data.store at a folder made by "
            "`jaxlm data prepare`"
        )
    if m.get("version") != VERSION:
        raise UserError(
            f"token store '{path}' has format version {m.get('version')}, this jaxlm reads version "
            f"{VERSION}: rebuild it with {rebuild}"
        )
    _check_manifest(m, lambda problem: damaged(file, problem, rebuild))
    return m


def _field(m: dict, *keys: str, kind: type, bad) -> Any:
    """m[key][key]..., which must be a `kind` (an int is never a bool, nor negative)."""
    value: Any = m
    path = ".".join(keys)
    for i, key in enumerate(keys):
        if not isinstance(value, dict) or key not in value:
            raise bad(f"has no '{'.'.join(keys[: i + 1])}'")
        value = value[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise bad(f"has '{path}' = {str(value)[:40]!r}, not a{'n' if kind is int else ''} {kind.__name__}")
    if kind is int and value < 0:
        raise bad(f"has '{path}' = {value}, a negative count")
    return value


def _check_manifest(m: dict, bad) -> None:
    """Every field a reader uses, with its type and the counts that must agree."""
    dtype = _field(m, "dtype", kind=str, bad=bad)
    if dtype not in DTYPES:
        raise bad(f"has dtype '{dtype[:20]}', not {' or '.join(DTYPES)}")
    shard_tokens = _field(m, "shard_tokens", kind=int, bad=bad)
    vocab = _field(m, "tokenizer", "vocab_size", kind=int, bad=bad)
    if not 0 < vocab <= 1 << (16 if dtype == "uint16" else 32):
        raise bad(f"has tokenizer.vocab_size {vocab}, which {dtype} ids cannot hold")
    _field(m, "tokenizer", "sha256", kind=str, bad=bad)
    _field(m, "tokenizer", "specials", kind=str, bad=bad)
    _field(m, "source", kind=dict, bad=bad)
    sentences = _field(m, "settings", "sentences", kind=bool, bad=bad)
    labels = _field(m, "labels", kind=list, bad=bad)
    if not labels or len(labels) > 1 << 16 or not all(isinstance(x, str) for x in labels):
        raise bad("has 'labels' that are not 1 to 65536 strings")
    _field(m, "checksums", TOKENIZER_FILE, kind=str, bad=bad)
    for name in SPLITS:
        for key in ("docs", "tokens", "bytes"):
            _field(m, "splits", name, key, kind=int, bad=bad)
        entry = m["splits"][name]
        shards = _field(m, "splits", name, "shards", kind=list, bad=bad)
        if (
            not all(isinstance(n, int) and not isinstance(n, bool) and 0 < n <= shard_tokens for n in shards)
            or any(n != shard_tokens for n in shards[:-1])
            or sum(shards) != entry["tokens"]
        ):
            raise bad(
                f"has splits.{name}.shards that do not add up to its {entry['tokens']} tokens in shards of "
                f"{shard_tokens}"
            )
        if entry["tokens"] < entry["docs"]:
            raise bad(f"has splits.{name} with fewer tokens than documents (each ends with eos)")
        if sentences:
            _field(m, "splits", name, "sentences", kind=int, bad=bad)
        elif "sentences" in entry:
            raise bad(f"has splits.{name}.sentences in a store made without sentences")
        for file in split_files(entry):
            _field(m, "splits", name, "checksums", file, kind=str, bad=bad)
