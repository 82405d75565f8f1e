"""TensorBoard event files under WORKDIR/tensorboard (tensorboardX). For a gs:// workdir they are written into a
local staging folder and uploaded at every `flush`."""

import shutil
import sys

from jaxlm import io
from jaxlm.io.staging import sync
from jaxlm.train.loggers import scalars, staging_folder


class TensorBoardLogger:
    """Scalars as `train/NAME`, `val/NAME`, `tasks/NAME` (the row's split)."""

    def __init__(self, workdir: str):
        self._remote = io.join(workdir, "tensorboard")
        self._staged = io.is_remote(workdir)
        self._dir = staging_folder("tensorboard-") if self._staged else self._remote
        self._tb = None

    def write(self, step: int, row: dict) -> None:
        if self._tb is None:
            self._tb = _summary_writer_class()(self._dir)
        for name, value in scalars(row).items():
            self._tb.add_scalar(name, value, step)
        self._tb.flush()

    def flush(self) -> None:
        if self._staged and self._tb is not None:
            self._tb.flush()
            sync(self._dir, self._remote, io.files_under(self._dir))

    def close(self) -> None:
        self.flush()
        if self._tb is not None:
            self._tb.close()
        if self._staged:
            shutil.rmtree(self._dir, ignore_errors=True)


def _summary_writer_class():
    """tensorboardX's SummaryWriter, imported without torch where torch is not loaded yet: tensorboardX imports it
    (~1.5 s of CPU at every start of a run) only to widen a type annotation, and falls back to numpy without it."""
    if "torch" in sys.modules:
        from tensorboardX import SummaryWriter

        return SummaryWriter
    sys.modules["torch"] = None  # `import torch` raises ImportError while tensorboardX loads
    try:
        from tensorboardX import SummaryWriter
    finally:
        del sys.modules["torch"]
    return SummaryWriter


def open_logger(workdir: str, resume_step: int, cfg, commit: str) -> TensorBoardLogger:
    """Event files in WORKDIR/tensorboard (the config is in config.json, the commit in run_info.jsonl)."""
    return TensorBoardLogger(workdir)
