"""metrics.jsonl (one JSON object per line) and TensorBoard event files, written by process 0 only.

A local workdir's metrics.jsonl is appended to line by line. A bucket's objects cannot be appended to, so for a
gs:// workdir the lines are kept in memory and the whole object is rewritten at most every `UPLOAD_EVERY_S`
seconds and at every `flush` (the training loop flushes before each checkpoint, so a resumed run finds every
line up to its checkpoint); TensorBoard writes into a local staging folder whose event files are uploaded then too.
"""

import json
import math
import os
import shutil
import tempfile
import time

import jax

from jaxlm import io
from jaxlm.io.cache import cache_root
from jaxlm.io.staging import sync

UPLOAD_EVERY_S = 60.0


class MetricsWriter:
    """Appends metric lines; on resume, lines past the restored step are dropped so no step appears twice."""

    def __init__(self, workdir: str, resume_step: int = 0):
        self.active = jax.process_index() == 0
        self.path = io.join(workdir, "metrics.jsonl")
        self.remote = io.is_remote(workdir)
        self._tb = None
        self._tb_remote = io.join(workdir, "tensorboard")
        self._tb_dir = self._staging() if self.remote and self.active else self._tb_remote
        self._lines: list[str] = []
        self._uploaded = time.monotonic()
        if self.active:
            self._truncate_after(resume_step)

    def _staging(self) -> str:
        os.makedirs(cache_root(), exist_ok=True)
        return tempfile.mkdtemp(prefix="tensorboard-", dir=cache_root())

    def _truncate_after(self, step: int) -> None:
        if not io.exists(self.path):
            return
        keep = [
            line + "\n"
            for line in io.read_text(self.path).splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= step
        ]
        self._lines = keep
        io.atomic_write(self.path, "".join(keep))

    def write(self, step: int, metrics: dict) -> None:
        if not self.active:
            return
        row = {"step": int(step), **{k: _plain(v) for k, v in metrics.items()}}
        line = json.dumps(row) + "\n"
        if self.remote:
            self._lines.append(line)
        else:
            io.append_local(self.path, line)
        if self._tb is None:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(self._tb_dir)
        prefix = f"{metrics['split']}/" if "split" in metrics else "train/"
        for k, v in row.items():
            if isinstance(v, (int, float)) and k != "step":
                self._tb.add_scalar(prefix + k, v, step)
        self._tb.flush()
        if self.remote and time.monotonic() - self._uploaded > UPLOAD_EVERY_S:
            self.flush()

    def flush(self) -> None:
        """A gs:// workdir: upload metrics.jsonl and the TensorBoard event files as they are now."""
        if not (self.active and self.remote):
            return
        io.atomic_write(self.path, "".join(self._lines))
        if self._tb is not None:
            self._tb.flush()
            sync(self._tb_dir, self._tb_remote, io.files_under(self._tb_dir))
        self._uploaded = time.monotonic()

    def close(self) -> None:
        self.flush()
        if self._tb is not None:
            self._tb.close()
        if self.remote and self.active:
            shutil.rmtree(self._tb_dir, ignore_errors=True)


def _plain(v):
    if isinstance(v, (str, int)):
        return v
    v = float(v)
    return v if math.isfinite(v) else str(v)


def read_metrics(workdir: str) -> list[dict]:
    """All lines of a workdir's metrics.jsonl."""
    return [json.loads(line) for line in io.read_text(io.join(workdir, "metrics.jsonl")).splitlines() if line.strip()]
