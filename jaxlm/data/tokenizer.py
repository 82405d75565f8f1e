"""SentencePiece tokenizer with reserved ids: lossless on any text (byte fallback, identity normalization)."""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import io
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import sentencepiece as spm

from jaxlm.data.special_tokens import SpecialIds, check_needs, ordinary, resolve
from jaxlm.data.tokenizer_json import TokenizerJson
from jaxlm.errors import UserError
from jaxlm.io import atomic_write

PAD_ID = 0
EOS_ID = 1
BOS_ID = 2
UNK_ID = 3
CLS_ID = 4
SEP_ID = 5
MASK_ID = 6
SENTINEL_BASE = 7  # <extra_id_i> has id SENTINEL_BASE + i
N_SENTINELS = 100
FIRST_ORDINARY_ID = SENTINEL_BASE + N_SENTINELS  # 107: the "\n" piece, then the 256 byte pieces, then learned pieces
NEWLINE_ID = FIRST_ORDINARY_ID  # the "\n" piece: ordinary text, and a word boundary
N_BYTE_PIECES = 256
MIN_VOCAB_SIZE = 512  # 107 reserved + "\n" + 256 byte pieces + room for characters and learned pieces

SPECIAL_PIECES = {PAD_ID: "<pad>", EOS_ID: "</s>", BOS_ID: "<s>", UNK_ID: "<unk>"}
CONTROL_SYMBOLS = ["[CLS]", "[SEP]", "[MASK]"] + [f"<extra_id_{i}>" for i in range(N_SENTINELS)]
JAXLM_IDS = SpecialIds(
    PAD_ID,
    EOS_ID,
    BOS_ID,
    UNK_ID,
    CLS_ID,
    SEP_ID,
    MASK_ID,
    tuple(range(SENTINEL_BASE, SENTINEL_BASE + N_SENTINELS)),
    newline=NEWLINE_ID,
    reserved=tuple(range(FIRST_ORDINARY_ID)),
)
MODEL_TYPES = ("unigram", "bpe", "char")  # "word" is refused: not lossless (see _check_spec)
_TRAINER_FORMAT = "jaxlm-tokenizer-v2"  # bump when the trainer settings below change: invalidates the cache
MAX_SENTENCE_BYTES = 4192  # longer lines reach the trainer cut into pieces (sentencepiece's own default bound)


@dataclass(frozen=True)
class TokenizerSpec:
    """What to train: the cache key covers these fields, the texts and the sentencepiece version."""

    vocab_size: int = 4096
    model_type: str = "unigram"  # or "bpe", "char" ("word" is refused: sentencepiece's word model is lossy)
    character_coverage: float = 1.0
    max_sentences: int = 0  # 0 = all


def default_cache_dir() -> str:
    """$JAXLM_CACHE/tokenizers, or ~/.cache/jaxlm/tokenizers."""
    root = os.environ.get("JAXLM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "jaxlm")
    return os.path.join(root, "tokenizers")


def cache_key(texts: Sequence[str], spec: TokenizerSpec) -> str:
    """sha256 over the texts, the spec fields, the sentencepiece version and the trainer format."""
    h = hashlib.sha256()
    h.update(f"{_TRAINER_FORMAT}|sentencepiece {spm.__version__}|{sorted(dataclasses.asdict(spec).items())}".encode())
    for t in texts:
        b = t.encode("utf-8", "surrogatepass")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def _check_spec(spec: TokenizerSpec) -> None:
    if spec.vocab_size < MIN_VOCAB_SIZE:
        raise UserError(
            f"tokenizer vocab_size {spec.vocab_size} is too small: the minimum is {MIN_VOCAB_SIZE} "
            f"({FIRST_ORDINARY_ID} reserved ids + newline + {N_BYTE_PIECES} byte pieces + characters); raise it"
        )
    if spec.model_type == "word":
        raise UserError(
            "tokenizer model_type 'word' is not lossless (sentencepiece byte-encodes the spaces of unknown words, "
            "which breaks decoding and bits-per-byte): use unigram, bpe or char"
        )
    if spec.model_type not in MODEL_TYPES:
        raise UserError(f"unknown tokenizer model_type '{spec.model_type}': use one of {', '.join(MODEL_TYPES)}")
    if not 0.0 < spec.character_coverage <= 1.0:
        raise UserError(
            f"tokenizer character_coverage {spec.character_coverage} is out of range: use a value in (0, 1]"
        )
    if spec.max_sentences < 0:
        raise UserError(f"tokenizer max_sentences {spec.max_sentences} is negative: use 0 for all sentences or a count")


def _train_bytes(texts: Sequence[str], spec: TokenizerSpec) -> bytes:
    """Train a model in memory on the non-empty lines of `texts`; returns the serialized model proto."""
    lines = [ln for t in texts for ln in bounded_lines(t)]
    if not lines:
        raise UserError("tokenizer training texts are empty: give a corpus with some non-whitespace text")
    writer = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines),
            model_writer=writer,
            vocab_size=spec.vocab_size,
            model_type=spec.model_type,
            character_coverage=spec.character_coverage,
            input_sentence_size=spec.max_sentences,
            shuffle_input_sentence=True,
            max_sentence_length=MAX_SENTENCE_BYTES + 1,  # a longer sentence would be left out
            normalization_rule_name="identity",
            remove_extra_whitespaces=False,
            add_dummy_prefix=False,
            allow_whitespace_only_pieces=True,
            byte_fallback=True,
            split_digits=True,
            user_defined_symbols=["\n"],
            control_symbols=CONTROL_SYMBOLS,
            pad_id=PAD_ID,
            eos_id=EOS_ID,
            bos_id=BOS_ID,
            unk_id=UNK_ID,
            pad_piece=SPECIAL_PIECES[PAD_ID],
            eos_piece=SPECIAL_PIECES[EOS_ID],
            bos_piece=SPECIAL_PIECES[BOS_ID],
            unk_piece=SPECIAL_PIECES[UNK_ID],
            num_threads=2,
            minloglevel=2,
        )
    except RuntimeError as e:
        msg = " ".join(str(e).split("] ", 1)[-1].split())
        raise UserError(
            f"sentencepiece could not train a {spec.vocab_size}-piece {spec.model_type} tokenizer: {msg}: {_fix(msg, spec)}"
        ) from None
    return writer.getvalue()


def _fix(msg: str, spec: TokenizerSpec) -> str:
    """The overrides that fix sentencepiece's complaint `msg`, as the user types them."""
    most = re.search(r"<= *(\d+)", msg)
    if most:  # the sample has too few distinct pieces for the vocabulary
        return f"set --config.model.vocab_size={max(int(most.group(1)), MIN_VOCAB_SIZE)} (the most this sample allows)"
    lower = round(min(spec.character_coverage, 0.9995) - 0.0005, 4)
    return (
        f"set --config.data.tokenizer_character_coverage={lower} (now {spec.character_coverage}; the rarest "
        f"characters are then spelled in byte pieces) or --config.model.vocab_size={2 * spec.vocab_size}"
    )


def effective_coverage(texts: Sequence[str], vocab_size: int, coverage: float) -> float:
    """The character coverage to train with: 1.0 (every character of the sample its own piece) when its distinct
    characters fit in half of the pieces left after the reserved, newline and byte pieces; else `coverage`, or
    less where needed for the most frequent characters to fit there (the rarest are spelled in byte pieces)."""
    room = (vocab_size - FIRST_ORDINARY_ID - 1 - N_BYTE_PIECES) // 2
    counts = collections.Counter()
    for t in texts:
        counts.update(t)
    if len(counts) <= room:
        return 1.0
    frequent = np.sort(np.fromiter(counts.values(), np.int64))[::-1]
    fits = float(frequent[:room].sum() / frequent.sum())
    return min(coverage, math.floor(fits * 1e4) / 1e4)


def bounded_lines(text: str) -> list[str]:
    """The non-blank lines of `text`, each cut into pieces of at most MAX_SENTENCE_BYTES (what trainers see)."""
    return [piece for ln in text.split("\n") if ln.strip() for piece in _bounded(ln)]


def _bounded(line: str) -> list[str]:
    """`line` in pieces of at most MAX_SENTENCE_BYTES UTF-8 bytes, cut after a space where there is one: a
    multi-megabyte line fed whole makes sentencepiece's trainer slow beyond proportion."""
    data = line.encode("utf-8", "surrogatepass")
    pieces, start = [], 0
    while len(data) - start > MAX_SENTENCE_BYTES:
        end = data.rfind(b" ", start + 1, start + MAX_SENTENCE_BYTES) + 1 or start + MAX_SENTENCE_BYTES
        while data[end] & 0xC0 == 0x80:  # never inside a character
            end -= 1
        pieces.append(data[start:end])
        start = end
    pieces.append(data[start:])
    return [p.decode("utf-8", "surrogatepass") for p in pieces]


def train_tokenizer(texts: Sequence[str], spec: TokenizerSpec, cache_dir: str | None = None) -> str:
    """Train (or reuse from the cache) a tokenizer on `texts`; returns the path of the .model file."""
    _check_spec(spec)
    cache_dir = cache_dir or default_cache_dir()
    path = os.path.join(cache_dir, f"{cache_key(texts, spec)}.model")
    if os.path.isfile(path):
        return path
    data = _train_bytes(texts, spec)
    os.makedirs(cache_dir, exist_ok=True)
    atomic_write(path, data)  # readers never see a half-written model
    return path


class Tokenizer:
    """A tokenizer and where jaxlm's roles sit in it (`.ids`): a jaxlm-trained sentencepiece model (the reserved
    ids of the module constants), a pretrained sentencepiece .model, or a Hugging Face tokenizer.json."""

    def __init__(self, model_path: str, specials: str = ""):
        if not os.path.isfile(model_path):
            raise UserError(f"tokenizer model '{model_path}' does not exist: train one with `jaxlm tokenizer train`")
        with open(model_path, "rb") as f:
            self._init(f.read(), f"'{model_path}'", specials)

    @classmethod
    def from_bytes(cls, data: bytes, specials: str = "") -> Tokenizer:
        """A tokenizer from its file's bytes (as returned by to_bytes); `specials` as config.data.tokenizer_specials."""
        tok = cls.__new__(cls)
        tok._init(bytes(data), "(from bytes)", specials)
        return tok

    def _init(self, data: bytes, where: str, specials: str) -> None:
        self._data, self.specials, self.where = data, specials, where
        backend = TokenizerJson(data, where) if data.lstrip()[:1] == b"{" else SentencePieceModel(data, where)
        self._backend = backend
        if isinstance(backend, SentencePieceModel) and backend.has_jaxlm_layout():
            if specials:
                raise UserError(
                    f"config.data.tokenizer_specials='{specials}' applies to pretrained tokenizers only: "
                    f"jaxlm-trained tokenizer {where} has fixed ids (pad 0 … <extra_id_99> 106); leave it empty"
                )
            self.ids = JAXLM_IDS
        else:
            found = resolve(backend.special_id, backend.declared(), specials, backend.special_pieces(), where)
            newline = self.encode("\n")
            reserved = tuple(sorted(backend.special_ids() | found.ids()))
            self.ids = dataclasses.replace(found, newline=newline[0] if len(newline) == 1 else None, reserved=reserved)
        n = backend.vocab_size
        if n <= max(self.ids.reserved, default=0):
            raise UserError(f"tokenizer {where} has only {n} ids: it is not a usable tokenizer")
        self._drop = np.zeros(n, dtype=bool)  # ids that decode to nothing: every special token but unk
        self._drop[list(set(self.ids.reserved) - {self.ids.unk})] = True

    def to_bytes(self) -> bytes:
        """The tokenizer file's bytes."""
        return self._data

    @property
    def fingerprint(self) -> str:
        """sha256 of the file, and of config.data.tokenizer_specials when it names tokens: what a store was made with."""
        return hashlib.sha256(
            self._data + (f"\0specials={self.specials}".encode() if self.specials else b"")
        ).hexdigest()

    @property
    def vocab_size(self) -> int:
        """Number of ids (special, byte and learned pieces)."""
        return self._backend.vocab_size

    def encode(self, text: str) -> list[int]:
        """Text -> ids (no BOS/EOS added). Literal "[MASK]" etc. in text never become special ids."""
        return self._backend.encode_batch([text], 1)[0]

    def encode_batch(self, texts: Sequence[str], num_threads: int = 0) -> list[list[int]]:
        """Encode many texts at once on the backend's thread pool (num_threads 0 = all cores)."""
        return self._backend.encode_batch(list(texts), num_threads if num_threads > 0 else (os.cpu_count() or 1))

    def decode(self, ids: Sequence[int]) -> str:
        """Ids -> text; special ids (pad/eos/bos, [CLS]/[SEP]/[MASK], sentinels) and ids past the tokenizer's (a
        padded embedding table's) are skipped."""
        ids = [int(i) for i in ids]
        n = len(self._drop)
        return self._backend.decode([i for i in ids if 0 <= i < n and not self._drop[i]])

    def id_to_piece(self, i: int) -> str:
        """The piece string of id i (sentencepiece: '▁' stands for a space, '<0xNN>' for a raw byte)."""
        return self._backend.id_to_piece(int(i))

    def sentinel_id(self, i: int) -> int:
        """Id of <extra_id_i>, i in [0, number of sentinels)."""
        if not 0 <= i < len(self.ids.sentinels):
            raise ValueError(f"sentinel index {i} out of range [0, {len(self.ids.sentinels)})")
        return self.ids.sentinels[i]

    def require(self, needs: Sequence[str], objective: str) -> None:
        """UserError (one line) when this tokenizer lacks a role that `objective` needs."""
        check_needs(self.ids, tuple(needs), objective, self.where)

    def require_vocab_size(self, vocab_size: int, otherwise: str = "use a fresh --workdir") -> None:
        """UserError (one line) unless this tokenizer's ids fit config.model.vocab_size: exactly for a jaxlm-trained
        one, at most for a pretrained one (Qwen's embedding tables are padded past their tokenizer's ids); the fix
        offered besides setting vocab_size is `otherwise`."""
        padded = self.ids != JAXLM_IDS and self.vocab_size < vocab_size
        if self.vocab_size != vocab_size and not padded:
            raise UserError(
                f"tokenizer {self.where} has {self.vocab_size} ids but config.model.vocab_size is "
                f"{vocab_size}: set --config.model.vocab_size={self.vocab_size} or {otherwise}"
            )

    def byte_lengths(self) -> np.ndarray:
        """int32 [vocab_size]: UTF-8 bytes each id adds to decoded text (byte pieces 1, special ids 0)."""
        return self._byte_lengths

    @cached_property
    def _byte_lengths(self) -> np.ndarray:
        out = np.array([0 if self._drop[i] else self._backend.byte_length(i) for i in range(self.vocab_size)], np.int32)
        out.setflags(write=False)
        return out

    def piece_texts(self) -> list[str]:
        """The text each id adds when decoded in running text (a leading space where it begins a word)."""
        return self._piece_texts

    @cached_property
    def _piece_texts(self) -> list[str]:
        return [self._backend.piece_text(i) for i in range(self.vocab_size)]

    @cached_property
    def word_start_table(self) -> np.ndarray:
        """bool [vocab]: ordinary ids whose text begins a new word on its own (a leading space, or the newline)."""
        table = np.array([t.startswith(" ") for t in self.piece_texts()]) & ordinary(self.ids, self.vocab_size)
        if self.ids.newline is not None:
            table[self.ids.newline] = True
        table.setflags(write=False)
        return table


class SentencePieceModel:
    """The sentencepiece backend of Tokenizer."""

    def __init__(self, data: bytes, where: str):
        try:
            self._sp = spm.SentencePieceProcessor(model_proto=data)
        except (RuntimeError, OSError, TypeError) as e:
            raise UserError(
                f"corrupt tokenizer model {where} ({type(e).__name__}): retrain it with `jaxlm tokenizer train`"
            ) from None
        self.vocab_size = self._sp.get_piece_size()

    def has_jaxlm_layout(self) -> bool:
        expected = {**SPECIAL_PIECES, **{CLS_ID + i: p for i, p in enumerate(CONTROL_SYMBOLS)}}
        return self.vocab_size > FIRST_ORDINARY_ID + N_BYTE_PIECES and all(
            self._sp.id_to_piece(i) == p for i, p in expected.items()
        )

    def declared(self) -> dict[str, int | None]:
        sp = self._sp
        return {
            r: (i if i >= 0 else None)
            for r, i in (("pad", sp.pad_id()), ("eos", sp.eos_id()), ("bos", sp.bos_id()), ("unk", sp.unk_id()))
        }

    def special_id(self, piece: str) -> int | None:
        i = self._sp.piece_to_id(piece)
        ok = self._sp.id_to_piece(i) == piece and (
            self._sp.is_control(i) or self._sp.is_unknown(i) or piece.startswith(("<", "["))
        )
        return i if ok else None

    def special_pieces(self) -> list[str]:
        return [self._sp.id_to_piece(i) for i in self.special_ids()]

    def special_ids(self) -> set[int]:
        return {i for i in range(self.vocab_size) if self._sp.is_control(i) or self._sp.is_unknown(i)}

    def encode_batch(self, texts: list[str], threads: int) -> list[list[int]]:
        return self._sp.encode(texts, out_type=int, num_threads=threads)

    def decode(self, ids: list[int]) -> str:
        return self._sp.decode(ids)

    def id_to_piece(self, i: int) -> str:
        return self._sp.id_to_piece(i)

    def piece_text(self, i: int) -> str:
        if self._sp.is_byte(i) or self._sp.is_control(i) or self._sp.is_unknown(i) or self._sp.is_unused(i):
            return ""
        return self._sp.id_to_piece(i).replace("\u2581", " ")

    def byte_length(self, i: int) -> int:
        return 1 if self._sp.is_byte(i) else len(self.piece_text(i).encode("utf-8"))
