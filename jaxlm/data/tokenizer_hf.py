"""`data.tokenizer_trainer=hf_bpe`: a byte-level BPE trained by Hugging Face `tokenizers` (fast, multi-threaded),
written as a tokenizer.json with jaxlm's roles at jaxlm's ids (pad 0 … <extra_id_99> 106); lossless on any text."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

import tokenizers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from jaxlm.data.tokenizer import CONTROL_SYMBOLS, MIN_VOCAB_SIZE, SPECIAL_PIECES, TokenizerSpec, bounded_lines
from jaxlm.errors import UserError
from jaxlm.io import atomic_write

_FORMAT = "jaxlm-hf-bpe-v1"  # bump when the settings below change: invalidates the cache
SPECIALS = [SPECIAL_PIECES[i] for i in sorted(SPECIAL_PIECES)] + CONTROL_SYMBOLS  # ids 0 … 106, in order


def cache_key(texts: Sequence[str], spec: TokenizerSpec) -> str:
    """sha256 over the texts, the vocabulary size, the `tokenizers` version and the trainer format."""
    h = hashlib.sha256(f"{_FORMAT}|tokenizers {tokenizers.__version__}|{spec.vocab_size}".encode())
    for t in texts:
        b = t.encode("utf-8", "surrogatepass")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def train_bytes(texts: Sequence[str], spec: TokenizerSpec) -> bytes:
    """A byte-level BPE of `spec.vocab_size` ids trained on the lines of `texts`; the tokenizer.json's bytes."""
    if spec.vocab_size < MIN_VOCAB_SIZE:
        raise UserError(
            f"tokenizer vocab_size {spec.vocab_size} is too small: the minimum is {MIN_VOCAB_SIZE}; "
            f"set --config.model.vocab_size={MIN_VOCAB_SIZE} or more"
        )
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=spec.vocab_size,
        special_tokens=SPECIALS,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    lines = [ln + "\n" for t in texts for ln in bounded_lines(t)]
    if not lines:
        raise UserError("tokenizer training texts are empty: give a corpus with some non-whitespace text")
    tok.train_from_iterator(lines, trainer=trainer, length=len(lines))
    if tok.get_vocab_size() < spec.vocab_size:
        raise UserError(
            f"the tokenizer's sample yields only {tok.get_vocab_size()} BPE pieces, fewer than "
            f"config.model.vocab_size={spec.vocab_size}: set --config.model.vocab_size={tok.get_vocab_size()}"
        )
    return tok.to_str().encode("utf-8")


def train_tokenizer_json(texts: Sequence[str], spec: TokenizerSpec, cache_dir: str) -> str:
    """Train (or reuse from the cache) a byte-level BPE tokenizer.json on `texts`; returns its path."""
    path = os.path.join(cache_dir, f"{cache_key(texts, spec)}.json")
    if not os.path.isfile(path):
        data = train_bytes(texts, spec)
        os.makedirs(cache_dir, exist_ok=True)
        atomic_write(path, data)
    return path
