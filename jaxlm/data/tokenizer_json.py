"""The Hugging Face tokenizer.json backend of Tokenizer, through the `tokenizers` library.

Byte counts (for bits per byte) are exact for byte-level BPE (GPT-2, RoBERTa, Llama 3) and for sentencepiece
conversions with byte fallback (T5, Llama 2); for WordPiece (BERT) a piece counts its text plus one space unless it
continues a word ("##"), which is approximate where punctuation follows a word without a space.
"""

from __future__ import annotations

import json
import re

from tokenizers import Tokenizer as RustTokenizer

from jaxlm.errors import UserError

_BYTE_PIECE = re.compile(r"<0x[0-9A-Fa-f]{2}>")


def byte_level_alphabet() -> dict[str, int]:
    """GPT-2's byte-level alphabet: the printable character that stands for each byte → that byte."""
    printable = {*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)}
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[chr(b)] = b
        else:
            chars[chr(256 + extra)] = b
            extra += 1
    return chars


def _decoder_kind(spec: dict) -> str:
    """'byte_level', 'wordpiece' or 'metaspace' (sentencepiece-style '▁' for spaces), from the decoder."""
    decoder = spec.get("decoder") or {}
    types = [d.get("type") for d in decoder.get("decoders", [decoder])]
    if "ByteLevel" in types:
        return "byte_level"
    if "WordPiece" in types:
        return "wordpiece"
    return "metaspace"


class TokenizerJson:
    """A tokenizer.json's vocabulary, special tokens and codec."""

    def __init__(self, data: bytes, where: str):
        try:
            spec = json.loads(data)
            self._tok = RustTokenizer.from_str(data.decode("utf-8"))
        except Exception as e:  # noqa: BLE001 — `tokenizers` raises bare Exception for a malformed file
            reason = " ".join(str(e).split())[:120]
            raise UserError(
                f"corrupt tokenizer.json {where} ({type(e).__name__}: {reason}): replace it with the "
                "model's original tokenizer.json"
            ) from None
        self._tok.no_padding()  # a checkpoint's fixed-length padding/truncation (MiniLM: 128) is for batching in
        self._tok.no_truncation()  # transformers; jaxlm's ids are AutoTokenizer's for one text (its file keeps both)
        self._tok.encode_special_tokens = True  # "<|endoftext|>" typed in a document is text, not the special id
        vocab = self._tok.get_vocab(with_added_tokens=True)
        self.vocab_size = max(vocab.values()) + 1
        self._pieces = [""] * self.vocab_size
        for piece, i in vocab.items():
            self._pieces[i] = piece
        self._special = {t["content"]: t["id"] for t in spec.get("added_tokens", []) if t.get("special")}
        self._kind = _decoder_kind(spec)
        self._alphabet = byte_level_alphabet()

    def declared(self) -> dict[str, int | None]:
        return {}

    def special_id(self, piece: str) -> int | None:
        return self._special.get(piece)

    def special_pieces(self) -> list[str]:
        return list(self._special)

    def special_ids(self) -> set[int]:
        return set(self._special.values())

    def encode_batch(self, texts: list[str], threads: int) -> list[list[int]]:
        if threads == 1:  # a prepare worker: one core each, not the library's own thread pool
            return [self._tok.encode(t, add_special_tokens=False).ids for t in texts]
        return [e.ids for e in self._tok.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: list[int]) -> str:
        return self._tok.decode(ids, skip_special_tokens=False)

    def id_to_piece(self, i: int) -> str:
        return self._pieces[i]

    def piece_text(self, i: int) -> str:
        piece = self._pieces[i]
        if self._kind == "byte_level":
            return bytes(self._alphabet.get(c, 0x3F) for c in piece).decode("utf-8", "replace")
        if self._kind == "wordpiece":
            return piece[2:] if piece.startswith("##") else " " + piece
        return "" if _BYTE_PIECE.fullmatch(piece) else piece.replace("\u2581", " ")

    def byte_length(self, i: int) -> int:
        piece = self._pieces[i]
        if self._kind == "byte_level":
            return len(piece)
        if self._kind == "metaspace" and _BYTE_PIECE.fullmatch(piece):
            return 1
        return len(self.piece_text(i).encode("utf-8", "surrogatepass"))
