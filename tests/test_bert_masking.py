"""Properties of BERT's masking function over many seeds: rates, specials, targets, determinism, words, cap."""

import numpy as np

from jaxlm.data.masking import MaskSpec, mask_tokens, word_ids
from jaxlm.data.tokenizer import CLS_ID, FIRST_ORDINARY_ID, MASK_ID, NEWLINE_ID, SEP_ID
from jaxlm.objectives.base import Prepared
from jaxlm.objectives.masked import masked_example
from jaxlm.pipeline.dataset import example_dataset

VOCAB = 512


def _sequence(rng: np.random.Generator, length: int = 128) -> np.ndarray:
    """[CLS] A [SEP] B [SEP] then padding, with sentinels/eos sprinkled in and newlines/byte pieces as text."""
    n = int(rng.integers(length // 2, length))
    seq = rng.integers(FIRST_ORDINARY_ID, VOCAB, n)
    seq[rng.random(n) < 0.05] = NEWLINE_ID
    seq[rng.random(n) < 0.03] = rng.integers(1, FIRST_ORDINARY_ID)  # eos, sentinels and other specials
    seq[0], seq[n // 2], seq[-1] = CLS_ID, SEP_ID, SEP_ID
    return np.concatenate([seq, np.zeros(length - n, np.int64)])


def _run(spec: MaskSpec, n_seqs: int = 2000):
    rng = np.random.default_rng(0)
    for i in range(n_seqs):
        tokens = _sequence(rng)
        yield tokens, mask_tokens(tokens, np.random.default_rng([7, i]), spec)


def test_rates_specials_and_targets():
    spec = MaskSpec(VOCAB, max_predictions=10_000)
    maskable = selected = masked = randomized = kept = newline_hits = 0
    for tokens, out in _run(spec):
        chosen = out["weights"] > 0
        ordinary = tokens >= FIRST_ORDINARY_ID
        assert not np.any(chosen & ~ordinary)  # pad, [CLS], [SEP] and other specials are never selected
        np.testing.assert_array_equal(out["targets"], np.where(chosen, tokens, 0))
        np.testing.assert_array_equal(out["inputs"][~chosen], tokens[~chosen])
        replaced = out["inputs"][chosen & (out["inputs"] != MASK_ID)]
        assert np.all((replaced >= FIRST_ORDINARY_ID) & (replaced < VOCAB))  # random tokens are ordinary
        maskable += ordinary.sum()
        selected += chosen.sum()
        masked += np.sum(out["inputs"][chosen] == MASK_ID)
        kept += np.sum(out["inputs"][chosen] == tokens[chosen])
        randomized += np.sum((out["inputs"][chosen] != MASK_ID) & (out["inputs"][chosen] != tokens[chosen]))
        newline_hits += np.sum(chosen & (tokens == NEWLINE_ID))
    assert maskable >= 50_000
    assert abs(selected / maskable - 0.15) < 0.01
    assert abs(masked / selected - 0.8) < 0.02
    assert abs(randomized / selected - 0.1) < 0.02 and abs(kept / selected - 0.1) < 0.02
    assert newline_hits > 0  # "\n" (id 107) is ordinary text


def test_bert_count_rule_and_cap():
    for cap in (1, 5, 20):
        for tokens, out in _run(MaskSpec(VOCAB, max_predictions=cap), n_seqs=200):
            n_candidates = int(np.sum(tokens >= FIRST_ORDINARY_ID))
            assert out["weights"].sum() == min(cap, max(1, round(n_candidates * 0.15)))


def test_same_rng_same_mask_and_seeds_differ():
    tokens = _sequence(np.random.default_rng(1))
    spec = MaskSpec(VOCAB)
    a, b = mask_tokens(tokens, np.random.default_rng(3), spec), mask_tokens(tokens, np.random.default_rng(3), spec)
    c = mask_tokens(tokens, np.random.default_rng(4), spec)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["weights"], c["weights"])


def test_all_fractions_are_configurable():
    spec = MaskSpec(VOCAB, mask_prob=0.3, mask_token_frac=0.0, random_token_frac=1.0, max_predictions=10_000)
    selected = maskable = 0
    for tokens, out in _run(spec, n_seqs=300):
        chosen = out["weights"] > 0
        assert not np.any(out["inputs"][chosen] == MASK_ID)
        selected, maskable = selected + chosen.sum(), maskable + np.sum(tokens >= FIRST_ORDINARY_ID)
    assert abs(selected / maskable - 0.3) < 0.01


def test_whole_word_masking_masks_whole_words():
    starts = np.random.default_rng(5).random(VOCAB) < 0.4
    spec = MaskSpec(VOCAB, word_starts=starts, max_predictions=12)
    for tokens, out in _run(spec, n_seqs=300):
        candidates = np.flatnonzero(tokens >= FIRST_ORDINARY_ID)
        words = word_ids(tokens, candidates, starts)
        chosen = out["weights"][candidates] > 0
        for w in np.unique(words):
            assert len(set(chosen[words == w])) == 1  # a word is predicted entirely or not at all
        assert chosen.sum() <= min(12, max(1, round(len(candidates) * 0.15)))
        # a word starts at a start piece, after "\n" and after a special token
        for k in range(1, len(candidates)):
            i, prev = candidates[k], tokens[candidates[k] - 1]
            fresh = starts[tokens[i]] or prev == NEWLINE_ID or prev < FIRST_ORDINARY_ID
            assert (words[k] != words[k - 1]) == bool(fresh)


def test_static_masks_repeat_every_epoch_and_dynamic_ones_do_not():
    """BERT's static masks (one per example, fixed before training) are the same in epochs 1 and 2; RoBERTa's
    dynamic masks are drawn anew each time an example is seen."""
    rng = np.random.default_rng(1)
    examples = [dict(source_ids=_sequence(rng)) for _ in range(40)]
    spec = MaskSpec(VOCAB)

    def masks_by_example(static: bool) -> list[dict[int, bytes]]:
        prepared = Prepared(examples, lambda ex, r: masked_example(ex, r, spec), static=static)
        ds = example_dataset(prepared, seed=3)
        epochs = []
        for e in range(2):
            seen = {}
            for k in range(e * len(examples), (e + 1) * len(examples)):
                row = ds[k]
                seen[row["source_ids"].tobytes()] = row["inputs"].tobytes()
            assert len(seen) == len(examples)
            epochs.append(seen)
        return epochs

    first, second = masks_by_example(static=True)
    assert first == second
    first, second = masks_by_example(static=False)
    assert sum(first[k] == second[k] for k in first) <= 2
