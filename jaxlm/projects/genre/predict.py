"""Predicted label indices of a genre objective's evaluation passages (-1: a generated text that is no label).

- classification: argmax of the [CLS] classifier.
- text_to_text: exact match of the greedy decoding (jaxlm/generate/seq2seq.py `greedy_decoder`, up to the
  longest label + eos) with a label's text.
- continuation: exact match of the greedy continuation after the prompt (up to the longest label + eos,
  recomputing the whole row at every step) with a label's text.

The two generative objectives are also scored by rank classification ("rank"): the label whose text + eos the
model gives the highest probability (the sum of its tokens' log-probabilities, teacher-forced), as seqio's
rank_classification scores T5. It is the exact decoding restricted to the label set; greedy decoding is not:
labels that share a first piece ("roman", "romances") pool their probability there, so an uncertain model
greedily prefers them whatever the passage.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxlm.data.tokenizer import Tokenizer
from jaxlm.generate.seq2seq import greedy_decoder
from jaxlm.objectives import objective
from jaxlm.objectives.base import Prepared
from jaxlm.objectives.seq2seq import decoder_start_id
from jaxlm.pipeline.dataset import eval_batches
from jaxlm.projects.genre.objectives import (
    classification,
    continuation,
    label_endings,
    label_targets,
    text_to_text,
)
from jaxlm.registry import build_model


def label_index(text: str, vocab: tuple[str, ...]) -> int:
    """The index of the label whose text is `text` (surrounding whitespace ignored), or -1."""
    text = text.strip()
    return vocab.index(text) if text in vocab else -1


def _until_eos(ids, eos: int) -> list[int]:
    ids = [int(i) for i in ids]
    return ids[: ids.index(eos)] if eos in ids else ids


def _classifier(cfg, apply, params, tok, vocab):
    logits = jax.jit(
        lambda p, b: apply({"params": p}, b["inputs"], b["segment_ids"], b["attention_mask"])["cls_logits"]
    )
    return lambda batch: np.asarray(jnp.argmax(logits(params, batch), -1))


def _text_to_text(cfg, apply, params, tok, vocab):
    decode = greedy_decoder(build_model(cfg, decode=True))
    steps, start = max(len(t) for t in label_targets(tok, vocab)), decoder_start_id(cfg, tok)

    def predict(batch: dict) -> np.ndarray:
        out = decode(params, batch["inputs"], batch["inputs_segment_ids"], steps, start, tok.ids.eos)
        return np.array([label_index(tok.decode(_until_eos(ids, tok.ids.eos)), vocab) for ids in out])

    return predict


def _prompt_end(batch: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """continuation rows: (label-token mask, each row's prompt-end index, positions [1, T]); the prompt's
    last token is the one whose target is the label's first token."""
    weights = batch["weights"] > 0
    return weights, np.argmax(weights, 1), np.arange(weights.shape[1])[None]


def _continuation(cfg, apply, params, tok, vocab):
    steps = max(len(e) for e in label_endings(tok, vocab))

    @jax.jit
    def next_tokens(params, tokens, positions, segment_ids, at):
        logits = apply({"params": params}, tokens, positions, segment_ids)
        return jnp.argmax(logits[jnp.arange(tokens.shape[0]), at], -1)

    def predict(batch: dict) -> np.ndarray:
        weights, last, idx = _prompt_end(batch)
        seg = ((idx <= last[:, None]) & weights.any(1)[:, None]).astype(np.int32)
        tokens, out = np.where(seg > 0, batch["inputs"], 0), []
        for k in range(steps):
            out.append(np.asarray(next_tokens(params, tokens, np.broadcast_to(idx, tokens.shape), seg, last + k)))
            if np.all(np.any(np.stack(out, 1) == tok.ids.eos, 1)):
                break
            at = np.minimum(last + k + 1, tokens.shape[1] - 1)
            tokens[np.arange(len(at)), at] = out[-1]
            seg[np.arange(len(at)), at] = seg[:, 0]
        return np.array([label_index(tok.decode(_until_eos(ids, tok.ids.eos)), vocab) for ids in np.stack(out, 1)])

    return predict


def _token_log_probs(logits: jax.Array, targets: jax.Array) -> jax.Array:
    return jnp.take_along_axis(jax.nn.log_softmax(logits.astype(jnp.float32)), targets[..., None], -1)[..., 0]


def _text_to_text_rank(cfg, apply, params, tok, vocab):
    targets, start = label_targets(tok, vocab), decoder_start_id(cfg, tok)

    @jax.jit
    def label_log_prob(params, batch, target):  # target [L]: one label's text + eos, padded with 0
        shape = batch["targets"].shape
        seg = jnp.broadcast_to((jnp.arange(shape[1]) < jnp.sum(target > 0)).astype(jnp.int32), shape)
        tgt = jnp.broadcast_to(target, shape)
        dec = jnp.broadcast_to(jnp.concatenate([jnp.array([start], jnp.int32), target[:-1]]), shape) * seg
        logits = apply(
            {"params": params},
            batch["inputs"],
            dec,
            batch["inputs_segment_ids"],
            seg,
            batch["inputs_positions"],
            jnp.broadcast_to(jnp.arange(shape[1]), shape) * seg,
        )
        return jnp.sum(_token_log_probs(logits, tgt) * seg, -1)

    def predict(batch: dict) -> np.ndarray:
        length = batch["targets"].shape[1]
        padded = [np.pad(t[:length], (0, length - len(t[:length]))).astype(np.int32) for t in targets]
        return np.argmax(np.stack([np.asarray(label_log_prob(params, batch, t)) for t in padded]), 0)

    return predict


def _continuation_rank(cfg, apply, params, tok, vocab):
    endings = label_endings(tok, vocab)

    @jax.jit
    def row_log_probs(params, tokens, positions, segment_ids, targets):
        return _token_log_probs(apply({"params": params}, tokens, positions, segment_ids), targets)

    def predict(batch: dict) -> np.ndarray:
        weights, last, idx = _prompt_end(batch)
        rows = np.arange(len(last))
        out = []
        for ending in endings:
            tokens = np.where(idx <= last[:, None], batch["inputs"], 0)
            targets, scored = np.zeros_like(tokens), np.zeros(tokens.shape, bool)
            for k, piece in enumerate(ending):
                targets[rows, last + k], scored[rows, last + k] = piece, True
                if k + 1 < len(ending):
                    tokens[rows, last + k + 1] = piece
            seg = ((idx <= last[:, None] + len(ending) - 1) & weights.any(1)[:, None]).astype(np.int32)
            lp = np.asarray(row_log_probs(params, tokens, np.broadcast_to(idx, tokens.shape), seg, targets))
            out.append(np.sum(lp * scored, 1))
        return np.argmax(np.stack(out), 0)

    return predict


PREDICTORS = {
    classification: {"": _classifier},
    text_to_text: {"": _text_to_text, "rank": _text_to_text_rank},
    continuation: {"": _continuation, "rank": _continuation_rank},
}


def predictor(
    cfg: ml_collections.ConfigDict,
    apply: Callable,
    params,
    tok: Tokenizer,
    vocab: tuple[str, ...],
) -> Callable[[Prepared], dict[str, np.ndarray]]:
    """predict(prepared): {scoring: the predicted label index of every example, in order}, where scoring "" is the
    objective's own (the classifier, or exact match of the greedy decoding) and "rank" is rank classification
    (generative objectives), of the model `apply` (its module's apply) with `params`; batches of
    train.eval_batch_size; the jitted functions compile once for all splits."""
    fns = {
        name: make(cfg, apply, params, tok, vocab) for name, make in PREDICTORS[objective(cfg.data.objective)].items()
    }

    def predict(prepared: Prepared) -> dict[str, np.ndarray]:
        preds = {name: [] for name in fns}
        for batch in eval_batches(prepared, cfg.train.eval_batch_size):
            for name, fn in fns.items():
                preds[name].append(fn(batch))
        n = len(prepared.examples)
        return {name: np.concatenate(p)[:n] if p else np.zeros(0, np.int64) for name, p in preds.items()}

    return predict
