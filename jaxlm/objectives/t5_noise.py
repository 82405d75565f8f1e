"""T5's noising functions as pure numpy functions of (tokens, rng): span masks, sentinels, the paper's variants.

Sentinels: noise span k becomes `<extra_id_k>`, numbered in order of appearance. jaxlm's sentinels are the
reserved ids 7..106 in ascending order (T5 puts them at the top of its vocabulary, descending from the last id).
"""

import numpy as np

from jaxlm.data.special_tokens import SpecialIds, random_ordinary
from jaxlm.data.tokenizer import JAXLM_IDS


def random_segmentation(n_items: int, n_segments: int, rng: np.random.Generator) -> np.ndarray:
    """Random split of n_items into n_segments positive lengths (k−1 boundaries shuffled among n−1 slots)."""
    marks = np.arange(n_items - 1) < n_segments - 1
    rng.shuffle(marks)
    segment = np.cumsum(np.concatenate([[0], marks]))
    return np.bincount(segment, minlength=n_segments)


def noise_counts(length: int, density: float, mean_span: float) -> tuple[int, int]:
    """(noise tokens, noise spans) of T5's random_spans_noise_mask for a sequence of `length` tokens."""
    num_noise = min(max(int(np.round(length * density)), 1), length - 1)
    return num_noise, max(1, int(np.round(num_noise / mean_span)))


def random_spans_noise_mask(length: int, density: float, mean_span: float, rng: np.random.Generator) -> np.ndarray:
    """bool [length]: spans alternate non-noise, noise, ... (starting with non-noise, ending with noise)."""
    if length < 2:
        return np.zeros(length, bool)
    num_noise, num_spans = noise_counts(length, density, mean_span)
    num_spans = min(num_spans, length - num_noise)
    lengths = np.stack(
        [random_segmentation(length - num_noise, num_spans, rng), random_segmentation(num_noise, num_spans, rng)], 1
    ).reshape(-1)
    return np.repeat(np.arange(2 * num_spans) % 2 == 1, lengths)


def span_corruption_lengths(inputs_len: int, density: float = 0.15, mean_len: float = 3.0) -> tuple[int, int]:
    """(raw length, targets length): the longest raw window whose corrupted inputs (+ eos) fit `inputs_len`."""

    def lengths(raw: int) -> tuple[int, int]:
        noise = int(np.round(raw * density))
        spans = int(np.round(noise / mean_len))
        return raw - noise + spans + 1, noise + spans + 1

    raw = inputs_len - 1
    while lengths(raw + 1)[0] <= inputs_len:
        raw += 1
    return raw, lengths(raw)[1]


def span_starts(mask: np.ndarray) -> np.ndarray:
    return mask & ~np.concatenate([[False], mask[:-1]])


def limit_spans(mask: np.ndarray, max_spans: int) -> np.ndarray:
    """Clear the noise of every span after the first `max_spans` (there are only so many sentinels)."""
    span_index = np.cumsum(span_starts(mask))
    return mask & (span_index <= max_spans)


def replace_spans(tokens: np.ndarray, mask: np.ndarray, sentinels: np.ndarray) -> np.ndarray:
    """Inputs: each noise span → its sentinel."""
    starts = span_starts(mask)
    out = np.where(starts, sentinels[np.maximum(np.cumsum(starts) - 1, 0)], tokens)
    return out[~mask | starts]


def span_targets(tokens: np.ndarray, mask: np.ndarray, sentinels: np.ndarray) -> np.ndarray:
    """Targets: sentinel k followed by the tokens of noise span k, for every span in order."""
    starts = span_starts(mask)
    out = np.insert(tokens, np.nonzero(starts)[0], sentinels[: int(starts.sum())])
    keep = np.insert(mask, np.nonzero(starts)[0], True)
    return out[keep]


def span_corruption(tokens, rng, density: float, mean_span: float, sentinels: np.ndarray):
    """T5's default objective: random spans (mean length mean_span) → sentinels; targets the spans."""
    mask = random_spans_noise_mask(len(tokens), density, mean_span, rng)
    return replace_spans(tokens, mask, sentinels), span_targets(tokens, mask, sentinels)


def iid_mask(length: int, density: float, rng: np.random.Generator) -> np.ndarray:
    return rng.random(length) < density


def iid_replace_spans(tokens, rng, density: float, sentinels: np.ndarray):
    """I.i.d. token noise; runs of noise tokens are replaced like spans (T5 paper, 'replace corrupted spans')."""
    mask = limit_spans(iid_mask(len(tokens), density, rng), len(sentinels))
    return replace_spans(tokens, mask, sentinels), span_targets(tokens, mask, sentinels)


def iid_drop_tokens(tokens, rng, density: float):
    """I.i.d. noise tokens dropped from the inputs; the targets are the dropped tokens in order."""
    mask = iid_mask(len(tokens), density, rng)
    return tokens[~mask], tokens[mask]


def bert_style(tokens, rng, density: float, vocab_size: int, ids: SpecialIds = JAXLM_IDS):
    """I.i.d. noise tokens → 90% [MASK], 10% a random ordinary token (as T5's comparison); targets = all."""
    mask = iid_mask(len(tokens), density, rng)
    random_tokens = random_ordinary(ids, vocab_size, rng, len(tokens))
    noised = np.where(rng.random(len(tokens)) < 0.9, ids.mask, random_tokens)
    return np.where(mask, noised, tokens).astype(np.int32), tokens


def prefix_lm(tokens, rng):
    """Split at a uniform point in [1, L−1]: prefix → inputs, the rest → targets."""
    split = int(rng.integers(1, len(tokens))) if len(tokens) > 1 else 1
    return tokens[:split], tokens[split:]
