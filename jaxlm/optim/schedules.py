"""Learning-rate schedules from `config.optim`, built from optax schedules."""

import jax.numpy as jnp
import optax
import ml_collections

from jaxlm.errors import UserError

SCHEDULES = ("cosine", "linear", "constant", "rsqrt")


def rsqrt_schedule(peak: float, warmup: int) -> optax.Schedule:
    """T5's schedule: constant `peak` for `warmup` steps, then peak·sqrt(warmup/step)."""
    w = max(int(warmup), 1)
    return lambda count: peak * jnp.sqrt(w / jnp.maximum(count, w))


def build_schedule(optim: ml_collections.ConfigDict, total_steps: int) -> optax.Schedule:
    """Linear warmup from 0 to peak over `warmup` steps, then cosine/linear decay to final_lr_frac·peak
    at `total_steps` (or constant); 'rsqrt' is T5's constant-then-inverse-square-root."""
    peak, warmup, kind = float(optim.peak_lr), int(optim.warmup), optim.schedule
    final = peak * float(optim.final_lr_frac)
    decay_steps = max(total_steps - warmup, 1)
    if kind == "rsqrt":
        return rsqrt_schedule(peak, warmup)
    if kind == "cosine":
        decay = optax.cosine_decay_schedule(peak, decay_steps, alpha=final / peak if peak else 0.0)
    elif kind == "linear":
        decay = optax.linear_schedule(peak, final, decay_steps)
    elif kind == "constant":
        decay = optax.constant_schedule(peak)
    else:
        raise UserError(f"unknown schedule '{kind}': set config.optim.schedule to one of {', '.join(SCHEDULES)}")
    if warmup <= 0:
        return decay
    return optax.join_schedules([optax.linear_schedule(0.0, peak, warmup), decay], [warmup])
