"""T5 objectives: span corruption is invertible with T5's counts and lengths, prefix LM splits the source."""

import numpy as np
import pytest

from jaxlm.data.tokenizer import EOS_ID, MASK_ID, SENTINEL_BASE
from jaxlm.objectives import t5_noise

SENTINELS = np.arange(SENTINEL_BASE, SENTINEL_BASE + 100, dtype=np.int32)


def _tokens(rng, n):
    return rng.integers(200, 500, n).astype(np.int32)


def reinsert(inputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Put every target span back at its sentinel (the inverse of span corruption)."""
    is_sentinel = np.isin(targets, SENTINELS)
    spans = {int(t): s[1:] for t, s in zip(targets[is_sentinel], np.split(targets, np.nonzero(is_sentinel)[0])[1:])}
    return np.concatenate([spans[int(t)] if t in spans else [t] for t in inputs]).astype(np.int32)


@pytest.mark.parametrize("inputs_len,raw,targets", [(128, 141, 29), (256, 284, 58), (512, 568, 114), (1024, 1137, 229)])
def test_span_corruption_lengths_match_t5(inputs_len, raw, targets):
    assert t5_noise.span_corruption_lengths(inputs_len, 0.15, 3.0) == (raw, targets)


def test_span_corruption_reconstructs_source_with_t5_counts():
    rng = np.random.default_rng(0)
    for length in [141, 70, 37, 12, 5, 2]:
        for _ in range(50):
            source = _tokens(rng, length)
            inputs, targets = t5_noise.span_corruption(source, rng, 0.15, 3.0, SENTINELS)
            np.testing.assert_array_equal(reinsert(inputs, targets), source)
            n_noise = min(max(round(length * 0.15), 1), length - 1)
            used = targets[np.isin(targets, SENTINELS)]
            np.testing.assert_array_equal(used, SENTINELS[: len(used)])  # in order, from <extra_id_0>
            np.testing.assert_array_equal(inputs[np.isin(inputs, SENTINELS)], used)
            assert len(targets) - len(used) == n_noise
            assert len(used) == min(max(1, round(n_noise / 3)), length - n_noise)
            if length == 141:
                assert len(inputs) + 1 == 128 and len(targets) + 1 <= 29


def test_noise_mask_starts_clean_and_ends_noisy():
    rng = np.random.default_rng(1)
    for _ in range(20):
        mask = t5_noise.random_spans_noise_mask(100, 0.15, 3.0, rng)
        assert not mask[0] and mask[-1] and mask.sum() == 15


def test_iid_variants():
    rng = np.random.default_rng(2)
    for _ in range(30):
        source = _tokens(rng, 60)
        inputs, targets = t5_noise.iid_replace_spans(source, rng, 0.3, SENTINELS)
        np.testing.assert_array_equal(reinsert(inputs, targets), source)
        kept, dropped = t5_noise.iid_drop_tokens(source, rng, 0.3)
        assert len(kept) + len(dropped) == 60 and set(dropped) <= set(source)
        masked, original = t5_noise.bert_style(source, rng, 0.15, 512)
        assert len(masked) == 60 and (original == source).all()
        assert np.sum(masked == MASK_ID) <= np.sum(masked != source)
    many = t5_noise.limit_spans(np.tile([True, False], 150), 100)
    assert np.sum(t5_noise.span_starts(many)) == 100


def test_prefix_lm_splits_source():
    rng = np.random.default_rng(3)
    splits = set()
    for _ in range(200):
        source = _tokens(rng, 20)
        inputs, targets = t5_noise.prefix_lm(source, rng)
        np.testing.assert_array_equal(np.concatenate([inputs, targets]), source)
        assert len(inputs) >= 1 and len(targets) >= 1
        splits.add(len(inputs))
    assert splits == set(range(1, 20))


def test_prepared_examples_are_fixed_shape_and_weighted(tiny_config):
    from jaxlm.pipeline.dataset import load_corpus, prepare

    cfg = tiny_config
    cfg.model.family, cfg.data.objective = "t5", "t5_span_corruption"
    corpus = load_corpus(cfg)
    prepared = prepare(corpus, cfg, "train", train=True)
    raw, targets_len = t5_noise.span_corruption_lengths(cfg.data.seq_len)
    for i in range(5):
        ex = prepared.example(i, np.random.default_rng(i))
        assert ex["inputs"].shape == (cfg.data.seq_len,) and ex["targets"].shape == (targets_len,)
        n = int(ex["weights"].sum())
        assert ex["targets"][n - 1] == EOS_ID and ex["decoder_inputs"][0] == 0
        np.testing.assert_array_equal(ex["decoder_inputs"][1:n], ex["targets"][: n - 1])
        inputs = ex["inputs"][ex["inputs_segment_ids"] > 0][:-1]
        np.testing.assert_array_equal(reinsert(inputs, ex["targets"][: n - 1]), ex["source_ids"])
        assert "<extra_id_0>" in prepared.describe(ex)["inputs_text"]
