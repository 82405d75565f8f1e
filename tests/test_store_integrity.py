"""The token store checks what it reads, and no data verb loses or leaves anything: a damaged store, a truncated
source, a folder given as config.data.store, each refused in one line by the real CLI (a subprocess), with nothing
on disk created, changed or removed."""

import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, jaxlm_cli, snapshot
from test_store import ROWS, write_jsonl

from jaxlm.cli.main import main
from jaxlm.data.sources import iter_documents
from jaxlm.errors import UserError

TINY = os.path.join(ROOT, "experiments", "gpt_tiny.py")
# One worker builds the module's `built` store, not one per worker.
pytestmark = pytest.mark.xdist_group("store_integrity")


def refused(*argv, code: int = 2) -> str:
    """Run the CLI in a subprocess; assert the exit status, one line on stderr and no traceback; return the line."""
    r = jaxlm_cli(*argv)
    assert r.returncode == code and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, (r.returncode, r.stderr)
    return r.stderr


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One small store (made once), and the arguments that read it."""
    d = tmp_path_factory.mktemp("integrity")
    src = write_jsonl(d / "c.jsonl", ROWS)
    args = [
        "--config",
        TINY,
        f"--config.data.source={src}",
        "--config.train.progress=False",
        "--config.data.prepare_workers=1",
    ]
    assert main(["data", "prepare", *args, "--out", str(d / "store")]) == 0
    return str(d / "store"), args


@pytest.fixture
def store(built, tmp_path):
    """A fresh copy of the built store (to damage), its manifest, and `data preview` of it."""
    out = str(tmp_path / "store")
    shutil.copytree(built[0], out)
    return (
        out,
        json.loads(Path(out, "manifest.json").read_text()),
        ["data", "preview", *built[1], f"--config.data.store={out}", "--num", "1"],
    )


# --- data loss --------------------------------------------------------------------------------------------------


def test_an_empty_folder_given_as_the_store_is_left_in_place(built, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    before = snapshot(tmp_path)
    assert "is not a token store" in refused("data", "preview", *built[1], f"--config.data.store={empty}")
    assert snapshot(tmp_path) == before and empty.is_dir()


def _zst_cut_at_a_block(rows, path: Path) -> int:
    """`path` holds one zstd frame of `rows` cut after a block that ends a line (as a streaming compressor writes
    them), where zstandard's stream reader stops without an error; returns how many lines that reader sees."""
    import zstandard

    buffer = io.BytesIO()
    writer = zstandard.ZstdCompressor().stream_writer(buffer, closefd=False)
    ends = []
    for r in rows:
        writer.write((json.dumps(r) + "\n").encode())
        writer.flush(zstandard.FLUSH_BLOCK)
        ends.append(buffer.tell())
    writer.close()
    data = buffer.getvalue()[: ends[len(rows) // 2]]
    path.write_bytes(data)
    return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True).read().count(b"\n")


def test_a_truncated_zst_source_is_refused_as_truncated(built, tmp_path):
    src = tmp_path / "c.jsonl.zst"
    assert _zst_cut_at_a_block(ROWS, src) == len(ROWS) // 2 + 1
    before = snapshot(tmp_path)
    err = refused("data", "prepare", *built[1], f"--config.data.source={src}", "--out", str(tmp_path / "s"))
    assert f"'{src}' is corrupt or truncated" in err and "inside a zstd frame (truncated)" in err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("suffix", [".jsonl.zst", ".jsonl.gz"])
def test_every_cut_of_a_compressed_source_is_named_as_truncated(tmp_path, suffix):
    import gzip

    import zstandard

    text = "".join(json.dumps(r) + "\n" for r in ROWS).encode()
    data = zstandard.ZstdCompressor().compress(text) if suffix.endswith("zst") else gzip.compress(text)
    path = tmp_path / f"c{suffix}"
    for cut in np.linspace(1, len(data) - 1, 40).astype(int):
        path.write_bytes(data[:cut])
        with pytest.raises(UserError, match=rf"c{suffix.replace('.', '[.]')}' is corrupt or truncated after line"):
            list(iter_documents(str(path)))
    path.write_bytes(
        data + zstandard.ZstdCompressor().compress(b'{"text": "x"}\n')
        if suffix.endswith("zst")
        else data + gzip.compress(b'{"text": "x"}\n')
    )
    assert [d.text for d in iter_documents(str(path))] == [r["text"] for r in ROWS] + ["x"]  # frames or members


# --- the store verifies what it reads ---------------------------------------------------------------------------


def _rewrite(store: str, manifest: dict) -> None:
    Path(store, "manifest.json").write_text(json.dumps(manifest))


def _set_checksum(store: str, manifest: dict, split: str, file: str) -> None:
    """Make the manifest vouch for `file` as it is now (what a buggy writer or a hand edit would leave)."""
    import xxhash

    manifest["splits"][split]["checksums"][file] = xxhash.xxh3_64(Path(store, split, file).read_bytes()).hexdigest()
    _rewrite(store, manifest)


def test_a_manifest_without_splits_is_refused_with_the_command_to_rebuild(store):
    out, manifest, preview = store
    del manifest["splits"]
    _rewrite(out, manifest)
    before = snapshot(out)
    err = refused(*preview)
    assert f"'{out}/manifest.json' has no 'splits'" in err and f"--out {out} --force" in err
    assert snapshot(out) == before


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda m: m.update(dtype="uint77"), "has dtype 'uint77', not uint16 or uint32"),
        (lambda m: m["splits"].pop("test"), "has no 'splits.test'"),
        (lambda m: m["splits"]["val"].update(docs="3"), "has 'splits.val.docs' = '3', not an int"),
        (lambda m: m["splits"]["train"].update(shards=[1, 2]), "splits.train.shards that do not add up"),
        (lambda m: m["checksums"].clear(), "has no 'checksums.tokenizer.model'"),
        (lambda m: m.update(version=1), "has format version 1, this jaxlm reads version 2: rebuild it with"),
    ],
)
def test_every_manifest_field_is_checked(store, capsys, damage, message):
    from conftest import fails

    out, manifest, preview = store
    damage(manifest)
    _rewrite(out, manifest)
    before = snapshot(out)
    err = fails(capsys, *preview)
    assert message in err and "--force" in err and snapshot(out) == before


def test_token_ids_beyond_the_vocabulary_are_refused(store):
    out, manifest, preview = store
    shard = Path(out, "train", "tokens-00000.bin")
    shard.write_bytes(b"\xff" * shard.stat().st_size)
    before = snapshot(out)
    assert f"'{shard}' does not match its checksum" in refused(*preview)
    _set_checksum(out, manifest, "train", shard.name)
    before = snapshot(out)
    err = refused(*preview)
    assert f"'{shard}' holds token id 65535, but the vocabulary has 512 ids" in err and snapshot(out) == before


def test_a_flipped_byte_is_found_although_the_store_was_verified_before(store, capsys):
    out, manifest, preview = store
    assert main(preview) == 0  # stamped as verified
    capsys.readouterr()
    labels = Path(out, "val", "labels.bin")
    data = bytearray(labels.read_bytes())
    data[0] ^= 1
    labels.write_bytes(bytes(data))
    before = snapshot(out)
    err = refused(*preview)
    assert f"'{labels}' does not match its checksum" in err and snapshot(out) == before
    rebuild = err.split("rebuild the store with `")[1].split("`")[0].split()  # the command the line names
    assert rebuild[:4] == ["jaxlm", "data", "prepare", "--config"] and rebuild[-3:] == ["--out", out, "--force"]
    assert main([*rebuild[1:3], *preview[2:-3], *rebuild[-3:]]) == 0 and main(preview) == 0
    assert labels.read_bytes() != bytes(data)


def test_damaged_document_offsets_are_refused(store, capsys):
    from conftest import fails

    out, manifest, preview = store
    file = Path(out, "val", "doc_offsets.bin")
    good = np.fromfile(file, "<i8")
    for offsets, message in (
        (good[[0, 2, 1, 3]], "does not hold 4 increasing offsets from 0 to"),
        (good + [0, 0, 0, 1], "runs from 0 to"),
        (good - [1, 0, 0, 0], "runs from -1 to"),
    ):
        offsets.astype("<i8").tofile(file)
        _set_checksum(out, manifest, "val", file.name)
        before = snapshot(out)
        assert f"'{file}' {message}" in fails(capsys, *preview) and snapshot(out) == before


def test_a_run_whose_every_step_was_skipped_is_not_finished():
    """(Exit 3 in the CLI.) A run of only non-finite steps has trained nothing, though it never had too many in a row."""
    from jaxlm.train.nonfinite import Diverged, NonFiniteGuard

    guard = NonFiniteGuard("skip", max_in_a_row=25, last_checkpoint=lambda: None)
    for step in range(1, 5):
        guard.check(step, nonfinite_loss=True, nonfinite_grads=True)
    with pytest.raises(
        Diverged,
        match=r"all 4 steps of this run had a non-finite loss or gradients and were skipped; "
        r"the last good checkpoint \(none\) is intact",
    ):
        guard.check_results({"val": {"loss": 2.0}})
    guard.check(5, nonfinite_loss=False, nonfinite_grads=False)
    guard.check_results({"val": {"loss": 2.0}})  # one good step: a finished run


# --- faults leave nothing behind --------------------------------------------------------------------------------


def _prepare_until_partial(args: list, folder: Path, stale: tuple = ()):
    """A `data prepare --out folder/s` of a large source, running once it writes its own partial store."""
    import subprocess
    import sys
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "jaxlm.cli.main", "data", "prepare", *args, "--out", str(folder / "s")],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    while not any(p.startswith("s.partial-") and p not in stale for p in os.listdir(folder)):
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.01)
    return proc


def test_a_killed_prepare_is_cleaned_by_the_next_and_sigterm_leaves_nothing(built, tmp_path):
    import signal

    src = write_jsonl(tmp_path / "big.jsonl", ROWS * 100)  # ~22 MB: it is stopped long before it ends
    folder = tmp_path / "out"
    folder.mkdir()
    args = [*built[1], f"--config.data.source={src}", f"--config.data.tokenizer_path={built[0]}/tokenizer.model"]
    killed = _prepare_until_partial(args, folder)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    stale = os.listdir(folder)
    assert len(stale) == 1 and stale[0].startswith("s.partial-")
    stopped = _prepare_until_partial(args, folder, stale=tuple(stale))
    assert stale[0] not in os.listdir(folder)  # the next prepare removed it before writing its own
    stopped.send_signal(signal.SIGTERM)
    err = stopped.stderr.read()
    assert stopped.wait() == 75 and err.count("\n") == 1 and "stopped by SIGTERM; the store was not written" in err
    assert os.listdir(folder) == []


def test_a_successful_prepare_leaves_no_lock_and_a_store_in_a_missing_folder_creates_none(built, capsys, tmp_path):
    from conftest import fails

    assert sorted(os.listdir(Path(built[0]).parent)) == ["c.jsonl", "store"]
    before = snapshot(tmp_path)
    assert "does not exist" in fails(
        capsys, "data", "preview", *built[1], f"--config.data.store={tmp_path / 'no' / 'such' / 'store'}"
    )
    assert "does not exist" in fails(capsys, "data", "prepare", *built[1], "--out", str(tmp_path / "no" / "store"))
    assert snapshot(tmp_path) == before


# --- wrong acceptance -------------------------------------------------------------------------------------------


def _bpe_json(path: Path, specials: list) -> str:
    """A byte-level BPE tokenizer.json with these special tokens (GPT-2's: ['<|endoftext|>'])."""
    from tokenizers import Tokenizer as RustTokenizer
    from tokenizers import decoders, models, pre_tokenizers, trainers

    tok = RustTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        [r["text"] for r in ROWS],
        trainers.BpeTrainer(
            vocab_size=300, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    tok.save(str(path))
    return str(path)


@pytest.mark.parametrize(
    "specials, objective, message",
    [
        (
            ["<|endoftext|>"],
            "bert_mlm_nsp",
            "has no cls token ([CLS] or <cls> or <s>), which objective bert_mlm_nsp needs",
        ),
        ([], "causal_lm", "has no eos token (</s> or <|endoftext|>"),
    ],
)
def test_prepare_refuses_a_tokenizer_without_the_objectives_roles(built, tmp_path, specials, objective, message):
    tokenizer = _bpe_json(tmp_path / "t.json", specials)
    family = "bert" if objective.startswith("bert") else "gpt"
    before = snapshot(tmp_path)
    err = refused(
        "data",
        "prepare",
        *built[1],
        f"--config.data.tokenizer_path={tokenizer}",
        "--config.model.vocab_size=300",
        f"--config.data.objective={objective}",
        f"--config.model.family={family}",
        "--out",
        str(tmp_path / "s"),
    )
    assert f"tokenizer '{tokenizer}' {message}" in err and snapshot(tmp_path) == before


# --- pathological input -----------------------------------------------------------------------------------------


def test_a_five_megabyte_single_line_document_trains_a_bounded_tokenizer(built, tmp_path):
    """The tokenizer's sample is cut to tokenizer_sample_bytes and its lines to MAX_SENTENCE_BYTES (a whole 5 MB
    line made sentencepiece's trainer take minutes); the store still holds the document whole, losslessly."""
    from jaxlm.data.store import TokenStore

    line = " ".join(r["text"].replace("\n", " ") for r in ROWS)
    big = ((line + " ") * (5_000_000 // len(line) + 1))[:5_000_000]
    src = write_jsonl(tmp_path / "long.jsonl", [{"text": big}, *ROWS[:8]])
    r = jaxlm_cli(
        "data",
        "prepare",
        *built[1],
        f"--config.data.source={src}",
        "--out",
        str(tmp_path / "s"),
        "--config.data.tokenizer_sample_bytes=300000",
    )
    assert r.returncode == 0, r.stderr
    store = TokenStore(str(tmp_path / "s"))
    train = store.splits["train"]
    assert train.n_docs == 3 and store.tokenizer().decode(train.tokens[: int(train.offsets[1]) - 1].tolist()) == big
