"""T5 objectives (span corruption, prefix LM, the paper's i.i.d. variants) as `prepare(split, cfg, tok, train)`."""

import ml_collections
import numpy as np

from jaxlm.data.tokenizer import Tokenizer
from jaxlm.errors import UserError
from jaxlm.losses.seq2seq import seq2seq_loss
from jaxlm.objectives import t5_noise
from jaxlm.objectives.base import Objective, Prepared, SplitData
from jaxlm.objectives.seq2seq import prepared, targets_length


def _sentinels(tok: Tokenizer) -> np.ndarray:
    return np.array(tok.ids.sentinels, np.int32)


def _check_density(d: ml_collections.ConfigDict) -> None:
    if not 0.0 < d.noise_density < 1.0:
        raise UserError(f"config.data.noise_density={d.noise_density} must be in (0, 1)")


def span_corruption(split: SplitData, cfg: ml_collections.ConfigDict, tok: Tokenizer, train: bool) -> Prepared:
    """Raw windows sized so the corrupted inputs fill seq_len; targets sized by T5's length rule."""
    d = cfg.data
    _check_density(d)
    if d.mean_span_length < 1:
        raise UserError(f"config.data.mean_span_length={d.mean_span_length} must be ≥ 1")
    raw, needed = t5_noise.span_corruption_lengths(d.seq_len, d.noise_density, d.mean_span_length)
    spans = t5_noise.noise_counts(raw, d.noise_density, d.mean_span_length)[1]
    if spans > len(tok.ids.sentinels):
        raise UserError(
            f"seq_len={d.seq_len} gives {spans} noise spans but there are {len(tok.ids.sentinels)} sentinels: "
            "lower config.data.seq_len or raise config.data.mean_span_length"
        )
    sentinels = _sentinels(tok)

    def noise(window: np.ndarray, rng: np.random.Generator) -> tuple:
        return t5_noise.span_corruption(window, rng, d.noise_density, d.mean_span_length, sentinels)

    return prepared(split, cfg, tok, train, raw, targets_length(cfg, needed), noise, False)


def prefix_lm(split: SplitData, cfg: ml_collections.ConfigDict, tok: Tokenizer, train: bool) -> Prepared:
    """Windows of seq_len − 1 tokens split at a uniform point (each side + eos fits its length)."""
    targets_len = targets_length(cfg, cfg.data.seq_len)
    raw = min(cfg.data.seq_len, targets_len) - 1
    return prepared(split, cfg, tok, train, raw, targets_len, t5_noise.prefix_lm, True)


def iid_replace_spans(split: SplitData, cfg: ml_collections.ConfigDict, tok: Tokenizer, train: bool) -> Prepared:
    _check_density(cfg.data)
    sentinels = _sentinels(tok)
    return prepared(
        split,
        cfg,
        tok,
        train,
        cfg.data.seq_len - 1,
        targets_length(cfg, cfg.data.seq_len),
        lambda x, rng: t5_noise.iid_replace_spans(x, rng, cfg.data.noise_density, sentinels),
        False,
    )


def iid_drop_tokens(split: SplitData, cfg: ml_collections.ConfigDict, tok: Tokenizer, train: bool) -> Prepared:
    _check_density(cfg.data)
    return prepared(
        split,
        cfg,
        tok,
        train,
        cfg.data.seq_len - 1,
        targets_length(cfg, cfg.data.seq_len),
        lambda x, rng: t5_noise.iid_drop_tokens(x, rng, cfg.data.noise_density),
        False,
    )


def bert_style(split: SplitData, cfg: ml_collections.ConfigDict, tok: Tokenizer, train: bool) -> Prepared:
    _check_density(cfg.data)
    return prepared(
        split,
        cfg,
        tok,
        train,
        cfg.data.seq_len - 1,
        targets_length(cfg, cfg.data.seq_len),
        lambda x, rng: t5_noise.bert_style(x, rng, cfg.data.noise_density, tok.vocab_size, tok.ids),
        True,
    )


def _objective(prepare, needs: tuple[str, ...]) -> Objective:
    return Objective(prepare=prepare, needs=needs, sentences=False, loss=seq2seq_loss, classifies=False, check=None)


SPAN_CORRUPTION = _objective(span_corruption, ("eos", "pad", "sentinels"))
PREFIX_LM = _objective(prefix_lm, ("eos", "pad"))
IID_REPLACE_SPANS = _objective(iid_replace_spans, ("eos", "pad", "sentinels"))
IID_DROP_TOKENS = _objective(iid_drop_tokens, ("eos", "pad"))
BERT_STYLE = _objective(bert_style, ("eos", "pad", "mask"))
