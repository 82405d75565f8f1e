"""BART denoising: windows of seq_len − 1 tokens, noised by the configured transforms; targets = the window."""

import ml_collections

from jaxlm.data.special_tokens import SpecialIds
from jaxlm.data.tokenizer import JAXLM_IDS, Tokenizer
from jaxlm.errors import UserError
from jaxlm.losses.seq2seq import seq2seq_loss
from jaxlm.objectives.bart_noise import NoiseSpec, bart_noise
from jaxlm.objectives.base import Objective, Prepared, SplitData
from jaxlm.objectives.seq2seq import prepared, targets_length
from jaxlm.objectives.token_classes import sentence_end_ids, word_start_ids

RATES = (
    "bart_token_mask",
    "bart_token_delete",
    "bart_infill",
    "bart_insert",
    "bart_mask_random",
    "permute_sentences",
    "rotate",
)


def noise_spec(d: ml_collections.ConfigDict, vocab_size: int, ids: SpecialIds = JAXLM_IDS) -> NoiseSpec:
    """The config's rates, checked."""
    for key in RATES:
        if not 0.0 <= d[key] <= 1.0:
            raise UserError(f"config.data.{key}={d[key]} must be in [0, 1]")
    if d.poisson_lambda <= 0:
        raise UserError(f"config.data.poisson_lambda={d.poisson_lambda} must be positive")
    return NoiseSpec(
        d.bart_token_mask,
        d.bart_token_delete,
        d.bart_infill,
        d.bart_insert,
        d.poisson_lambda,
        d.permute_sentences,
        d.rotate,
        d.bart_mask_random,
        d.bart_whole_word,
        vocab_size,
        ids,
    )


def prepare(split: SplitData, cfg: ml_collections.ConfigDict, tok: Tokenizer, train: bool) -> Prepared:
    """Inputs that outgrow seq_len (insertions) are truncated, keeping their final eos."""
    spec = noise_spec(cfg.data, tok.vocab_size, tok.ids)
    targets_len = targets_length(cfg, cfg.data.seq_len)
    starts, ends = word_start_ids(tok), sentence_end_ids(tok)
    return prepared(
        split,
        cfg,
        tok,
        train,
        min(cfg.data.seq_len, targets_len) - 1,
        targets_len,
        lambda x, rng: (bart_noise(x, rng, spec, starts, ends), x),
        True,
    )


OBJECTIVE = Objective(
    prepare=prepare, needs=("eos", "pad", "mask"), sentences=False, loss=seq2seq_loss, classifies=False, check=None
)
