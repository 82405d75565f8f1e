"""A run's corpus when its data or workdir is in a bucket. A gs:// `data.source` is streamed by the data layer
itself (jaxlm.data.sources), but memory-mapped stores and sentencepiece models are read from local files, so a
gs:// `data.store` and `data.tokenizer_path` are replaced by their local copies (jaxlm.io.cache: once per host,
checksummed), and a gs:// workdir's tokenizer is read from and published to the bucket around a local folder.
The run's config keeps the gs:// locations."""

import os
import shutil
import tempfile

import jax
import ml_collections

from jaxlm import io
from jaxlm.data.store_format import TOKENIZER_FILE
from jaxlm.io.cache import cache_root, local_copy
from jaxlm.pipeline.dataset import Corpus, load_corpus

REMOTE_DATA_KEYS = ("store", "tokenizer_path")


def local_data(cfg: ml_collections.ConfigDict, progress: bool) -> ml_collections.ConfigDict:
    """`cfg` itself, or a copy whose gs:// data locations are local copies."""
    remote = [k for k in REMOTE_DATA_KEYS if cfg.data.get(k) and io.is_remote(cfg.data[k])]
    if not remote:
        return cfg
    out = ml_collections.ConfigDict(cfg.to_dict())
    for key in remote:
        out.data[key] = local_copy(cfg.data[key], f"config.data.{key}", progress)
    return out


def run_corpus(cfg: ml_collections.ConfigDict, workdir: str, progress: bool) -> Corpus:
    """`load_corpus` for any workdir and data locations; a gs:// workdir's new tokenizer is uploaded by process 0."""
    data_cfg = local_data(cfg, progress)
    if not io.is_remote(workdir):
        return load_corpus(data_cfg, workdir, progress=progress)
    remote_tokenizer = io.join(workdir, TOKENIZER_FILE)
    os.makedirs(cache_root(), exist_ok=True)
    view = tempfile.mkdtemp(prefix="workdir-", dir=cache_root())
    try:
        had = io.exists(remote_tokenizer)
        if had:
            shutil.copyfile(
                local_copy(remote_tokenizer, "the workdir's tokenizer", progress=False),
                os.path.join(view, TOKENIZER_FILE),
            )
        corpus = load_corpus(data_cfg, view, progress=progress)
        if not had and jax.process_index() == 0:
            io.atomic_write(remote_tokenizer, corpus.tokenizer.to_bytes())
        return corpus
    finally:
        shutil.rmtree(view, ignore_errors=True)
