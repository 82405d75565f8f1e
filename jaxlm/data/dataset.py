"""From `config.data` to model-ready batches: documents → split → tokenizer → token streams → grain.

Training batches come from a grain pipeline (seeded shuffle that changes every epoch, per-process
sharding, checkpointable position); evaluation walks a split once, in order, padding the last batch.
"""

import os
import shutil
from dataclasses import dataclass

import grain
import ml_collections
import numpy as np

from jaxlm.data.corpus import Document, load_documents, split_documents
from jaxlm.data.packing import TokenStream, causal_lm_row, concat_documents, num_rows
from jaxlm.data.tokenizer import EOS_ID, Tokenizer, TokenizerSpec, train_tokenizer
from jaxlm.errors import UserError

SPLITS = ("train", "val", "test")
TOKENIZER_FILE = "tokenizer.model"


@dataclass
class Corpus:
    docs: dict[str, list[Document]]
    tokenizer: Tokenizer
    streams: dict[str, TokenStream]


def load_splits(data: ml_collections.ConfigDict) -> dict[str, list[Document]]:
    """The configured source split by whole documents (deterministic for `data.split_seed`)."""
    docs = load_documents(data.source, data.text_field, data.label_field)
    return split_documents(docs, data.val_docs, data.test_docs, data.split_seed)


def tokenizer_for(cfg: ml_collections.ConfigDict, train_docs: list[Document], workdir: str | None) -> Tokenizer:
    """The workdir's tokenizer if it has one, else one trained (or taken from the cache) on the training split."""
    saved = os.path.join(workdir, TOKENIZER_FILE) if workdir else None
    if saved and os.path.exists(saved):
        tok = Tokenizer(saved)
    else:
        spec = TokenizerSpec(vocab_size=cfg.model.vocab_size, model_type=cfg.data.tokenizer)
        path = train_tokenizer([d.text for d in train_docs], spec)
        tok = Tokenizer(path)
        if saved:
            shutil.copyfile(path, saved + ".tmp")
            os.replace(saved + ".tmp", saved)
    if tok.vocab_size != cfg.model.vocab_size:
        raise UserError(f"tokenizer {saved} has {tok.vocab_size} ids but config.model.vocab_size is "
                        f"{cfg.model.vocab_size}: set --config.model.vocab_size={tok.vocab_size} or use a fresh workdir")
    return tok


def load_corpus(cfg: ml_collections.ConfigDict, workdir: str | None = None) -> Corpus:
    """Split, tokenizer and one packed token stream per split."""
    docs = load_splits(cfg.data)
    tok = tokenizer_for(cfg, docs["train"], workdir)
    streams = {s: concat_documents(tok.encode_batch([d.text for d in docs[s]]), EOS_ID) for s in SPLITS}
    if num_rows(streams["train"], cfg.data.seq_len) < 1:
        raise UserError(f"training split has {len(streams['train'])} tokens, fewer than one row of "
                        f"config.data.seq_len={cfg.data.seq_len}: add text or lower the sequence length")
    return Corpus(docs, tok, streams)


def train_batches(stream: TokenStream, seq_len: int, batch_size: int, seed: int,
                  shard_index: int = 0, shard_count: int = 1) -> grain.IterDataset:
    """Infinite shuffled batches of `batch_size` rows for this process (its 1/shard_count of every global batch)."""
    rows = grain.MapDataset.range(num_rows(stream, seq_len)).shuffle(seed=seed).repeat(None)
    rows = rows[shard_index::shard_count].map(lambda i: causal_lm_row(stream, int(i), seq_len))
    return rows.batch(batch_size, drop_remainder=True).to_iter_dataset(
        grain.ReadOptions(num_threads=1, prefetch_buffer_size=4))


def eval_batches(stream: TokenStream, seq_len: int, batch_size: int, max_batches: int = 0):
    """Every row of a split in order (last row and last batch padded with weight-0 rows)."""
    n = num_rows(stream, seq_len, partial=True)
    n_batches = -(-n // batch_size)
    if max_batches:
        n_batches = min(n_batches, max_batches)
    empty = causal_lm_row(TokenStream(np.zeros(0, np.int32), np.zeros(0, np.int32)), 0, seq_len)
    for b in range(n_batches):
        rows = [causal_lm_row(stream, i, seq_len) if i < n else empty for i in range(b * batch_size, (b + 1) * batch_size)]
        yield {k: np.stack([r[k] for r in rows]) for k in rows[0]}
