"""`jaxlm probe`: a linear probe of a frozen (pretrained or fresh) encoder's features on play genres."""

from jaxlm import checks, io
from jaxlm.cli.finetune import SHOWN, add_genre_verb


def register(sub) -> None:
    add_genre_verb(sub, "probe", "fit a linear probe of a frozen encoder on play genres and score held-out plays: "
                   "--config FILE --workdir DIR [--init-from PRETRAINED_WORKDIR]", run_probe,
                   "experiment module with get_config() (a BERT/T5/BART genre config)",
                   "directory for the tokenizer and probe_results.json",
                   "pretrained workdir whose latest checkpoint is probed; 'none' or omitted = the fresh "
                   "initialisation (train.seed)")


def run_probe(args, overrides) -> int:
    from jaxlm.projects.genre.finetune import resolve_init_from
    from jaxlm.projects.genre.probe import PROBE_RESULTS_FILE, probe
    from jaxlm.train.workdir import resolve_config
    cfg = resolve_init_from(resolve_config(args.config, overrides), args.init_from)
    checks.run_folder(args.workdir, "--workdir")
    with checks.undone_on_error(args.workdir, PROBE_RESULTS_FILE):
        results = probe(cfg, args.workdir, args.allow_config_change)
    print(f"linear probe of {results['init_from']} ({results['family']} encoder, mean-pooled, frozen; "
          f"{results['n_train']} training passages; l2 {results['l2']:g} chosen on val)")
    for split, prefix in (("train", "train_"), ("val", "val_"), ("test", "")):
        print(f"{split}: " + ", ".join(f"{k} {results[prefix + k]:.4f}" if k != "n_eval" else
                                      f"{k} {results[prefix + k]}" for k in SHOWN if k != "loss"))
    print(f"workdir: {io.absolute(args.workdir)} ({PROBE_RESULTS_FILE})")
    return 0
