"""Checkpoint, export, convert and generate faults, each as a user meets them: the real CLI in a subprocess, one
line on stderr, exit 2, nothing on disk created, changed or removed. Full disks and read-only folders are real
tmpfs mounts (root only)."""

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, fails, jaxlm_cli, snapshot

TINY = os.path.join(ROOT, "experiments", "gpt_tiny.py")
# One worker builds the module's `trained` run and its `exported` folder, not one per worker.
pytestmark = pytest.mark.xdist_group("checkpoint_faults")
QUICK = [
    "--config.train.eval_every=4",
    "--config.train.eval_batches=1",
    "--config.train.progress=False",
    "--config.train.sample_tokens=0",
    "--config.train.log_every=1",
]
AS_ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs (a real full or read-only disk) needs root")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> str:
    """A 2-step gpt_tiny run with checkpoints 1 and 2 (asynchronous, the default), shared by every test here;
    tests that change it work on a copy."""
    wd = str(tmp_path_factory.mktemp("faults") / "w")
    p = jaxlm_cli(
        "train",
        "--config",
        TINY,
        "--workdir",
        wd,
        *QUICK,
        "--config.train.steps=2",
        "--config.train.checkpoint_every=1",
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert sorted(os.listdir(os.path.join(wd, "checkpoints"))) == ["1", "2"]
    return wd


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory) -> tuple[str, str]:
    """(the export of `trained` as a Hugging Face folder, the export's stderr); a dead writer's temporary sibling
    was planted beside it first."""
    out = str(tmp_path_factory.mktemp("export") / "hf")
    os.makedirs(f"{out}.{_dead_pid()}.tmp/partial")
    p = jaxlm_cli("export", "--workdir", trained, "--to-hf", out)
    assert p.returncode == 0, p.stderr
    return out, p.stderr


def _dead_pid() -> int:
    """The id of a process that has exited."""
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def _refused(args: list[str], folder: str, expected: str) -> str:
    """Run the CLI; assert exit 2, one line naming `expected`, no traceback, and `folder` unchanged."""
    before = snapshot(folder)
    p = jaxlm_cli(*args)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr, p.stderr[-3000:]
    assert expected in p.stderr, p.stderr
    assert snapshot(folder) == before
    return p.stderr


@contextlib.contextmanager
def tmpfs(path, size_kb: int):
    """A tmpfs of `size_kb` KiB mounted at `path` (created) for the body."""
    os.makedirs(path, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(path)], check=True)
    try:
        yield str(path)
    finally:
        subprocess.run(["umount", str(path)], check=True)


def _used_kb(path) -> int:
    return int(
        subprocess.run(
            ["df", "-k", "--output=used", str(path)], capture_output=True, text=True, check=True
        ).stdout.split()[-1]
    )


def _edit_json(path: str, change) -> dict:
    """Apply `change` to the JSON object in `path`, write it back, return it."""
    data = json.loads(Path(path).read_text())
    change(data)
    Path(path).write_text(json.dumps(data))
    return data


def _copy_workdir(src: str, dst: str) -> str:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".lock"))
    return dst


def test_successful_restores_print_no_absl_warnings(trained, exported):
    assert exported[1].count("\n") == 0, exported[1]  # export: nothing on stderr
    for args in (
        ["eval", "--workdir", trained],
        ["generate", "--workdir", trained, "--prompt", "ROMEO", "--max-new-tokens", "4"],
    ):
        p = jaxlm_cli(*args)
        assert p.returncode == 0 and p.stderr == "", p.stderr


def test_stale_temporary_folder_of_a_killed_export_is_removed(exported):
    out, _ = exported
    assert sorted(os.listdir(os.path.dirname(out))) == ["hf"]
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(os.listdir(out))


def test_eval_of_a_workdir_without_checkpoints_creates_nothing(trained, tmp_path):
    wd = _copy_workdir(trained, str(tmp_path / "w"))
    shutil.rmtree(os.path.join(wd, "checkpoints"))
    _refused(["eval", "--workdir", wd], str(tmp_path), "has no checkpoint")


def test_arguments_are_refused_before_any_checkpoint_is_looked_for(capsys, trained, tmp_path):
    """On a workdir without checkpoints (and a BERT workdir that is only its config.json), the argument is what is
    named, not the missing checkpoint. In-process: nothing is restored, so nothing but the line reaches stderr."""
    from jaxlm.config.loading import load_config_file

    wd = _copy_workdir(trained, str(tmp_path / "w"))
    shutil.rmtree(os.path.join(wd, "checkpoints"))
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(
        load_config_file(os.path.join(ROOT, "experiments", "bert_shakespeare.py")).to_json()
    )
    before = snapshot(tmp_path)
    assert "--prompt is empty" in fails(capsys, "generate", "--workdir", wd, "--prompt", "")
    assert "an encoder" in fails(capsys, "generate", "--workdir", str(bert), "--prompt", "ROMEO")
    _edit_json(os.path.join(wd, "config.json"), lambda c: c["model"].update(mlp="swiglu"))
    before[os.path.join("w", "config.json")] = snapshot(wd)["config.json"]
    assert "config.model.mlp=swiglu" in fails(capsys, "export", "--workdir", wd, "--to-hf", str(tmp_path / "hf"))
    assert snapshot(tmp_path) == before


def test_convert_refuses_weights_that_do_not_fit_config_json(exported, tmp_path):
    hf = str(tmp_path / "hf")
    shutil.copytree(exported[0], hf)
    config = _edit_json(os.path.join(hf, "config.json"), lambda c: c.update(vocab_size=c["vocab_size"] + 8))
    err = _refused(["convert", "--from-hf", hf, "--out", str(tmp_path / "out")], str(tmp_path), "embed/embedding")
    assert f"config.json's dims give ({config['vocab_size']}, 64)" in err


@AS_ROOT
def test_full_disk_during_train_keeps_the_committed_checkpoints(trained, tmp_path):
    with tmpfs(tmp_path / "disk", 8192) as disk:
        wd = _copy_workdir(trained, os.path.join(disk, "w"))
        # Room for the lock and a few metrics, not for a checkpoint (1.7 MB).
        subprocess.run(["mount", "-o", f"remount,size={_used_kb(disk) + 400}k", disk], check=True)
        committed = {s: snapshot(os.path.join(wd, "checkpoints", s)) for s in ("1", "2")}
        p = jaxlm_cli(
            "train",
            "--config",
            TINY,
            "--workdir",
            wd,
            *QUICK,
            "--config.train.steps=3",
            "--config.train.checkpoint_every=1",
        )
        assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr, p.stderr[-3000:]
        assert "could not write checkpoint 3" in p.stderr and "No space left on device" in p.stderr
        assert sorted(os.listdir(os.path.join(wd, "checkpoints"))) == ["1", "2"]  # no temporary folder left
        assert {s: snapshot(os.path.join(wd, "checkpoints", s)) for s in ("1", "2")} == committed


@AS_ROOT
def test_full_disk_when_train_starts_leaves_no_lock(trained, tmp_path):
    with tmpfs(tmp_path / "disk", 4096) as disk:
        wd = _copy_workdir(trained, os.path.join(disk, "w"))
        subprocess.run(["dd", "if=/dev/zero", f"of={disk}/filler", "bs=64k"], capture_output=True)
        _refused(
            ["train", "--config", TINY, "--workdir", wd, *QUICK, "--config.train.steps=3"],
            wd,
            "No space left on device",
        )


@AS_ROOT
def test_read_only_checkpoints_folder_is_named_not_writable(trained, tmp_path):
    wd = _copy_workdir(trained, str(tmp_path / "w"))
    saved = str(tmp_path / "saved")
    shutil.move(os.path.join(wd, "checkpoints"), saved)
    with tmpfs(os.path.join(wd, "checkpoints"), 8192) as checkpoints:
        shutil.copytree(saved, checkpoints, dirs_exist_ok=True)
        subprocess.run(["mount", "-o", "remount,ro", checkpoints], check=True)
        before = snapshot(checkpoints)
        p = jaxlm_cli("train", "--config", TINY, "--workdir", wd, *QUICK, "--config.train.steps=3")
        assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr, p.stderr[-3000:]
        assert "is not writable (Read-only file system)" in p.stderr and "disk space" not in p.stderr
        assert snapshot(checkpoints) == before


@AS_ROOT
@pytest.mark.parametrize("verb", ["export", "convert"])
def test_full_disk_during_export_or_convert_leaves_nothing(trained, exported, verb, tmp_path):
    with tmpfs(tmp_path / "disk", 256) as disk:
        args = (
            ["export", "--workdir", trained, "--to-hf", f"{disk}/out"]
            if verb == "export"
            else ["convert", "--from-hf", exported[0], "--out", f"{disk}/out"]
        )
        _refused(args, disk, "No space left on device")


def test_the_unawaited_errors_of_a_failed_save_add_no_lines(tmp_path):
    """A full disk fails several of orbax's concurrent writes; one raises, the others' errors are never awaited and
    asyncio would log each with a traceback when collected, after (or before) the one line. Here a failed command
    that quieted orbax's failures (as convert, export and the checkpointer do before writing) leaves such a task
    behind, and stderr stays the one line."""
    script = (
        "import asyncio, gc, sys\n"
        "from jaxlm.cli.main import main\n"
        "from jaxlm.io.write_errors import quiet_orbax_failures\n"
        "quiet_orbax_failures()\n"
        "async def write(): raise OSError(28, 'No space left on device')\n"
        "loop = asyncio.new_event_loop(); task = loop.create_task(write())\n"
        "loop.run_until_complete(asyncio.sleep(0))\n"
        "code = main(['train', '--no-such-flag'])\n"
        "del task; loop.close(); gc.collect(); sys.exit(code)\n"
    )
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 2 and p.stderr.count("\n") == 1, p.stderr
    assert "Traceback" not in p.stderr and p.stderr.startswith("jaxlm: error: train:")
