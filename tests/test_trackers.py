"""Experiment trackers (config.train.loggers): a run logging to metrics.jsonl, TensorBoard and Weights & Biases
(offline, no network), resumed once; its W&B run files are read back with wandb's own reader."""

import glob
import json
import os
import struct
import subprocess

import pytest
import wandb
from conftest import fails, jaxlm_cli
from fixtures_runs import QUICK, TINY

from jaxlm.cli.main import main
from jaxlm.train.metrics import MetricsWriter, read_metrics
from jaxlm.train.run_info import git_commit

pytestmark = pytest.mark.xdist_group("trackers")  # one worker trains the tracked run for the three tests using it
ALL = "--config.train.loggers=['jsonl','tensorboard','wandb']"


@pytest.fixture(scope="module")
def tracked(tmp_path_factory) -> str:
    """gpt_tiny for 2 steps, then resumed to 4, logging to all three trackers."""
    workdir = str(tmp_path_factory.mktemp("trackers") / "run")
    assert main(["train", "--config", TINY, "--workdir", workdir, *QUICK, ALL, "--config.train.steps=2"]) == 0
    assert main(["train", "--config", TINY, "--workdir", workdir, *QUICK, ALL, "--config.train.steps=4"]) == 0
    return workdir


def _records(run_file: str) -> list[dict]:
    """The records of a W&B transaction log (.wandb), as wandb-core's `leet inspect --json` prints them."""
    out = subprocess.run(
        [wandb.util.get_core_path(), "leet", "inspect", "-no-observability", "-json", "-run-file", run_file],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines()]


def _runs(workdir: str) -> list[list[dict]]:
    """Each start's W&B records, oldest first."""
    files = sorted(glob.glob(os.path.join(workdir, "wandb", "offline-run-*", "run-*.wandb")))
    return [_records(f) for f in files]


@pytest.mark.slow
def test_wandb_history_equals_metrics_jsonl(tracked):
    history = {}
    for records in _runs(tracked):
        for r in records:
            if r["type"] == "history":
                history.setdefault(r["history"]["step"]["num"], {}).update(r["history"]["item"])
    rows = read_metrics(tracked)
    assert sorted(history) == sorted({row["step"] for row in rows}) == [2, 4]
    for row in rows:
        prefix = row.get("split", "train")
        numbers = {k: v for k, v in row.items() if k not in ("step", "split")}
        assert numbers and {f"{prefix}/{k}": v for k, v in numbers.items()}.items() <= history[row["step"]].items()


def _tensorboard_scalars(workdir: str) -> dict[tuple[int, str], float]:
    """(step, tag) → value of every scalar in the run's TensorBoard event files (TFRecord framing: a little-endian
    u64 length, its crc, the serialized Event, its crc)."""
    from tensorboardX.proto import event_pb2

    scalars = {}
    for path in sorted(glob.glob(os.path.join(workdir, "tensorboard", "events.out.tfevents.*"))):
        with open(path, "rb") as f:
            data = f.read()
        at = 0
        while at < len(data):
            (n,) = struct.unpack("<Q", data[at : at + 8])
            event = event_pb2.Event.FromString(data[at + 12 : at + 12 + n])
            scalars.update({(event.step, v.tag): v.simple_value for v in event.summary.value})
            at += 12 + n + 4
    return scalars


@pytest.mark.slow
def test_tensorboard_scalars_equal_metrics_jsonl(tracked):
    logged = _tensorboard_scalars(tracked)
    expected = {
        (row["step"], f"{row.get('split', 'train')}/{k}"): v
        for row in read_metrics(tracked)
        for k, v in row.items()
        if k not in ("step", "split") and isinstance(v, (int, float))
    }
    assert expected and set(expected) <= set(logged)
    assert all(logged[key] == pytest.approx(value, rel=1e-6) for key, value in expected.items())


@pytest.mark.slow
def test_wandb_run_holds_config_and_commit(tracked):
    commit = git_commit()
    first, resumed = _runs(tracked)
    with open(os.path.join(tracked, "config.json")) as f:
        saved = json.load(f)
    for records, steps in ((first, 2), (resumed, 4)):
        (run,) = [r["run"] for r in records if r["type"] == "run"]
        config = dict(run["config"]["update"])
        config.pop("_wandb")
        assert config.pop("jaxlm_commit") == commit
        assert config == {**saved, "train": {**saved["train"], "steps": steps}}
        summaries = [r["summary"]["update"] for r in records if r["type"] == "summary"]
        assert {"jaxlm_commit": commit} in summaries
    with open(os.path.join(tracked, "run_info.jsonl")) as f:
        starts = [json.loads(line) for line in f]
    names = ["jsonl", "tensorboard", "wandb"]
    assert [(s["step"], s["commit"], s["loggers"]) for s in starts] == [(0, commit, names), (2, commit, names)]
    assert os.listdir(os.path.join(tracked, "tensorboard"))


@pytest.mark.slow
def test_resumed_run_continues_the_same_wandb_run(tracked):
    with open(os.path.join(tracked, "wandb", "run_id")) as f:
        run_id = f.read().strip()
    runs = [[r["run"] for r in records if r["type"] == "run"][0] for records in _runs(tracked)]
    assert [(r["run_id"], r["display_name"], r["project"]) for r in runs] == [(run_id, "run", "jaxlm")] * 2
    exits = [[r["exit"].get("exit_code", 0) for r in records if r["type"] == "exit"] for records in _runs(tracked)]
    assert exits == [[0], [0]]  # each start's W&B run finished cleanly


def test_unknown_logger_is_refused_before_anything_is_written(tmp_path):
    workdir = tmp_path / "run"
    done = jaxlm_cli("train", "--config", TINY, "--workdir", str(workdir), "--config.train.loggers=['jsonl','mlflow']")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert "unknown logger 'mlflow'" in done.stderr and "jsonl, tensorboard, wandb" in done.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "override, message",
    [
        ("--config.train.wandb.mode=cloud", "config.train.wandb.mode='cloud' is unknown: use offline or online"),
        ("--config.train.loggers=['jsonl','jsonl']", "config.train.loggers=['jsonl', 'jsonl'] names a logger twice"),
    ],
)
def test_bad_tracker_settings_are_refused(capsys, tmp_path, override, message):
    assert message in fails(capsys, "train", "--config", TINY, "--workdir", str(tmp_path / "run"), override)
    assert os.listdir(tmp_path) == []


def test_online_wandb_without_credentials_is_refused_without_a_prompt(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    for var, folder in (("HOME", "home"), ("NETRC", "home/.netrc"), ("WANDB_CONFIG_DIR", "home/wandb")):
        monkeypatch.setenv(var, str(tmp_path / folder))
    workdir = tmp_path / "run"
    err = fails(capsys, "train", "--config", TINY, "--workdir", str(workdir), ALL, "--config.train.wandb.mode=online")
    assert "config.train.wandb.mode='online' needs W&B credentials: run `wandb login`" in err
    assert not workdir.exists()


def test_bucket_workdir_gets_every_trackers_files(gcs_bucket, tiny_config, tmp_path):
    """A gs:// workdir: metrics.jsonl, the TensorBoard events and the W&B run files are uploaded on close."""
    from jaxlm import io
    from jaxlm.io import gcs

    tiny_config.train.loggers = ["jsonl", "tensorboard", "wandb"]
    workdir = f"{gcs_bucket}/tracked"
    writer = MetricsWriter(workdir, 0, tiny_config)
    writer.write(1, {"loss": 2.5})
    writer.write(1, {"split": "val", "loss": 3.0})
    writer.close()
    assert read_metrics(workdir) == [{"step": 1, "loss": 2.5}, {"step": 1, "split": "val", "loss": 3.0}]
    assert io.files_under(f"{workdir}/tensorboard")
    (run_file,) = [f for f in io.files_under(f"{workdir}/wandb") if f.endswith(".wandb")]
    local = tmp_path / "run.wandb"
    gcs.filesystem().get(f"{workdir}/wandb/{run_file}".removeprefix("gs://"), str(local))
    (history,) = [r["history"] for r in _records(str(local)) if r["type"] == "history"]
    assert history["step"]["num"] == 1 and {"train/loss": 2.5, "val/loss": 3.0}.items() <= history["item"].items()
    assert io.read_text(f"{workdir}/wandb/run_id").strip() == os.path.basename(run_file)[4:-6]
