"""SIGTERM/SIGINT during training: finish the current step, checkpoint, exit with a distinct status."""

import signal

PREEMPTED_EXIT_CODE = 75  # EX_TEMPFAIL: "try again" — re-running the same command resumes


class Preemption:
    """Records the first SIGTERM/SIGINT instead of dying mid-step; a second one interrupts at once."""

    def __init__(self):
        self.signal: int | None = None
        self._previous = {}

    def _handle(self, signum, frame) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = signum

    def __enter__(self) -> "Preemption":
        for s in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[s] = signal.signal(s, self._handle)
            except ValueError:  # not the main thread: leave the default handlers
                pass
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)

    @property
    def requested(self) -> bool:
        return self.signal is not None


class Preempted(Exception):
    """Raised after the preemption checkpoint is written; the CLI exits with PREEMPTED_EXIT_CODE."""

    def __init__(self, step: int, signum: int):
        super().__init__(
            f"stopped by {signal.Signals(signum).name} after step {step}; checkpoint written — "
            "re-run the same command to resume"
        )
        self.step = step
