"""Learning-rate schedules from `config.optim`, on a step clock or a token clock.

Every schedule is a shape over a clock x with a warmup end W and a decay end E. On the step clock x is the
optimizer count. When `optim.warmup_tokens` or `optim.decay_tokens` is set, x is the number of tokens seen
before the update, read from the batch plan (exact under a batch-size ramp, and a pure function of the count,
so optax's count and a resumed run give the same values).
"""

import jax.numpy as jnp
import ml_collections
import optax

from jaxlm.errors import UserError
from jaxlm.optim.ramp import BatchPlan

SCHEDULES = ("cosine", "linear", "constant", "rsqrt")


def rsqrt_schedule(peak: float, warmup: float) -> optax.Schedule:
    """T5's schedule: constant `peak` for `warmup` clock units, then peak·sqrt(warmup/x)."""
    w = max(warmup, 1)
    return lambda count: peak * jnp.sqrt(w / jnp.maximum(count, w))


def shape(kind: str, peak: float, final: float, warmup: float, end: float) -> optax.Schedule:
    """Linear warmup 0→peak over [0, warmup], then cosine/linear decay to `final` at `end` (held after),
    constant, or rsqrt; all in clock units."""
    if kind == "rsqrt":
        return rsqrt_schedule(peak, warmup)
    span = max(end - warmup, 1)
    if kind == "cosine":
        decay = optax.cosine_decay_schedule(peak, span, alpha=final / peak if peak else 0.0)
    elif kind == "linear":
        decay = optax.linear_schedule(peak, final, span)
    elif kind == "constant":
        decay = optax.constant_schedule(peak)
    else:
        raise UserError(f"unknown schedule '{kind}': set config.optim.schedule to one of {', '.join(SCHEDULES)}")
    if warmup <= 0:
        return decay
    return optax.join_schedules([optax.linear_schedule(0.0, peak, warmup), decay], [warmup])


def on_token_clock(optim: ml_collections.ConfigDict) -> bool:
    return optim.warmup_tokens > 0 or optim.decay_tokens > 0


def build_schedule(optim: ml_collections.ConfigDict, total_steps: int, plan: BatchPlan | None = None) -> optax.Schedule:
    """The schedule as a function of the optimizer count; decay ends at `total_steps` (or `decay_tokens`)."""
    peak, final = float(optim.peak_lr), float(optim.peak_lr) * float(optim.final_lr_frac)
    if not on_token_clock(optim):
        return shape(optim.schedule, peak, final, int(optim.warmup), total_steps)
    if plan is None:
        raise UserError(
            "optim.warmup_tokens/decay_tokens need the batch plan: build the schedule with plan=batch_plan(...)"
        )
    warmup = optim.warmup_tokens or plan.tokens(int(optim.warmup))
    end = optim.decay_tokens or plan.tokens(total_steps)
    by_tokens = shape(optim.schedule, peak, final, float(warmup), float(end))
    return lambda count: by_tokens(plan.tokens_traced(count))
