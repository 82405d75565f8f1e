"""A run's config from an experiment module or a trained workdir (validated before anything is read or written),
and a trained workdir's Run with its newest checkpoint restored."""

from typing import Any

import ml_collections

from jaxlm import checks, io
from jaxlm.config.loading import apply_override, load_config_file, load_saved_config
from jaxlm.data.store_format import TOKENIZER_FILE
from jaxlm.data.tokenizer import Tokenizer
from jaxlm.errors import UserError
from jaxlm.registry import check_config, natural_objective
from jaxlm.train.loop import Run
from jaxlm.train.pretrained import init_from_pretrained, newest_params


def validated(cfg: ml_collections.ConfigDict, overrides=()) -> ml_collections.ConfigDict:
    """`cfg` with the (key, value) overrides applied, validated, its objective checked against its family."""
    for key, value in overrides:
        apply_override(cfg, key, value)
    return check_config(cfg)


def resolve_config(path: str, overrides=()) -> ml_collections.ConfigDict:
    """An experiment module's config with the overrides applied, validated (before anything is written)."""
    return validated(load_config_file(path), overrides)


def workdir_config(workdir: str, overrides=()) -> ml_collections.ConfigDict:
    """A trained workdir's (or converted folder's) config.json with the overrides applied, validated."""
    checks.input_folder(workdir, "--workdir", "a workdir written by `jaxlm train`")
    cfg = load_saved_config(io.join(workdir, "config.json"))
    if is_converted(workdir) and cfg.data.objective == "causal_lm" and cfg.model.family != "gpt":
        cfg.data.objective = natural_objective(cfg.model)  # converted before convert wrote the family's objective
    return validated(cfg, overrides)


def is_converted(workdir: str) -> bool:
    """Whether `workdir` is a `jaxlm convert` folder (params/ and no checkpoints/), served from its params."""
    return not io.is_dir(io.join(workdir, "checkpoints")) and io.is_dir(io.join(workdir, "params"))


def _checked_weights(workdir: str) -> None:
    """UserError, before any corpus work, for a workdir with neither checkpoints nor converted params and tokenizer."""
    converted = is_converted(workdir)
    if not converted and not io.is_dir(io.join(workdir, "checkpoints")):
        raise UserError(f"workdir '{workdir}' has no checkpoint: train it first with `jaxlm train`")
    if converted and not io.is_file(io.join(workdir, TOKENIZER_FILE)):
        raise UserError(
            f"converted folder '{workdir}' has no {TOKENIZER_FILE}: convert a Hugging Face directory that "
            "holds its tokenizer (tokenizer.json, spiece.model or tokenizer.model)"
        )


def restored_run(workdir: str, overrides=()) -> Run:
    """A Run for a trained workdir with its latest checkpoint restored, or for a converted folder with its params."""
    cfg = workdir_config(workdir, overrides)
    cfg.train.progress = False
    _checked_weights(workdir)
    run = Run(cfg, workdir)
    if is_converted(workdir):
        run.state = init_from_pretrained(run.state, run.shardings, run.tx, workdir, run.mesh)
    elif run.restore() is None:
        raise UserError(f"workdir '{workdir}' has no checkpoint: train it first with `jaxlm train`")
    return run


def restored_model(workdir: str, overrides=()) -> tuple[ml_collections.ConfigDict, Any, Tokenizer]:
    """(config, params, tokenizer) of a trained workdir's newest checkpoint or a converted folder; a converted
    folder's are read with no corpus work."""
    if not is_converted(workdir):
        run = restored_run(workdir, overrides)
        return run.cfg, run.state.params, run.corpus.tokenizer
    cfg = workdir_config(workdir, overrides)
    _checked_weights(workdir)
    tokenizer = Tokenizer.from_bytes(
        io.read_bytes(io.join(workdir, TOKENIZER_FILE)), cfg.data.get("tokenizer_specials", "")
    )
    return cfg, newest_params(workdir, None, "--workdir"), tokenizer
