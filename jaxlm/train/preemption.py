"""SIGTERM/SIGINT during training: finish the current step, checkpoint, exit with a distinct status.

One process records the signal and stops after the step it is in. Several processes (jax.distributed) must stop
after the same step, or the collective checkpoint would hang: SIGTERM, which Slurm and TPU maintenance send to
every process, is JAX's own preemption notice. JAX's coordination service passes it to all processes, which then
agree on the step after the fastest one's (`multihost_utils.reached_preemption_sync_point`, asked once a step).
"""

import signal

import jax
from jax.experimental import multihost_utils

PREEMPTED_EXIT_CODE = 75  # EX_TEMPFAIL: "try again" — re-running the same command resumes


class Preemption:
    """Records the first SIGTERM/SIGINT instead of dying mid-step; a second SIGINT (one process: either signal)
    interrupts at once. In a multi-process run, SIGTERM is left to JAX's preemption notifier (installed by
    `jax.distributed.initialize`) and SIGINT is turned into that notice."""

    def __init__(self):
        self.signal: int | None = None
        self._previous = {}
        self._shared = jax.process_count() > 1

    def _handle(self, signum, frame) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = signum
        if self._shared:
            signal.raise_signal(signal.SIGTERM)  # JAX's notifier tells every process

    def __enter__(self) -> "Preemption":
        for s in (signal.SIGINT,) if self._shared else (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[s] = signal.signal(s, self._handle)
            except ValueError:  # not the main thread: leave the default handlers
                pass
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)

    def due(self, step: int) -> bool:
        """Whether to checkpoint and stop after training step `step`; asked once per step, in every process.

        Several processes pass the step itself, as orbax's CheckpointManager does when it saves: JAX's sync point
        is the step after the highest one any process had asked about when the notice came. A notice that comes
        before a resumed run's first step (while it loads and compiles), or just as orbax's background thread
        reports an older, saved step, gives a step behind the run: it goes on until the scheduler kills it, and
        resumes from its last periodic checkpoint (docs/CLUSTERS.md)."""
        if not self._shared:
            return self.signal is not None
        if not multihost_utils.reached_preemption_sync_point(step):
            return False
        self.signal = self.signal or signal.SIGTERM
        return True


class Preempted(Exception):
    """Raised after the preemption checkpoint is written; the CLI exits with PREEMPTED_EXIT_CODE."""

    def __init__(self, step: int, signum: int):
        super().__init__(
            f"stopped by {signal.Signals(signum).name} after step {step}; checkpoint written — "
            "re-run the same command to resume"
        )
        self.step = step
