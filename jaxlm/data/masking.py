"""BERT's masking function A(x̃|x): pick positions to predict and corrupt them (80% [MASK], 10% random, 10% kept).

The number of predictions follows google-research/bert's `create_masked_lm_predictions`:
n = min(max_predictions, max(1, round(#candidates × mask_prob))) positions drawn without replacement from
the maskable ones (ordinary ids: never pad, [CLS], [SEP], [MASK], eos, sentinels or unk) — not the
Hugging Face Flax example's independent Bernoulli(mask_prob) per token. With whole-word masking, whole words
are drawn in random order and a word that would overshoot n is skipped (as in BERT).
"""

from dataclasses import dataclass

import ml_collections
import numpy as np

from jaxlm.data.special_tokens import SpecialIds, ordinary, random_ordinary
from jaxlm.data.tokenizer import JAXLM_IDS, Tokenizer
from jaxlm.errors import UserError


@dataclass(frozen=True)
class MaskSpec:
    """Every number of the masking function."""

    vocab_size: int
    mask_prob: float = 0.15  # fraction of maskable positions to predict
    mask_token_frac: float = 0.8  # of those: replaced by [MASK] ...
    random_token_frac: float = 0.1  # ... by a random ordinary token; the rest keep their token
    max_predictions: int = 20  # cap per sequence
    word_starts: np.ndarray | None = None  # bool [vocab]: pieces that begin a word; None = per-token masking
    ids: SpecialIds = JAXLM_IDS  # where [MASK], the newline and the non-maskable ids are


def max_predictions(data: ml_collections.ConfigDict) -> int:
    """`config.data.max_predictions`, or for 0 round(mask_prob × seq_len): the cap scales with the length (19 at
    128 tokens, 77 at 512; BERT's scripts used 20 and 80), so 15% of the tokens are predicted at any length."""
    return data.max_predictions or max(1, round(data.mask_prob * data.seq_len))


def check_masking(d: ml_collections.ConfigDict) -> None:
    """UserError for impossible masking values of `config.data` (checked with the config, before any corpus work)."""
    if not 0.0 < d.mask_prob <= 1.0:
        raise UserError(
            f"config.data.mask_prob={d.mask_prob} must be in (0, 1]: pass e.g. --config.data.mask_prob=0.15"
        )
    if min(d.mask_token_frac, d.random_token_frac) < 0 or d.mask_token_frac + d.random_token_frac > 1.0:
        raise UserError(
            f"config.data.mask_token_frac={d.mask_token_frac} and random_token_frac={d.random_token_frac} "
            "must be ≥ 0 with a sum ≤ 1 (the rest keep their token): e.g. 0.8 and 0.1"
        )
    if d.max_predictions < 0:
        raise UserError(
            f"config.data.max_predictions={d.max_predictions} must be ≥ 1 (or 0 = round(mask_prob × "
            "seq_len)): pass e.g. --config.data.max_predictions=20"
        )


def mask_spec(cfg: ml_collections.ConfigDict, tok: Tokenizer) -> MaskSpec:
    """The MaskSpec of `config.data` (whose values `check_masking` accepted) for tokenizer `tok`."""
    d = cfg.data
    check_masking(d)
    return MaskSpec(
        tok.vocab_size,
        d.mask_prob,
        d.mask_token_frac,
        d.random_token_frac,
        max_predictions(d),
        tok.word_start_table if d.whole_word_mask else None,
        tok.ids,
    )


def word_ids(
    tokens: np.ndarray,
    candidates: np.ndarray,
    word_starts: np.ndarray,
    ids: SpecialIds = JAXLM_IDS,
) -> np.ndarray:
    """Word index of each candidate position: a word starts at a start piece, after "\n" or after a special."""
    after_special = np.concatenate([[True], ~ordinary(ids, len(word_starts))[tokens[:-1]]])[candidates]
    after_newline = np.concatenate([[False], tokens[:-1] == ids.newline])[candidates]
    return np.cumsum(word_starts[tokens[candidates]] | after_newline | after_special) - 1


def _choose(tokens: np.ndarray, candidates: np.ndarray, n: int, spec: MaskSpec, rng: np.random.Generator) -> np.ndarray:
    """Sorted positions to predict: n candidates, or whole words adding up to at most n."""
    if spec.word_starts is None:
        return np.sort(rng.choice(candidates, n, replace=False))
    words = word_ids(tokens, candidates, spec.word_starts, spec.ids)
    sizes = np.bincount(words)
    chosen, total = [], 0
    for w in rng.permutation(len(sizes)):
        if total + sizes[w] <= n:
            chosen.append(w)
            total += sizes[w]
        if total == n:
            break
    return np.sort(candidates[np.isin(words, chosen)])


def mask_tokens(tokens: np.ndarray, rng: np.random.Generator, spec: MaskSpec) -> dict[str, np.ndarray]:
    """Masked copy of `tokens` with per-token targets (the original ids) and weights (1 where predicted).

    Pure function of (tokens, rng, spec): the same rng state gives the same mask.
    """
    tokens = np.asarray(tokens, np.int32)
    inputs, targets = tokens.copy(), np.zeros_like(tokens)
    weights = np.zeros(tokens.shape, np.float32)
    candidates = np.flatnonzero(ordinary(spec.ids, spec.vocab_size)[tokens])
    if len(candidates) == 0:
        return dict(inputs=inputs, targets=targets, weights=weights)
    n = min(spec.max_predictions, max(1, int(round(len(candidates) * spec.mask_prob))))
    chosen = _choose(tokens, candidates, n, spec, rng)
    r = rng.random(len(chosen))
    inputs[chosen[r < spec.mask_token_frac]] = spec.ids.mask
    randomized = chosen[(r >= spec.mask_token_frac) & (r < spec.mask_token_frac + spec.random_token_frac)]
    inputs[randomized] = random_ordinary(spec.ids, spec.vocab_size, rng, len(randomized))
    targets[chosen], weights[chosen] = tokens[chosen], 1.0
    return dict(inputs=inputs, targets=targets, weights=weights)
