"""Experiment trackers, one module per backend, chosen by name in `config.train.loggers` (schema.LOGGERS).

Each backend takes the rows the training loop logs: `write(step, row)` (row: plain numbers and strings, with a
"split" key for evaluations), `flush()` (before each checkpoint: a bucket workdir's files are uploaded) and
`close()`. Only process 0 opens any (jaxlm/train/metrics.py).
"""

import importlib
import os
import tempfile
from typing import Protocol

import ml_collections

from jaxlm.io.cache import cache_root


class Logger(Protocol):
    def write(self, step: int, row: dict) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


def scalars(row: dict) -> dict[str, float]:
    """A row's numbers under tracker names: `train/loss`, `val/loss`, `tasks/...` (the row's split, else train)."""
    prefix = f"{row['split']}/" if "split" in row else "train/"
    return {prefix + k: v for k, v in row.items() if isinstance(v, (int, float)) and k != "step"}


def staging_folder(prefix: str) -> str:
    """A new local folder under the cache root, for files a library writes that are uploaded to a bucket workdir."""
    os.makedirs(cache_root(), exist_ok=True)
    return tempfile.mkdtemp(prefix=prefix, dir=cache_root())


def check_trackers(train: ml_collections.ConfigDict) -> None:
    """Fail with a one-line UserError, before anything is written, if a chosen tracker cannot start here."""
    if "wandb" in train.loggers:
        from jaxlm.train.loggers.wandb import check_wandb

        check_wandb(train.wandb)


def open_loggers(
    names, workdir: str, resume_step: int, cfg: ml_collections.ConfigDict | None, commit: str
) -> list[Logger]:
    """The named backends (each the module of that name here, imported only when chosen), opened on `workdir`;
    a run resumed at `resume_step` drops what was logged past it."""
    return [
        importlib.import_module(f"jaxlm.train.loggers.{name}").open_logger(workdir, resume_step, cfg, commit)
        for name in names
    ]
