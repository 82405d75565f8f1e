"""Predicted label indices of a genre objective's evaluation passages (-1: a generated text that is no label).

- genre_classification: argmax of the [CLS] classifier.
- genre_text_to_text: exact match of the greedy decoding (jaxlm/generate/seq2seq.py `greedy_decoder`, up to the
  longest label + eos) with a label's text.
- genre_continuation: exact match of the greedy continuation after the prompt (up to the longest label + eos,
  recomputing the whole row at every step) with a label's text.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxlm.data.dataset import eval_batches
from jaxlm.data.tokenizer import EOS_ID
from jaxlm.generate.seq2seq import greedy_decoder
from jaxlm.objectives.base import Prepared
from jaxlm.objectives.genre import label_endings, label_targets
from jaxlm.objectives.seq2seq import decoder_start_id
from jaxlm.registry import build_model


def label_index(text: str, vocab: tuple[str, ...]) -> int:
    """The index of the label whose text is `text` (surrounding whitespace ignored), or -1."""
    text = text.strip()
    return vocab.index(text) if text in vocab else -1


def _until_eos(ids) -> list[int]:
    ids = [int(i) for i in ids]
    return ids[:ids.index(EOS_ID)] if EOS_ID in ids else ids


def _classifier(run, vocab):
    logits = jax.jit(lambda p, b: run.model.apply({"params": p}, b["inputs"], b["segment_ids"],
                                                  b["attention_mask"])["cls_logits"])
    return lambda batch: np.asarray(jnp.argmax(logits(run.state.params, batch), -1))


def _text_to_text(run, vocab):
    decode, tok = greedy_decoder(build_model(run.cfg, decode=True)), run.corpus.tokenizer
    steps, start = max(len(t) for t in label_targets(tok, vocab)), decoder_start_id(run.cfg)

    def predict(batch: dict) -> np.ndarray:
        out = decode(run.state.params, batch["inputs"], batch["inputs_segment_ids"], steps, start)
        return np.array([label_index(tok.decode(_until_eos(ids)), vocab) for ids in out])
    return predict


def _continuation(run, vocab):
    tok = run.corpus.tokenizer
    steps = max(len(e) for e in label_endings(tok, vocab))

    @jax.jit
    def next_tokens(params, tokens, positions, segment_ids, at):
        logits = run.model.apply({"params": params}, tokens, positions, segment_ids)
        return jnp.argmax(logits[jnp.arange(tokens.shape[0]), at], -1)

    def predict(batch: dict) -> np.ndarray:
        weights = batch["weights"] > 0
        last = np.argmax(weights, 1)  # the prompt's last token: its target is the label's first token
        idx = np.arange(weights.shape[1])[None]
        seg = ((idx <= last[:, None]) & weights.any(1)[:, None]).astype(np.int32)
        tokens, out = np.where(seg > 0, batch["inputs"], 0), []
        for k in range(steps):
            out.append(np.asarray(next_tokens(run.state.params, tokens, np.broadcast_to(idx, tokens.shape), seg,
                                              last + k)))
            if np.all(np.any(np.stack(out, 1) == EOS_ID, 1)):
                break
            at = np.minimum(last + k + 1, tokens.shape[1] - 1)
            tokens[np.arange(len(at)), at] = out[-1]
            seg[np.arange(len(at)), at] = seg[:, 0]
        return np.array([label_index(tok.decode(_until_eos(ids)), vocab) for ids in np.stack(out, 1)])
    return predict


PREDICTORS = {"genre_classification": _classifier, "genre_text_to_text": _text_to_text,
              "genre_continuation": _continuation}


def predictor(run, vocab: tuple[str, ...]) -> Callable[[Prepared], np.ndarray]:
    """predict(prepared): the predicted label index of every example, in order (batches of
    train.eval_batch_size); its jitted functions are compiled once for all the splits it predicts."""
    fn = PREDICTORS[run.cfg.data.objective](run, vocab)

    def predict(prepared: Prepared) -> np.ndarray:
        preds = [fn(batch) for batch in eval_batches(prepared, run.cfg.train.eval_batch_size)]
        return np.concatenate(preds)[:len(prepared.examples)] if preds else np.zeros(0, np.int64)
    return predict
