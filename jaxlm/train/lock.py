"""One run per workdir: an exclusive advisory lock that the kernel releases when its process dies."""

import fcntl
import os

from jaxlm.errors import UserError

LOCK_FILE = ".lock"


class WorkdirLock:
    """Held for the lifetime of a training run; a second run on the same workdir is refused in one line.

    Stale locks cannot happen: flock is released by the kernel when the holder exits, however it exits.
    """

    def __init__(self, workdir: str, process_index: int = 0):
        self.path = os.path.join(workdir, LOCK_FILE if process_index == 0 else f"{LOCK_FILE}.{process_index}")
        self._fd: int | None = None

    def acquire(self) -> "WorkdirLock":
        created = not os.path.exists(self.path)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise self._unwritable(e) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise UserError(
                f"workdir '{os.path.dirname(self.path)}' is in use by a running jaxlm (pid {holder}): "
                "wait for it to finish, stop it, or choose another --workdir"
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        except OSError as e:  # a full disk: the run cannot start, and leaves no lock file it made
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            if created:
                os.unlink(self.path)
            raise self._unwritable(e) from None
        self._fd = fd
        return self

    def _unwritable(self, error: OSError) -> UserError:
        return UserError(
            f"cannot write the lock file '{self.path}' ({error.strerror}): free disk space or choose a "
            "writable --workdir"
        )

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "WorkdirLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
