"""A run's config from an experiment module or a trained workdir (validated before anything is read or written),
and a trained workdir's Run with its newest checkpoint restored."""

import os

import ml_collections

from jaxlm import checks
from jaxlm.config.loading import apply_override, load_config_file, load_saved_config
from jaxlm.errors import UserError
from jaxlm.registry import check_config
from jaxlm.train.loop import Run


def validated(cfg: ml_collections.ConfigDict, overrides=()) -> ml_collections.ConfigDict:
    """`cfg` with the (key, value) overrides applied, validated, its objective checked against its family."""
    for key, value in overrides:
        apply_override(cfg, key, value)
    return check_config(cfg)


def resolve_config(path: str, overrides=()) -> ml_collections.ConfigDict:
    """An experiment module's config with the overrides applied, validated (before anything is written)."""
    return validated(load_config_file(path), overrides)


def workdir_config(workdir: str, overrides=()) -> ml_collections.ConfigDict:
    """A trained workdir's config.json with the overrides applied, validated."""
    checks.input_folder(workdir, "--workdir", "a workdir written by `jaxlm train`")
    return validated(load_saved_config(os.path.join(workdir, "config.json")), overrides)


def restored_run(workdir: str, overrides=()) -> Run:
    """A Run for a trained workdir with its latest checkpoint restored."""
    cfg = workdir_config(workdir, overrides)
    cfg.train.progress = False
    run = Run(cfg, workdir)
    if run.restore() is None:
        raise UserError(f"workdir '{workdir}' has no checkpoint: train it first with `jaxlm train`")
    return run
