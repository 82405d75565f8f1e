"""Where the roles jaxlm's objectives need (pad, eos, [CLS], [SEP], [MASK], sentinels …) sit in a tokenizer.

A jaxlm-trained tokenizer has them at fixed ids (pad 0 … <extra_id_99> 106, see tokenizer.py). A pretrained one
(a sentencepiece .model or a Hugging Face tokenizer.json) has them wherever its authors put them: each role is
found by the well-known names below (the first one the vocabulary has as a special token), can be named
explicitly with `config.data.tokenizer_specials="mask=<mask>,pad=<pad>"`, and is absent otherwise. Each objective
states the roles it needs (its `Objective` record's `needs`) and a tokenizer that lacks one is refused in one line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from jaxlm.errors import UserError

ROLES = ("pad", "eos", "bos", "unk", "cls", "sep", "mask")
ALIASES = {
    "pad": ("<pad>", "[PAD]", "<|pad|>", "<|padding|>"),
    "eos": ("</s>", "<|endoftext|>", "<|end_of_text|>", "<eos>", "[SEP]"),
    "bos": ("<s>", "<|begin_of_text|>", "<|startoftext|>", "<bos>", "[CLS]"),
    "unk": ("<unk>", "[UNK]", "<|unk|>"),
    "cls": ("[CLS]", "<cls>", "<s>"),
    "sep": ("[SEP]", "<sep>", "</s>"),
    "mask": ("[MASK]", "<mask>", "<|mask|>"),
}
SENTINEL = re.compile(r"<extra_id_(\d+)>")


@dataclass(frozen=True)
class SpecialIds:
    """The id of each role (None = the tokenizer has none) and the sentinels <extra_id_0>, <extra_id_1>, … in order."""

    pad: int | None = None
    eos: int | None = None
    bos: int | None = None
    unk: int | None = None
    cls: int | None = None
    sep: int | None = None
    mask: int | None = None
    sentinels: tuple[int, ...] = ()
    newline: int | None = None  # the id that is exactly "\n", if any (a word boundary)
    reserved: tuple[int, ...] = ()  # every id that is not ordinary text: never masked, never drawn at random

    def ids(self) -> set[int]:
        """Every id that has a role."""
        return {i for r in ROLES if (i := getattr(self, r)) is not None} | set(self.sentinels)


def parse_overrides(text: str) -> dict[str, str]:
    """'mask=<mask>,pad=<pad>' → {'mask': '<mask>', 'pad': '<pad>'}; UserError naming a bad entry."""
    out = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        role, eq, piece = item.partition("=")
        if not eq or role.strip() not in ROLES or not piece.strip():
            raise UserError(
                f"config.data.tokenizer_specials entry '{item}' is not ROLE=TOKEN with ROLE one of "
                f"{', '.join(ROLES)}: e.g. --config.data.tokenizer_specials='mask=<mask>,pad=<pad>'"
            )
        out[role.strip()] = piece.strip()
    return out


def resolve(
    special_id: Callable[[str], int | None],
    known: dict[str, int | None],
    overrides: str,
    special_pieces: list[str],
    where: str,
) -> SpecialIds:
    """Each role's id: an override names its token, else `known` (what the tokenizer declares, e.g. sentencepiece's
    pad_id), else the first alias the tokenizer has. `special_id(piece)` is the id of a special token or None;
    `special_pieces` are the special tokens, scanned for sentinels."""
    roles = {}
    named = parse_overrides(overrides)
    for role in ROLES:
        if role in named:
            roles[role] = special_id(named[role])
            if roles[role] is None:
                raise UserError(
                    f"config.data.tokenizer_specials names '{named[role]}' for {role} but tokenizer {where} "
                    "has no such special token: name one of its special tokens"
                )
            continue
        roles[role] = known.get(role)
        for alias in ALIASES[role] if roles[role] is None else ():
            if (i := special_id(alias)) is not None:
                roles[role] = i
                break
    if roles["pad"] is None and roles["eos"] is not None:
        roles["pad"] = roles["eos"]  # Hugging Face's convention for decoders without a pad token (GPT-2, Llama)
    numbered = sorted((int(m.group(1)), p) for p in special_pieces if (m := SENTINEL.fullmatch(p)))
    sentinels = []
    for n, (k, piece) in enumerate(numbered):
        if k != n:
            break
        sentinels.append(special_id(piece))
    return SpecialIds(**roles, sentinels=tuple(sentinels))


def check_needs(specials: SpecialIds, needs: tuple[str, ...], objective: str, where: str) -> None:
    """UserError when the tokenizer lacks a role (or "sentinels") that `objective` builds its examples from."""
    for role in needs:
        if role == "sentinels" and not specials.sentinels:
            raise UserError(
                f"tokenizer {where} has no sentinel tokens <extra_id_0>, <extra_id_1>, … which "
                f"objective {objective} needs: use T5's tokenizer.json (it has 100) or a jaxlm-trained "
                "tokenizer (leave config.data.tokenizer_path empty)"
            )
        if role != "sentinels" and getattr(specials, role) is None:
            names = " or ".join(ALIASES[role])
            raise UserError(
                f"tokenizer {where} has no {role} token ({names}), which objective {objective} needs: "
                f"name one of its special tokens with --config.data.tokenizer_specials={role}=TOKEN, "
                "or use a jaxlm-trained tokenizer"
            )


@lru_cache(maxsize=16)
def ordinary(ids: SpecialIds, vocab_size: int) -> np.ndarray:
    """bool [vocab_size]: the ids of ordinary text (what masking may pick and random replacement may draw)."""
    table = np.ones(vocab_size, bool)
    table[[i for i in ids.reserved if i < vocab_size]] = False
    table.setflags(write=False)
    return table


@lru_cache(maxsize=16)
def _ordinary_ids(ids: SpecialIds, vocab_size: int) -> np.ndarray:
    out = np.flatnonzero(ordinary(ids, vocab_size))
    out.setflags(write=False)
    return out


def random_ordinary(ids: SpecialIds, vocab_size: int, rng: np.random.Generator, n: int) -> np.ndarray:
    """n ordinary ids drawn uniformly (for jaxlm's layout the same draws as rng.integers(first_ordinary, vocab, n))."""
    pool = _ordinary_ids(ids, vocab_size)
    return pool[rng.integers(0, len(pool), n)]
