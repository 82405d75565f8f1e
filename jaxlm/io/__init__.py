"""jaxlm's one path layer: every location a user gives (workdir, --init-from, data paths, outputs) is read and written
through these functions, on etils `epath` (as orbax does): a local path, or `gs://bucket/...` through gcsfs.

`atomic_write` is the one way jaxlm writes a file that a reader (or a resumed run) may open at any moment.
Libraries that need a local file get one from `jaxlm.io.cache.local_copy`, and outputs that libraries write
locally are staged and uploaded by `jaxlm.io.staging.staged_folder`.
"""

import contextlib
import os
import re
import uuid

from etils import epath

from jaxlm.errors import UserError
from jaxlm.io import gcs

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def is_remote(location: str) -> bool:
    """Whether `location` is a URL (gs://...) rather than a local path."""
    return bool(_SCHEME.match(str(location)))


def path(location: str) -> epath.Path:
    """`location` as an epath Path (gs:// configured first; other schemes refused in one line)."""
    match = _SCHEME.match(str(location))
    if match:
        if match.group(1) != "gs":
            raise UserError(
                f"'{location}': jaxlm reads and writes local paths and gs:// buckets, not "
                f"{match.group(1)}://: copy the data to a bucket or a local disk"
            )
        gcs.configure()
    return epath.Path(location)


def join(base: str, *parts: str) -> str:
    """`base`/`parts` as a string (a URL stays a URL)."""
    return str(path(base).joinpath(*parts))


def absolute(location: str) -> str:
    """An absolute local path, or the URL itself."""
    return str(location) if is_remote(location) else os.path.abspath(location)


def exists(location: str) -> bool:
    return path(location).exists()


def is_file(location: str) -> bool:
    return path(location).is_file()


def is_dir(location: str) -> bool:
    return path(location).is_dir()


def listdir(location: str) -> list[str]:
    """The names of the entries of a folder (a bucket prefix), sorted."""
    return sorted(p.name for p in path(location).iterdir())


def files_under(location: str) -> list[str]:
    """Every file below a folder, as paths relative to it, sorted."""
    if is_remote(location):
        root = str(location).split("://", 1)[1].rstrip("/")
        return sorted(f[len(root) + 1 :] for f in gcs.filesystem().find(root))
    return sorted(os.path.relpath(os.path.join(d, f), location) for d, _, files in os.walk(location) for f in files)


def read_bytes(location: str) -> bytes:
    return path(location).read_bytes()


def read_text(location: str) -> str:
    return path(location).read_text(encoding="utf-8")


def makedirs(location: str) -> None:
    """Create a folder and its parents (a bucket has no folders: nothing to do there)."""
    if not is_remote(location):
        os.makedirs(location, exist_ok=True)


def remove(location: str) -> None:
    """Delete a file."""
    path(location).unlink()


def remove_tree(location: str) -> None:
    """Delete a folder and everything below it (missing is fine)."""
    p = path(location)
    if p.exists():
        p.rmtree()


def append_local(location: str, text: str) -> None:
    """Append `text` to a local file (a bucket's objects cannot be appended to: rewrite them with atomic_write)."""
    if is_remote(location):
        raise ValueError(f"cannot append to '{location}': objects in a bucket are written whole")
    with open(location, "a", encoding="utf-8") as f:
        f.write(text)


def atomic_write(location: str, data: bytes | str) -> None:
    """Write `data` (str as UTF-8) to `location` whole or not at all, so a reader sees the old file or the complete
    new one, never half of it. Locally: a new temporary file in the same folder (created if missing), flushed and
    fsynced, then renamed over `location`; on any failure the temporary file is removed and the error re-raised.
    In a bucket an object appears only once its upload is complete, so it is written directly."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if is_remote(location):
        if not isinstance(raw, bytes):
            raise TypeError(f"atomic_write takes bytes or str, not {type(data).__name__}")
        path(location).write_bytes(raw)
        return
    folder = os.path.dirname(os.path.abspath(location))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".tmp-{os.path.basename(location)}.{uuid.uuid4().hex[:12]}")
    try:
        with open(tmp, "xb") as f:  # exclusive: never another writer's temporary file; mode follows the umask
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, location)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
