"""BERT's masking function A(x̃|x): pick positions to predict and corrupt them (80% [MASK], 10% random, 10% kept).

The number of predictions follows google-research/bert's `create_masked_lm_predictions`:
n = min(max_predictions, max(1, round(#candidates × mask_prob))) positions drawn without replacement from
the maskable ones (ids ≥ FIRST_ORDINARY_ID: never pad, [CLS], [SEP], [MASK], eos or sentinels) — not the
Hugging Face Flax example's independent Bernoulli(mask_prob) per token. With whole-word masking, whole words
are drawn in random order and a word that would overshoot n is skipped (as in BERT).
"""

from dataclasses import dataclass

import ml_collections
import numpy as np

from jaxlm.data.tokenizer import FIRST_ORDINARY_ID, MASK_ID, PAD_ID, Tokenizer
from jaxlm.errors import UserError

NEWLINE_ID = FIRST_ORDINARY_ID  # the "\n" piece: ordinary (maskable), and a word boundary


@dataclass(frozen=True)
class MaskSpec:
    """Every number of the masking function."""

    vocab_size: int
    mask_prob: float = 0.15            # fraction of maskable positions to predict
    mask_token_frac: float = 0.8       # of those: replaced by [MASK] ...
    random_token_frac: float = 0.1     # ... by a random ordinary token; the rest keep their token
    max_predictions: int = 20          # cap per sequence
    word_starts: np.ndarray | None = None  # bool [vocab]: pieces that begin a word; None = per-token masking


def word_start_table(tok: Tokenizer) -> np.ndarray:
    """bool [vocab]: pieces beginning with '▁' (a space) or the "\n" piece itself."""
    table = np.array([tok.id_to_piece(i).startswith("\u2581") for i in range(tok.vocab_size)])
    table[NEWLINE_ID] = True
    return table


def max_predictions(data: ml_collections.ConfigDict) -> int:
    """`config.data.max_predictions`, or for 0 round(mask_prob × seq_len): the cap scales with the length (19 at
    128 tokens, 77 at 512; BERT's scripts used 20 and 80), so 15% of the tokens are predicted at any length."""
    return data.max_predictions or max(1, round(data.mask_prob * data.seq_len))


def mask_spec(cfg: ml_collections.ConfigDict, tok: Tokenizer) -> MaskSpec:
    """The MaskSpec of `config.data`; UserError for impossible values."""
    d = cfg.data
    if not 0.0 < d.mask_prob <= 1.0:
        raise UserError(f"config.data.mask_prob={d.mask_prob} must be in (0, 1]: pass e.g. --config.data.mask_prob=0.15")
    if min(d.mask_token_frac, d.random_token_frac) < 0 or d.mask_token_frac + d.random_token_frac > 1.0:
        raise UserError(f"config.data.mask_token_frac={d.mask_token_frac} and random_token_frac={d.random_token_frac} "
                        "must be ≥ 0 with a sum ≤ 1 (the rest keep their token): e.g. 0.8 and 0.1")
    if d.max_predictions < 0:
        raise UserError(f"config.data.max_predictions={d.max_predictions} must be ≥ 1 (or 0 = round(mask_prob × "
                        "seq_len)): pass e.g. --config.data.max_predictions=20")
    return MaskSpec(tok.vocab_size, d.mask_prob, d.mask_token_frac, d.random_token_frac, max_predictions(d),
                    word_start_table(tok) if d.whole_word_mask else None)


def word_ids(tokens: np.ndarray, candidates: np.ndarray, word_starts: np.ndarray) -> np.ndarray:
    """Word index of each candidate position: a word starts at a start piece, after "\n" or after a special."""
    prev = np.concatenate([[PAD_ID], tokens[:-1]])[candidates]
    starts = word_starts[tokens[candidates]] | (prev == NEWLINE_ID) | (prev < FIRST_ORDINARY_ID)
    return np.cumsum(starts) - 1


def _choose(tokens: np.ndarray, candidates: np.ndarray, n: int, spec: MaskSpec,
            rng: np.random.Generator) -> np.ndarray:
    """Sorted positions to predict: n candidates, or whole words adding up to at most n."""
    if spec.word_starts is None:
        return np.sort(rng.choice(candidates, n, replace=False))
    words = word_ids(tokens, candidates, spec.word_starts)
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
    candidates = np.flatnonzero(tokens >= FIRST_ORDINARY_ID)
    if len(candidates) == 0:
        return dict(inputs=inputs, targets=targets, weights=weights)
    n = min(spec.max_predictions, max(1, int(round(len(candidates) * spec.mask_prob))))
    chosen = _choose(tokens, candidates, n, spec, rng)
    r = rng.random(len(chosen))
    inputs[chosen[r < spec.mask_token_frac]] = MASK_ID
    randomized = chosen[(r >= spec.mask_token_frac) & (r < spec.mask_token_frac + spec.random_token_frac)]
    inputs[randomized] = rng.integers(FIRST_ORDINARY_ID, spec.vocab_size, len(randomized))
    targets[chosen], weights[chosen] = tokens[chosen], 1.0
    return dict(inputs=inputs, targets=targets, weights=weights)
