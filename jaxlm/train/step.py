"""The one jit-compiled train step (and eval step) shared by every model family."""

from typing import Callable

import jax
import optax

from jaxlm.train.state import TrainState


def make_train_step(apply_fn: Callable, loss_fn: Callable, tx: optax.GradientTransformation):
    """train_step(state, batch) -> (state, metrics); dropout rng is folded from the state rng and the step."""
    def train_step(state: TrainState, batch: dict):
        rng = jax.random.fold_in(state.rng, state.step)
        grad_fn = jax.value_and_grad(lambda p: loss_fn(apply_fn, p, batch, rng, True), has_aux=True)
        (loss, sums), grads = grad_fn(state.params)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = dict(loss=loss, grad_norm=optax.tree.norm(grads), **sums)
        return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics
    return train_step


def make_eval_step(apply_fn: Callable, loss_fn: Callable):
    """eval_step(params, batch) -> summed metrics (no dropout)."""
    def eval_step(params, batch: dict):
        _, sums = loss_fn(apply_fn, params, batch, jax.random.PRNGKey(0), False)
        return sums
    return eval_step


def jit_train_step(train_step, state_shardings, batch_sharding):
    """Explicit in/out shardings; the old state's buffers are donated to the new one."""
    replicated = jax.sharding.NamedSharding(batch_sharding.mesh, jax.sharding.PartitionSpec())
    return jax.jit(train_step, in_shardings=(state_shardings, batch_sharding),
                   out_shardings=(state_shardings, replicated), donate_argnums=0)


def jit_eval_step(eval_step, params_shardings, batch_sharding):
    replicated = jax.sharding.NamedSharding(batch_sharding.mesh, jax.sharding.PartitionSpec())
    return jax.jit(eval_step, in_shardings=(params_shardings, batch_sharding), out_shardings=replicated)


def sum_metrics(totals: dict | None, sums: dict) -> dict:
    """Accumulate per-batch sums on the host in float64."""
    sums = {k: float(v) for k, v in jax.device_get(sums).items()}
    return sums if totals is None else {k: totals[k] + sums[k] for k in totals}


