"""BART noising: infilling masks exactly its budget in Poisson(3) spans, permutation and rotation keep tokens."""

import math

import numpy as np

from jaxlm.data.tokenizer import EOS_ID, FIRST_ORDINARY_ID, MASK_ID
from jaxlm.objectives import bart_noise


def test_poisson_span_lengths_sum_to_budget_with_mean_lambda():
    rng = np.random.default_rng(0)
    lengths = []
    for budget in rng.integers(20, 60, 400):
        spans = bart_noise.poisson_span_lengths(int(budget), 3.0, rng)
        assert spans.sum() == budget and (spans >= 0).all()
        lengths += list(spans[:-1])  # the last span is trimmed to the budget
    assert abs(np.mean(lengths) - 3.0) < 0.1


def test_text_infilling_masks_thirty_percent_of_words_in_whole_spans():
    rng = np.random.default_rng(1)
    fractions, span_words = [], []
    for _ in range(300):
        n = int(rng.integers(40, 120))
        tokens = np.arange(200, 200 + n, dtype=np.int32)  # distinct ids: survivors are identifiable
        starts = rng.random(n) < 0.7  # words of one or more tokens
        starts[0] = True
        out, _ = bart_noise.text_infilling(tokens, starts, 0.3, 3.0, rng)
        word = np.cumsum(starts) - 1
        survived = np.isin(tokens, out)
        masked = np.zeros(word[-1] + 1, bool)
        masked[word[~survived]] = True
        np.testing.assert_array_equal(survived, ~masked[word])  # whole words only
        assert masked.sum() == math.ceil(len(masked) * 0.3)
        np.testing.assert_array_equal(out[out != MASK_ID], tokens[survived])  # order kept
        runs = np.diff(np.concatenate([[0], masked.astype(int), [0]]))
        assert np.sum(out == MASK_ID) >= np.sum(runs == 1)  # ≥ one [MASK] per masked run (adjacent spans)
        fractions.append(masked.mean())
        span_words.append(masked.sum() / np.sum(out == MASK_ID))
    assert abs(np.mean(fractions) - 0.3) < 0.02
    assert abs(np.mean(span_words) - 3.0) < 0.5


def _sentences(tokens, ends):
    return sorted(tuple(s) for s in np.split(tokens, np.nonzero(ends)[0] + 1) if len(s))


def test_sentence_permutation_keeps_the_sentences():
    rng = np.random.default_rng(2)
    tokens = np.arange(200, 280, dtype=np.int32)  # distinct ids: sentence ends are recognisable after shuffling
    ends = rng.random(80) < 0.15
    ends[-1] = True  # a window's last piece counts as a sentence too
    out = bart_noise.permute_sentences(tokens, ends, 1.0, rng)
    assert _sentences(out, np.isin(out, tokens[ends])) == _sentences(tokens, ends)
    assert not np.array_equal(out, tokens)


def test_rotation_is_a_rotation():
    rng = np.random.default_rng(3)
    tokens = np.arange(200, 230, dtype=np.int32)
    for _ in range(20):
        out = bart_noise.rotate(tokens, rng)
        shift = int(np.nonzero(tokens == out[0])[0][0])
        assert shift > 0
        np.testing.assert_array_equal(out, np.roll(tokens, -shift))


def test_token_mask_delete_and_insert_counts():
    rng = np.random.default_rng(4)
    tokens = np.append(np.arange(200, 299, dtype=np.int32), EOS_ID)
    assert np.sum(bart_noise.token_mask(tokens, 0.2, rng) == MASK_ID) == 20
    deleted = bart_noise.token_delete(tokens, 0.2, rng)
    assert len(deleted) == 80 and deleted[-1] == EOS_ID
    inserted = bart_noise.insert_masks(tokens, 7, rng)
    assert np.sum(inserted == MASK_ID) == 7
    np.testing.assert_array_equal(inserted[inserted != MASK_ID], tokens)


def _words(rng: np.random.Generator, n_words: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Tokens of n_words words of 1–4 pieces (ids ≥ 200, a word's pieces share id // 10) and their word starts."""
    pieces = [np.arange(4) + 200 + 10 * w for w in range(n_words)]
    words = [p[: int(rng.integers(1, 5))] for p in pieces]
    tokens = np.append(np.concatenate(words), EOS_ID).astype(np.int32)
    starts = np.append(np.concatenate([np.arange(len(w)) == 0 for w in words]), False)
    return tokens, starts


def test_whole_word_masking_and_deletion_take_every_piece_of_round_rate_words():
    rng = np.random.default_rng(6)
    for _ in range(50):
        tokens, starts = _words(rng)
        masked = bart_noise.token_mask(tokens, 0.3, rng, starts)
        hit = {int(t) // 10 for t in tokens[masked == MASK_ID]}
        assert len(hit) == 12 and masked[-1] == EOS_ID
        assert np.all((masked == MASK_ID) == np.isin(tokens // 10, list(hit)))
        kept = bart_noise.token_delete(tokens, 0.3, rng, starts)
        gone = set((tokens // 10).tolist()) - set((kept // 10).tolist())
        assert len(gone) == 12 and len(kept) == len(tokens) - int(np.isin(tokens // 10, list(gone)).sum())


def test_mask_random_turns_that_fraction_of_masks_into_ordinary_tokens():
    """fairseq's --mask-random 0.1 over infilling, token masking and insertion: a tenth of the [MASK]s written
    become uniform random ordinary ids (never specials), the others stay [MASK]."""
    vocab = 4096
    starts_table = np.zeros(vocab, bool)
    starts_table[200::10] = True
    spec = bart_noise.NoiseSpec(
        token_mask=0.1, infill=0.3, insert=0.05, permute_sentences=0.0, mask_random=0.1, vocab_size=vocab
    )
    plain = bart_noise.NoiseSpec(token_mask=0.1, infill=0.3, insert=0.05, permute_sentences=0.0, vocab_size=vocab)
    rng = np.random.default_rng(8)
    masks = randomized = 0
    for i in range(400):
        tokens, _ = _words(rng)
        ends = np.zeros(vocab, bool)
        out = bart_noise.bart_noise(tokens, np.random.default_rng(i), spec, starts_table, ends)
        ref = bart_noise.bart_noise(tokens, np.random.default_rng(i), plain, starts_table, ends)
        assert len(out) == len(ref)
        changed = out != ref
        assert (
            np.all(ref[changed] == MASK_ID)
            and np.all(out[changed] >= FIRST_ORDINARY_ID)
            and np.all(out[changed] < vocab)
        )
        masks += int(np.sum(ref == MASK_ID))
        randomized += int(changed.sum())
    assert abs(randomized / masks - 0.1) < 0.01
