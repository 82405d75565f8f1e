"""The session's one tiny trained workdir, for the tests that only need a finished run to exist."""

import fcntl
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(ROOT, "experiments", "gpt_tiny.py")
QUICK = [
    "--config.train.steps=4",
    "--config.train.log_every=2",
    "--config.train.eval_every=2",
    "--config.train.checkpoint_every=2",
    "--config.train.eval_batches=1",
    "--config.train.progress=False",
    "--config.train.sample_tokens=0",
]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> str:
    """`jaxlm train` of experiments/gpt_tiny.py for 4 steps (QUICK), built once for the session and shared by
    the xdist workers (a file lock; the first worker trains it). Tests must not change it: copy it first, or
    assert with `snapshot` that a refused command left it as it was."""
    from conftest import _session_root

    from jaxlm.cli.main import main

    root = _session_root(tmp_path_factory)
    workdir, done = root / "tiny_run", root / "tiny_run.done"
    with open(root / "tiny_run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            assert main(["train", "--config", TINY, "--workdir", str(workdir), *QUICK]) == 0
            done.touch()
    return str(workdir)
