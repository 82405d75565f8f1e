"""`finetune(cfg, workdir, init_from)`: train a genre objective with the ordinary loop, then score held-out plays.

Training is `jaxlm.train.loop.train` itself (same jitted step, checkpoints, resume, metrics), started from the
newest checkpoint of `init_from` (its model section, tokenizer and weights; a new head stays fresh, as do the
parameters matching the `config.finetune.reinit` pattern, recorded as `reinit` in the results) or from scratch.
Scoring (predict.py) predicts a label for every passage of the validation and test plays and compares
accuracy and macro-F1 with the majority-class baseline: the most frequent label of the training passages (before any
balancing or `genre.train_passages` subsampling; `n_labelled` counts the distinct passages whose labels training
used), predicted for every held-out passage. The test split's scores are the headline keys; the validation split's
carry a `val_` prefix. `loss` / `val_loss` are the training objective's mean loss on the held-out passages (nats per
target token; for the classifier, the cross-entropy of its label distribution: a proper scoring rule, finer-grained
than accuracy over a few whole plays). The generative objectives are also scored by rank classification
(`rank_accuracy`, `rank_macro_f1`, `rank_f1_<label>`; predict.py). They are written to
`finetune_results.json` and as one `"split": "finetune"` line of `metrics.jsonl` in the workdir.
"""

import json

import jax
import ml_collections
import numpy as np

from jaxlm import io
from jaxlm.errors import UserError
from jaxlm.io import atomic_write
from jaxlm.objectives import objective
from jaxlm.pipeline.dataset import prepare
from jaxlm.projects.genre.objectives import GENRE_OBJECTIVES
from jaxlm.projects.genre.predict import predictor
from jaxlm.projects.genre.scores import f1_per_class, majority_label, scores
from jaxlm.train.loop import Run, train
from jaxlm.train.metrics import MetricsWriter, read_metrics

RESULTS_FILE = "finetune_results.json"


def resolve_init_from(cfg: ml_collections.ConfigDict, init_from: str | None) -> ml_collections.ConfigDict:
    """A copy of `cfg` with `finetune.init_from` set from the argument (None, '' or 'none' = from scratch)."""
    source = "" if init_from in (None, "", "none") else init_from
    if cfg.finetune.init_from and cfg.finetune.init_from != source:
        raise UserError(
            f"config.finetune.init_from='{cfg.finetune.init_from}' disagrees with --init-from "
            f"'{init_from}': give the pretrained workdir with --init-from only"
        )
    if objective(cfg.data.objective) not in GENRE_OBJECTIVES.values():
        raise UserError(
            f"`jaxlm finetune` trains a genre objective ({', '.join(GENRE_OBJECTIVES)}), not "
            f"'{cfg.data.objective}': use an experiments/finetune_genre_*.py config"
        )
    out = ml_collections.ConfigDict(cfg.to_dict())
    out.finetune.init_from = source
    return out


def score_run(run: Run) -> dict:
    """Scores of the trained run on the test plays (plus `val_`-prefixed ones on the validation plays)."""
    vocab = run.corpus.splits["train"].labels
    natural = prepare(run.corpus, run.cfg, "train", train=False).examples.labels
    labelled = prepare(run.corpus, run.cfg, "train", train=True).examples.index
    majority, predict = (
        majority_label(natural),
        predictor(run.cfg, run.model.apply, run.state.params, run.corpus.tokenizer, vocab),
    )
    source = run.cfg.finetune.init_from
    out = {
        "init_from": source or "none",
        "reinit": source and run.cfg.finetune.reinit,
        "objective": run.cfg.data.objective,
        "step": int(run.state.step),
        "n_train": len(natural),
        "n_labelled": len(np.unique(labelled)),
        "majority_label": vocab[majority],
    }
    for split in ("test", "val"):
        prepared = prepare(run.corpus, run.cfg, split, train=False)
        if not len(prepared.examples):
            raise UserError(
                f"the {split} split has no passages to score: hold out plays with "
                f"config.data.{split}_docs ≥ 1 (config.data.stratify=True holds them out per genre)"
            )
        gold, preds = prepared.examples.labels, predict(prepared)
        split_prefix = "" if split == "test" else "val_"
        out[split_prefix + "loss"] = (run.results.get(split) or run.evaluate(split))["loss"]
        for scoring, pred in preds.items():
            prefix = split_prefix + (scoring + "_" if scoring else "")
            found = scores(pred, gold, majority)
            out.update({prefix + k: found[k] for k in (found if not scoring else ("accuracy", "macro_f1"))})
            if split == "test":
                out.update({f"{prefix}f1_{vocab[c]}": f for c, f in f1_per_class(pred, gold).items() if c >= 0})
    return out


def finetune(
    cfg: ml_collections.ConfigDict, workdir: str, init_from: str | None = None, allow_config_change: bool = False
) -> dict:
    """Fine-tune `cfg` (a genre objective) in `workdir` from `init_from` (None/'none' = from scratch); returns
    the scores (accuracy, macro_f1, majority_accuracy, majority_macro_f1, n_train, n_eval, val_*, ...).
    Resuming a workdir with other hyper-parameters is refused unless `allow_config_change`, as in `train`."""
    run = train(resolve_init_from(cfg, init_from), workdir, allow_config_change=allow_config_change)
    results = score_run(run)
    if jax.process_index() == 0:
        atomic_write(
            io.join(workdir, RESULTS_FILE),
            json.dumps(dict(results, labels=list(run.corpus.splits["train"].labels)), indent=2),
        )
        if not any(r.get("split") == "finetune" and r["step"] == results["step"] for r in read_metrics(workdir)):
            writer = MetricsWriter(workdir, results["step"])
            writer.write(results["step"], dict(split="finetune", **{k: v for k, v in results.items() if k != "step"}))
            writer.close()
    return results
