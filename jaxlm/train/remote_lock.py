"""One run per gs:// workdir: a lock object created with the precondition `ifGenerationMatch=0` (GCS creates it only
if no object of that name exists, atomically, whichever host asks), kept alive by a heartbeat.

A bucket has no flock that dies with its holder. The holder rewrites the object every `HEARTBEAT_S` seconds
(each rewrite conditional on the generation it wrote last, so a holder whose lock was taken over notices and
stops). A lock is taken over when its holder is known dead: the same host and a process id that no longer runs
(a run killed and started again on the same machine), or no heartbeat for `EXPIRY_S` seconds (the holder's host
died; the clocks of the hosts must agree to well within that).
"""

import json
import os
import socket
import sys
import threading
import time
import uuid

from jaxlm import io
from jaxlm.errors import UserError
from jaxlm.io import gcs
from jaxlm.train.lock import LOCK_FILE, WorkdirLock

HEARTBEAT_S = 60.0
EXPIRY_S = 300.0


class RemoteWorkdirLock:
    """Held for the lifetime of a training run on a gs:// workdir; a second run on it is refused in one line."""

    def __init__(self, workdir: str, process_index: int = 0):
        self.workdir = workdir
        self.object = io.join(workdir, LOCK_FILE if process_index == 0 else f"{LOCK_FILE}.{process_index}")
        self._bucket, self._key = self.object.split("://", 1)[1].split("/", 1)
        self._generation: str | None = None
        self._token = uuid.uuid4().hex  # tells this lock's object from any other's
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _body(self) -> bytes:
        return json.dumps(
            dict(host=socket.gethostname(), pid=os.getpid(), heartbeat=time.time(), token=self._token)
        ).encode()

    def _create(self) -> bool:
        """Write the lock object if none exists (True), else False."""
        fs = gcs.filesystem()
        try:
            fs.pipe_file(self.object, self._body(), mode="create")
        except FileExistsError:
            return False
        self._generation = fs.info(self.object)["generation"]
        return True

    def acquire(self) -> "RemoteWorkdirLock":
        if not self._create():
            fs = gcs.filesystem()
            try:
                generation, holder = fs.info(self.object)["generation"], json.loads(fs.cat_file(self.object))
            except (FileNotFoundError, ValueError):  # released meanwhile, or a torn write of another jaxlm
                generation, holder = None, {}
            why = _dead(holder)
            if generation is not None and not why:
                age = time.time() - holder["heartbeat"]
                raise UserError(
                    f"workdir '{self.workdir}' is in use by a running jaxlm (pid {holder.get('pid')} on "
                    f"{holder.get('host')}, last heartbeat {age:.0f} s ago; a lock without heartbeat for "
                    f"{EXPIRY_S:.0f} s is taken over): wait for it to finish, stop it, or choose another "
                    "--workdir"
                )
            if generation is not None:
                self._delete(generation)
                print(f"jaxlm: warning: took over the lock of '{self.workdir}' ({why})", file=sys.stderr)
            if not self._create():
                raise UserError(
                    f"workdir '{self.workdir}' was just locked by another jaxlm: wait for it to finish, "
                    "stop it, or choose another --workdir"
                )
        self._thread = threading.Thread(target=self._beat, name="jaxlm-lock-heartbeat", daemon=True)
        self._thread.start()
        return self

    def _delete(self, generation: str) -> None:
        """Delete the lock object if it is still the given generation (another taker may have been first)."""
        try:
            gcs.filesystem().call("DELETE", "b/{}/o/{}", self._bucket, self._key, ifGenerationMatch=generation)
        except (FileNotFoundError, FileExistsError):  # 404 / 412: already deleted or replaced
            pass

    def heartbeat(self) -> bool:
        """Rewrite the lock object with the current time if it is still this lock's: it must hold this lock's token,
        and the rewrite is conditional on the generation this lock wrote last (GCS refuses it if the object changed
        in between); False (and a warning) if another jaxlm took it over."""
        fs = gcs.filesystem()
        try:
            if json.loads(fs.cat_file(self.object)).get("token") != self._token:
                raise FileExistsError(self.object)
            out = fs.call(
                "POST",
                f"{fs._location}/upload/storage/v1/b/{self._bucket}/o",
                uploadType="media",
                name=self._key,
                ifGenerationMatch=self._generation,
                data=self._body(),
                json_out=True,
            )
        except (FileExistsError, FileNotFoundError, ValueError):  # another's object, 412, deleted, or torn
            print(
                f"jaxlm: warning: the lock of '{self.workdir}' was taken over by another jaxlm (no heartbeat for "
                f"{EXPIRY_S:.0f} s?): stop this run",
                file=sys.stderr,
            )
            self._generation = None
            return False
        self._generation = out["generation"]
        return True

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                if not self.heartbeat():
                    return
            except OSError as e:  # a transient error: the next beat tries again, well before the expiry
                print(f"jaxlm: warning: lock heartbeat of '{self.workdir}' failed ({e})", file=sys.stderr)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._generation is not None:
            self._delete(self._generation)
            self._generation = None

    def __enter__(self) -> "RemoteWorkdirLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _dead(holder: dict) -> str:
    """Why the lock's holder is known to be dead ('' when it may be alive)."""
    if not holder:
        return "unreadable lock object"
    if holder.get("host") == socket.gethostname() and not _running(holder.get("pid")):
        return f"pid {holder.get('pid')} on this host is not running"
    age = time.time() - float(holder.get("heartbeat", 0))
    return f"no heartbeat for {age:.0f} s" if age > EXPIRY_S else ""


def _running(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, TypeError, ValueError):
        return True
    return True


def workdir_lock(workdir: str, process_index: int) -> WorkdirLock | RemoteWorkdirLock:
    """The lock for `workdir`: flock on a local (or shared) disk, a lock object with a heartbeat in a bucket."""
    return RemoteWorkdirLock(workdir, process_index) if io.is_remote(workdir) else WorkdirLock(workdir, process_index)
