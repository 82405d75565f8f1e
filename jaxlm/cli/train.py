"""`jaxlm train` and `jaxlm eval`."""

import json
import sys

from jaxlm import checks, io
from jaxlm.errors import UserError
from jaxlm.sharding.distributed import add_flags, initialize_from_args, wanted_by_args
from jaxlm.sharding.supervisor import supervise, supervised


def register(sub) -> None:
    p = sub.add_parser("train", help="train (or resume) a model: --config FILE --workdir DIR [--config.a.b=v ...]")
    p.add_argument("--config", required=True, help="experiment module with get_config()")
    p.add_argument("--workdir", required=True, help="run directory (resumes if it holds a checkpoint)")
    p.add_argument(
        "--allow-config-change",
        action="store_true",
        help="resume a workdir although hyper-parameters differ from its config.json (listed in a warning)",
    )
    add_flags(p)
    p.set_defaults(run=run_train)
    p = sub.add_parser("eval", help="validation and test loss / bits per byte of a workdir, as JSON")
    p.add_argument("--workdir", required=True)
    p.add_argument(
        "--context-ablation",
        action="store_true",
        help="also the loss with every example's context taken from another example, and "
        "context_gain = that loss - the true loss (0: the model ignores its context)",
    )
    p.add_argument(
        "--rolling",
        action="store_true",
        help="also each split scored as lm-eval's loglikelihood_rolling tasks score it (causal LMs): every "
        "document on its own from the eos before it, in disjoint windows of data.seq_len, its closing "
        "eos not predicted, the whole split (see docs/TRAINING.md)",
    )
    p.add_argument(
        "--tasks",
        help='also these downstream tasks, under "tasks": shipped task names or lm-eval task '
        "YAMLs, comma-separated (config.eval.tasks; default: the run's own)",
    )
    p.set_defaults(run=run_eval)


SUMMARY_KEYS = ("loss", "perplexity", "bits_per_byte", "accuracy", "mlm_loss", "mlm_accuracy", "nsp_accuracy")


def run_train(args, overrides) -> int:
    import jax

    from jaxlm.generate.text import sample_text
    from jaxlm.train.loop import train
    from jaxlm.train.workdir import resolve_config

    cfg = resolve_config(args.config, overrides)
    checks.run_folder(args.workdir, "--workdir")
    if wanted_by_args(args) and not supervised():  # the work runs in a child; a lost peer becomes one line, exit 2
        return supervise(args.argv)
    initialize_from_args(args)
    with checks.undone_on_error(args.workdir, "config.json"):
        run = train(cfg, args.workdir, allow_config_change=args.allow_config_change)
    if jax.process_index() != 0:
        return 0
    for split, m in run.results.items():
        if m:
            print(f"{split}: " + ", ".join(f"{k} {m[k]:.4f}" for k in SUMMARY_KEYS if k in m))
    if cfg.train.sample_tokens and jax.process_count() == 1 and run.fam.generates_text:
        print(
            "sample:",
            sample_text(
                run.cfg,
                run.state.params,
                run.corpus.tokenizer,
                prompt="\n",
                max_new_tokens=cfg.train.sample_tokens,
                temperature=0.8,
                top_k=0,
                top_p=0.95,
                seed=0,
            ),
            sep="\n",
        )
    logged = {"jsonl": "metrics.jsonl", "tensorboard": "tensorboard/", "wandb": "wandb/"}
    written = [logged[name] for name in cfg.train.loggers if name in logged] + ["checkpoints/"]
    print(f"workdir: {io.absolute(args.workdir)} ({', '.join(written)})")
    return 0


def run_eval(args, overrides) -> int:
    from jaxlm.train.context_ablation import context_ablation
    from jaxlm.train.workdir import is_converted, restored_run, workdir_config

    overrides = [*overrides, ("eval.tasks", args.tasks)] if args.tasks is not None else overrides
    cfg = workdir_config(args.workdir, overrides)
    tasks = _tasks(cfg)
    if args.rolling and cfg.data.objective != "causal_lm":
        raise UserError(
            f"--rolling scores documents with a causal LM, but workdir '{args.workdir}' was trained with "
            f"objective '{cfg.data.objective}': drop --rolling"
        )
    swap = context_ablation(cfg.model.family, cfg.data.objective) if args.context_ablation else None
    if is_converted(args.workdir):
        print(
            f"evaluating converted '{args.workdir}' on config.data.source='{cfg.data.source}' with objective "
            f"'{cfg.data.objective}' (another corpus: --config.data.source=PATH)",
            file=sys.stderr,
        )
    run = restored_run(args.workdir, overrides)
    out = {"step": int(run.state.step), **{s: run.evaluate(s) for s in ("val", "test")}}
    for split in ("val", "test") if swap else ():
        if out[split]:
            ablated = run.evaluate(split, swap)["loss"]
            out[split].update(context_ablated_loss=ablated, context_gain=ablated - out[split]["loss"])
    for split in ("val", "test") if args.rolling else ():
        if out[split]:
            out[split]["rolling"] = run.evaluate(split, rolling=True)
    if tasks:
        out["tasks"] = _task_scores(run, tasks)
    print(json.dumps(out))
    return 0


def _tasks(cfg) -> list:
    """config.eval's downstream tasks, read and checked before the run is built."""
    from jaxlm.evals.downstream import load_tasks

    return load_tasks(cfg.eval)


def _task_scores(run, tasks: list) -> dict:
    """The tasks' metrics on the run's restored params."""
    from jaxlm.evals.downstream import Downstream
    from jaxlm.train.step import jit_eval_step

    return Downstream.for_run(run, tasks, jit_eval_step)(run.state.params)
