"""`jaxlm train` and `jaxlm eval`."""

import json
import os

from jaxlm.config.loading import apply_override, load_config_file, load_saved_config


def register(sub) -> None:
    p = sub.add_parser("train", help="train (or resume) a model: --config FILE --workdir DIR [--config.a.b=v ...]")
    p.add_argument("--config", required=True, help="experiment module with get_config()")
    p.add_argument("--workdir", required=True, help="run directory (resumes if it holds a checkpoint)")
    p.set_defaults(run=run_train)
    p = sub.add_parser("eval", help="validation and test loss / bits per byte of a workdir, as JSON")
    p.add_argument("--workdir", required=True)
    p.set_defaults(run=run_eval)


def resolve_config(path: str, overrides: list[tuple[str, str]]):
    cfg = load_config_file(path)
    for key, value in overrides:
        apply_override(cfg, key, value)
    return cfg


def run_train(args, overrides) -> int:
    from jaxlm.train.loop import train
    from jaxlm.cli.generate import sample_text
    cfg = resolve_config(args.config, overrides)
    run = train(cfg, args.workdir)
    for split, m in run.results.items():
        if m:
            print(f"{split}: loss {m['loss']:.4f} nats/token, bits per byte {m['bits_per_byte']:.4f}")
    if cfg.train.sample_tokens:
        print("sample:", sample_text(run, "\n", cfg.train.sample_tokens, 0.8, 0, 0.95, 0), sep="\n")
    print(f"workdir: {os.path.abspath(args.workdir)} (metrics.jsonl, tensorboard/, checkpoints/)")
    return 0


def workdir_config(workdir: str, overrides=()):
    cfg = load_saved_config(os.path.join(workdir, "config.json"))
    for key, value in overrides:
        apply_override(cfg, key, value)
    return cfg


def restored_run(workdir: str, overrides=()):
    """A Run for a trained workdir with its latest checkpoint restored."""
    from jaxlm.errors import UserError
    from jaxlm.train.loop import Run
    cfg = workdir_config(workdir, overrides)
    cfg.train.progress = False
    run = Run(cfg, workdir)
    if run.restore() is None:
        raise UserError(f"workdir '{workdir}' has no checkpoint: train it first with `jaxlm train`")
    return run


def run_eval(args, overrides) -> int:
    run = restored_run(args.workdir, overrides)
    out = {"step": int(run.state.step), **{s: run.evaluate(s) for s in ("val", "test")}}
    print(json.dumps(out))
    return 0
