"""What every encoder-decoder objective shares: raw chunks of the stream, fixed-shape examples, preview text.

An example is a window of `raw` consecutive stream tokens (documents separated by eos, as T5 splits its
packed stream); the objective's transform turns it into (inputs, targets), each ending with eos, which
become fixed-length arrays: `inputs`, `targets`, `decoder_inputs` (targets shifted right after the family's
start token), segment ids (1 on tokens, 0 on padding), positions and loss `weights` (1 on target tokens),
plus the clean window as `source_ids`. An all-zero example has zero weights and contributes nothing.
"""

from collections.abc import Callable

import ml_collections
import numpy as np

from jaxlm.data.packing import TokenStream
from jaxlm.data.special_tokens import ordinary
from jaxlm.data.tokenizer import Tokenizer
from jaxlm.errors import UserError
from jaxlm.objectives.base import Prepared, SplitData

# Every encoder-decoder family's decoder start token, by role: T5 starts its decoder with the pad token; BART
# (fairseq, Hugging Face) with </s>. A family fact, kept here because the examples below the registry need it.
DECODER_START_ROLES = {"t5": "pad", "bart": "eos"}


def decoder_start_id(cfg: ml_collections.ConfigDict, tok: Tokenizer) -> int:
    """The id the (encoder-decoder) family's decoder starts from, in this tokenizer."""
    return getattr(tok.ids, DECODER_START_ROLES[cfg.model.family])


class Chunks:
    """Window i = stream tokens [i·size, (i+1)·size); `partial` keeps a shorter final window too."""

    def __init__(self, stream: TokenStream, size: int, partial: bool):
        self.tokens, self.size = stream.tokens, size
        self.n = -(-len(self.tokens) // size) if partial else len(self.tokens) // size

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> np.ndarray:
        return self.tokens[int(i) * self.size : (int(i) + 1) * self.size]


def _pad(ids: np.ndarray, length: int) -> np.ndarray:
    out = np.zeros(length, np.int32)
    ids = np.asarray(ids, np.int32)[:length]
    out[: len(ids)] = ids
    return out


def _fit(ids, length: int) -> np.ndarray:
    """Truncate to `length`, keeping the final eos."""
    ids = np.asarray(ids, np.int32)
    return ids if len(ids) <= length else np.append(ids[: length - 1], ids[-1])


def seq2seq_example(inputs, targets, source, inputs_len: int, targets_len: int, raw_len: int, start_id: int) -> dict:
    """Fixed-shape model arrays for one (inputs, targets) pair; both already end with eos."""
    inputs, targets = _fit(inputs, inputs_len), _fit(targets, targets_len)
    padded_targets = _pad(targets, targets_len)
    in_seg, tgt_seg = _pad(np.ones(len(inputs)), inputs_len), _pad(np.ones(len(targets)), targets_len)
    return dict(
        inputs=_pad(inputs, inputs_len),
        inputs_segment_ids=in_seg,
        inputs_positions=_pad(np.arange(len(inputs)), inputs_len),
        targets=padded_targets,
        targets_segment_ids=tgt_seg,
        targets_positions=_pad(np.arange(len(targets)), targets_len),
        decoder_inputs=_pad(np.append(start_id, targets[:-1]), targets_len),
        weights=tgt_seg.astype(np.float32),
        source_ids=_pad(source, raw_len),
    )


def visible_text(tok: Tokenizer, ids) -> str:
    """Decoded text with reserved ids (sentinels, [MASK], </s>) shown as their pieces; padding dropped."""
    out, run, text = [], [], ordinary(tok.ids, tok.vocab_size)
    for i in (int(i) for i in ids):
        if i == tok.ids.pad:
            continue
        if not text[i]:
            out += [tok.decode(run), tok.id_to_piece(i)]
            run = []
        else:
            run.append(i)
    return "".join(out + [tok.decode(run)])


def describe(tok: Tokenizer, ex: dict) -> dict:
    """`data preview` fields: the clean window and the model's inputs and targets as text."""
    return dict(
        source_text=visible_text(tok, ex["source_ids"]),
        inputs_text=visible_text(tok, ex["inputs"]),
        targets_text=visible_text(tok, ex["targets"]),
    )


def prepared(
    split: SplitData,
    cfg: ml_collections.ConfigDict,
    tok: Tokenizer,
    train: bool,
    raw_len: int,
    targets_len: int,
    noise: Callable[[np.ndarray, np.random.Generator], tuple],
    text_targets: bool,
) -> Prepared:
    """Windows of `raw_len` tokens noised anew every epoch by `noise(window, rng) -> (inputs, targets)`;
    `text_targets`: the targets are the window's text, so bits per byte is meaningful."""
    if raw_len < 2:
        raise UserError(
            f"config.data.seq_len={cfg.data.seq_len} leaves {raw_len} source tokens per example: raise it to at least 4"
        )
    start, eos = decoder_start_id(cfg, tok), tok.ids.eos

    def transform(window: np.ndarray, rng: np.random.Generator) -> dict:
        inputs, targets = noise(np.asarray(window, np.int32), rng)
        return seq2seq_example(
            np.append(inputs, eos), np.append(targets, eos), window, cfg.data.seq_len, targets_len, raw_len, start
        )

    return Prepared(
        Chunks(split.stream, raw_len, partial=not train),
        transform,
        static=False,
        bits_per_byte=text_targets,
        describe=lambda ex: describe(tok, ex),
    )


def targets_length(cfg: ml_collections.ConfigDict, needed: int) -> int:
    """config.data.targets_len, or `needed` when it is 0; refuse a decoder length the objective overflows."""
    given = cfg.data.targets_len
    if given and given < needed:
        raise UserError(
            f"config.data.targets_len={given} is shorter than the {needed} target tokens objective "
            f"'{cfg.data.objective}' needs for seq_len={cfg.data.seq_len}: set it to 0 (automatic) or "
            f"≥ {needed}"
        )
    if cfg.model.family == "bart" and (given or needed) > cfg.model.max_len:
        raise UserError(
            f"targets length {given or needed} exceeds the model's {cfg.model.max_len} positions: "
            "raise config.model.max_len"
        )
    return given or needed
