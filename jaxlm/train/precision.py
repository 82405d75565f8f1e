"""Mixed-precision policies and dynamic loss scaling, all inside the jitted step.

fp32: everything fp32. bf16: fp32 master params and optimizer state, bf16 compute (models take `dtype`),
softmax and loss in fp32. fp16: as bf16 with fp16 compute, plus dynamic loss scaling (when
`train.loss_scale`): the loss is multiplied by the scale, gradients are unscaled in fp32; a step with a
non-finite gradient is skipped and halves the scale, `loss_scale_period` good steps in a row double it.
"""

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections


@flax.struct.dataclass
class LossScale:
    scale: jax.Array  # float32 scalar multiplying the loss
    good_steps: jax.Array  # int32: finite steps since the last change
    skipped: jax.Array  # int32: steps skipped for non-finite gradients so far


def init_loss_scale(scale: float = 1.0) -> LossScale:
    return LossScale(jnp.asarray(scale, jnp.float32), jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))


def dynamic_scaling(train: ml_collections.ConfigDict) -> bool:
    """Dynamic loss scaling is on for fp16 with `train.loss_scale`."""
    return train.precision == "fp16" and bool(train.loss_scale)


def initial_loss_scale(train: ml_collections.ConfigDict) -> LossScale:
    return init_loss_scale(float(train.loss_scale_init) if dynamic_scaling(train) else 1.0)


def all_finite(tree) -> jax.Array:
    """True when every element of every leaf is finite."""
    return jnp.all(jnp.asarray([jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]))


def update_loss_scale(ls: LossScale, finite: jax.Array, period: int) -> LossScale:
    """Finite: count a good step, doubling the scale after `period` of them. Non-finite: halve, count a skip."""
    good = ls.good_steps + 1
    grow = good >= period
    return LossScale(
        scale=jnp.where(finite, jnp.where(grow, ls.scale * 2.0, ls.scale), jnp.maximum(ls.scale * 0.5, 1.0)),
        good_steps=jnp.where(finite & ~grow, good, 0),
        skipped=ls.skipped + (~finite).astype(jnp.int32),
    )


def select_tree(pred: jax.Array, on_true, on_false):
    """Leafwise `pred ? on_true : on_false` for two trees of the same structure."""
    return jax.tree_util.tree_map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)
