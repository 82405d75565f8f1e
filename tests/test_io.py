"""jaxlm.io.atomic_write: whole file or nothing, no temporary file left behind."""

import os

import pytest

from jaxlm.io import atomic_write


def test_atomic_write_replaces_and_creates_the_folder(tmp_path):
    path = tmp_path / "new" / "a.json"
    atomic_write(str(path), "{}")
    atomic_write(str(path), b"[1]")
    assert path.read_bytes() == b"[1]"
    assert os.listdir(path.parent) == ["a.json"]


def test_atomic_write_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    path = tmp_path / "a.txt"
    atomic_write(str(path), "old")
    with pytest.raises(TypeError):
        atomic_write(str(path), 3)  # not bytes: the write fails after the temporary file exists
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["a.txt"]
