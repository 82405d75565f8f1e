"""The argument and IO checks that every CLI verb (and library code taking user values: sampling, HF import) runs
before it reads a model or writes a byte; below every layer, so any module may use them.

Each check raises UserError with one line naming the argument and a fix (the CLI prints it and exits 2).
Outputs are never replaced without `--force`; `undone_on_error` removes a folder a failed run created.
Paths may be local or gs:// (jaxlm.io): a bucket is checked to exist and be reachable before anything else.
"""

import contextlib
import json
import math
import os
from collections.abc import Iterator
from typing import Any

from jaxlm import io
from jaxlm.errors import UserError
from jaxlm.io import atomic_write, gcs


def int_in_range(value: int, flag: str, low: int, high: int | None, example: int) -> int:
    """`value` if low ≤ value (≤ high when given)."""
    if value < low or (high is not None and value > high):
        bound = f"in [{low}, {high}]" if high is not None else f"≥ {low}"
        raise UserError(f"{flag} {value} must be {bound}: pass e.g. {flag} {example}")
    return value


def float_in_range(value: float, flag: str, low: float, high: float, example: float, low_open: bool = False) -> float:
    """`value` if finite and in [low, high] (or (low, high] with `low_open`)."""
    if not math.isfinite(value) or value > high or value < low or (low_open and value == low):
        bound = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise UserError(f"{flag} {value} must be a finite number in {bound}: pass e.g. {flag} {example:g}")
    return value


def utf8_text(text: str, flag: str) -> str:
    """`text` if it is valid UTF-8 (undecodable bytes on the command line arrive as lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise UserError(f"{flag} is not valid UTF-8 text (byte {e.start}): pass UTF-8 text") from None
    return text


def id_list(text: str, flag: str, vocab_size: int) -> list[int]:
    """Token ids from a JSON list or space-separated integers, each in [0, vocab_size)."""
    example = f"pass e.g. {flag} '[12, 7, 99]'"
    body = text.strip()
    try:
        ids = json.loads(body) if body.startswith("[") else [int(t) for t in body.split()]
    except ValueError:
        raise UserError(f"{flag} {text!r} is not a list of integers: {example}") from None
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise UserError(f"{flag} {text!r} must be a flat list of integers: {example}")
    bad = [i for i in ids if not 0 <= i < vocab_size]
    if bad:
        raise UserError(f"{flag} holds id {bad[0]}, outside the tokenizer's [0, {vocab_size}): {example}")
    return ids


def reachable(path: str, flag: str) -> str:
    """`path`; for a gs:// path, its bucket must exist and be readable with the credentials (one line if not)."""
    if io.is_remote(path):
        io.path(path)  # refuses schemes other than gs://
        gcs.check_bucket(path, flag)
    elif str(path).startswith("gs:"):  # gs:/bucket or gs:bucket would become a local folder named 'gs:'
        raise UserError(f"{flag} '{path}' is not a bucket URL: write gs://BUCKET/PATH")
    return path


def input_file(path: str, flag: str, what: str) -> str:
    """`path` if it is an existing file."""
    if not io.is_file(reachable(path, flag)):
        raise UserError(f"{flag} '{path}' is not an existing file: give the path of {what}")
    return path


def input_folder(path: str, flag: str, what: str) -> str:
    """`path` if it is an existing folder."""
    if not io.is_dir(reachable(path, flag)):
        raise UserError(f"{flag} '{path}' is not an existing folder: give the path of {what}")
    return path


def load_json(path: str, fix: str, what: str = "") -> Any:
    """The JSON value in file `path`; if it is not UTF-8 JSON, one UserError line with the parser's reason and
    `fix` (`what` names the file)."""
    try:
        return json.loads(io.read_bytes(path).decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        name = f"{what} '{path}'" if what else f"'{path}'"
        raise UserError(f"{name} is not valid UTF-8 JSON ({str(e).splitlines()[0][:80]}): {fix}") from None


def json_object(path: str, what: str) -> dict:
    """The JSON object in file `path` (`what` names it in errors)."""
    input_file(path, what, "a JSON file")
    data = load_json(path, "fix or replace it", what)
    if not isinstance(data, dict):
        raise UserError(f"{what} '{path}' holds a JSON {type(data).__name__}, not an object: fix or replace it")
    return data


def _writable_parent(path: str, flag: str) -> None:
    if io.is_remote(path):
        return  # a bucket has no folders; its permissions show on the first write
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f"cannot write {flag} '{path}': folder '{folder}' does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"cannot write {flag} '{path}': folder '{folder}' is not writable; choose another {flag}")


def output_file(path: str, flag: str, force: bool) -> str:
    """`path` if a file may be written there: its folder exists and is writable, and an existing file only
    with `force` (the write then replaces it atomically)."""
    if io.is_dir(reachable(path, flag)):
        raise UserError(f"{flag} '{path}' is a folder: give a file path")
    if io.exists(path) and not force:
        raise UserError(f"{flag} '{path}' already exists: pass --force to replace it, or choose another {flag}")
    _writable_parent(path, flag)
    return path


def output_folder(path: str, flag: str, force: bool, replaceable: tuple[str, ...] = ()) -> str:
    """`path` if a folder may be written there: a new or empty folder in a writable one, or with `force` a
    folder holding only `replaceable` entries (what an earlier run of the same verb wrote)."""
    if io.is_file(reachable(path, flag)):
        raise UserError(f"{flag} '{path}' is a file: give a folder path")
    entries = set(io.listdir(path)) if io.is_dir(path) else set()
    if entries and not force:
        raise UserError(f"{flag} '{path}' is not empty: pass --force to replace it, or choose another {flag}")
    if entries and replaceable and not entries <= set(replaceable):
        raise UserError(
            f"{flag} '{path}' holds other files than {', '.join(replaceable)}: --force replaces only "
            f"an earlier output; choose another {flag}"
        )
    _writable_parent(path, flag)
    return path


def run_folder(path: str, flag: str) -> str:
    """`path` if a run may live there: an existing folder (resumed) or a new one under a writable folder (a
    bucket: any prefix of an existing bucket that is not a file)."""
    if io.is_file(reachable(path, flag)):
        raise UserError(f"cannot write to {flag} '{path}': it is a file; choose another {flag}")
    if io.is_remote(path):
        return path
    parent = os.path.abspath(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"cannot write to {flag} '{path}': '{parent}' is not a writable folder; choose another {flag}")
    return path


def write_output(data: bytes, path: str, flag: str) -> None:
    """Write `path` atomically (a temporary sibling, then a rename), an OSError becoming one line."""
    try:
        atomic_write(path, data)
    except OSError as e:
        raise UserError(f"cannot write {flag} '{path}' ({e.strerror or e}): choose another {flag}") from None


@contextlib.contextmanager
def undone_on_error(path: str, keep: str) -> Iterator[None]:
    """Run the body; if it raises UserError and `path` did not exist before, remove the folders it created
    unless a file named `keep` (the mark of a started run) was written somewhere below `path` (in a bucket: the
    objects below the new prefix `path`)."""
    top = io.absolute(path)
    if not io.is_remote(top):
        while not os.path.exists(os.path.dirname(top)) and os.path.dirname(top) != top:
            top = os.path.dirname(top)
    created = not io.exists(top)
    try:
        yield
    except UserError:
        if created and io.is_dir(top) and not any(os.path.basename(f) == keep for f in io.files_under(top)):
            io.remove_tree(top)
        raise


def mesh_sizes(text: str, flag: str) -> tuple[int, int, int]:
    """DATA,FSDP,TENSOR from text like '2,4,1' (-1 = the remaining devices)."""
    try:
        sizes = tuple(int(x) for x in text.split(","))
    except ValueError:
        sizes = ()
    if len(sizes) != 3:
        raise UserError(f"{flag} {text!r} must be three integers DATA,FSDP,TENSOR: pass e.g. {flag} 2,4,1")
    return sizes
