"""The optimizer as one optax GradientTransformation built from `config.optim`.

clip_by_global_norm, then the optimizer with its schedule and decoupled weight decay under a mask.
A user may pass their own GradientTransformation to `jaxlm.train.loop.train` instead.
"""

import jax
import optax
import ml_collections

from jaxlm.errors import UserError
from jaxlm.optim.schedules import build_schedule

OPTIMIZERS = ("sgd", "adam", "adamw", "adafactor")


def decay_mask(params, decay_embeddings: bool = False):
    """True for leaves that get weight decay: matmul kernels (and embeddings if asked); never biases or norms."""
    def wants_decay(path, _):
        name = str(getattr(path[-1], "key", path[-1]))
        return name == "kernel" or (decay_embeddings and name == "embedding")
    return jax.tree_util.tree_map_with_path(wants_decay, params)


def _optimizer(o: ml_collections.ConfigDict, lr: optax.Schedule) -> optax.GradientTransformation:
    mask = lambda p: decay_mask(p, bool(o.decay_embeddings))
    wd = float(o.weight_decay)
    if o.name == "sgd":  # momentum (optional), then decoupled decay, then -lr (as optax.adamw is built)
        momentum = float(o.momentum)
        return optax.chain(
            optax.trace(momentum, bool(o.nesterov)) if momentum else optax.identity(),
            optax.add_decayed_weights(wd, mask) if wd else optax.identity(),
            optax.scale_by_learning_rate(lr))
    if o.name == "adam":
        return optax.adam(lr, b1=o.b1, b2=o.b2, eps=o.eps)
    if o.name == "adamw":
        return optax.adamw(lr, b1=o.b1, b2=o.b2, eps=o.eps, weight_decay=wd, mask=mask)
    if o.name == "adafactor":
        return optax.adafactor(lr, min_dim_size_to_factor=128, decay_rate=0.8, clipping_threshold=1.0,
                               multiply_by_parameter_scale=True, momentum=o.momentum or None,
                               weight_decay_rate=wd or None, weight_decay_mask=mask)
    raise UserError(f"unknown optimizer '{o.name}': set config.optim.name to one of {', '.join(OPTIMIZERS)}")


def build_optimizer(optim: ml_collections.ConfigDict, total_steps: int) -> tuple[optax.GradientTransformation,
                                                                                  optax.Schedule]:
    """(transformation, learning-rate schedule) for `total_steps` optimizer steps."""
    lr = build_schedule(optim, total_steps)
    tx = _optimizer(optim, lr)
    if optim.clip > 0:
        tx = optax.chain(optax.clip_by_global_norm(optim.clip), tx)
    return tx, lr
