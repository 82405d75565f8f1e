"""Outputs that libraries write to a local folder (a Hugging Face export, a converted checkpoint, TensorBoard's event
files): written into a local staging folder, then uploaded to the bucket."""

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from jaxlm.io import files_under, gcs, is_remote, join, path
from jaxlm.io.cache import cache_root


@contextmanager
def staged_folder(location: str) -> Iterator[str]:
    """A local folder to write `location` into: `location` itself when local; else a new temporary folder whose
    files replace `location`'s once the body succeeds (each object is whole; files the new output does not have
    are deleted after the upload). Nothing is uploaded if the body raises."""
    if not is_remote(location):
        yield location
        return
    os.makedirs(cache_root(), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="staged-", dir=cache_root())
    try:
        out = os.path.join(tmp, "out")
        yield out
        upload(out, location)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def upload(local_dir: str, location: str) -> None:
    """Copy every file below `local_dir` to the folder `location`, then delete what `location` held besides."""
    old = set(files_under(location)) if path(location).exists() else set()
    new = files_under(local_dir)
    sync(local_dir, location, new)
    for name in sorted(old - set(new)):
        path(join(location, name)).unlink()


def sync(local_dir: str, location: str, names: list[str]) -> None:
    """Upload the files `names` (relative to `local_dir`) to the folder `location`."""
    fs = gcs.filesystem()
    root = location.split("://", 1)[1].rstrip("/")
    for name in names:
        fs.put_file(os.path.join(local_dir, name), f"{root}/{name}")
