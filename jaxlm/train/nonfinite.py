"""The non-finite policy (`train.nonfinite`): the step already skipped the update; the host decides to go on."""

import sys

DIVERGED_EXIT_CODE = 3


class Diverged(Exception):
    """Training stopped on non-finite values; the last good checkpoint is left as it was."""


class NonFiniteGuard:
    """'skip': count skipped steps and stop after `max_in_a_row` consecutive ones; 'stop': stop at the first.

    Checked one step late (after the next step is dispatched) so the host never waits on the device.
    """

    def __init__(self, policy: str, max_in_a_row: int, last_checkpoint):
        self.policy, self.max_in_a_row, self.last_checkpoint = policy, max_in_a_row, last_checkpoint
        self.in_a_row = self.skipped = 0

    def check(self, step: int, nonfinite_loss: bool, nonfinite_grads: bool) -> None:
        if not (nonfinite_loss or nonfinite_grads):
            self.in_a_row = 0
            return
        self.in_a_row += 1
        self.skipped += 1
        what = " and ".join(n for n, bad in (("loss", nonfinite_loss), ("gradients", nonfinite_grads)) if bad)
        if self.policy == "stop" or self.in_a_row > self.max_in_a_row:
            why = "policy 'stop'" if self.policy == "stop" else f"{self.in_a_row} non-finite steps in a row"
            raise Diverged(f"step {step}: {what} not finite ({why}); the update was not applied and the last good "
                           f"checkpoint ({self.last_checkpoint() or 'none'}) is intact — lower the learning rate "
                           "or resume from it")
        print(f"jaxlm: warning: step {step}: {what} not finite; update skipped ({self.in_a_row} in a row, "
              f"{self.skipped} in total)", file=sys.stderr)
