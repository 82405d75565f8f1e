"""Crash, preemption, corrupt checkpoints and concurrent runs, each in real subprocesses."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import ROOT

from jaxlm.train.checkpoint import Checkpointer

TINY = os.path.join(ROOT, "experiments", "gpt_tiny.py")
ARGS = [
    "--config.train.steps=30",
    "--config.train.log_every=1",
    "--config.train.eval_every=20",
    "--config.train.checkpoint_every=5",
    "--config.train.eval_batches=1",
    "--config.train.progress=False",
    "--config.train.sample_tokens=0",
]


def start(workdir: str, *extra: str, env: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": ROOT, **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "jaxlm.cli.main", "train", "--config", TINY, "--workdir", workdir, *ARGS, *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(p: subprocess.Popen) -> tuple[int, str]:
    _, err = p.communicate(timeout=600)
    return p.returncode, err


def last_step(workdir: str) -> int:
    try:
        with open(os.path.join(workdir, "metrics.jsonl")) as f:
            return max((json.loads(x)["step"] for x in f if x.strip()), default=0)
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def wait_for_step(workdir: str, step: int, p: subprocess.Popen) -> None:
    deadline = time.time() + 300
    while last_step(workdir) < step:
        assert p.poll() is None, p.communicate()[1][-2000:]
        assert time.time() < deadline
        time.sleep(0.05)


def final_state(workdir: str):
    from jaxlm.train.workdir import restored_run

    return jax.device_get(restored_run(workdir).state)


def same_bytes(a, b) -> bool:
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    return len(la) == len(lb) and all(np.asarray(x).tobytes() == np.asarray(y).tobytes() for x, y in zip(la, lb))


def metric_rows(workdir: str) -> list[dict]:
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [{k: v for k, v in json.loads(x).items() if k != "tokens_per_s"} for x in f if x.strip()]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> str:
    """A finished, never interrupted run of ARGS (30 steps, checkpoints every 5), compiled on its own: the jax
    compilation cache is off. Tests that change it work on a copy."""
    workdir = str(tmp_path_factory.mktemp("reference") / "w")
    code, err = finish(start(workdir, env={"JAX_ENABLE_COMPILATION_CACHE": "false"}))
    assert code == 0, err[-2000:]
    return workdir


@pytest.mark.xdist_group("reliability_reference")  # one worker runs the reference for both of its tests
def test_sigkill_at_random_steps_then_resume_is_bit_identical(reference, tmp_path):
    from jaxlm.train.workdir import restored_run

    run = restored_run(reference)
    expected_state, expected_rows = jax.device_get(run.state), metric_rows(reference)
    # The killed runs and their resumptions share one jax compilation cache, filled by the first killed run's own
    # compile, so a restart skips recompiling. The reference compiles on its own without it, so the comparison
    # still spans two independent compilations.
    cache = {
        "JAX_ENABLE_COMPILATION_CACHE": "true",
        "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "xla_cache"),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    }
    for seed in (1, 2):
        wd = str(tmp_path / f"killed{seed}")
        kill_at = random.Random(seed).randint(3, 27)
        p = start(wd, env=cache)
        wait_for_step(wd, kill_at, p)
        p.send_signal(signal.SIGKILL)
        p.wait()
        with open(os.path.join(wd, ".lock")) as f:  # the killed run's lock file stays: a stale lock must not block
            assert f.read() == str(p.pid)
        code, err = finish(start(wd, env=cache))
        assert code == 0 and "WARNING:absl" not in err, err[-2000:]  # a resume restores without orbax's warnings
        # The same config, so the reference's Run (shapes, shardings) restores the killed run's latest checkpoint;
        # its state is zeroed first, so that only a real restore can match.
        with open(os.path.join(wd, "config.json")) as a, open(os.path.join(reference, "config.json")) as b:
            assert a.read() == b.read()
        assert json.loads(open(os.path.join(wd, "config.json")).read())["train"]["async_checkpoints"]
        # A write the kill cut short left at most a temporary folder, which the resumed run removed.
        assert all(name.isdigit() for name in os.listdir(os.path.join(wd, "checkpoints")))
        run.checkpointer = Checkpointer(os.path.join(wd, "checkpoints"), run.cfg.train.keep_checkpoints)
        run.state = jax.tree_util.tree_map(jnp.zeros_like, run.state)
        assert run.restore() is not None
        assert same_bytes(jax.device_get(run.state), expected_state), f"seed {seed}, killed at step ≥ {kill_at}"
        assert metric_rows(wd) == expected_rows  # no duplicated or missing steps


def test_sigterm_checkpoints_and_exits_then_resumes(tmp_path):
    wd = str(tmp_path / "w")
    p = start(wd, "--config.train.steps=150", "--config.train.checkpoint_every=1000")
    wait_for_step(wd, 8, p)
    sent = time.time()
    p.send_signal(signal.SIGTERM)
    code, err = finish(p)
    assert code == 75 and "SIGTERM" in err and time.time() - sent < 10
    stopped_at = last_step(wd)
    assert os.path.isdir(os.path.join(wd, "checkpoints", str(stopped_at)))
    code, err = finish(start(wd, "--config.train.steps=150", "--config.train.checkpoint_every=1000"))
    assert code == 0, err[-2000:]
    steps = [r["step"] for r in metric_rows(wd) if "split" not in r]
    assert steps == list(range(1, 151))


@pytest.mark.xdist_group("reliability_reference")
def test_corrupt_latest_checkpoint_falls_back_to_previous(reference, tmp_path):
    wd = str(tmp_path / "w")
    shutil.copytree(reference, wd)  # a finished 30-step run: checkpoints 25 and 30
    assert sorted(os.listdir(os.path.join(wd, "checkpoints"))) == ["25", "30"]
    state_dir = os.path.join(wd, "checkpoints", "30", "state")
    for name in os.listdir(state_dir):  # a torn write: the array data is gone
        if name not in ("_METADATA", "commit_success.txt"):
            path = os.path.join(state_dir, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    code, err = finish(start(wd, "--config.train.steps=35"))
    assert code == 0, err[-2000:]
    warnings = [line for line in err.splitlines() if "checkpoint 30 is corrupt" in line]
    assert len(warnings) == 1 and "resuming from checkpoint 25" in warnings[0]
    steps = [r["step"] for r in metric_rows(wd) if "split" not in r]
    assert steps == list(range(1, 36))
    assert os.listdir(os.path.join(wd, "corrupt_checkpoints"))


def test_second_run_on_a_workdir_is_refused(tmp_path):
    """(A stale lock, left by a killed run, does not block: the sigkill test resumes over one.)"""
    wd = str(tmp_path / "w")
    first = start(wd, "--config.train.steps=100000")
    wait_for_step(wd, 2, first)
    code, err = finish(start(wd))
    assert code == 2 and "in use" in err and err.count("\n") == 1 and f"pid {first.pid}" in err
    first.send_signal(signal.SIGKILL)
    first.wait()


def _blow_up(wd: str, policy: str) -> tuple[int, str]:
    """A learning rate that warms up to 1e5 turns the loss non-finite after a few steps."""
    return finish(
        start(
            wd,
            "--config.optim.peak_lr=1e5",
            "--config.optim.clip=0.0",
            "--config.optim.warmup=40",
            "--config.train.checkpoint_every=2",
            f"--config.train.nonfinite={policy}",
            "--config.train.max_nonfinite_in_a_row=3",
        )
    )


def _finite(state) -> bool:
    return all(np.isfinite(np.asarray(x)).all() for x in jax.tree_util.tree_leaves(state.params))


def test_nonfinite_stop_policy_stops_at_the_first_bad_step(tmp_path):
    wd = str(tmp_path / "w")
    code, err = _blow_up(wd, "stop")
    lines = err.strip().splitlines()
    assert code == 3 and "Traceback" not in err and "not finite (policy 'stop')" in lines[-1]
    bad_step = int(lines[-1].split("step ")[1].split(":")[0])
    assert max(int(s) for s in os.listdir(os.path.join(wd, "checkpoints"))) < bad_step
    assert _finite(final_state(wd))


def test_nonfinite_skip_policy_skips_then_stops_after_too_many_in_a_row(tmp_path):
    wd = str(tmp_path / "w")
    code, err = _blow_up(wd, "skip")
    warnings = [line for line in err.splitlines() if "update skipped" in line]
    assert code == 3 and len(warnings) == 3 and "4 non-finite steps in a row" in err.strip().splitlines()[-1]
    assert _finite(final_state(wd))  # skipped updates never reached the parameters


@pytest.mark.parametrize("async_save", [False, True])
def test_keeps_the_last_checkpoints_and_the_best_by_validation_loss(tmp_path, async_save):
    ckpt = Checkpointer(str(tmp_path / "checkpoints"), keep=2, async_save=async_save)
    state = {"w": jnp.arange(4.0)}
    for step, val in [(1, 3.0), (2, 1.0), (3, 2.0), (4, None), (5, 2.5), (6, None)]:
        ckpt.save(step, state, {"next_index": step}, val)
    ckpt.wait()
    assert ckpt.all_steps() == [2, 5, 6]  # the best (val 1.0 at step 2) plus the last two
    step, restored, data = ckpt.restore_latest(
        jax.eval_shape(lambda s: s, state), {"w": jax.sharding.SingleDeviceSharding(jax.devices()[0])}
    )
    assert step == 6 and data == {"next_index": 6} and np.array_equal(restored["w"], np.arange(4.0))
