"""The rows a run logs, written by process 0 only to each of its trackers (jaxlm/train/loggers/): metrics.jsonl,
TensorBoard, Weights & Biases, as `config.train.loggers` names them (metrics.jsonl and TensorBoard without a
config). A training run also records its start step and jaxlm's commit in the workdir's run_info.jsonl.

For a gs:// workdir, whose objects cannot be appended to, the trackers' files are uploaded at most every
`UPLOAD_EVERY_S` seconds and at every `flush` (the training loop flushes before each checkpoint, so a resumed run
finds every line up to its checkpoint).
"""

import json
import math
import time

import jax
import ml_collections

from jaxlm import io
from jaxlm.train.loggers import open_loggers
from jaxlm.train.run_info import git_commit, record_start

UPLOAD_EVERY_S = 60.0
DEFAULT_LOGGERS = ("jsonl", "tensorboard")


class MetricsWriter:
    """Writes metric rows; on resume, what was logged past the restored step is dropped (metrics.jsonl)."""

    def __init__(self, workdir: str, resume_step: int = 0, cfg: ml_collections.ConfigDict | None = None):
        self.active = jax.process_index() == 0
        self.remote = io.is_remote(workdir)
        self._uploaded = time.monotonic()
        self._loggers = []
        if not self.active:
            return
        names, commit = DEFAULT_LOGGERS, ""
        if cfg is not None:
            names, commit = tuple(cfg.train.loggers), git_commit()
            record_start(workdir, resume_step, {"commit": commit, "loggers": list(names)})
        self._loggers = open_loggers(names, workdir, resume_step, cfg, commit)

    def write(self, step: int, metrics: dict) -> None:
        row = {"step": int(step), **{k: _plain(v) for k, v in metrics.items()}}
        for logger in self._loggers:
            logger.write(int(step), row)
        if self.remote and time.monotonic() - self._uploaded > UPLOAD_EVERY_S:
            self.flush()

    def flush(self) -> None:
        """A gs:// workdir: upload the trackers' files as they are now."""
        for logger in self._loggers:
            logger.flush()
        self._uploaded = time.monotonic()

    def close(self) -> None:
        for logger in self._loggers:
            logger.close()


def _plain(v):
    if isinstance(v, (str, int)):
        return v
    v = float(v)
    return v if math.isfinite(v) else str(v)


def read_metrics(workdir: str) -> list[dict]:
    """All lines of a workdir's metrics.jsonl."""
    return [json.loads(line) for line in io.read_text(io.join(workdir, "metrics.jsonl")).splitlines() if line.strip()]
