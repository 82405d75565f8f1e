"""An output folder (`jaxlm convert --out`, `jaxlm export --to-hf`) written whole or not at all: filled as a
temporary sibling `OUT.PID.tmp` that then replaces it. The siblings of a writer killed mid-write are removed by the
next write; a failed write (full disk, read-only folder) is one line and leaves nothing behind."""

import errno
import os
import re
import shutil
import time
from collections.abc import Callable

from jaxlm import checks
from jaxlm.errors import UserError
from jaxlm.io.write_errors import write_error_code


def write_folder(out_dir: str, replaceable: tuple[str, ...], write: Callable[[str], None], flag: str = "--out") -> None:
    """`write(tmp)` fills a temporary sibling of `out_dir`, which then replaces it (an earlier output of the same
    verb, with --force): a failed write leaves `out_dir` as it was, and nothing beside it."""
    out_dir = os.path.abspath(checks.output_folder(out_dir, flag, True, replaceable))
    remove_stale_siblings(out_dir)
    tmp, old = f"{out_dir}.{os.getpid()}.tmp", f"{out_dir}.{os.getpid()}.old"
    try:
        os.makedirs(tmp)
        write(tmp)
        if os.path.isdir(out_dir) and os.listdir(out_dir):
            os.replace(out_dir, old)
        try:
            os.replace(tmp, out_dir)
        except OSError:
            if os.path.exists(old):
                os.replace(old, out_dir)
            raise
    except Exception as e:  # noqa: BLE001 - orbax and safetensors wrap the OSError of a failed write in their own
        code = write_error_code(e)
        if isinstance(e, UserError) or (code is None and not isinstance(e, OSError)):
            raise
        cause = os.strerror(code) if code else (e.strerror or e)
        fix = (
            "free disk space or choose another"
            if code not in (errno.EROFS, errno.EACCES, errno.EPERM)
            else "choose a writable"
        )
        raise UserError(f"cannot write {flag} '{out_dir}' ({cause}): {fix} {flag}") from None
    finally:
        _remove_settled(tmp)
        shutil.rmtree(old, ignore_errors=True)


def _remove_settled(path: str, settle_s: float = 1.0) -> None:
    """Remove `path` (if a failed write left it), again until it has stayed gone for `settle_s`: after a failed
    orbax save, writes already handed to tensorstore's own threads can still land in it and re-create it."""
    if not os.path.exists(path):
        return
    deadline = time.monotonic() + settle_s
    while True:
        shutil.rmtree(path, ignore_errors=True)
        if time.monotonic() >= deadline and not os.path.exists(path):
            return
        time.sleep(0.05)


def remove_stale_siblings(out_dir: str) -> None:
    """Remove the temporary siblings (`OUT.PID.tmp`, `OUT.PID.old`) that writers killed mid-write left; an `.old`
    is put back as `out_dir` where the writer died between its two renames."""
    parent, name = os.path.split(out_dir)
    for entry in sorted(os.listdir(parent)):
        match = re.fullmatch(re.escape(name) + r"\.(\d+)\.(tmp|old)", entry)
        if match is None or _running(int(match[1])):
            continue
        path = os.path.join(parent, entry)
        if match[2] == "old" and not os.path.exists(out_dir):
            os.replace(path, out_dir)
        else:
            shutil.rmtree(path, ignore_errors=True)


def _running(pid: int) -> bool:
    """Whether process `pid` exists (this host)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
