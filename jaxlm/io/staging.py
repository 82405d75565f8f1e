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
def staged_folder(location: str, replace: bool = True) -> Iterator[str]:
    """A local folder to write `location` into: `location` itself when local; else a new temporary folder whose
    files are uploaded to `location` once the body succeeds (each object whole), and with `replace` the files
    `location` held besides are deleted after the upload. Nothing is uploaded if the body raises."""
    if not is_remote(location):
        yield location
        return
    os.makedirs(cache_root(), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="staged-", dir=cache_root())
    try:
        out = os.path.join(tmp, "out")
        yield out
        old = set(files_under(location)) if replace and path(location).exists() else set()
        new = files_under(out) if os.path.isdir(out) else []
        sync(out, location, new)
        for name in sorted(old - set(new)):
            path(join(location, name)).unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def sync(local_dir: str, location: str, names: list[str]) -> None:
    """Upload the files `names` (relative to `local_dir`) to the folder `location`."""
    fs = gcs.filesystem()
    root = location.split("://", 1)[1].rstrip("/")
    for name in names:
        fs.put_file(os.path.join(local_dir, name), f"{root}/{name}")
