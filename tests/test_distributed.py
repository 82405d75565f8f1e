"""Meshes and multi-process training on fake CPU devices (each case in its own subprocess)."""

import json
import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest
from conftest import ROOT, fails, snapshot

from jaxlm.cli.main import main

WORKER = os.path.join(ROOT, "tests", "mesh_worker.py")
TINY = os.path.join(ROOT, "experiments", "gpt_tiny.py")
# GPT also runs tensor parallelism alone over all eight devices (every head on its own device); BERT and T5 (the
# same layers and sharding rules) run the one-device reference and the mesh that shards data, fsdp and tensor
# at once (data and fsdp alone add nothing the 2×2×2 mesh does not exercise).
# Llama's block (grouped-query attention: 2 key/value heads on tensor=2, rotary positions) runs the 2×2×2 mesh.
FAMILY_MESHES = {
    "gpt": ["1,1,1", "1,1,8", "2,2,2"],
    "bert": ["1,1,1", "2,2,2"],
    "t5": ["1,1,1", "2,2,2"],
    "llama": ["1,1,1", "2,2,2"],
}


def _worker(n_devices: int, root, config: str, meshes: list[str]) -> dict:
    p = subprocess.run(
        [sys.executable, WORKER, str(n_devices), str(root), config, *meshes],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    lines = [line for line in p.stdout.splitlines() if line.startswith("RESULT ")]
    assert p.returncode == 0 and lines, p.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT ") :])


@pytest.mark.parametrize(
    "family,config",
    [
        ("gpt", TINY),
        ("bert", os.path.join(ROOT, "experiments", "bert_shakespeare.py")),
        ("t5", os.path.join(ROOT, "experiments", "t5_span_corruption.py")),
        ("llama", os.path.join(ROOT, "experiments", "llama_shakespeare.py")),
    ],
    ids=["gpt", "bert", "t5", "llama"],
)
def test_same_losses_on_every_mesh_and_restore_onto_another(tmp_path, family, config):
    meshes = FAMILY_MESHES[family]
    out = _worker(8, tmp_path, config, meshes)
    reference = out[meshes[0]]
    assert len(reference["losses"]) == 5
    for mesh in meshes[1:]:
        np.testing.assert_allclose(out[mesh]["losses"], reference["losses"], rtol=1e-5, err_msg=mesh)
        np.testing.assert_allclose(out[mesh]["val"], reference["val"], rtol=1e-5, err_msg=mesh)
    for mesh in meshes:
        assert out[mesh]["sharding_mismatches"] == [], mesh
    assert out["restore_other_mesh_equal"] is True  # 1×1×1 checkpoint restored onto 2×2×2 (tiny models, 8 heads)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_match_one_and_their_checkpoint_restores_in_one(tmp_path, capsys):
    overrides = [
        "--config.train.steps=5",
        "--config.train.log_every=1",
        "--config.train.eval_every=5",
        "--config.train.checkpoint_every=5",
        "--config.train.eval_batches=2",
        "--config.train.progress=False",
        "--config.train.sample_tokens=0",
    ]
    pair, single = str(tmp_path / "pair"), str(tmp_path / "single")
    port = _free_port()
    env = {
        **os.environ,
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2",
        "PYTHONPATH": ROOT,
    }
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jaxlm.cli.main",
                "train",
                "--config",
                TINY,
                "--workdir",
                pair,
                "--coordinator",
                f"127.0.0.1:{port}",
                "--num-processes",
                "2",
                "--process-id",
                str(i),
                *overrides,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs[0][1][-2000:] + outs[1][1][-2000:]
    env4 = {
        **os.environ,
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4",
        "PYTHONPATH": ROOT,
    }
    p = subprocess.run(
        [sys.executable, "-m", "jaxlm.cli.main", "train", "--config", TINY, "--workdir", single, *overrides],
        env=env4,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    read = lambda wd: [json.loads(x) for x in open(os.path.join(wd, "metrics.jsonl"))]
    train_losses = lambda rows: [r["loss"] for r in rows if "split" not in r]
    np.testing.assert_allclose(train_losses(read(pair)), train_losses(read(single)), rtol=1e-5)
    # The pair's checkpoint, restored by a single process on one device (this one), evaluates to the pair's own
    # val metrics, which each of the pair's processes computed from its own rows of the val batches only: the
    # counts (target tokens, target bytes) exactly, the loss, accuracy and bits per byte to rounding; and so does
    # the single process's run.
    assert jax.process_count() == 1 and jax.device_count() == 1
    capsys.readouterr()
    assert main(["eval", "--workdir", pair, "--config.mesh.data=1"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["step"] == 5
    names = sorted(evaluated["val"])
    assert {"loss", "accuracy", "bits_per_byte", "target_tokens", "target_bytes"} <= set(names)
    for wd in (pair, single):
        val = [r for r in read(wd) if r.get("split") == "val"][-1]
        assert [val[k] for k in ("target_tokens", "target_bytes")] == [
            evaluated["val"][k] for k in ("target_tokens", "target_bytes")
        ]
        np.testing.assert_allclose([val[k] for k in names], [evaluated["val"][k] for k in names], rtol=1e-5)


def test_each_process_eval_block_is_its_rows_of_the_whole_batch(tiny_config):
    """What each of two processes reads of the val split, put side by side, is every whole eval batch, the last
    one too, where the second process's block is padding only."""
    from jaxlm.pipeline.dataset import eval_batches, load_corpus, prepare

    prepared = prepare(load_corpus(tiny_config, progress=False), tiny_config, "val", train=False)
    n = len(prepared.examples)
    size = next(b for b in range(4, n, 2) if 0 < n % b <= b // 2)  # the last batch fits in the first block
    whole = list(eval_batches(prepared, size))
    blocks = zip(eval_batches(prepared, size, part=(0, 2)), eval_batches(prepared, size, part=(1, 2)), strict=True)
    for batch, (first, second) in zip(whole, blocks, strict=True):
        assert batch.keys() == first.keys() == second.keys()
        for k in batch:
            np.testing.assert_array_equal(np.concatenate([first[k], second[k]]), batch[k], err_msg=k)
    assert not whole[-1]["weights"][size // 2 :].any() and len(whole) > 1


@pytest.mark.parametrize(
    "flags,expected",
    [
        (["--local-device-ids", "0,x"], "neither `localid` nor comma-separated integers"),
        (["--local-device-ids", "localid", "--distributed", "auto"], "SLURM_LOCALID, which is not set"),
        (["--local-device-ids", "0,1"], "need --coordinator HOST:PORT"),
        (["--heartbeat-timeout", "0", "--distributed", "auto"], "at least 1"),
        (["--heartbeat-timeout", "30"], "need --coordinator HOST:PORT"),
        (["--distributed", "auto"], "found no cluster to join"),  # said by the supervised child, passed on
    ],
    ids=[
        "ids-not-integers",
        "localid-outside-slurm",
        "ids-without-coordinator",
        "heartbeat-zero",
        "heartbeat-without-coordinator",
        "auto-outside-a-cluster",
    ],
)
def test_bad_multi_process_flags(capsys, tmp_path, monkeypatch, flags, expected):
    for name in ("SLURM_LOCALID", "SLURM_JOB_ID", "OMPI_MCA_orte_hnp_uri", "JAXLM_COORDINATOR"):
        monkeypatch.delenv(name, raising=False)
    before = snapshot(tmp_path)
    assert expected in fails(capsys, "train", "--config", TINY, "--workdir", str(tmp_path / "w"), *flags)
    assert snapshot(tmp_path) == before
