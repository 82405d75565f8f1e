"""`atomic_write`: the one way jaxlm writes a file that a reader (or a resumed run) may open at any moment."""

import contextlib
import os
import uuid


def atomic_write(path: str, data: bytes | str) -> None:
    """Write `data` (str as UTF-8) to `path` whole or not at all: into a new temporary file in the same folder
    (created if missing), flushed and fsynced, then renamed over `path`, so a reader sees the old file or the
    complete new one, never half of it. On any failure the temporary file is removed and the error re-raised."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".tmp-{os.path.basename(path)}.{uuid.uuid4().hex[:12]}")
    try:
        with open(tmp, "xb") as f:  # exclusive: never another writer's temporary file; mode follows the umask
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
