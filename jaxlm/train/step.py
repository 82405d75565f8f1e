"""The one jit-compiled train step (and eval step) shared by every model family.

Gradient accumulation: the global batch [B, ...] holds `microbatches` microbatches interleaved (row j·k + i
is row j of microbatch i), so every microbatch stays split over the data axes without communication. The
step first counts each loss term's targets over the whole batch (MLM tokens and NSP pairs are two counts),
then scans over the microbatches, skipping all-zero (padding) ones with lax.cond, each normalising its terms
by those whole-batch counts: the summed losses and gradients are those of one step on the whole batch. The
host builds such batches with `interleave_microbatches`.
"""

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxlm.sharding.mesh import LOGICAL_RULES
from jaxlm.train.precision import all_finite, select_tree, update_loss_scale
from jaxlm.train.state import TrainState


def interleave_microbatches(parts: list[dict], microbatches: int) -> dict:
    """n ≤ k host microbatches [mb, ...] → one [mb·k, ...] batch; the missing k−n microbatches are zeros."""
    out = {}
    for key in parts[0]:
        x = np.stack([p[key] for p in parts], 1)
        pad = np.zeros((x.shape[0], microbatches - len(parts)) + x.shape[2:], x.dtype)
        out[key] = np.concatenate([x, pad], 1).reshape(-1, *x.shape[2:])
    return out


def split_microbatches(batch: dict, microbatches: int) -> dict:
    """[mb·k, ...] → [k, mb, ...], the inverse of `interleave_microbatches` (a reshape, no data movement)."""
    return {
        key: x.reshape(x.shape[0] // microbatches, microbatches, *x.shape[1:]).swapaxes(0, 1)
        for key, x in batch.items()
    }


def accumulate_grads(
    apply_fn: Callable,
    loss_fn: Callable,
    params,
    batch: dict,
    rng: jax.Array,
    microbatches: int = 1,
    scale: jax.Array | None = None,
):
    """(loss, sums, grads) of the whole batch; gradients of loss·`scale` are unscaled in fp32 at the end."""

    def value_and_grads(mb: dict, r: jax.Array, norms: dict | None = None):
        def scaled(p):
            loss, sums = loss_fn(apply_fn, p, mb, r, True, norms=norms)
            return (loss if scale is None else loss * scale), (loss, sums)

        (_, (loss, sums)), grads = jax.value_and_grad(scaled, has_aux=True)(params)
        return loss, sums, grads

    if microbatches == 1:
        loss, sums, grads = value_and_grads(batch, rng)
    else:
        micro = split_microbatches(batch, microbatches)
        norms = whole_batch_counts(apply_fn, loss_fn, params, micro, rng)
        zeros = jax.tree_util.tree_map(
            lambda s: jnp.zeros(s.shape, s.dtype),
            jax.eval_shape(value_and_grads, jax.tree_util.tree_map(lambda x: x[0], micro), rng, norms),
        )

        def body(total, xs):
            i, mb = xs
            active = jnp.any(jnp.asarray([jnp.any(x != 0) for x in jax.tree_util.tree_leaves(mb)]))
            out = jax.lax.cond(active, lambda: value_and_grads(mb, jax.random.fold_in(rng, i), norms), lambda: zeros)
            return jax.tree_util.tree_map(jnp.add, total, out), None

        (loss, sums, grads), _ = jax.lax.scan(body, zeros, (jnp.arange(microbatches), micro))
    if scale is not None:
        grads = jax.tree_util.tree_map(lambda g: g / scale, grads)
    return loss, sums, grads


def whole_batch_counts(apply_fn: Callable, loss_fn: Callable, params, micro: dict, rng: jax.Array) -> dict:
    """Every loss term's target count (the sums named *weight) over all microbatches [k, mb, ...]. The counts
    depend on the batch alone, so XLA removes the forward pass that computing them through the loss implies."""

    def counts(mb: dict) -> dict:
        _, sums = loss_fn(apply_fn, params, mb, rng, True)
        return {k: v for k, v in sums.items() if k.endswith("weight")}

    return jax.tree_util.tree_map(lambda w: jnp.sum(w, 0), jax.lax.map(counts, micro))


def zero_fraction(tree) -> jax.Array:
    """Fraction of all elements of a tree's leaves that are exactly zero (float32 scalar)."""
    leaves = jax.tree_util.tree_leaves(tree)
    zeros = sum(jnp.sum(x == 0).astype(jnp.float32) for x in leaves)
    return zeros / float(sum(x.size for x in leaves))


def make_train_step(
    apply_fn: Callable,
    loss_fn: Callable,
    tx: optax.GradientTransformation,
    microbatches: int = 1,
    loss_scale_period: int = 0,
):
    """train_step(state, batch) -> (state, metrics); dropout rng is folded from the state rng and the step.

    A step whose loss or gradients are not finite leaves params and optimizer state untouched and reports
    `nonfinite_loss` / `nonfinite_grads` (the loop applies `train.nonfinite`). `loss_scale_period` > 0 turns
    on dynamic loss scaling (fp16): metrics then also report `loss_scale` and `skipped_steps`. `grad_zero_frac`
    is the fraction of gradient elements that are exactly zero (after accumulation and unscaling, before
    clipping): under fp16 without loss scaling it counts the gradients that underflowed to zero.
    """

    def train_step(state: TrainState, batch: dict):
        rng = jax.random.fold_in(state.rng, state.step)
        scale = state.loss_scale.scale if loss_scale_period else None
        loss, sums, grads = accumulate_grads(apply_fn, loss_fn, state.params, batch, rng, microbatches, scale)
        with jax.named_scope("optimizer"):  # scopes name the ops for `jaxlm bench --profile`'s table
            updates, opt_state = tx.update(grads, state.opt_state, state.params)
            params = optax.apply_updates(state.params, updates)
        with jax.named_scope("step_guard"):
            metrics = dict(loss=loss, grad_norm=optax.tree.norm(grads), grad_zero_frac=zero_fraction(grads), **sums)
            finite_loss, finite_grads = jnp.isfinite(loss), all_finite(grads)
            finite = finite_loss & finite_grads
            new = state.replace(
                step=state.step + 1,
                params=select_tree(finite, params, state.params),
                opt_state=select_tree(finite, opt_state, state.opt_state),
            )
            metrics.update(nonfinite_loss=~finite_loss, nonfinite_grads=~finite_grads)
        if loss_scale_period:
            loss_scale = update_loss_scale(state.loss_scale, finite_grads, loss_scale_period)
            new = new.replace(loss_scale=loss_scale)
            metrics.update(loss_scale=loss_scale.scale, skipped_steps=loss_scale.skipped)
        return new, metrics

    return train_step


def make_eval_step(apply_fn: Callable, loss_fn: Callable):
    """eval_step(params, batch) -> summed metrics (no dropout)."""

    def eval_step(params, batch: dict):
        _, sums = loss_fn(apply_fn, params, batch, jax.random.PRNGKey(0), False)
        return sums

    return eval_step


class MeshStep:
    """A jitted step traced under its mesh and the logical-axis rules, so the models' activation constraints
    (jaxlm.models.layers.constrain) take effect; calling and lowering behave as the jitted function."""

    def __init__(self, jitted, mesh):
        self.jitted, self.mesh = jitted, mesh

    def __call__(self, *args):
        with jax.set_mesh(self.mesh), nn.logical_axis_rules(LOGICAL_RULES):
            return self.jitted(*args)

    def lower(self, *args):
        with jax.set_mesh(self.mesh), nn.logical_axis_rules(LOGICAL_RULES):
            return self.jitted.lower(*args)


def jit_train_step(train_step, state_shardings, batch_sharding) -> MeshStep:
    """Explicit in/out shardings; the old state's buffers are donated to the new one."""
    replicated = jax.sharding.NamedSharding(batch_sharding.mesh, jax.sharding.PartitionSpec())
    return MeshStep(
        jax.jit(
            train_step,
            in_shardings=(state_shardings, batch_sharding),
            out_shardings=(state_shardings, replicated),
            donate_argnums=0,
        ),
        batch_sharding.mesh,
    )


def jit_eval_step(eval_step, params_shardings, batch_sharding) -> MeshStep:
    replicated = jax.sharding.NamedSharding(batch_sharding.mesh, jax.sharding.PartitionSpec())
    return MeshStep(
        jax.jit(eval_step, in_shardings=(params_shardings, batch_sharding), out_shardings=replicated),
        batch_sharding.mesh,
    )


def sum_metrics(totals: dict | None, sums: dict) -> dict:
    """Accumulate per-batch sums on the host in float64."""
    sums = {k: float(v) for k, v in jax.device_get(sums).items()}
    return sums if totals is None else {k: totals[k] + sums[k] for k in totals}
