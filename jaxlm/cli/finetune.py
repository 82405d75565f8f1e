"""`jaxlm finetune`: fine-tune a genre objective from a pretrained workdir (or from scratch) and score it."""

from jaxlm import checks, io

SHOWN = ("loss", "accuracy", "macro_f1", "majority_accuracy", "majority_macro_f1", "n_eval")


def add_genre_verb(sub, name: str, help: str, run, config_help: str, workdir_help: str, init_help: str) -> None:
    """`jaxlm finetune` or `jaxlm probe`: --config, --workdir, --init-from and --allow-config-change."""
    p = sub.add_parser(name, help=help)
    p.set_defaults(run=run)
    p.add_argument("--config", required=True, help=config_help)
    p.add_argument("--workdir", required=True, help=workdir_help)
    p.add_argument("--init-from", default=None, help=init_help)
    p.add_argument("--allow-config-change", action="store_true",
                   help="reuse a workdir although hyper-parameters differ from its config.json (listed in a warning)")


def register(sub) -> None:
    add_genre_verb(sub, "finetune", "fine-tune on play genres and score held-out plays: --config FILE --workdir DIR "
                   "[--init-from PRETRAINED_WORKDIR] [--config.a.b=v ...]", run_finetune,
                   "experiment module with get_config() (a genre objective)",
                   "run directory (resumes if it holds a checkpoint)",
                   "pretrained workdir whose latest checkpoint, model and tokenizer start the fine-tune; 'none' or "
                   "omitted = from scratch")


def run_finetune(args, overrides) -> int:
    from jaxlm.projects.genre.finetune import RESULTS_FILE, finetune
    from jaxlm.train.workdir import resolve_config
    cfg = resolve_config(args.config, overrides)
    checks.run_folder(args.workdir, "--workdir")
    with checks.undone_on_error(args.workdir, "config.json"):
        results = finetune(cfg, args.workdir, args.init_from, args.allow_config_change)
    reinit = f" with parameters matching '{results['reinit']}' re-initialised" if results["reinit"] else ""
    print(f"fine-tuned from {results['init_from']}{reinit} ({results['objective']}, {results['step']} steps, "
          f"{results['n_labelled']} of {results['n_train']} training passages labelled; "
          f"majority label '{results['majority_label']}')")
    for split, prefix in (("val", "val_"), ("test", "")):
        print(f"{split}: " + ", ".join(f"{k} {results[prefix + k]:.4f}" if k != "n_eval" else f"{k} {results[prefix + k]}"
                                      for k in SHOWN))
    print(f"workdir: {io.absolute(args.workdir)} ({RESULTS_FILE}, metrics.jsonl, checkpoints/)")
    return 0
