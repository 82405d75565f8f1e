"""Why a write failed and how orbax reports it: `write_error_code` finds the errno (a full disk, a read-only folder)
whatever library wrapped the error; `quiet_orbax_failures` leaves a failed orbax write to the one line jaxlm makes
of its exception."""

import errno
import logging
import os
import sys
import warnings

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
    loop that orbax already closed, asyncio's 'Task exception was never retrieved' logs of the sibling writes that
    failed too (logged when collected, after or before the one line), and the warnings at exit about the parts of
    the write that never started. The exception itself still reaches the caller. Idempotent."""
    if getattr(sys.unraisablehook, "quiets_orbax", False):
        return
    warnings.filterwarnings("ignore", message="coroutine .* was never awaited", category=RuntimeWarning)
    logging.getLogger("absl").addFilter(
        lambda record: not (record.levelno >= logging.ERROR and f"{os.sep}orbax{os.sep}" in record.pathname)
    )
    logging.getLogger("asyncio").addFilter(
        lambda record: not record.getMessage().startswith("Task exception was never retrieved")
    )
    previous = sys.unraisablehook

    def hook(unraisable) -> None:
        if not (isinstance(unraisable.exc_value, RuntimeError) and str(unraisable.exc_value) == "Event loop is closed"):
            previous(unraisable)

    hook.quiets_orbax = True
    sys.unraisablehook = hook
