"""A multi-process run's process under a small parent, so that a lost peer reads as one line and exit 2.

When a peer dies, JAX's coordination service stops the survivors from C++: it logs the verdict ("tasks are
unhealthy (stopped sending heartbeats): 1" within the heartbeat timeout, or at once "Socket closed" when the
coordinator, process 0, is gone) and aborts with a stack trace. Nothing in-process can intercept it (jaxlib 0.10's
missed-heartbeat callback dies on a bad_cast), so the parent holds back the child's stderr from its first
traceback or distributed-runtime log line on, and turns such a verdict into one line naming the lost process.
"""

import ctypes
import os
import re
import signal
import subprocess
import sys

CHILD_ENV = "JAXLM_SUPERVISED"
PEER_LOST_EXIT_CODE = 2
MARK = "jaxlm-supervisor: process "  # the child's "process I of N" line, read and dropped by the parent
# held from here on: a Python traceback, or a C++ log line from JAX's distributed runtime (other C++ logs, such
# as CUDA's, pass through)
_HOLD = re.compile(
    r"^(Traceback |[IWEF]\d{4} [\d:.]+ +\d+ \S*(coordination|preemption|distributed|client\.h)\S*:\d+\])"
)
_UNHEALTHY = re.compile(r"unhealthy \(stopped sending heartbeats\):\s*\n([\d,\s]+?)\n")
_COORDINATOR_GONE = re.compile(r'PollForError:?\s*\n[^\n]*grpc_message:"([^"]+)"')


def supervised() -> bool:
    """Whether this process is the child of `supervise` (it then does the work)."""
    return os.environ.get(CHILD_ENV) == "1"


def announce(process_id: int, num_processes: int) -> None:
    """Tell the parent which process this is (one line it reads and drops)."""
    if supervised():
        print(f"{MARK}{process_id} of {num_processes}", file=sys.stderr, flush=True)


def verdict(log: str, me: tuple[str, str]) -> str | None:
    """The one line for a lost peer found in the child's held-back stderr (None: no peer was lost).

    `me`: this process's (id, count), as announced ("?" if it never got that far).
    """
    if m := _UNHEALTHY.search(log):
        lost = ", ".join(re.findall(r"\d+", m.group(1)))
        why = "it stopped sending heartbeats: killed, crashed, or its host died"
    elif (m := _COORDINATOR_GONE.search(log)) and me[0] != "0":
        lost, why = "0", f"the coordinator: its connection closed ({m.group(1)})"
    else:
        return None
    return (
        f"lost process {lost} of {me[1]} ({why}); process {me[0]} stopped too. Resubmit the job: it resumes from "
        "the last checkpoint"
    )


def _die_with_parent() -> None:  # Linux: PR_SET_PDEATHSIG, so that killing the parent kills the work too
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


def supervise(argv: list[str]) -> int:
    """Run `jaxlm ARGV` as a child, forwarding SIGTERM/SIGINT; its exit status, or 2 and one line for a lost peer."""
    child = subprocess.Popen(
        [sys.executable, "-m", "jaxlm.cli.main", *argv],
        stderr=subprocess.PIPE,
        env={**os.environ, CHILD_ENV: "1"},
        start_new_session=True,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda signum, frame: child.send_signal(signum))
    me, held, pending = ("?", "?"), [], b""
    while chunk := os.read(child.stderr.fileno(), 1 << 16):
        *lines, pending = re.split(rb"(?<=[\r\n])", pending + chunk)
        for line in (x.decode(errors="replace") for x in lines):
            if line.startswith(MARK):
                me = tuple(line[len(MARK) :].split()[::2])
            elif held or _HOLD.match(line):
                held.append(line)
            else:
                sys.stderr.write(line)
                sys.stderr.flush()
    code = child.wait()
    log = "".join(held) + pending.decode(errors="replace")
    if code not in (0, PEER_LOST_EXIT_CODE) and (why := verdict(log, me)):
        print(f"jaxlm: error: {why}", file=sys.stderr)
        return PEER_LOST_EXIT_CODE
    sys.stderr.write(log)
    return code if code >= 0 else 128 - code
