"""metrics.jsonl (one JSON object per line) and TensorBoard event files, written by process 0 only."""

import json
import math
import os

import jax

from jaxlm.io import atomic_write


class MetricsWriter:
    """Appends metric lines; on resume, lines past the restored step are dropped so no step appears twice."""

    def __init__(self, workdir: str, resume_step: int = 0):
        self.active = jax.process_index() == 0
        self.path = os.path.join(workdir, "metrics.jsonl")
        self._tb = None
        self._tb_dir = os.path.join(workdir, "tensorboard")
        if self.active:
            self._truncate_after(resume_step)

    def _truncate_after(self, step: int) -> None:
        if not os.path.exists(self.path):
            return
        with open(self.path) as f:
            keep = [line for line in f if line.strip() and json.loads(line).get("step", 0) <= step]
        atomic_write(self.path, "".join(keep))

    def write(self, step: int, metrics: dict) -> None:
        if not self.active:
            return
        row = {"step": int(step), **{k: _plain(v) for k, v in metrics.items()}}
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
        if self._tb is None:
            from tensorboardX import SummaryWriter
            self._tb = SummaryWriter(self._tb_dir)
        prefix = f"{metrics['split']}/" if "split" in metrics else "train/"
        for k, v in row.items():
            if isinstance(v, (int, float)) and k != "step":
                self._tb.add_scalar(prefix + k, v, step)
        self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def _plain(v):
    if isinstance(v, (str, int)):
        return v
    v = float(v)
    return v if math.isfinite(v) else str(v)


def read_metrics(workdir: str) -> list[dict]:
    """All lines of a workdir's metrics.jsonl."""
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]
