"""The optimizer as one optax GradientTransformation built from `config.optim`.

clip_by_global_norm, then the optimizer with its schedule and decoupled weight decay under a mask (lr·wd·p,
as in AdamW, for every optimizer). `optim.mu_dtype` stores the first moment (momentum) in bf16 for every
optimizer that keeps one, halving that part of the state; the update arithmetic stays fp32. A user may pass
their own GradientTransformation (and optionally its schedule, for logging) to `jaxlm.train.loop.train`
instead.
"""

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxlm.errors import UserError
from jaxlm.optim.matrix_view import as_matrices
from jaxlm.optim.muon import muon
from jaxlm.optim.ramp import BatchPlan
from jaxlm.optim.schedules import build_schedule

OPTIMIZERS = ("sgd", "adam", "adamw", "adafactor", "muon")
MOMENT_DTYPES = {"": None, "fp32": None, "bf16": jnp.bfloat16}  # optim.mu_dtype ('' = the parameters' fp32)


def decay_mask(params, decay_embeddings: bool = False):
    """True for leaves that get weight decay: matmul kernels (and embeddings if asked); never biases or norms."""

    def wants_decay(path, _):
        name = str(getattr(path[-1], "key", path[-1]))
        return name == "kernel" or (decay_embeddings and name == "embedding")

    return jax.tree_util.tree_map_with_path(wants_decay, params)


def adafactor(
    lr: optax.ScalarOrSchedule, momentum: float = 0.0, weight_decay: float = 0.0, mask=None, mu_dtype=None
) -> optax.GradientTransformation:
    """optax.adafactor's chain (factored second moments for dims ≥ 128, decay_rate 0.8, eps 1e-30, update
    RMS clipping 1.0, parameter-scale multiplication), equal to it without weight decay or momentum; decay is
    decoupled and scaled by the learning rate like AdamW (optax adds it unscaled), momentum precedes the lr.
    N-d kernels are factored as the matrices they apply (jaxlm/optim/matrix_view.py)."""
    return optax.chain(
        as_matrices(optax.scale_by_factored_rms(decay_rate=0.8, min_dim_size_to_factor=128, epsilon=1e-30)),
        optax.clip_by_block_rms(1.0),
        optax.scale_by_param_block_rms(),
        optax.ema(momentum, debias=False, accumulator_dtype=mu_dtype) if momentum else optax.identity(),
        optax.add_decayed_weights(weight_decay, mask) if weight_decay else optax.identity(),
        optax.scale_by_learning_rate(lr),
    )


def moment_dtype(o: ml_collections.ConfigDict):
    """The first moment's storage dtype of `optim.mu_dtype` (None = the parameters' own; config/validate.py has
    refused any other value)."""
    return MOMENT_DTYPES[o.mu_dtype]


def _optimizer(o: ml_collections.ConfigDict, lr: optax.Schedule, logical_axes) -> optax.GradientTransformation:
    mask = lambda p: decay_mask(p, bool(o.decay_embeddings))
    wd, mu_dtype = float(o.weight_decay), moment_dtype(o)
    if o.name == "sgd":  # momentum (optional), then decoupled decay, then -lr (as optax.adamw is built)
        momentum = float(o.momentum)
        return optax.chain(
            optax.trace(momentum, bool(o.nesterov), accumulator_dtype=mu_dtype) if momentum else optax.identity(),
            optax.add_decayed_weights(wd, mask) if wd else optax.identity(),
            optax.scale_by_learning_rate(lr),
        )
    if o.name == "adam":
        return optax.adam(lr, b1=o.b1, b2=o.b2, eps=o.eps, mu_dtype=mu_dtype)
    if o.name == "adamw":
        return optax.adamw(lr, b1=o.b1, b2=o.b2, eps=o.eps, mu_dtype=mu_dtype, weight_decay=wd, mask=mask)
    if o.name == "adafactor":
        return adafactor(lr, float(o.momentum), wd, mask, mu_dtype)
    if o.name == "muon":
        if logical_axes is None:
            raise UserError(
                "optim.name='muon' needs the parameters' logical axes: build the optimizer with "
                "jaxlm.train.build.build, or pass logical_axes to build_optimizer"
            )
        return muon(lr, logical_axes, float(o.muon_beta), o.b1, o.b2, o.eps, wd, mask, mu_dtype)
    raise UserError(f"unknown optimizer '{o.name}': set config.optim.name to one of {', '.join(OPTIMIZERS)}")


def build_optimizer(
    optim: ml_collections.ConfigDict, total_steps: int, plan: BatchPlan | None = None, logical_axes=None
) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """(transformation, learning-rate schedule) for `total_steps` optimizer steps; `plan` feeds token clocks;
    `logical_axes` (the params' tree of logical PartitionSpecs) tells Muon which kernels are matrices."""
    lr = build_schedule(optim, total_steps, plan)
    tx = _optimizer(optim, lr, logical_axes)
    if optim.clip > 0:
        tx = optax.chain(optax.clip_by_global_norm(optim.clip), tx)
    return tx, lr
