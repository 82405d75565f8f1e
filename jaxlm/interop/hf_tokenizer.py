"""A jaxlm tokenizer as Hugging Face files, so `AutoTokenizer.from_pretrained` encodes text to jaxlm's ids.

`tokenizer.json` is the run's own tokenizer.json, or its sentencepiece model converted to a `tokenizers` pipeline
that keeps sentencepiece's normalization (the precompiled charsmap, extra-whitespace removal, the dummy prefix,
spaces as '▁'), its model (unigram lattice, BPE merges by score, char) and byte fallback; `tokenizer_config.json`
and `special_tokens_map.json` name jaxlm's roles (pad, eos, … the sentinels). One difference is Hugging Face's
convention: a special token's spelling in text ("[MASK]", "<extra_id_0>") is that token there, text in jaxlm
(`tok(text, split_special_tokens=True)` gives jaxlm's ids); and a model without byte fallback (never a jaxlm-trained
one) decodes its unknown id as '<unk>' there, ' ⁇ ' in sentencepiece.
"""

from __future__ import annotations

import json
import os

from tokenizers import AddedToken, Regex, decoders, normalizers, pre_tokenizers, processors
from tokenizers import Tokenizer as RustTokenizer
from tokenizers.models import BPE, Unigram

from jaxlm.data.special_tokens import SpecialIds
from jaxlm.data.tokenizer import Tokenizer
from jaxlm.errors import UserError

HF_TOKENIZER_ENTRIES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
ROLE_KEYS = {
    "pad": "pad_token",
    "eos": "eos_token",
    "bos": "bos_token",
    "unk": "unk_token",
    "cls": "cls_token",
    "sep": "sep_token",
    "mask": "mask_token",
}
SPACE = "\u2581"  # sentencepiece's '▁': a space
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6  # ModelProto.SentencePiece.Type
UNIGRAM, BPE_MODEL, CHAR = 1, 2, 4  # TrainerSpec.ModelType (3 is WORD)


def _proto(data: bytes):
    """The sentencepiece ModelProto of a .model file's bytes."""
    try:
        from sentencepiece import sentencepiece_model_pb2
    except ImportError:
        raise UserError("exporting a sentencepiece tokenizer needs protobuf: `pip install protobuf`") from None
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(data)
    return proto


def _check_convertible(proto) -> None:
    """UserError for the sentencepiece options the conversion does not reproduce."""
    kind = proto.trainer_spec.model_type
    if kind not in (UNIGRAM, BPE_MODEL, CHAR):
        raise UserError(
            f"cannot export a sentencepiece '{proto.trainer_spec.ModelType.Name(kind)}' tokenizer to "
            "Hugging Face: only unigram, bpe and char models convert; retrain with one of them"
        )
    if proto.trainer_spec.treat_whitespace_as_suffix or not proto.normalizer_spec.escape_whitespaces:
        raise UserError(
            "cannot export a sentencepiece tokenizer with treat_whitespace_as_suffix or without "
            "escape_whitespaces to Hugging Face: retrain it with sentencepiece's defaults for both"
        )


def bpe_merges(proto) -> list[tuple[str, str]]:
    """Every (left, right) whose concatenation is a learned piece, highest-scoring result first: sentencepiece's
    BPE merges the best-scoring adjacent pair, and `tokenizers`' BPE the lowest-ranked."""
    ids = {p.piece: i for i, p in enumerate(proto.pieces) if p.type == NORMAL}
    merges = []
    for piece, i in ids.items():
        splits = [(piece[:k], piece[k:]) for k in range(1, len(piece)) if piece[:k] in ids and piece[k:] in ids]
        merges += [(-proto.pieces[i].score, i, ids[a], a, b) for a, b in splits]
    return [(a, b) for *_, a, b in sorted(merges)]


def unmatched_score(proto) -> float:
    """A unigram score for the pieces sentencepiece never matches in text (byte, control, unknown, unused): below
    any path of learned pieces across their spelling, so the lattice never picks one."""
    scores = [p.score for p in proto.pieces if p.type == NORMAL]
    return min([*scores, -1.0]) * (max(len(p.piece) for p in proto.pieces) + 1) - 1.0


def _isolate_unknown(proto) -> pre_tokenizers.PreTokenizer:
    """Each character that no learned piece has stands alone: sentencepiece's unknown node (then bytes), and no
    reserved piece ("<pad>", "<0x41>") can span it in the lattice."""
    chars = sorted({c for p in proto.pieces if p.type in (NORMAL, USER_DEFINED) for c in p.piece})
    known = "".join(f"\\x{{{ord(c):x}}}" for c in chars)
    return pre_tokenizers.Split(Regex(f"[^{known}]"), behavior="isolated")


def _model(proto):
    """The `tokenizers` model of a sentencepiece model: Unigram, BPE, or BPE without merges for char."""
    fallback = proto.trainer_spec.byte_fallback
    unk = next(i for i, p in enumerate(proto.pieces) if p.type == UNKNOWN)
    if proto.trainer_spec.model_type == UNIGRAM:
        low = unmatched_score(proto)
        vocab = [(p.piece, p.score if p.type in (NORMAL, USER_DEFINED) else low) for p in proto.pieces]
        return Unigram(vocab, unk_id=unk, byte_fallback=fallback)
    vocab = {p.piece: i for i, p in enumerate(proto.pieces)}
    merges = bpe_merges(proto) if proto.trainer_spec.model_type == BPE_MODEL else []
    return BPE(vocab, merges, unk_token=proto.pieces[unk].piece, fuse_unk=True, byte_fallback=fallback)


def _normalizer(spec) -> normalizers.Normalizer:
    """sentencepiece's normalization: the charsmap, then extra spaces dropped, the dummy prefix, spaces as '▁'."""
    steps = [normalizers.Precompiled(spec.precompiled_charsmap)] if spec.precompiled_charsmap else []
    if spec.remove_extra_whitespaces:
        steps += [normalizers.Replace(Regex(" {2,}"), " "), normalizers.Replace(Regex("^ | $"), "")]
    if spec.add_dummy_prefix:
        steps.append(normalizers.Prepend(SPACE))
    return normalizers.Sequence([*steps, normalizers.Replace(" ", SPACE)])


def _decoder(spec) -> decoders.Decoder:
    """'▁' back to spaces, byte pieces back to bytes, and the dummy prefix's space dropped."""
    steps = [decoders.Replace(SPACE, " "), decoders.ByteFallback(), decoders.Fuse()]
    return decoders.Sequence(steps + ([decoders.Strip(" ", 1, 0)] if spec.add_dummy_prefix else []))


def sentencepiece_to_tokenizers(data: bytes) -> RustTokenizer:
    """A `tokenizers` Tokenizer that encodes and decodes as the sentencepiece model `data` does."""
    proto = _proto(data)
    _check_convertible(proto)
    tok = RustTokenizer(_model(proto))
    tok.normalizer = _normalizer(proto.normalizer_spec)
    if proto.trainer_spec.model_type == UNIGRAM:
        tok.pre_tokenizer = _isolate_unknown(proto)
    tok.decoder = _decoder(proto.normalizer_spec)
    tok.add_tokens(
        [AddedToken(p.piece, normalized=False, special=False) for p in proto.pieces if p.type == USER_DEFINED]
    )
    tok.add_special_tokens(
        [AddedToken(p.piece, normalized=False, special=True) for p in proto.pieces if p.type in (CONTROL, UNKNOWN)]
    )
    return tok


def special_tokens_map(tok: Tokenizer) -> dict:
    """Hugging Face's names for jaxlm's roles: pad_token … mask_token, and the sentinels as additional tokens."""
    ids: SpecialIds = tok.ids
    out = {key: tok.id_to_piece(i) for role, key in ROLE_KEYS.items() if (i := getattr(ids, role)) is not None}
    if ids.sentinels:
        out["additional_special_tokens"] = [tok.id_to_piece(i) for i in ids.sentinels]
    return out


def tokenizer_config(tok: Tokenizer, max_len: int | None, token_types: bool) -> dict:
    """tokenizer_config.json: a PreTrainedTokenizerFast with jaxlm's roles, decoding without space clean-up, whose
    `tok(text)` returns what the model takes (token_type_ids only for `token_types`: BERT's segments)."""
    extra = {"model_max_length": int(max_len)} if max_len else {}
    names = ["input_ids", *(["token_type_ids"] if token_types else []), "attention_mask"]
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "clean_up_tokenization_spaces": False,
        "model_input_names": names,
        **extra,
        **special_tokens_map(tok),
    }


def with_eos(tokenizer_json: str, tok: Tokenizer) -> str:
    """The tokenizer.json with a post-processor that ends each text with eos, as jaxlm's encoder-decoder inputs do,
    unless it has a post-processor of its own (a pretrained tokenizer's settings are kept)."""
    rust = RustTokenizer.from_str(tokenizer_json)
    if rust.post_processor is not None or tok.ids.eos is None:
        return tokenizer_json
    eos = tok.id_to_piece(tok.ids.eos)
    rust.post_processor = processors.TemplateProcessing(
        single=f"$A {eos}", pair=f"$A {eos} $B {eos}", special_tokens=[(eos, tok.ids.eos)]
    )
    return rust.to_str()


def write_hf_tokenizer(
    out_dir: str,
    tokenizer_bytes: bytes,
    specials: str = "",
    *,
    max_len: int | None = None,
    token_types: bool = False,
    append_eos: bool = False,
) -> None:
    """Write tokenizer.json, tokenizer_config.json and special_tokens_map.json for a jaxlm tokenizer file's bytes
    (`specials` as config.data.tokenizer_specials; `max_len` the model's longest sequence; `token_types`: the model
    takes segment ids; `append_eos`: `tok(text)` ends with eos, an encoder-decoder's input as jaxlm encodes it)."""
    tok = Tokenizer.from_bytes(tokenizer_bytes, specials)
    is_json = tokenizer_bytes.lstrip()[:1] == b"{"
    data = tokenizer_bytes.decode() if is_json else sentencepiece_to_tokenizers(tokenizer_bytes).to_str()
    if append_eos:
        data = with_eos(data, tok)
    with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        f.write(data)
    for name, content in (
        ("tokenizer_config.json", tokenizer_config(tok, max_len, token_types)),
        ("special_tokens_map.json", special_tokens_map(tok)),
    ):
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            json.dump(content, f, indent=2, ensure_ascii=False)
            f.write("\n")
