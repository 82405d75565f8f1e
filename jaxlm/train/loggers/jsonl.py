"""metrics.jsonl: one JSON object per line. A local file is appended to line by line; a bucket's objects cannot
be, so there the lines are kept in memory and the whole object is rewritten at every `flush`."""

import json

from jaxlm import io


class JsonlLogger:
    """Appends metric lines; on resume, lines past the restored step are dropped so no step appears twice."""

    def __init__(self, workdir: str, resume_step: int):
        self.path = io.join(workdir, "metrics.jsonl")
        self.remote = io.is_remote(workdir)
        self._lines: list[str] = []
        self._truncate_after(resume_step)

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

    def write(self, step: int, row: dict) -> None:
        line = json.dumps(row) + "\n"
        if self.remote:
            self._lines.append(line)
        else:
            io.append_local(self.path, line)

    def flush(self) -> None:
        if self.remote:
            io.atomic_write(self.path, "".join(self._lines))

    def close(self) -> None:
        self.flush()


def open_logger(workdir: str, resume_step: int, cfg, commit: str) -> JsonlLogger:
    """metrics.jsonl in `workdir` (the config is in config.json, the commit in run_info.jsonl)."""
    return JsonlLogger(workdir, resume_step)
