"""`Downstream`: the tasks of `config.eval`, read and tokenized once, scored on a run's params whenever called.

Metrics, as lm-eval-harness defines them: multiple_choice → acc (argmax of the choices' log-likelihoods),
acc_norm (argmax of log-likelihood / the choice's length in characters), acc_bytes (/ its UTF-8 bytes);
loglikelihood_rolling → bits_per_byte, byte_perplexity, word_perplexity over all documents; generate_until →
exact_match of the greedy continuation cut at the first stop string.
"""

import math
import re
import string
import time
from collections.abc import Callable

import jax
import ml_collections
import numpy as np

from jaxlm.data.tokenizer import Tokenizer
from jaxlm.errors import UserError
from jaxlm.evals.generation import decoder_continuations, seq2seq_continuations
from jaxlm.evals.requests import encode_pair, pair_row, rolling_rows
from jaxlm.evals.score import score_rows, token_loglikelihood
from jaxlm.evals.task import Task, load_task
from jaxlm.objectives.seq2seq import decoder_start_id
from jaxlm.registry import build_model, family
from jaxlm.sharding.mesh import data_parallel_size

SCORED = ("multiple_choice", "loglikelihood_rolling")  # output types scored by log-likelihood (causal LMs)


def load_tasks(e: ml_collections.ConfigDict) -> list[Task]:
    """The tasks of config.eval (`tasks`: 'a,b.yaml'), each with its first `limit` documents, checked."""
    if e.limit < 0 or e.batch_size < 1:
        raise UserError(
            f"config.eval.limit={e.limit} must be ≥ 0 and config.eval.batch_size={e.batch_size} ≥ 1: fix them"
        )
    tasks = [load_task(ref.strip(), e.limit) for ref in e.tasks.split(",") if ref.strip()]
    names = [t.name for t in tasks]
    if len(set(names)) < len(names):
        raise UserError(f"config.eval.tasks names task '{max(names, key=names.count)}' twice: drop one")
    return tasks


class Downstream:
    """Call with params → {"<task>/<metric>": value}; per-document results of the last call in `items`."""

    def __init__(
        self,
        cfg: ml_collections.ConfigDict,
        tasks: list[Task],
        tok: Tokenizer,
        model,
        mesh,
        put_batch: Callable,
        jit_step: Callable,
    ):
        """`model`: the run's model; `put_batch` places a process-local batch on the mesh; `jit_step(fn)`
        jits fn(params, batch) with the run's params and batch shardings and a replicated output."""
        fam, dp = family(cfg), data_parallel_size(mesh)
        if cfg.eval.batch_size % dp:
            raise UserError(
                f"config.eval.batch_size={cfg.eval.batch_size} is not a multiple of the data-parallel "
                f"size {dp} (mesh data×fsdp): use a multiple of {dp}"
            )
        self.cfg, self.tasks, self.tok, self.put_batch = cfg, tasks, tok, put_batch
        self.max_length, self.batch_size = cfg.data.seq_len, cfg.eval.batch_size
        self.encoder_decoder = fam.encoder_decoder
        for t in self.tasks:
            if t.output_type in SCORED and (fam.encoder_decoder or not fam.generates_text):
                raise UserError(
                    f"task '{t.name}' is {t.output_type}, scored by a causal LM, but the model is "
                    f"'{cfg.model.family}': evaluate it on a decoder-only model or drop it"
                )
            if t.output_type == "generate_until" and not (fam.generates_text or fam.encoder_decoder):
                raise UserError(
                    f"task '{t.name}' generates text, which model family '{cfg.model.family}' cannot: drop it"
                )
            if t.output_type == "generate_until" and jax.process_count() > 1:
                raise UserError(
                    f"task '{t.name}' generates text, which the loop does one process at a time: run "
                    "generate_until tasks on one process or drop them"
                )
        self.score = (
            jit_step(token_loglikelihood(model.apply)) if any(t.output_type in SCORED for t in self.tasks) else None
        )
        gen = any(t.output_type == "generate_until" for t in self.tasks)
        self.decode_model = build_model(cfg, decode=True) if gen else None
        self.rows = {t.name: self._rows(t) for t in self.tasks}
        self.items: dict[str, list[dict]] = {}

    @classmethod
    def for_run(cls, run, tasks: list[Task], jit_step: Callable) -> "Downstream | None":
        """`tasks` (from load_tasks) on a `jaxlm.train.loop.Run`; None without tasks."""
        if not tasks:
            return None
        return cls(
            run.cfg,
            tasks,
            run.corpus.tokenizer,
            run.model,
            run.mesh,
            run.put_batch,
            lambda fn: jit_step(fn, run.shardings.params, run.batch_sharding),
        )

    def _rows(self, task: Task) -> list[list[dict]]:
        """Per document, its rows (one per choice, or one per rolling window); none for generation."""
        prefix, encode = self.tok.ids.eos, self.tok.encode
        if task.output_type == "multiple_choice":
            delim = task.config["target_delimiter"]
            return [
                [
                    pair_row(*encode_pair(encode, prefix, task.context(d), delim + c), self.max_length)
                    for c in task.choices(d)
                ]
                for d in task.docs
            ]
        if task.output_type == "loglikelihood_rolling":
            return [rolling_rows(encode(str(task.target(d))), self.max_length, prefix) for d in task.docs]
        return [[] for _ in task.docs]

    def __call__(self, params) -> dict:
        start, out = time.perf_counter(), {}
        for task in self.tasks:
            items = self._items(task, params)
            self.items[task.name] = items
            out.update({f"{task.name}/{k}": v for k, v in aggregate(task, items).items()})
        out["seconds"] = time.perf_counter() - start
        return out

    def _items(self, task: Task, params) -> list[dict]:
        if task.output_type == "generate_until":
            prompts = [task.context(d) for d in task.docs]
            g = task.config["generation_kwargs"]
            if self.encoder_decoder:
                outputs = seq2seq_continuations(
                    self.decode_model,
                    params,
                    self.tok,
                    prompts,
                    g["until"],
                    g["max_gen_toks"],
                    self.max_length,
                    decoder_start_id(self.cfg, self.tok),
                    self.batch_size,
                )
            else:
                outputs = decoder_continuations(
                    self.decode_model, params, self.tok, prompts, g["until"], g["max_gen_toks"], self.max_length
                )
            return [generation_item(task, d, o) for d, o in zip(task.docs, outputs)]
        per_doc = self.rows[task.name]
        flat = [r for rows in per_doc for r in rows]
        lls = score_rows(self.score, params, flat, self.max_length, self.batch_size, self.put_batch)
        bounds = np.cumsum([0] + [len(rows) for rows in per_doc])
        doc_lls = [lls[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        if task.output_type == "multiple_choice":
            return [choice_item(task, d, ll) for d, ll in zip(task.docs, doc_lls)]
        return [rolling_item(str(task.target(d)), float(ll.sum())) for d, ll in zip(task.docs, doc_lls)]


def choice_item(task: Task, doc: dict, lls: np.ndarray) -> dict:
    """One multiple-choice document: its choices' log-likelihoods and whether each argmax is gold."""
    choices, golds = task.choices(doc), task.gold_indices(doc)
    chars = np.array([len(c) for c in choices], np.float64)
    nbytes = np.array([len(c.encode("utf-8")) for c in choices], np.float64)
    return {
        "loglikelihoods": lls.tolist(),
        "acc": float(int(np.argmax(lls)) in golds),
        "acc_norm": float(int(np.argmax(lls / chars)) in golds),
        "acc_bytes": float(int(np.argmax(lls / nbytes)) in golds),
    }


def rolling_item(text: str, ll: float) -> dict:
    return {"loglikelihood": ll, "bytes": len(text.encode("utf-8")), "words": len(re.split(r"\s+", text))}


def generation_item(task: Task, doc: dict, output: str) -> dict:
    """One generate_until document: its continuation and whether it matches a gold answer exactly."""
    gold = task.target(doc)
    if "doc_to_choice" in task.config:
        gold = task.choices(doc)[gold]
    golds = [str(g) for g in gold] if isinstance(gold, list) else [str(gold)]
    options = task.metrics.get("exact_match", {})
    return {"output": output, "exact_match": float(any(_match(output, g, **options) for g in golds))}


def _match(
    prediction: str,
    reference: str,
    regexes_to_ignore=(),
    ignore_case=False,
    ignore_punctuation=False,
    ignore_numbers=False,
) -> bool:
    """lm-eval's exact_match on one pair, with its options."""
    for pattern in regexes_to_ignore or ():
        prediction, reference = re.sub(pattern, "", prediction), re.sub(pattern, "", reference)
    if ignore_case:
        prediction, reference = prediction.lower(), reference.lower()
    for chars, on in ((string.punctuation, ignore_punctuation), (string.digits, ignore_numbers)):
        if on:
            table = str.maketrans("", "", chars)
            prediction, reference = prediction.translate(table), reference.translate(table)
    return prediction == reference


def aggregate(task: Task, items: list[dict]) -> dict:
    """The task's metrics over its documents: means, or for rolling ones the ratios of summed totals."""
    if task.output_type == "loglikelihood_rolling":
        ll = sum(i["loglikelihood"] for i in items)
        n_bytes, n_words = sum(i["bytes"] for i in items), sum(i["words"] for i in items)
        values = {
            "bits_per_byte": -ll / n_bytes / math.log(2),
            "byte_perplexity": math.exp(min(-ll / n_bytes, 700.0)),
            "word_perplexity": math.exp(min(-ll / n_words, 700.0)),
        }
        return {m: values[m] for m in task.metrics}
    return {m: float(np.mean([i[m] for i in items])) for m in task.metrics}
