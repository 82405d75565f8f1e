"""experiments/launch/slurm.sbatch on a real one-node Slurm cluster on localhost (munged, slurmctld, slurmd; 2 CPUs).

Run by .ci/run after `make test`, not by it: it needs root and Debian's slurm-wlm and munge, and starts daemons
(tests/integration/slurm_cluster.sh brings them up and down).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "experiments", "launch", "slurm.sbatch")
CLUSTER = os.path.join(ROOT, "tests", "integration", "slurm_cluster.sh")
TINY = os.path.join(ROOT, "experiments", "gpt_tiny.py")
HEARTBEAT_TIMEOUT = 10
# 40 steps, so that the kill after step 6 (a checkpoint at 5) lands well before the end even on an idle machine
ARGS = [
    "--config.train.steps=40",
    "--config.train.log_every=1",
    "--config.train.eval_every=40",
    "--config.train.checkpoint_every=5",
    "--config.train.eval_batches=2",
    "--config.train.progress=False",
    "--config.train.sample_tokens=0",
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The environment that reaches the cluster (SLURM_CONF), for the module's lifetime; no daemon outlives it."""
    assert shutil.which("slurmctld") and shutil.which("munged"), "apt-get install -y slurm-wlm munge (as root)"
    folder = str(tmp_path_factory.mktemp("slurm"))
    subprocess.run([CLUSTER, "up", folder], check=True, timeout=120)
    try:
        yield {**os.environ, "SLURM_CONF": os.path.join(folder, "slurm.conf")}
    finally:
        subprocess.run([CLUSTER, "down", folder], check=True, timeout=120)


def submit(env: dict, workdir: str, logs: str, wait: bool) -> str:
    """sbatch the launcher for 2 CPU tasks of gpt_tiny; the job id (after the job ends if `wait`)."""
    env = {
        **env,
        "CONFIG": TINY,
        "WORKDIR": workdir,
        "JAXLM": f"{sys.executable} -m jaxlm.cli.main",
        "PYTHONPATH": ROOT,
        "JAXLM_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
    }
    p = subprocess.run(
        [
            "sbatch",
            "--parsable",
            "--ntasks=2",
            f"--output={logs}.out",
            f"--error={logs}.err",
            *(["--wait"] if wait else []),
            SCRIPT,
            *ARGS,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr + read(f"{logs}.err")
    return p.stdout.strip().split(";")[0]


def read(path: str) -> str:
    return open(path).read() if os.path.exists(path) else ""


def rows(workdir: str) -> list[dict]:
    """metrics.jsonl without the wall-clock field."""
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [{k: v for k, v in json.loads(x).items() if k != "tokens_per_s"} for x in f if x.strip()]


def last_step(workdir: str) -> int:
    try:
        return max((r["step"] for r in rows(workdir)), default=0)
    except (FileNotFoundError, json.JSONDecodeError):  # not written yet, or a line half-written
        return 0


def running(env: dict, job: str) -> bool:
    p = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], env=env, capture_output=True, text=True)
    return p.stdout.strip() in ("PENDING", "RUNNING", "COMPLETING")


@pytest.fixture(scope="module")
def uninterrupted(cluster, tmp_path_factory) -> str:
    workdir = str(tmp_path_factory.mktemp("pair") / "w")
    submit(cluster, workdir, logs=workdir + "-job", wait=True)
    return workdir


def test_two_slurm_tasks_train_as_one_process_on_two_devices(uninterrupted, tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    single = str(tmp_path / "single")
    p = subprocess.run(
        [sys.executable, "-m", "jaxlm.cli.main", "train", "--config", TINY, "--workdir", single, *ARGS],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    pair, one = rows(uninterrupted), rows(single)
    assert [r["step"] for r in pair] == [r["step"] for r in one] and len(pair) == 41  # 40 steps and the eval
    np.testing.assert_allclose([r["loss"] for r in pair], [r["loss"] for r in one], rtol=1e-5)


@pytest.mark.parametrize("victim", [1, 0], ids=["worker", "coordinator"])
def test_a_killed_task_stops_the_other_with_one_line_and_a_resubmitted_job_resumes_exactly(
    cluster, uninterrupted, tmp_path, victim
):
    workdir, logs = str(tmp_path / "w"), str(tmp_path / "job")
    job = submit(cluster, workdir, logs=logs, wait=False)
    deadline = time.time() + 300
    while last_step(workdir) < 6:  # past the checkpoint at step 5
        assert running(cluster, job) and time.time() < deadline, read(logs + ".err")[-3000:]
        time.sleep(0.05)
    listed = subprocess.run(["scontrol", "listpids", job], env=cluster, capture_output=True, text=True).stdout
    pids = [
        int(c[0]) for c in (line.split() for line in listed.splitlines()[1:]) if c[2] == "0" and c[4] == str(victim)
    ]
    assert pids, listed
    for pid in pids:  # the task's process and the training process under it
        os.kill(pid, signal.SIGKILL)
    killed = time.time()
    while running(cluster, job):
        assert time.time() - killed < HEARTBEAT_TIMEOUT + 60, "the surviving task did not stop"
        time.sleep(0.2)
    survivor = 1 - victim
    err = read(logs + ".err")
    said = [line for line in err.splitlines() if line.startswith(f"{survivor}: ") and "[Gloo]" not in line]
    why = (
        r"it stopped sending heartbeats: killed, crashed, or its host died"
        if victim
        else r"the coordinator: its connection closed \([^()]+\)"
    )  # gRPC's words: "Socket closed", ...
    assert len(said) == 1 and re.fullmatch(
        rf"{survivor}: jaxlm: error: lost process {victim} of 2 \({why}\); process {survivor} stopped too\. "
        r"Resubmit the job: it resumes from the last checkpoint",
        said[0],
    ), err
    assert exit_codes(err).get(survivor) == 2, err
    assert 6 <= last_step(workdir) < 40
    if victim:  # one resume is proof enough (the stage has 5 minutes); it is preempted on the way, and resumed again
        job = submit(cluster, workdir, logs=logs + "-resumed", wait=False)
        assert_preempted(cluster, job, workdir, logs + "-resumed", after=last_step(workdir) + 3)
        submit(cluster, workdir, logs=logs + "-resumed-again", wait=True)
        assert rows(workdir) == rows(uninterrupted)


def exit_codes(err: str) -> dict[int, int]:
    """Each task's exit code as srun reports it: "task 1: Exited with exit code 2", or "tasks 0-1: ..." when
    several exit alike."""
    codes = {}
    for tasks, code in re.findall(r"tasks? ([\d,-]+): Exited with exit code (\d+)", err):
        for part in tasks.split(","):
            first, _, last = part.partition("-")
            codes.update({t: int(code) for t in range(int(first), int(last or first) + 1)})
    return codes


def assert_preempted(cluster: dict, job: str, workdir: str, logs: str, after: int) -> None:
    """`scancel --signal=TERM` (what Slurm sends at the time limit or on preemption) once the job is past step
    `after`: it reaches both tasks, which agree on one step (JAX's preemption sync point), both checkpoint it and
    exit 75."""
    deadline = time.time() + 300
    while last_step(workdir) < after:
        assert running(cluster, job) and time.time() < deadline, read(logs + ".err")[-3000:]
        time.sleep(0.05)
    subprocess.run(["scancel", "--signal=TERM", job], env=cluster, check=True, timeout=60)
    while running(cluster, job):
        assert time.time() < deadline, "the job did not stop after SIGTERM"
        time.sleep(0.2)
    err = read(logs + ".err")
    stopped = {int(t): int(s) for t, s in re.findall(r"^(\d): jaxlm: stopped by SIGTERM after step (\d+);", err, re.M)}
    assert len(stopped) == 2 and stopped[0] == stopped[1], err  # one step for both
    assert exit_codes(err) == {0: 75, 1: 75}, err
    assert after <= stopped[0] < 40 and last_step(workdir) == stopped[0]
    assert os.path.isdir(os.path.join(workdir, "checkpoints", str(stopped[0])))
