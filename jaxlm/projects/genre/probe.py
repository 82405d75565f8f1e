"""`probe(cfg, workdir)`: a linear probe of a frozen encoder's features for the genre task.

What pre-training put into the representation, apart from what fine-tuning then does with it. The model (the newest
checkpoint of `config.finetune.init_from`, but for the parameters matching `config.finetune.reinit`; or its fresh
initialisation, seeded by `train.seed`) is never updated: each passage of the genre objective becomes the mean of
the encoder's final states over its real tokens, standardised with the training passages' statistics, and a
multinomial logistic regression (class-balanced, L2 penalty, full-batch Adam from zero, PROBE_STEPS steps) is fitted
on the training plays. The penalty is chosen from PROBE_L2 by validation accuracy; the test plays are scored once,
with it. Encoders only (BERT/RoBERTa, T5, BART).
"""

import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxlm import io
from jaxlm.errors import UserError
from jaxlm.io import atomic_write
from jaxlm.pipeline.dataset import Corpus, eval_batches, prepare
from jaxlm.projects.genre.scores import majority_label, scores
from jaxlm.registry import FAMILIES, family
from jaxlm.train.loop import Run, prepare_workdir
from jaxlm.train.pretrained import (
    copy_tokenizer,
    load_pretrained,
    pretrained_config,
)

PROBE_RESULTS_FILE = "probe_results.json"
PROBE_L2 = (1e-4, 1e-3, 1e-2, 1e-1)
PROBE_STEPS = 1000


def pooled_features(
    cfg: ml_collections.ConfigDict, model: nn.Module, params, corpus: Corpus, splits: tuple[str, ...]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{split: ([N, d_model] mean final encoder state over each passage's real tokens, [N] labels)}."""
    encoder_states = FAMILIES[cfg.model.family].encoder_states
    pool = jax.jit(lambda params, batch: _masked_mean(*encoder_states(model, params, batch)))
    out = {}
    for split in splits:
        prepared = prepare(corpus, cfg, split, train=False)
        feats = [np.asarray(pool(params, b)) for b in eval_batches(prepared, cfg.train.eval_batch_size)]
        n = len(prepared.examples)
        out[split] = (
            np.concatenate(feats)[:n] if feats else np.zeros((0, cfg.model.d_model), np.float32),
            np.asarray(prepared.examples.labels),
        )
    return out


def _masked_mean(hidden: jax.Array, mask: jax.Array) -> jax.Array:
    m = mask.astype(jnp.float32)[..., None]
    return jnp.sum(hidden.astype(jnp.float32) * m, 1) / jnp.maximum(jnp.sum(m, 1), 1.0)


def fit_logistic(x: np.ndarray, y: np.ndarray, n_labels: int, l2: float) -> tuple[jax.Array, jax.Array]:
    """(W, b) of a class-balanced multinomial logistic regression with penalty l2·|W|², full-batch Adam from 0."""
    counts = np.bincount(y, minlength=n_labels)
    weight = jnp.asarray(len(y) / (n_labels * np.maximum(counts, 1)), jnp.float32)[y]
    x, y = jnp.asarray(x), jnp.asarray(y)

    def loss(p):
        log_probs = jax.nn.log_softmax(x @ p[0] + p[1])
        return -jnp.mean(weight * log_probs[jnp.arange(len(y)), y]) + l2 * jnp.sum(p[0] ** 2)

    tx = optax.adam(1e-2)

    def step(carry, _):
        p, opt = carry
        updates, opt = tx.update(jax.grad(loss)(p), opt)
        return (optax.apply_updates(p, updates), opt), None

    p = (jnp.zeros((x.shape[1], n_labels)), jnp.zeros(n_labels))
    return jax.lax.scan(step, (p, tx.init(p)), None, PROBE_STEPS)[0][0]


def _frozen_run(cfg: ml_collections.ConfigDict, workdir: str, allow_config_change: bool = False) -> Run:
    if family(cfg).encoder_states is None:
        encoders = [name for name, f in FAMILIES.items() if f.encoder_states is not None]
        raise UserError(
            f"a linear probe reads an encoder, and a '{cfg.model.family}' model has none: use a "
            f"{', '.join(encoders)} genre config"
        )
    cfg = pretrained_config(cfg)
    prepare_workdir(cfg, workdir, allow_config_change)
    if cfg.finetune.init_from:
        copy_tokenizer(cfg.finetune.init_from, workdir)
    run = Run(cfg, workdir)
    run.state = load_pretrained(cfg.finetune, run.state, run.shardings, run.tx, run.mesh)
    return run


def probe(cfg: ml_collections.ConfigDict, workdir: str, allow_config_change: bool = False) -> dict:
    """Fit and score the probe of `cfg`'s encoder (`config.finetune.init_from`, or fresh); writes
    PROBE_RESULTS_FILE in `workdir` and returns {accuracy, macro_f1, majority_*, n_eval, l2, val_*, train_*}."""
    run = _frozen_run(cfg, workdir, allow_config_change)
    labels = run.corpus.splits["train"].labels
    feats = pooled_features(run.cfg, run.model, run.state.params, run.corpus, ("train", "val", "test"))
    mean, std = feats["train"][0].mean(0), feats["train"][0].std(0) + 1e-6
    x = {split: (f - mean) / std for split, (f, _) in feats.items()}
    y = {split: labels_ for split, (_, labels_) in feats.items()}
    for split in ("val", "test"):
        if not len(y[split]):
            raise UserError(
                f"the {split} split has no passages to probe: hold out plays with config.data.{split}_docs "
                "≥ 1 (config.data.stratify=True holds them out per genre)"
            )
    majority = majority_label(y["train"])
    preds = {}
    for l2 in PROBE_L2:
        w, b = fit_logistic(x["train"], y["train"], len(labels), l2)
        preds[l2] = {split: np.argmax(np.asarray(x[split] @ w + b), 1) for split in x}
    val_accuracy = {l2: float(np.mean(p["val"] == y["val"])) for l2, p in preds.items()}
    best = max(PROBE_L2, key=lambda l2: (val_accuracy[l2], l2))  # the strongest penalty among ties
    out = {
        "init_from": run.cfg.finetune.init_from or "none",
        "family": run.cfg.model.family,
        "l2": best,
        "n_train": len(y["train"]),
        "labels": list(labels),
        "val_accuracy_by_l2": {str(l2): a for l2, a in val_accuracy.items()},
    }
    for split, prefix in (("test", ""), ("val", "val_"), ("train", "train_")):
        out.update({prefix + k: v for k, v in scores(preds[best][split], y[split], majority).items()})
    if jax.process_index() == 0:
        atomic_write(io.join(workdir, PROBE_RESULTS_FILE), json.dumps(out, indent=2))
    return out
