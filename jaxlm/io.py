"""`atomic_write`: the one way jaxlm writes a file that a reader (or a resumed run) may open at any moment;
`write_error_code`: why a write failed (a full disk, a read-only folder), whatever library wrapped the error;
`quiet_orbax_failures`: a failed orbax write reported once, as the one line jaxlm makes of its exception."""

import contextlib
import errno
import logging
import os
import sys
import uuid
import warnings


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


WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


def write_error_code(error: BaseException) -> int | None:
    """The errno behind a failed write (no space, read-only, no permission): from an OSError in the exception's
    chain or, where a library (orbax's tensorstore, safetensors) kept only its text, from the OS's message in it."""
    seen: BaseException | None = error
    for _ in range(20):  # a chain (cause, else context) is short; bounded in case it loops
        if seen is None:
            break
        if isinstance(seen, OSError) and seen.errno:
            return seen.errno
        seen = seen.__cause__ or seen.__context__
    return next((code for code in WRITE_ERRNOS if os.strerror(code) in str(error)), None)


def quiet_orbax_failures() -> None:
    """Drop what orbax prints besides raising when a write fails: its ERROR logs with tracebacks (absl), the
    'Event loop is closed' errors of the writes still in flight after the failure, whose callbacks reach an event
    loop that orbax already closed, and the warnings at exit about the parts of the write that never started. The
    exception itself still reaches the caller. Idempotent."""
    if getattr(sys.unraisablehook, "quiets_orbax", False):
        return
    warnings.filterwarnings("ignore", message="coroutine .* was never awaited", category=RuntimeWarning)
    logging.getLogger("absl").addFilter(
        lambda record: not (record.levelno >= logging.ERROR and f"{os.sep}orbax{os.sep}" in record.pathname))
    previous = sys.unraisablehook

    def hook(unraisable) -> None:
        if not (isinstance(unraisable.exc_value, RuntimeError) and str(unraisable.exc_value) == "Event loop is closed"):
            previous(unraisable)
    hook.quiets_orbax = True
    sys.unraisablehook = hook
