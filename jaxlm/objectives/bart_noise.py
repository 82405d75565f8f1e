"""BART's noising transforms as pure numpy functions of (tokens, rng), composed in fairseq's order:
sentence permutation → token masking / deletion / text infilling → insertion → rotation; then, with
`mask_random`, each [MASK] written becomes a random ordinary token with that probability (fairseq's
--mask-random, 0.1 in BART's recipe), and with `whole_word` masking and deletion pick whole words.

Text infilling differs from fairseq in one respect: spans are placed without overlapping (fairseq lets them
overlap, which masks a little less than its budget), so exactly the budget of words is covered.
"""

import math
from dataclasses import dataclass

import numpy as np

from jaxlm.data.special_tokens import SpecialIds, random_ordinary
from jaxlm.data.tokenizer import JAXLM_IDS
from jaxlm.objectives.token_classes import word_starts


@dataclass(frozen=True)
class NoiseSpec:
    token_mask: float = 0.0
    token_delete: float = 0.0
    infill: float = 0.3
    insert: float = 0.0
    poisson_lambda: float = 3.0
    permute_sentences: float = 1.0
    rotate: float = 0.0
    mask_random: float = 0.0  # probability that a written [MASK] is a random ordinary token instead
    whole_word: bool = False  # token masking / deletion: round(#words·rate) whole words, every piece
    vocab_size: int = 0  # random tokens are ordinary ids below vocab_size
    ids: SpecialIds = JAXLM_IDS  # where eos and [MASK] are


def permute_sentences(tokens: np.ndarray, ends: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Shuffle ceil(n·fraction) randomly chosen sentences among their own slots (ends: bool per token)."""
    cuts = np.nonzero(ends)[0] + 1
    sentences = [s for s in np.split(tokens, cuts) if len(s)]
    n = len(sentences)
    k = math.ceil(n * fraction)
    if k < 2:
        return tokens
    chosen = rng.choice(n, k, replace=False)
    order = np.arange(n)
    order[chosen] = chosen[rng.permutation(k)]
    return np.concatenate([sentences[i] for i in order])


def token_mask(
    tokens: np.ndarray,
    rate: float,
    rng: np.random.Generator,
    starts: np.ndarray | None = None,
    ids: SpecialIds = JAXLM_IDS,
) -> np.ndarray:
    """round(L·rate) random non-eos tokens → [MASK] (length kept); given word `starts`, whole words."""
    chosen = _choose(tokens, rate, rng, starts, ids.eos)
    return np.where(chosen, ids.mask, tokens).astype(np.int32)


def token_delete(
    tokens: np.ndarray,
    rate: float,
    rng: np.random.Generator,
    starts: np.ndarray | None = None,
    ids: SpecialIds = JAXLM_IDS,
) -> np.ndarray:
    """round(L·rate) random non-eos tokens deleted; given word `starts`, round(#words·rate) whole words."""
    return tokens[~_choose(tokens, rate, rng, starts, ids.eos)]


def _choose(
    tokens: np.ndarray, rate: float, rng: np.random.Generator, starts: np.ndarray | None, eos: int
) -> np.ndarray:
    """bool [len]: round(L·rate) non-eos tokens, or (word `starts` given) every token of round(#words·rate) words."""
    if starts is not None:
        word = np.cumsum(starts) - 1  # −1: tokens before the first word start belong to no word
        n_words = int(starts.sum())
        picked = rng.choice(n_words, min(n_words, round(n_words * rate)), replace=False)
        return np.isin(word, picked) & (tokens != eos)
    candidates = np.nonzero(tokens != eos)[0]
    picked = rng.choice(candidates, min(len(candidates), round(len(tokens) * rate)), replace=False)
    out = np.zeros(len(tokens), bool)
    out[picked] = True
    return out


def randomize_masks(
    tokens: np.ndarray, p: float, vocab_size: int, rng: np.random.Generator, ids: SpecialIds = JAXLM_IDS
) -> np.ndarray:
    """Each [MASK] → a uniformly random ordinary token with probability p."""
    hit = (tokens == ids.mask) & (rng.random(len(tokens)) < p)
    return np.where(hit, random_ordinary(ids, vocab_size, rng, len(tokens)), tokens).astype(np.int32)


def poisson_span_lengths(budget: int, lam: float, rng: np.random.Generator) -> np.ndarray:
    """Poisson(λ) lengths drawn until their sum reaches `budget`, the last trimmed so the sum is exactly it."""
    lengths = np.zeros(0, np.int64)
    while lengths.sum() < budget:
        lengths = np.concatenate([lengths, rng.poisson(lam, budget)])
    if budget == 0:
        return lengths
    cum = np.cumsum(lengths)
    last = int(np.searchsorted(cum, budget))
    lengths[last] = budget - (cum[last - 1] if last else 0)
    return lengths[: last + 1]


def text_infilling(
    tokens: np.ndarray,
    starts: np.ndarray,
    ratio: float,
    lam: float,
    rng: np.random.Generator,
    ids: SpecialIds = JAXLM_IDS,
) -> tuple[np.ndarray, int]:
    """Spans of Poisson(λ) words covering ceil(#words·ratio) words → one [MASK] each; returns (tokens, number
    of zero-length spans, which the insertion step turns into inserted [MASK]s)."""
    n_words = int(starts.sum())
    lengths = poisson_span_lengths(math.ceil(n_words * ratio), lam, rng)
    spans = lengths[lengths > 0]
    k, free = len(spans), n_words - int(spans.sum())
    slots = np.sort(rng.choice(free + k, k, replace=False))
    first_word = slots - np.arange(k) + np.concatenate([[0], np.cumsum(spans)[:-1]]).astype(np.int64)
    word_masked = np.zeros(n_words + 1, bool)  # index 0: tokens before the first word start
    span_first = np.zeros(n_words + 1, bool)
    for s, n in zip(first_word, spans):
        word_masked[s + 1 : s + 1 + n] = True
        span_first[s + 1] = True
    word = np.cumsum(starts)
    masked = word_masked[word] & (tokens != ids.eos)
    first = span_first[word] & starts
    keep = ~masked | first
    return np.where(first, ids.mask, tokens)[keep].astype(np.int32), int(np.sum(lengths == 0))


def insert_masks(tokens: np.ndarray, n: int, rng: np.random.Generator, mask_id: int = JAXLM_IDS.mask) -> np.ndarray:
    """n [MASK] tokens inserted at random positions."""
    if n <= 0:
        return tokens
    out = np.full(len(tokens) + n, mask_id, np.int32)
    inserted = np.zeros(len(out), bool)
    inserted[rng.choice(len(out), n, replace=False)] = True
    out[~inserted] = tokens
    return out


def rotate(tokens: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotate to start at a uniformly chosen token other than the first."""
    if len(tokens) < 2:
        return tokens
    return np.roll(tokens, -int(rng.integers(1, len(tokens))))


def bart_noise(
    tokens: np.ndarray,
    rng: np.random.Generator,
    spec: NoiseSpec,
    word_start_table: np.ndarray,
    sentence_end_table: np.ndarray,
) -> np.ndarray:
    """All enabled transforms, in fairseq's order (tables from jaxlm.objectives.token_classes)."""
    if spec.permute_sentences > 0:
        tokens = permute_sentences(tokens, sentence_end_table[tokens], spec.permute_sentences, rng)
    ids = spec.ids
    words = (lambda t: word_starts(t, word_start_table, ids)) if spec.whole_word else (lambda t: None)
    if spec.token_mask > 0:
        tokens = token_mask(tokens, spec.token_mask, rng, words(tokens), ids)
    if spec.token_delete > 0:
        tokens = token_delete(tokens, spec.token_delete, rng, words(tokens), ids)
    n_insert = math.ceil(len(tokens) * spec.insert)
    if spec.infill > 0:
        tokens, zero_spans = text_infilling(
            tokens, word_starts(tokens, word_start_table, ids), spec.infill, spec.poisson_lambda, rng, ids
        )
        n_insert += zero_spans
    tokens = insert_masks(tokens, n_insert, rng, ids.mask)
    if spec.mask_random > 0:
        tokens = randomize_masks(tokens, spec.mask_random, spec.vocab_size, rng, ids)
    if spec.rotate > 0 and rng.random() < spec.rotate:
        tokens = rotate(tokens, rng)
    return tokens
