"""`jaxlm data prepare`, `preview` and `export`: tokenize a corpus once, and see exactly what a config feeds the model."""

import json
import re
import signal
import sys
from contextlib import contextmanager

import numpy as np

from jaxlm import checks, io
from jaxlm.cli import config_verb, verb_group
from jaxlm.errors import UserError


def register(sub) -> None:
    dsub = verb_group(sub, "data", "prepare and inspect a config's data")
    q = config_verb(dsub, "prepare", "tokenize the configured source into a token store (once)", run_prepare)
    q.add_argument("--out", default=None, help="folder of the store (default: the cache, where `jaxlm train` looks)")
    q.add_argument(
        "--force",
        action="store_true",
        help="rebuild the store (a damaged one, or an --out store made from other data or settings)",
    )
    q = config_verb(dsub, "preview", "print N model-ready training examples as JSON lines", run_preview)
    q.add_argument("--num", type=int, default=4)
    q = config_verb(dsub, "export", "write the exact text of one split (or it as a local lm-eval task)", run_export)
    q.add_argument("--split", choices=("train", "val", "test"), default="val")
    q.add_argument("--out", required=True, help="a file (--format text) or a folder (--format lm-eval)")
    q.add_argument(
        "--format",
        choices=("text", "lm-eval"),
        default="text",
        help="text: the documents one after another; lm-eval: NAME.jsonl (one document a line) and "
        "NAME.yaml, a loglikelihood_rolling task for `lm_eval --include_path OUT`",
    )
    q.add_argument("--task", default=None, help="--format lm-eval: the task's name (default: jaxlm_SPLIT)")
    q.add_argument("--force", action="store_true", help="replace an existing --out file (or an earlier task folder)")


class _Stopped(BaseException):
    """SIGTERM or SIGINT during prepare (a BaseException: no `except Exception` on the way swallows it)."""


@contextmanager
def _stop_on_signals():
    """SIGTERM/SIGINT raise _Stopped in the main thread, so the partial store is removed and the workers ended."""

    def stop(signum, frame):
        raise _Stopped(signal.Signals(signum).name)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def run_prepare(args, overrides) -> int:
    """Build the config's store; SIGTERM/SIGINT leave nothing behind and exit 75 (re-running starts over)."""
    from jaxlm.data.prepare import ensure_store
    from jaxlm.objectives import objective
    from jaxlm.pipeline.dataset import require_roles
    from jaxlm.train.preemption import PREEMPTED_EXIT_CODE
    from jaxlm.train.workdir import resolve_config

    if args.out is not None and io.is_remote(args.out):
        raise UserError(
            f"--out '{args.out}': a token store is built in a local folder: prepare it locally, copy it "
            "to the bucket, and train with --config.data.store=gs://... (each host copies it once)"
        )
    if args.out is not None:
        checks.output_folder(args.out, "--out", force=True)
    cfg = resolve_config(args.config, overrides)
    require_roles(cfg, None)
    if cfg.data.mixture:
        return _prepare_mixture(cfg, args.out)
    try:
        with _stop_on_signals():
            store = ensure_store(
                cfg,
                None,
                objective(cfg.data.objective).sentences,
                progress=cfg.train.progress,
                out=args.out,
                force=args.force,
            )
    except _Stopped as e:
        print(
            f"jaxlm: stopped by {e}; the store was not written (its partial folder is removed) — re-run the same "
            "command to start over",
            file=sys.stderr,
        )
        return PREEMPTED_EXIT_CODE
    counts = _store_counts(store)
    if not store.built:  # (its JSON says "built": true or false)
        print(
            f"jaxlm: reused the token store {store.path} (made earlier from this source, split settings and "
            "tokenizer; --force rebuilds it)",
            file=sys.stderr,
        )
    print(json.dumps(dict(store=store.path, built=store.built, **counts)))
    return 0


def _store_counts(store) -> dict:
    return {name: {k: s.entry[k] for k in ("docs", "tokens", "bytes")} for name, s in store.splits.items()}


def _prepare_mixture(cfg, out: str | None) -> int:
    """Every store of a mixture (in the cache, where `jaxlm train` finds them), one JSON object per source."""
    from jaxlm.pipeline.dataset import load_corpus

    if out is not None:
        raise UserError("--out is one store, but a mixture has one per source (in the cache): drop --out")
    for name, part in load_corpus(cfg, progress=cfg.train.progress).parts.items():
        print(json.dumps(dict(source=name, store=part.store.path, built=part.store.built, **_store_counts(part.store))))
    return 0


def run_preview(args, overrides) -> int:
    """The first N training examples exactly as the model sees them (same seed, order, transform and mixture),
    each with the name of the source it came from (a mixture's entry, else config.data.source)."""
    from jaxlm.pipeline.dataset import load_corpus, training_examples, training_splits
    from jaxlm.train.workdir import resolve_config

    checks.int_in_range(args.num, "--num", 1, None, 4)
    cfg = resolve_config(args.config, overrides)
    splits = training_splits(load_corpus(cfg, progress=cfg.train.progress), cfg)
    names = list(splits) if cfg.data.mixture else [cfg.data.source]
    describe = [p.describe for p in splits.values()]
    examples = training_examples(splits, cfg, tagged=True)
    for i in range(args.num):
        source, ex = examples[i]
        out = {k: np.asarray(v).tolist() for k, v in ex.items()}
        print(json.dumps({"source": names[source], **out, **describe[source](ex)}, ensure_ascii=False))
    return 0


LM_EVAL_METRICS = ("word_perplexity", "byte_perplexity", "bits_per_byte")
LM_EVAL_BATCH_SIZE = 16  # windows per forward pass in the printed command (lm-eval defaults to 1)


def task_name(name: str | None, split: str) -> str:
    """`name` (default jaxlm_SPLIT) if it is a plain task name: letters, digits, '_', '-' and '.'."""
    name = f"jaxlm_{split}" if name is None else name
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise UserError(f"--task '{name}' is not a task name: use letters, digits, '_', '-' and '.'")
    return name


def lm_eval_docs(docs) -> str:
    """One JSON object a line: a document's text (what the task scores) and title."""
    return "".join(json.dumps({"text": d.text, "title": d.title}, ensure_ascii=False) + "\n" for d in docs)


def lm_eval_model_args(seq_len: int, eos_id: int) -> str:
    """What lm-eval's hf backend needs after pretrained= to score as `jaxlm eval --rolling` does: windows of
    seq_len, every document conditioned on jaxlm's eos (lm-eval would take a bos token instead)."""
    return f"max_length={seq_len},prefix_token_id={eos_id}"


def lm_eval_task(task: str, docs_path: str, about: str) -> str:
    """The YAML of a local lm-eval task scoring every document of `docs_path` whole with loglikelihood_rolling,
    with the metrics of lm-eval's wikitext task; `about` becomes its header comment."""
    lines = [
        *(f"# {line}" for line in about.splitlines()),
        f"task: {task}",
        "dataset_path: json",
        "dataset_kwargs:",
        "  data_files:",
        f"    test: {json.dumps(docs_path)}",
        "output_type: loglikelihood_rolling",
        "test_split: test",
        'doc_to_text: ""',
        "doc_to_target: text",
        "metric_list:",
        *(f"  - metric: {m}" for m in LM_EVAL_METRICS),
        "metadata:",
        "  version: 1.0",
    ]
    return "\n".join(lines) + "\n"


def run_export(args, overrides) -> int:
    """The split's documents decoded from the token store (the tokenizer is lossless, so this is their text)."""
    return run_export_task(args, overrides) if args.format == "lm-eval" else run_export_text(args, overrides)


def run_export_task(args, overrides) -> int:
    """The split as a local lm-eval task: its documents are the ones `jaxlm eval --rolling` scores."""
    from jaxlm.pipeline.dataset import load_corpus
    from jaxlm.train.workdir import resolve_config

    task = task_name(args.task, args.split)
    files = (f"{task}.jsonl", f"{task}.yaml")
    checks.output_folder(args.out, "--out", args.force, files)
    cfg = resolve_config(args.config, overrides)
    corpus = load_corpus(cfg, progress=cfg.train.progress)
    docs = corpus.splits[args.split].docs
    docs_path, yaml_path = (io.join(io.absolute(args.out), f) for f in files)
    model_args = lm_eval_model_args(cfg.data.seq_len, corpus.tokenizer.ids.eos)
    about = (
        f"jaxlm data export --format lm-eval: the {len(docs)} documents of split '{args.split}' of {args.config}\n"
        f"lm_eval --model hf --model_args pretrained=HF_DIR,{model_args} --include_path "
        f"{io.absolute(args.out)} --tasks {task} --batch_size {LM_EVAL_BATCH_SIZE}\n"
        "HF_DIR: `jaxlm export --to-hf`; bits_per_byte is what `jaxlm eval --rolling` reports (docs/TRAINING.md)"
    )
    with checks.undone_on_error(args.out, files[1]):
        checks.write_output(lm_eval_docs(docs).encode("utf-8"), docs_path, "--out")
        checks.write_output(lm_eval_task(task, docs_path, about).encode("utf-8"), yaml_path, "--out")
    print(f"wrote lm-eval task '{task}' ({len(docs)} documents of split '{args.split}') to {args.out}; run:")
    print(about.splitlines()[1])
    return 0


def run_export_text(args, overrides) -> int:
    """The split's documents, one after another, as one UTF-8 file."""
    from jaxlm.pipeline.dataset import load_corpus
    from jaxlm.train.workdir import resolve_config

    if args.task is not None:
        raise UserError("--task names an lm-eval task: add --format lm-eval or drop --task")
    checks.output_file(args.out, "--out", args.force)
    cfg = resolve_config(args.config, overrides)
    docs = load_corpus(cfg, progress=cfg.train.progress).splits[args.split].docs
    checks.write_output("".join(d.text for d in docs).encode("utf-8"), args.out, "--out")
    print(f"wrote {len(docs)} documents of split '{args.split}' to {args.out}")
    return 0
