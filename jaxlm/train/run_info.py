"""Which code a run ran: jaxlm's git commit, and `run_info.jsonl` in the workdir (one line per start or resume)."""

import datetime
import json
import os
import subprocess

from jaxlm import io

RUN_INFO = "run_info.jsonl"


def git_commit() -> str:
    """Short commit of the jaxlm checkout ("+dirty" with uncommitted changes), or "unknown (not a git checkout)"."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        sha = subprocess.run(
            ["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return sha + ("+dirty" if dirty else "")


def record_start(workdir: str, step: int, info: dict) -> None:
    """Append a line {"step", "time", **info} to the workdir's run_info.jsonl (rewritten whole: buckets too)."""
    path = io.join(workdir, RUN_INFO)
    old = io.read_text(path) if io.exists(path) else ""
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    io.atomic_write(path, old + json.dumps({"step": step, "time": now, **info}) + "\n")
