"""The non-finite policy (`train.nonfinite`): the step already skipped the update; the host decides to go on.

The policy holds across a resume because a state that is not known to be good is never checkpointed: no
checkpoint is written during a run of skipped steps, with a non-finite validation loss or with non-finite
parameters, so a resumed run restarts from the last good checkpoint and meets the same steps again. A run in which
every step was skipped has trained nothing: it ends with Diverged (exit 3), however few steps it had.
"""

import math
import sys

import jax

from jaxlm.train.precision import all_finite

DIVERGED_EXIT_CODE = 3


class Diverged(Exception):
    """Training stopped on non-finite values; the last good checkpoint is left as it was."""


class NonFiniteGuard:
    """'skip': count skipped steps and stop after `max_in_a_row` consecutive ones; 'stop': stop at the first.

    Checked one step late (after the next step is dispatched) so the host never waits on the device.
    """

    def __init__(self, policy: str, max_in_a_row: int, last_checkpoint):
        self.policy, self.max_in_a_row, self.last_checkpoint = policy, max_in_a_row, last_checkpoint
        self.in_a_row = self.skipped = self.checked = 0
        self._finite = jax.jit(all_finite)

    def check(self, step: int, nonfinite_loss: bool, nonfinite_grads: bool) -> None:
        self.checked += 1
        if not (nonfinite_loss or nonfinite_grads):
            self.in_a_row = 0
            return
        self.in_a_row += 1
        self.skipped += 1
        what = " and ".join(n for n, bad in (("loss", nonfinite_loss), ("gradients", nonfinite_grads)) if bad)
        if self.policy == "stop" or self.in_a_row > self.max_in_a_row:
            why = "policy 'stop'" if self.policy == "stop" else f"{self.in_a_row} non-finite steps in a row"
            raise Diverged(f"step {step}: {what} not finite ({why}); the update was not applied and {self._intact()}")
        print(
            f"jaxlm: warning: step {step}: {what} not finite; update skipped ({self.in_a_row} in a row, "
            f"{self.skipped} in total)",
            file=sys.stderr,
        )

    def unhealthy(self, val_loss: float | None, state) -> str | None:
        """Why the state after the last checked step must not be checkpointed, or None if it may be."""
        if self.in_a_row:
            return f"it follows {self.in_a_row} skipped non-finite step(s)"
        if val_loss is not None and not math.isfinite(val_loss):
            return f"its validation loss is {val_loss}"
        if not bool(self._finite((state.params, state.opt_state))):
            return "its parameters or optimizer state are not finite"
        return None

    def check_results(self, results: dict) -> None:
        """Stop (Diverged) if every step of the run was skipped, or a final evaluation's loss is not finite: a NaN
        model, or an untrained one, is never a finished run."""
        if self.checked and self.skipped == self.checked:
            raise Diverged(
                f"all {self.checked} steps of this run had a non-finite loss or gradients and were skipped; "
                f"{self._intact()}"
            )
        for split, metrics in results.items():
            if metrics and not math.isfinite(metrics.get("loss", 0.0)):
                raise Diverged(f"the trained model's {split} loss is {metrics['loss']} (not finite); {self._intact()}")

    def _intact(self) -> str:
        return (
            f"the last good checkpoint ({self.last_checkpoint() or 'none'}) is intact — lower the learning "
            "rate or resume from it"
        )
