"""Weights & Biases through its own client (`wandb`), set by config.train.wandb. The run's files go to
WORKDIR/wandb (offline: `wandb sync` uploads them later); its id is kept in WORKDIR/wandb/run_id, so a resumed
run continues the same W&B run. The resolved config and jaxlm's commit are the W&B run's config (the commit
under `jaxlm_commit`, also in its summary). Never prompts: online mode needs stored credentials."""

import json
import os
import re
import secrets
import shutil

import ml_collections

from jaxlm import io
from jaxlm.errors import UserError
from jaxlm.io.staging import sync
from jaxlm.train.loggers import scalars, staging_folder

RUN_ID = "run_id"


def _wandb(settings: ml_collections.ConfigDict):
    """The wandb module; offline, with wandb's own switch set first: no error reports or telemetry sent to W&B."""
    if settings.mode == "offline":
        os.environ.setdefault("WANDB_ERROR_REPORTING", "false")
    import wandb

    return wandb


def check_wandb(settings: ml_collections.ConfigDict) -> None:
    """The wandb package is installed and, for mode 'online', W&B credentials are stored (no prompt, no network)."""
    try:
        wandb = _wandb(settings)
    except ImportError:
        raise UserError(
            "config.train.loggers names 'wandb' but the wandb package is not installed: "
            "pip install 'jaxlm[wandb]', or drop 'wandb' from config.train.loggers"
        ) from None
    if settings.mode == "online" and not wandb.login(prompt=False, verify=False):
        raise UserError(
            "config.train.wandb.mode='online' needs W&B credentials: run `wandb login` once or set "
            "WANDB_API_KEY, or log offline with --config.train.wandb.mode=offline"
        )


class WandbLogger:
    """One W&B run per workdir; scalars as `train/NAME`, `val/NAME`, `tasks/NAME` at the optimizer step."""

    def __init__(self, workdir: str, cfg: ml_collections.ConfigDict, commit: str):
        s = cfg.train.wandb
        wandb = _wandb(s)
        self._remote = io.join(workdir, "wandb")
        self._staged = io.is_remote(workdir)
        self._dir = staging_folder("wandb-") if self._staged else workdir
        self.run = wandb.init(
            project=s.project,
            entity=s.entity or None,
            name=s.name or os.path.basename(io.absolute(workdir).rstrip("/")),
            id=_run_id(workdir),
            resume="allow",
            dir=self._dir,
            mode=s.mode,
            config={**json.loads(cfg.to_json()), "jaxlm_commit": commit},
            # create_new: a run left open in this process (a failed run before) is never logged into instead
            settings=wandb.Settings(silent=True, console="off", symlink=False, save_code=False, reinit="create_new"),
        )
        self.run.summary["jaxlm_commit"] = commit

    def write(self, step: int, row: dict) -> None:
        if step >= self.run.step:  # a resumed online run already holds the steps up to where it stopped
            self.run.log(scalars(row), step=step)

    def flush(self) -> None:
        if self._staged:
            local = os.path.join(self._dir, "wandb")
            sync(local, self._remote, io.files_under(local))

    def close(self) -> None:
        self.run.finish()
        self.flush()
        if self._staged:
            shutil.rmtree(self._dir, ignore_errors=True)


def _run_id(workdir: str) -> str:
    """The W&B run id kept in the workdir; a new one (written there) for a fresh run."""
    path = io.join(workdir, "wandb", RUN_ID)
    if not io.exists(path):
        run_id = secrets.token_hex(6)
        io.atomic_write(path, run_id + "\n")
        return run_id
    run_id = io.read_text(path).strip()
    if not re.fullmatch(r"[\w-]+", run_id):
        raise UserError(f"'{path}' holds no W&B run id: restore it, or delete it to log to a new W&B run")
    return run_id


def open_logger(workdir: str, resume_step: int, cfg: ml_collections.ConfigDict, commit: str) -> WandbLogger:
    """The workdir's W&B run (continued when resumed), with the config and commit logged."""
    return WandbLogger(workdir, cfg, commit)
