"""A task in lm-eval-harness's format: a YAML (task, dataset_path: json, data_files, output_type, doc_to_text,
doc_to_target, doc_to_choice, target_delimiter, generation_kwargs, metric_list) and a JSONL of documents.

Fields render as lm-eval renders them: a document's key gives its value, anything else is a Jinja template
(undefined names are errors); choices and list targets are Python literals once rendered. Keys this reader does
not implement (few-shot examples, filters, Python callables) are refused by name rather than ignored.
"""

import ast
import json
import os
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jinja2
import yaml

from jaxlm.errors import UserError

OUTPUT_METRICS = {  # output_type -> (metrics it can compute, lm-eval's defaults when metric_list is absent)
    "multiple_choice": (("acc", "acc_norm", "acc_bytes"), ("acc", "acc_norm")),
    "loglikelihood_rolling": (
        ("bits_per_byte", "byte_perplexity", "word_perplexity"),
        ("word_perplexity", "byte_perplexity", "bits_per_byte"),
    ),
    "generate_until": (("exact_match",), ("exact_match",)),
}
MATCH_OPTIONS = ("ignore_case", "ignore_punctuation", "ignore_numbers", "regexes_to_ignore")
KEYS = {
    "task",
    "tag",
    "task_alias",
    "dataset_path",
    "dataset_kwargs",
    "test_split",
    "validation_split",
    "output_type",
    "doc_to_text",
    "doc_to_target",
    "doc_to_choice",
    "target_delimiter",
    "description",
    "generation_kwargs",
    "metric_list",
    "num_fewshot",
    "metadata",
}
GENERATION_KEYS = {"until", "max_gen_toks", "do_sample", "temperature"}
SHIPPED = "jaxlm.evals.tasks"

_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
_ENV.filters["regex_replace"] = lambda s, pattern, repl, count=0: re.sub(pattern, repl, s, count=count)


@dataclass(frozen=True)
class Task:
    name: str
    output_type: str
    docs: list[dict]
    metrics: dict[str, dict]  # metric -> its options (exact_match's ignore_case ...)
    config: dict  # the YAML's fields, with lm-eval's defaults filled in
    path: str

    def field(self, key: str, doc: dict) -> Any:
        """The YAML field `key` for `doc`: a document key, a Jinja template, or a literal (int, list)."""
        spec = self.config.get(key)
        if not isinstance(spec, str):
            return spec
        if spec in doc:
            return doc[spec]
        try:
            return _ENV.from_string(spec).render(**doc)
        except jinja2.TemplateError as e:
            raise UserError(
                f"task '{self.name}' ({self.path}): {key} {spec!r} fails on a document ({e}): "
                "fix the template or the documents"
            ) from None

    def context(self, doc: dict) -> str:
        """lm-eval's zero-shot prompt: the description, then doc_to_text."""
        text = self.field("doc_to_text", doc)
        if not isinstance(text, str) or (text.isdigit() and "doc_to_choice" in self.config):
            raise UserError(
                f"task '{self.name}': doc_to_text gives {text!r}, a choice index (lm-eval's multiple-input "
                "tasks), which jaxlm does not run: make doc_to_text the prompt text"
            )
        return (self.field("description", doc) or "") + text

    def choices(self, doc: dict) -> list[str]:
        value = self.field("doc_to_choice", doc)
        if isinstance(value, str):
            value = _literal(value, self, "doc_to_choice")
        if isinstance(value, dict):
            value = list(value.values())
        if not isinstance(value, list) or not value or not all(isinstance(c, str) for c in value):
            raise UserError(f"task '{self.name}': doc_to_choice gives {value!r}, not a list of strings: fix it")
        return value

    def target(self, doc: dict) -> int | str | list:
        """The gold answer: a choice index, a string, or (several golds) a list, as lm-eval reads it."""
        value = self.field("doc_to_target", doc)
        if isinstance(value, str) and "doc_to_choice" in self.config and value.isdigit():
            return int(value)
        if isinstance(value, str) and len(value) >= 2 and value[0] == "[" and value[-1] == "]":
            try:
                return ast.literal_eval(value)
            except (SyntaxError, ValueError):
                return value
        return value

    def gold_indices(self, doc: dict) -> list[int]:
        """A multiple-choice document's gold choice indices (a target may be an index, a choice, or a list)."""
        choices, gold = self.choices(doc), self.target(doc)
        golds = [
            choices.index(g) if isinstance(g, str) and g in choices else g
            for g in (gold if isinstance(gold, list) else [gold])
        ]
        if not all(isinstance(g, int) and 0 <= g < len(choices) for g in golds):
            raise UserError(
                f"task '{self.name}': doc_to_target gives {gold!r}, not one of the {len(choices)} choices "
                f"{choices!r}: fix the document or doc_to_target"
            )
        return golds

    def check(self) -> None:
        """Render every document's fields once, so a broken template or answer fails before training starts."""
        for doc in self.docs:
            if self.output_type != "loglikelihood_rolling":
                self.context(doc)
            if self.output_type == "multiple_choice":
                self.gold_indices(doc)
            else:
                self.target(doc)


def _literal(text: str, task: Task, key: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (SyntaxError, ValueError):
        raise UserError(
            f"task '{task.name}': {key} renders to {text[:60]!r}, not a Python list: make it a "
            "document key or a template giving a list"
        ) from None


def shipped_names() -> list[str]:
    """The tasks that come with jaxlm (jaxlm/evals/tasks/*.yaml), by name."""
    return sorted(p.name[:-5] for p in resources.files(SHIPPED).iterdir() if p.name.endswith(".yaml"))


def task_path(ref: str) -> str:
    """A task reference → its YAML: a shipped task's name, or a path to a .yaml file."""
    if ref in shipped_names():
        return str(resources.files(SHIPPED) / f"{ref}.yaml")
    if not ref.endswith((".yaml", ".yml")):
        raise UserError(
            f"config.eval.tasks names '{ref}', neither a shipped task ({', '.join(shipped_names())}) "
            "nor a .yaml file: fix the name or give the task's YAML path"
        )
    if not os.path.isfile(ref):
        raise UserError(f"task file '{ref}' does not exist: fix the path in config.eval.tasks")
    return ref


def load_task(ref: str, limit: int = 0) -> Task:
    """The task `ref` (see task_path) with its first `limit` documents (0 = all), as lm-eval takes them."""
    path = task_path(ref)
    try:
        with open(path, encoding="utf-8") as f:
            config = yaml.safe_load(f)
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise UserError(f"task file '{path}' is not valid YAML ({str(e).splitlines()[0]}): fix it") from None
    if not isinstance(config, dict):
        raise UserError(f"task file '{path}' is not a YAML mapping of task fields: fix it")
    config = _checked(config, path)
    metrics = _metrics(config, path)
    task = Task(config["task"], config["output_type"], _documents(config, path, limit), metrics, config, path)
    task.check()
    return task


def _checked(config: dict, path: str) -> dict:
    unknown = sorted(set(config) - KEYS)
    if unknown:
        raise UserError(
            f"task file '{path}': key '{unknown[0]}' is not supported by jaxlm's task reader (it reads "
            f"{', '.join(sorted(KEYS))}): remove it or run the task with lm-eval"
        )
    for key in ("task", "output_type", "doc_to_text", "doc_to_target"):
        if key not in config:
            raise UserError(f"task file '{path}' has no '{key}': add it")
    if config["output_type"] not in OUTPUT_METRICS:
        raise UserError(
            f"task file '{path}': output_type '{config['output_type']}' is not supported: use "
            f"{' | '.join(OUTPUT_METRICS)}"
        )
    if config["output_type"] == "multiple_choice" and "doc_to_choice" not in config:
        raise UserError(f"task file '{path}' is multiple_choice but has no 'doc_to_choice': add it")
    if config.get("dataset_path") != "json":
        raise UserError(
            f"task file '{path}': dataset_path {config.get('dataset_path')!r} is not a local file: "
            "use 'dataset_path: json' with dataset_kwargs.data_files"
        )
    if config.get("num_fewshot", 0):
        raise UserError(
            f"task file '{path}': num_fewshot {config['num_fewshot']} is not supported (zero-shot only): "
            "remove it or set it to 0"
        )
    gen = config.get("generation_kwargs") or {}
    extra = sorted(set(gen) - GENERATION_KEYS)
    if extra or gen.get("do_sample") or gen.get("temperature", 0):
        raise UserError(
            f"task file '{path}': generation_kwargs.{extra[0] if extra else 'do_sample'} is not supported "
            "(greedy decoding with until and max_gen_toks only): remove it"
        )
    until = gen.get("until", ["\n\n"])
    config = {
        "target_delimiter": " ",
        "description": "",
        **config,
        "generation_kwargs": {
            "until": [until] if isinstance(until, str) else list(until),
            "max_gen_toks": int(gen.get("max_gen_toks", 256)),
        },
    }
    return config


def _metrics(config: dict, path: str) -> dict[str, dict]:
    allowed, defaults = OUTPUT_METRICS[config["output_type"]]
    entries = config.get("metric_list") or [{"metric": m} for m in defaults]
    out = {}
    for entry in entries:
        name = entry.get("metric") if isinstance(entry, dict) else None
        if name not in allowed:
            raise UserError(
                f"task file '{path}': metric {name!r} is not computed for {config['output_type']} tasks: "
                f"use {', '.join(allowed)}"
            )
        extra = sorted(set(entry) - {"metric", "aggregation", "higher_is_better", *MATCH_OPTIONS})
        if extra:
            raise UserError(
                f"task file '{path}': metric_list option '{extra[0]}' of {name} is not supported: remove it"
            )
        out[name] = {k: v for k, v in entry.items() if k in MATCH_OPTIONS}
    return out


def _data_file(config: dict, path: str) -> str:
    files = (config.get("dataset_kwargs") or {}).get("data_files")
    split = config.get("test_split") or config.get("validation_split") or "train"
    if isinstance(files, dict):
        files = files.get(split)
    if isinstance(files, list) and len(files) == 1:
        files = files[0]
    if not isinstance(files, str):
        raise UserError(
            f"task file '{path}': dataset_kwargs.data_files has no single file for split '{split}': "
            f"give e.g. data_files: {{{split}: docs.jsonl}}"
        )
    return files if os.path.isabs(files) else os.path.join(os.path.dirname(os.path.abspath(path)), files)


def _documents(config: dict, path: str, limit: int) -> list[dict]:
    data = _data_file(config, path)
    if not os.path.isfile(data):
        raise UserError(
            f"task '{config['task']}': data file '{data}' does not exist (relative data_files are read "
            "from the YAML's folder): fix dataset_kwargs.data_files"
        )
    try:
        return _read_documents(config["task"], data, limit)
    except UnicodeDecodeError as e:
        raise UserError(
            f"task '{config['task']}': data file '{data}' is not UTF-8 (bad byte at {e.start}): re-save it as UTF-8"
        ) from None


def _read_documents(name: str, data: str, limit: int) -> list[dict]:
    docs = []
    with open(data, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"task '{name}': {data}:{n} is not a JSON object ({e.msg}): fix the line") from None
            if not isinstance(doc, dict):
                raise UserError(f"task '{name}': {data}:{n} is not a JSON object: fix the line")
            docs.append(doc)
            if limit and len(docs) == limit:
                break
    if not docs:
        raise UserError(f"task '{name}': data file '{data}' holds no documents: fill it or drop the task")
    return docs
