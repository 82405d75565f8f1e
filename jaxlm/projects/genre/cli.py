"""The genre study's verbs of the `jaxlm` command (listed in jaxlm/projects/__init__.py's VERBS): `jaxlm finetune`
fine-tunes a genre objective from a pretrained workdir (or from scratch) and scores it; `jaxlm probe` fits a
linear probe of a frozen (pretrained or fresh) encoder's features on play genres."""

from jaxlm import checks, io

SHOWN = ("loss", "accuracy", "macro_f1", "majority_accuracy", "majority_macro_f1", "n_eval")


def add_genre_verb(sub, name: str, help: str, run, config_help: str, workdir_help: str, init_help: str) -> None:
    """`jaxlm finetune` or `jaxlm probe`: --config, --workdir, --init-from and --allow-config-change."""
    p = sub.add_parser(name, help=help)
    p.set_defaults(run=run)
    p.add_argument("--config", required=True, help=config_help)
    p.add_argument("--workdir", required=True, help=workdir_help)
    p.add_argument("--init-from", default=None, help=init_help)
    p.add_argument(
        "--allow-config-change",
        action="store_true",
        help="reuse a workdir although hyper-parameters differ from its config.json (listed in a warning)",
    )


def register(sub) -> None:
    """Add `jaxlm finetune` and `jaxlm probe` to the command's sub-parsers."""
    add_genre_verb(
        sub,
        "finetune",
        "fine-tune on play genres and score held-out plays: --config FILE --workdir DIR "
        "[--init-from PRETRAINED_WORKDIR] [--config.a.b=v ...]",
        run_finetune,
        "experiment module with get_config() (a genre objective)",
        "run directory (resumes if it holds a checkpoint)",
        "pretrained workdir whose latest checkpoint, model and tokenizer start the fine-tune; 'none' or "
        "omitted = from scratch",
    )
    add_genre_verb(
        sub,
        "probe",
        "fit a linear probe of a frozen encoder on play genres and score held-out plays: "
        "--config FILE --workdir DIR [--init-from PRETRAINED_WORKDIR]",
        run_probe,
        "experiment module with get_config() (a BERT/T5/BART genre config)",
        "directory for the tokenizer and probe_results.json",
        "pretrained workdir whose latest checkpoint is probed; 'none' or omitted = the fresh "
        "initialisation (train.seed)",
    )


def run_finetune(args, overrides) -> int:
    from jaxlm.projects.genre.finetune import RESULTS_FILE, finetune
    from jaxlm.train.workdir import resolve_config

    cfg = resolve_config(args.config, overrides)
    checks.run_folder(args.workdir, "--workdir")
    with checks.undone_on_error(args.workdir, "config.json"):
        results = finetune(cfg, args.workdir, args.init_from, args.allow_config_change)
    reinit = f" with parameters matching '{results['reinit']}' re-initialised" if results["reinit"] else ""
    print(
        f"fine-tuned from {results['init_from']}{reinit} ({results['objective']}, {results['step']} steps, "
        f"{results['n_labelled']} of {results['n_train']} training passages labelled; "
        f"majority label '{results['majority_label']}')"
    )
    for split, prefix in (("val", "val_"), ("test", "")):
        print(
            f"{split}: "
            + ", ".join(
                f"{k} {results[prefix + k]:.4f}" if k != "n_eval" else f"{k} {results[prefix + k]}" for k in SHOWN
            )
        )
    print(f"workdir: {io.absolute(args.workdir)} ({RESULTS_FILE}, metrics.jsonl, checkpoints/)")
    return 0


def run_probe(args, overrides) -> int:
    from jaxlm.projects.genre.finetune import resolve_init_from
    from jaxlm.projects.genre.probe import PROBE_RESULTS_FILE, probe
    from jaxlm.train.workdir import resolve_config

    cfg = resolve_init_from(resolve_config(args.config, overrides), args.init_from)
    checks.run_folder(args.workdir, "--workdir")
    with checks.undone_on_error(args.workdir, PROBE_RESULTS_FILE):
        results = probe(cfg, args.workdir, args.allow_config_change)
    print(
        f"linear probe of {results['init_from']} ({results['family']} encoder, mean-pooled, frozen; "
        f"{results['n_train']} training passages; l2 {results['l2']:g} chosen on val)"
    )
    for split, prefix in (("train", "train_"), ("val", "val_"), ("test", "")):
        print(
            f"{split}: "
            + ", ".join(
                f"{k} {results[prefix + k]:.4f}" if k != "n_eval" else f"{k} {results[prefix + k]}"
                for k in SHOWN
                if k != "loss"
            )
        )
    print(f"workdir: {io.absolute(args.workdir)} ({PROBE_RESULTS_FILE})")
    return 0
