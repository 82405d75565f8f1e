"""The token clock: how many microbatches each step uses (batch-size ramp) and how many tokens precede it.

A full batch is `microbatches` microbatches of a fixed size. During a ramp the global batch grows linearly in
tokens seen, from `batch_ramp_start` sequences to `batch_size` over the first `batch_ramp_tokens` tokens,
rounded to the nearest whole number of microbatches, so the compiled step never changes shape: unused microbatches are padding.
The plan depends only on the step count, so it is the same after a resume and schedules can read it.
"""

from dataclasses import dataclass

import jax.numpy as jnp
import ml_collections
import numpy as np


@dataclass(frozen=True)
class BatchPlan:
    micro_size: int  # sequences per microbatch (global)
    microbatches: int  # microbatches in a full batch
    seq_len: int
    ramp_active: np.ndarray  # microbatches used by the steps of the ramp (optimizer counts 0..R-1)
    ramp_tokens: np.ndarray  # tokens consumed before counts 0..R (length R+1)

    @property
    def full_tokens(self) -> int:
        """Tokens of one full batch."""
        return self.micro_size * self.microbatches * self.seq_len

    def active(self, count: int) -> int:
        """Microbatches used by the update with optimizer count `count` (step count+1)."""
        return int(self.ramp_active[count]) if count < len(self.ramp_active) else self.microbatches

    def tokens(self, count: int) -> int:
        """Tokens consumed by the first `count` steps."""
        r = len(self.ramp_active)
        return int(self.ramp_tokens[count]) if count <= r else int(self.ramp_tokens[r]) + (count - r) * self.full_tokens

    def tokens_traced(self, count) -> jnp.ndarray:
        """`tokens` for a traced count, as float32 (what schedules on the token clock read)."""
        r = len(self.ramp_active)
        table = jnp.asarray(self.ramp_tokens, jnp.float32)
        inside = table[jnp.clip(count, 0, r)]
        return jnp.where(count <= r, inside, table[r] + (count - r) * float(self.full_tokens))


def ramp_steps(micro_size: int, microbatches: int, seq_len: int, start: int, ramp_tokens: int) -> np.ndarray:
    """Microbatches per step while fewer than `ramp_tokens` tokens were seen: round(batch(tokens) / micro_size)."""
    full, active, seen = micro_size * microbatches, [], 0
    while seen < ramp_tokens:
        batch = start + (full - start) * seen / ramp_tokens
        n = min(max(int(np.floor(batch / micro_size + 0.5)), 1), microbatches)
        active.append(n)
        seen += n * micro_size * seq_len
    return np.asarray(active, np.int64)


def batch_plan(train: ml_collections.ConfigDict, seq_len: int) -> BatchPlan:
    """The plan of `config.train` (batch_size, microbatches, batch_ramp_start, batch_ramp_tokens)."""
    k = int(train.microbatches)
    micro = train.batch_size // k
    active = (
        ramp_steps(micro, k, seq_len, int(train.batch_ramp_start), int(train.batch_ramp_tokens))
        if train.batch_ramp_tokens > 0
        else np.zeros(0, np.int64)
    )
    tokens = np.concatenate([[0], np.cumsum(active * micro * seq_len)]).astype(np.int64)
    return BatchPlan(micro, k, seq_len, active, tokens)
