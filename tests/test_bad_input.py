"""The bad-input catalogue: each case exits 2 with one line, no traceback, and leaves existing files unchanged."""

import errno
import json
import os
import subprocess
import sys

import jax
import pytest
from conftest import ROOT, fails, snapshot
from fixtures_runs import QUICK

from jaxlm.cli.main import main
from jaxlm.config.schema import base_config

TINY = os.path.join(ROOT, "experiments", "gpt_tiny.py")
# One worker builds the module's `trained` workdir, not one per worker.
pytestmark = pytest.mark.xdist_group("bad_input")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny trained workdir of this worker's own (a refused resume rewrites the lock with its pid: the same pid)."""
    wd = str(tmp_path_factory.mktemp("trained") / "w")
    assert main(["train", "--config", TINY, "--workdir", wd, *QUICK]) == 0
    return wd


def _train(tmp_path, *extra):
    return ("train", "--config", TINY, "--workdir", str(tmp_path / "w"), *QUICK, *extra)


def test_binary_file(capsys, tmp_path):
    f = tmp_path / "blob.txt"
    f.write_bytes(b"\x00\xff\xfe binary \x80\x81")
    assert "non-UTF-8" in fails(capsys, *_train(tmp_path, f"--config.data.source={f}"))


def test_jsonl_bad_line_names_it(capsys, tmp_path):
    f = tmp_path / "c.jsonl"
    f.write_text('{"text": "fine"}\n{"text": broken\n')
    assert ":2" in fails(capsys, *_train(tmp_path, f"--config.data.source={f}"))


def test_jsonl_missing_text_field(capsys, tmp_path):
    f = tmp_path / "c.jsonl"
    f.write_text('{"body": "no text field here"}\n')
    assert "text" in fails(capsys, *_train(tmp_path, f"--config.data.source={f}"))


def test_sequence_longer_than_positions(capsys, tmp_path):
    assert "max_len" in fails(capsys, *_train(tmp_path, "--config.data.seq_len=65"))


@pytest.mark.parametrize("lr", ["nan", "-0.1"])
def test_bad_learning_rate(capsys, tmp_path, lr):
    value = "float('nan')" if lr == "nan" else lr
    assert "peak_lr" in fails(capsys, *_train(tmp_path, f"--config.optim.peak_lr={value}"))


def test_negative_labelled_passages(capsys, tmp_path):
    finetune = os.path.join(ROOT, "experiments", "finetune_genre_gpt.py")
    assert "genre.train_passages=-1" in fails(
        capsys,
        "train",
        "--config",
        finetune,
        "--workdir",
        str(tmp_path / "w"),
        *QUICK,
        "--config.genre.train_passages=-1",
    )


def test_resume_with_other_model_shape(capsys, trained):
    before = snapshot(trained)
    err = fails(capsys, "train", "--config", TINY, "--workdir", trained, *QUICK, "--config.model.d_model=128")
    assert "d_model" in err and snapshot(trained) == before


def test_tokenizer_that_does_not_match_the_checkpoint(capsys, trained, tmp_path):
    import shutil

    wd = str(tmp_path / "copy")
    shutil.copytree(trained, wd)
    tok_dir = tmp_path / "other"
    # Any 600-piece tokenizer mismatches the 512-id checkpoint: trained on a 300 kB sample, not the whole corpus.
    other = ["--config.model.vocab_size=600", "--config.data.tokenizer_sample_bytes=300000"]
    assert main(["tokenizer", "train", "--config", TINY, "--out", str(tok_dir) + ".model", *other]) == 0
    capsys.readouterr()
    shutil.copyfile(str(tok_dir) + ".model", os.path.join(wd, "tokenizer.model"))
    before = snapshot(wd)
    assert "vocab_size" in fails(capsys, "train", "--config", TINY, "--workdir", wd, *QUICK)
    assert snapshot(wd) == before


def test_corrupt_tokenizer_file(capsys, trained, tmp_path):
    import shutil

    wd = str(tmp_path / "copy")
    shutil.copytree(trained, wd)
    with open(os.path.join(wd, "tokenizer.model"), "wb") as f:
        f.write(b"not a sentencepiece model")
    before = snapshot(wd)
    assert "corrupt" in fails(capsys, "eval", "--workdir", wd)
    assert snapshot(wd) == before


def test_unwritable_workdir(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert "cannot write" in fails(capsys, "train", "--config", TINY, "--workdir", str(blocker / "w"), *QUICK)


def test_disk_full_during_checkpoint(capsys, trained, tmp_path, monkeypatch):
    import shutil

    import orbax.checkpoint as ocp

    wd = str(tmp_path / "copy")
    shutil.copytree(trained, wd)
    before = snapshot(os.path.join(wd, "checkpoints"))

    def full_disk(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ocp.CheckpointManager, "save", full_disk)
    err = fails(capsys, "train", "--config", TINY, "--workdir", wd, *QUICK, "--config.train.steps=6")
    assert "No space left" in err
    assert snapshot(os.path.join(wd, "checkpoints")) == before  # the good checkpoints are untouched


def test_generate_bad_arguments(capsys, trained):
    fails(capsys, "generate", "--workdir", trained, "--prompt", "word " * 100)
    fails(capsys, "generate", "--workdir", trained, "--prompt", "x", "--top-p", "0")


def test_eval_of_a_folder_that_is_not_a_workdir(capsys, tmp_path):
    assert "config.json" in fails(capsys, "eval", "--workdir", str(tmp_path))


def test_metadata_is_json_not_pickle(trained):
    with open(os.path.join(trained, "config.json")) as f:
        assert json.load(f)["model"]["family"] == "gpt"


def test_global_batch_not_divisible_by_data_parallel_size(tmp_path):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "PYTHONPATH": ROOT}
    p = subprocess.run(
        [sys.executable, "-m", "jaxlm.cli.main", *_train(tmp_path, "--config.train.batch_size=3")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 2 and "not divisible by the data-parallel size 2" in p.stderr
    assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr


# The table: every verb, each bad input answered in one line with exit 2 and nothing on disk changed. A case is
# (id, argv built from the case's folder `d` and the trained workdir `w`, text the line must contain).
GARBAGE = b"\x93NUMPY\x00\xff garbage, not a checkpoint" * 8
BERT_CFG = {
    "model_type": "bert",
    "vocab_size": 10,
    "hidden_size": 8,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 16,
    "max_position_embeddings": 16,
}
INPUTS = {
    "latin1.txt": b"caf\xe9 au lait\n",
    "existing.txt": b"keep me\n",
    "corrupt.model": b"not a sentencepiece model",
    "nonempty/keep.txt": b"keep me too\n",
    "hf/bad_json/config.json": b'{"model_type": "bert", ',
    "hf/no_vocab/config.json": json.dumps({k: v for k, v in BERT_CFG.items() if k != "vocab_size"}).encode(),
    "hf/a_list/config.json": b"[1, 2, 3]",
    "hf/latin1/config.json": b'{"model_type": "b\xe9rt"}',
    "hf/gpt2/config.json": b'{"model_type": "gpt2"}',
    "hf/llama/config.json": b'{"model_type": "llama"}',
    "hf/st/config.json": json.dumps(BERT_CFG).encode(),
    "hf/st/model.safetensors": GARBAGE,
    "hf/bin/config.json": json.dumps(BERT_CFG).encode(),
    "hf/bin/pytorch_model.bin": GARBAGE,
    "untrained/config.json": base_config().to_json().encode(),
    "hf/sharded/config.json": json.dumps(BERT_CFG).encode(),
    "hf/sharded/model.safetensors.index.json": json.dumps(
        {
            "weight_map": {
                "embeddings.word_embeddings.weight": "model-00001-of-00002.safetensors",
                "pooler.dense.weight": "model-00002-of-00002.safetensors",
            }
        }
    ).encode(),
    "hf/sharded/model-00001-of-00002.safetensors": GARBAGE,
}


def _readonly(d) -> str:
    """A folder this process cannot write to (root ignores permission bits: then /proc, which takes no files)."""
    ro = d / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    return str(ro) if not os.access(ro, os.W_OK) else "/proc"


def _cases():
    tok = lambda w: os.path.join(w, "tokenizer.model")
    train = lambda wd, *extra: ["train", "--config", TINY, "--workdir", str(wd), *QUICK, *extra]
    gen = lambda w, *extra: ["generate", "--workdir", w, "--prompt", "ROMEO", *extra]
    convert = lambda d, name, *extra: ["convert", "--from-hf", str(d / "hf" / name), "--out", str(d / "out"), *extra]
    return [
        # the cases
        ("eval-wrong-type", lambda d, w: ["eval", "--workdir", w, "--config.train.steps=abc"], "train.steps"),
        ("eval-unknown-key", lambda d, w: ["eval", "--workdir", w, "--config.train.nope=1"], "train.nope"),
        ("generate-top-k-over-vocab", lambda d, w: gen(w, "--top-k", "100000"), "--top-k"),
        ("generate-prompt-not-utf8", lambda d, w: ["generate", "--workdir", w, "--prompt", "caf\udce9"], "--prompt"),
        ("generate-temperature-nan", lambda d, w: gen(w, "--temperature", "nan"), "--temperature"),
        ("generate-temperature-inf", lambda d, w: gen(w, "--temperature", "inf"), "--temperature"),
        ("generate-temperature-1e9", lambda d, w: gen(w, "--temperature", "1e9"), "--temperature"),
        ("encode-not-utf8", lambda d, w: ["tokenizer", "encode", "--model", tok(w), "--text", "caf\udce9"], "--text"),
        ("decode-not-integers", lambda d, w: ["tokenizer", "decode", "--model", tok(w), "--ids", "[a]"], "--ids"),
        ("decode-nested", lambda d, w: ["tokenizer", "decode", "--model", tok(w), "--ids", "[[1, 2], 3]"], "--ids"),
        ("decode-negative", lambda d, w: ["tokenizer", "decode", "--model", tok(w), "--ids", "5 -3"], "-3"),
        ("decode-out-of-range", lambda d, w: ["tokenizer", "decode", "--model", tok(w), "--ids", "[99999]"], "99999"),
        (
            "tokenizer-out-missing-folder",
            lambda d, w: ["tokenizer", "train", "--config", TINY, "--out", str(d / "missing" / "t.model")],
            "--out",
        ),
        (
            "tokenizer-out-exists",
            lambda d, w: ["tokenizer", "train", "--config", TINY, "--out", str(d / "existing.txt")],
            "--force",
        ),
        ("preview-negative-num", lambda d, w: ["data", "preview", "--config", TINY, "--num", "-5"], "--num"),
        (
            "preview-seq-len-0",
            lambda d, w: ["data", "preview", "--config", TINY, "--config.data.seq_len=0"],
            "data.seq_len",
        ),
        ("train-kv-heads-not-dividing", lambda d, w: train(d / "kv", "--config.model.n_kv_heads=3"), "n_kv_heads=3"),
        ("train-unknown-positions", lambda d, w: train(d / "pos", "--config.model.positions=alibi"), "positions"),
        (
            "train-rope-on-bert",
            lambda d, w: [
                "train",
                "--config",
                os.path.join(ROOT, "experiments", "bert_shakespeare.py"),
                "--workdir",
                str(d / "rb"),
                "--config.model.positions=rope",
            ],
            "GPT block",
        ),
        (
            "export-missing-folder",
            lambda d, w: ["data", "export", "--config", TINY, "--out", str(d / "missing" / "v.txt")],
            "--out",
        ),
        (
            "export-readonly-folder",
            lambda d, w: ["data", "export", "--config", TINY, "--out", os.path.join(_readonly(d), "v.txt")],
            "--out",
        ),
        ("convert-malformed-json", lambda d, w: convert(d, "bad_json"), "JSON"),
        ("convert-bert-without-vocab", lambda d, w: convert(d, "no_vocab"), "vocab_size"),
        ("convert-config-is-a-list", lambda d, w: convert(d, "a_list"), "list"),
        ("convert-garbage-safetensors", lambda d, w: convert(d, "st"), "model.safetensors"),
        ("convert-garbage-pytorch-bin", lambda d, w: convert(d, "bin"), "pytorch_model.bin"),
        (
            "convert-missing-shard",
            lambda d, w: convert(d, "sharded"),
            "lacks the shard model-00002-of-00002.safetensors",
        ),
        ("compile-zero-devices", lambda d, w: ["compile", "--config", TINY, "--devices", "0"], "--devices"),
        (
            "compile-mesh-over-devices",
            lambda d, w: ["compile", "--config", TINY, "--devices", "2", "--mesh", "4,1,1"],
            "needs 4 devices",
        ),
        ("train-bad-config-no-workdir", lambda d, w: train(d / "new", "--config.train.batch_size=0"), "batch_size"),
        ("train-changed-optimizer", lambda d, w: train(w, "--config.optim.name=sgd"), "--allow-config-change"),
        # more of every verb
        ("train-changed-seed", lambda d, w: train(w, "--config.train.seed=7"), "train.seed=7"),
        (
            "train-missing-corpus-no-workdir",
            lambda d, w: train(d / "new" / "deeper", f"--config.data.source={d / 'nope.txt'}"),
            "does not exist",
        ),
        (
            "train-binary-corpus-no-workdir",
            lambda d, w: train(d / "new", f"--config.data.source={d / 'latin1.txt'}"),
            "non-UTF-8",
        ),
        ("train-workdir-is-a-file", lambda d, w: train(d / "existing.txt"), "--workdir"),
        (
            "train-missing-config-file",
            lambda d, w: ["train", "--config", str(d / "nope.py"), "--workdir", str(d / "new")],
            "does not exist",
        ),
        ("eval-missing-workdir", lambda d, w: ["eval", "--workdir", str(d / "nope")], "--workdir"),
        (
            "eval-zero-eval-batch-size",
            lambda d, w: ["eval", "--workdir", w, "--config.train.eval_batch_size=0"],
            "eval_batch_size",
        ),
        ("generate-negative-max-new-tokens", lambda d, w: gen(w, "--max-new-tokens", "-1"), "--max-new-tokens"),
        ("generate-negative-temperature", lambda d, w: gen(w, "--temperature", "-0.5"), "--temperature"),
        ("generate-top-p-zero", lambda d, w: gen(w, "--top-p", "0"), "--top-p"),
        ("generate-negative-seed", lambda d, w: gen(w, "--seed", "-1"), "--seed"),
        ("generate-beam-on-gpt", lambda d, w: gen(w, "--beam", "2"), "--beam"),
        ("generate-input-on-gpt", lambda d, w: ["generate", "--workdir", w, "--input", "x"], "--prompt"),
        ("decode-booleans", lambda d, w: ["tokenizer", "decode", "--model", tok(w), "--ids", "[true]"], "--ids"),
        ("decode-floats", lambda d, w: ["tokenizer", "decode", "--model", tok(w), "--ids", "1.5 2"], "--ids"),
        (
            "encode-missing-model",
            lambda d, w: ["tokenizer", "encode", "--model", str(d / "nope.model"), "--text", "x"],
            "--model",
        ),
        (
            "decode-corrupt-model",
            lambda d, w: ["tokenizer", "decode", "--model", str(d / "corrupt.model"), "--ids", "1"],
            "corrupt",
        ),
        (
            "encode-takes-no-overrides",
            lambda d, w: ["tokenizer", "encode", "--model", tok(w), "--text", "x", "--config.train.steps=3"],
            "--config",
        ),
        (
            "tokenizer-out-is-a-folder",
            lambda d, w: ["tokenizer", "train", "--config", TINY, "--out", str(d), "--force"],
            "folder",
        ),
        (
            "export-out-exists",
            lambda d, w: ["data", "export", "--config", TINY, "--out", str(d / "existing.txt")],
            "--force",
        ),
        (
            "export-unknown-split",
            lambda d, w: ["data", "export", "--config", TINY, "--split", "dev", "--out", str(d / "v.txt")],
            "--split",
        ),
        (
            "export-lm-eval-out-not-empty",
            lambda d, w: ["data", "export", "--config", TINY, "--format", "lm-eval", "--out", str(d / "nonempty")],
            "--force",
        ),
        (
            "export-lm-eval-force-over-foreign-files",
            lambda d, w: [
                "data",
                "export",
                "--config",
                TINY,
                "--format",
                "lm-eval",
                "--out",
                str(d / "nonempty"),
                "--force",
            ],
            "other files",
        ),
        (
            "export-lm-eval-out-is-a-file",
            lambda d, w: ["data", "export", "--config", TINY, "--format", "lm-eval", "--out", str(d / "existing.txt")],
            "is a file",
        ),
        (
            "export-lm-eval-bad-task-name",
            lambda d, w: [
                "data",
                "export",
                "--config",
                TINY,
                "--format",
                "lm-eval",
                "--task",
                "my task",
                "--out",
                str(d / "t"),
            ],
            "--task",
        ),
        (
            "export-task-without-lm-eval",
            lambda d, w: ["data", "export", "--config", TINY, "--task", "t", "--out", str(d / "v.txt")],
            "--format",
        ),
        (
            "eval-rolling-not-causal-lm",
            lambda d, w: [
                "eval",
                "--workdir",
                w,
                "--rolling",
                "--config.data.objective=jaxlm.projects.genre.objectives:continuation",
            ],
            "--rolling",
        ),
        ("preview-num-not-a-number", lambda d, w: ["data", "preview", "--config", TINY, "--num", "four"], "--num"),
        (
            "prepare-out-is-a-file",
            lambda d, w: ["data", "prepare", "--config", TINY, "--out", str(d / "existing.txt")],
            "--out",
        ),
        ("convert-unsupported-model-type", lambda d, w: convert(d, "llama"), "llama"),
        ("convert-gpt2-without-n_embd", lambda d, w: convert(d, "gpt2"), "n_embd"),
        ("export-to-hf-not-empty", lambda d, w: ["export", "--workdir", w, "--to-hf", str(d / "nonempty")], "--force"),
        (
            "export-to-hf-is-a-file",
            lambda d, w: ["export", "--workdir", w, "--to-hf", str(d / "existing.txt")],
            "is a file",
        ),
        (
            "export-workdir-without-checkpoint",
            lambda d, w: ["export", "--workdir", str(d / "untrained"), "--to-hf", str(d / "o")],
            "untrained' has no checkpoint",
        ),
        (
            "export-missing-workdir",
            lambda d, w: ["export", "--workdir", str(d / "nope"), "--to-hf", str(d / "o")],
            "--workdir",
        ),
        ("convert-config-not-utf8", lambda d, w: convert(d, "latin1"), "UTF-8"),
        ("convert-missing-folder", lambda d, w: convert(d, "nope"), "--from-hf"),
        (
            "convert-out-not-empty",
            lambda d, w: ["convert", "--from-hf", str(d / "hf" / "st"), "--out", str(d / "nonempty")],
            "--force",
        ),
        (
            "convert-force-over-foreign-files",
            lambda d, w: ["convert", "--from-hf", str(d / "hf" / "st"), "--out", str(d / "nonempty"), "--force"],
            "other files",
        ),
        ("compile-mesh-not-integers", lambda d, w: ["compile", "--config", TINY, "--mesh", "1,x,1"], "--mesh"),
        ("compile-mesh-zero", lambda d, w: ["compile", "--config", TINY, "--devices", "2", "--mesh", "0,1,1"], "mesh"),
        ("bench-zero-steps", lambda d, w: ["bench", "--config", TINY, "--steps", "0"], "--steps"),
        (
            "bench-profile-is-a-file",
            lambda d, w: ["bench", "--config", TINY, "--profile", str(d / "existing.txt")],
            "--profile",
        ),
        (
            "finetune-init-from-not-a-workdir",
            lambda d, w: [
                "finetune",
                "--config",
                os.path.join(ROOT, "experiments", "finetune_genre_bert.py"),
                "--workdir",
                str(d / "new"),
                "--init-from",
                str(d / "hf"),
            ],
            "config.json",
        ),
        (
            "probe-decoder-only-model",
            lambda d, w: [
                "probe",
                "--config",
                os.path.join(ROOT, "experiments", "finetune_genre_gpt.py"),
                "--workdir",
                str(d / "new"),
            ],
            "encoder",
        ),
        (
            "sweep-report-of-a-folder-that-is-not-a-sweep",
            lambda d, w: ["sweep", "--report-only", "--workdir", str(d)],
            "sweep.json",
        ),
        ("sweep-without-config", lambda d, w: ["sweep", "--workdir", str(d / "new")], "--config"),
        (
            "prepare-a-store-into-a-bucket",
            lambda d, w: ["data", "prepare", "--config", TINY, "--out", "gs://b/store"],
            "--config.data.store=gs://",
        ),
    ]


CASES = _cases()


@pytest.mark.parametrize("argv,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_table(capsys, tmp_path, trained, argv, expected):
    for name, data in INPUTS.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    args = argv(tmp_path, trained)
    before = snapshot(tmp_path), snapshot(trained)
    err = fails(capsys, *args)
    assert expected in err, err
    assert (snapshot(tmp_path), snapshot(trained)) == before


def test_the_table_covers_every_verb(tmp_path):
    from jaxlm.cli.main import _parser

    verbs = {c[1](tmp_path, str(tmp_path))[0] for c in CASES}
    assert len(CASES) >= 40 and verbs == set(_parser()._subparsers._group_actions[0].choices)


def test_nonfinite_resume_keeps_the_last_good_checkpoint(capsys, trained, tmp_path):
    """A resumed run whose loss goes non-finite exits 3 (not 0 with a NaN model) and writes no checkpoint of the
    bad state, so the last good one stays the newest and a further resume starts from it again."""
    import shutil

    wd = str(tmp_path / "copy")
    shutil.copytree(trained, wd)
    before = snapshot(os.path.join(wd, "checkpoints"))
    blow_up = [
        "train",
        "--config",
        TINY,
        "--workdir",
        wd,
        *QUICK,
        "--config.train.steps=8",
        "--config.optim.peak_lr=1e6",
        "--config.optim.warmup=0",
        "--allow-config-change",
    ]
    assert main(blow_up) == 3  # steps 5+ are skipped (within the limit) and the final model is not finite
    err = capsys.readouterr().err
    changed = [line for line in err.splitlines() if "changed hyper-parameters" in line]  # train.steps may change
    assert len(changed) == 1 and changed[0].endswith("optim.peak_lr=1000000.0 (was 0.003), optim.warmup=0 (was 10)")
    assert "checkpoint 6 not written" in err and "loss is nan" in err and "checkpoint (4) is intact" in err
    assert snapshot(os.path.join(wd, "checkpoints")) == before


def test_resume_with_another_optimizer_is_refused_even_when_changes_are_allowed(capsys, trained):
    """--allow-config-change takes a new learning rate, but a checkpoint holding AdamW's moments cannot resume
    as SGD: after the warning that lists the change, one error line, exit 2, the workdir unchanged."""
    before = snapshot(trained)
    assert (
        main(
            [
                "train",
                "--config",
                TINY,
                "--workdir",
                trained,
                *QUICK,
                "--config.optim.name=sgd",
                "--allow-config-change",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "optim.name='sgd' (was 'adamw')" in err[0] and "another optimizer state" in err[1], err
    assert snapshot(trained) == before


def test_changed_hyperparameter_is_refused_on_resume(capsys, trained):
    before = snapshot(trained)
    err = fails(capsys, "train", "--config", TINY, "--workdir", trained, *QUICK, "--config.optim.b2=0.99")
    assert "optim.b2=0.99 (was 0.95)" in err and "--allow-config-change" in err and snapshot(trained) == before


def test_checkpoint_of_other_parameters_is_refused_not_moved_aside(tmp_path):
    """Parameter names that are not the model's (here the attention layout before fused q/k/v) are a user error
    naming what to do, never a 'corrupt' checkpoint that would be moved aside and training restarted."""
    import jax.numpy as jnp

    from jaxlm.errors import UserError
    from jaxlm.train.checkpoint import Checkpointer
    from jaxlm.train.state import TrainState

    def state(attn: dict) -> TrainState:
        return TrainState(
            step=jnp.array(2),
            params={"block_0": {"attn": attn}},
            opt_state=(),
            rng=jnp.zeros(2),
            loss_scale=jnp.array(1.0),
        )

    kernel = {"kernel": jnp.ones((4, 2, 2))}
    old = state({name: kernel for name in "qkv"} | {"o": {"kernel": jnp.ones((2, 2, 4))}})
    new = state({"qkv": {"kernel": jnp.ones((4, 3, 2, 2))}, "out": {"kernel": jnp.ones((2, 2, 4))}})
    other = state({"wqkv": {"kernel": jnp.ones((4, 3, 2, 2))}, "proj": {"kernel": jnp.ones((2, 2, 4))}})
    directory = str(tmp_path / "checkpoints")
    checkpointer = Checkpointer(directory, keep=2)
    checkpointer.save(2, old, {"position": 2})
    before = snapshot(tmp_path)
    shardings = jax.tree_util.tree_map(lambda _: jax.sharding.SingleDeviceSharding(jax.devices()[0]), new)
    with pytest.raises(UserError, match="attention layout from before commit 44e9d60.*fresh --workdir"):
        checkpointer.restore_latest(new, shardings)
    with pytest.raises(
        UserError,
        match=r"other parameters than this model \(not in this model: block_0/attn/k/"
        r"kernel, block_0/attn/o/kernel, block_0/attn/q/kernel \.\.\.; missing: "
        r"block_0/attn/proj/kernel, block_0/attn/wqkv/kernel\)",
    ):
        checkpointer.restore_latest(other, shardings)
    assert snapshot(tmp_path) == before and checkpointer.all_steps() == [2]
