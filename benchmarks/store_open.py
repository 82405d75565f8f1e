"""What opening a token store costs: a synthetic store of --gib GiB of train ids written by the store's own writer,
then opened (1) the first time (every file hashed, ids and offsets checked: `store_verify.verify`) and (2) again,
stamped (manifest, sizes, offsets' ends and `stat`s only). Writes benchmarks/results/store_open.json.

    .venv/bin/python benchmarks/store_open.py --gib 4 --out /tmp/store4g   # then: rm -r /tmp/store4g
"""

import argparse
import json
import os
import platform
import subprocess
import time

import numpy as np

from jaxlm.data.corpus import SPLITS
from jaxlm.data.store import SplitWriter, TokenStore
from jaxlm.data.store_format import FORMAT, MANIFEST, SHARD_TOKENS, TOKENIZER_FILE, VERSION
from jaxlm.data.store_verify import new_hash, stamp_path

VOCAB = 4096
DOC_TOKENS = 2048  # mean document length


def write(out: str, train_tokens: int, seed: int = 0) -> None:
    """A store of random ids below VOCAB: train_tokens in train, 1/1000 of it in val and in test."""
    os.makedirs(out)
    rng = np.random.default_rng(seed)
    tokenizer = b"synthetic tokenizer file"  # opening never parses it
    with open(os.path.join(out, TOKENIZER_FILE), "wb") as f:
        f.write(tokenizer)
    splits = {}
    for name, total in zip(SPLITS, (train_tokens, train_tokens // 1000, train_tokens // 1000)):
        w = SplitWriter(os.path.join(out, name), np.dtype(np.uint16), SHARD_TOKENS, sentences=False)
        written = 0
        while written < total:
            block = rng.integers(0, VOCAB, 1 << 24, dtype=np.uint16)[: total - written]
            lengths = rng.integers(1, 2 * DOC_TOKENS, len(block) // DOC_TOKENS + 2)
            ends = np.minimum(np.cumsum(lengths), len(block))
            for lo, hi in zip(np.concatenate([[0], ends[:-1]]), ends):
                if hi > lo:
                    w.add(block[lo:hi], 0, "doc", "synthetic", int(hi - lo), None)
            written += len(block)
        splits[name] = w.close()
    manifest = dict(
        format=FORMAT,
        version=VERSION,
        dtype="uint16",
        shard_tokens=SHARD_TOKENS,
        tokenizer=dict(sha256="synthetic", vocab_size=VOCAB, specials=""),
        source=dict(source="synthetic"),
        settings=dict(sentences=False),
        labels=[""],
        checksums={TOKENIZER_FILE: new_hash(tokenizer).hexdigest()},
        splits=splits,
    )
    with open(os.path.join(out, MANIFEST), "w") as f:
        json.dump(manifest, f)


def timed_open(path: str) -> float:
    t = time.perf_counter()
    TokenStore(path)
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--gib", type=float, default=4.0)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    t = time.perf_counter()
    write(a.out, int(a.gib * (1 << 30)) // 2)
    written = time.perf_counter() - t
    if os.path.exists(stamp_path(a.out)):
        os.remove(stamp_path(a.out))
    first = timed_open(a.out)
    again = sorted(timed_open(a.out) for _ in range(5))
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(a.out) for f in fs)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    result = dict(
        store_bytes=size,
        shards=len(TokenStore(a.out).manifest["splits"]["train"]["shards"]),
        docs=TokenStore(a.out).manifest["splits"]["train"]["docs"],
        write_s=round(written, 1),
        first_open_s=round(first, 2),
        stamped_open_median_s=round(again[2], 4),
        commit=commit,
        machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
    )
    print(json.dumps(result))
    os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
    with open(os.path.join(os.path.dirname(__file__), "results", "store_open.json"), "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
