"""Train state (step, params, optimizer state, rng, loss scale) created directly in its sharded layout."""

from typing import Any

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxlm.sharding.mesh import LOGICAL_RULES
from jaxlm.train.precision import LossScale, init_loss_scale


@flax.struct.dataclass
class TrainState:
    step: jax.Array
    params: Any
    opt_state: Any
    rng: jax.Array
    loss_scale: LossScale  # dynamic fp16 loss scaling (scale 1, unused, for the other precisions)


def abstract_params(model: nn.Module, init_args: tuple):
    """Parameter shapes with their logical axis boxes, without allocating anything."""
    return jax.eval_shape(lambda r: model.init(r, *init_args)["params"], jax.random.PRNGKey(0))


def param_shardings(model: nn.Module, init_args: tuple, mesh: Mesh):
    """NamedSharding per parameter from its logical axes and the rules table."""
    specs = nn.get_partition_spec(abstract_params(model, init_args))
    return nn.logical_to_mesh_sharding(specs, mesh, LOGICAL_RULES)


def _opt_state_shardings(opt_shapes, params_shapes, p_shardings, mesh: Mesh):
    """Optimizer leaves that mirror a parameter (same key path suffix and shape) share its sharding."""
    by_path = {
        tuple(path): (leaf.shape, s)
        for (path, leaf), s in zip(
            jax.tree_util.tree_flatten_with_path(params_shapes)[0], jax.tree_util.tree_leaves(p_shardings)
        )
    }
    replicated = NamedSharding(mesh, P())

    def pick(path, leaf):
        for k in range(len(path)):
            shape_and_sharding = by_path.get(tuple(path[k:]))
            if shape_and_sharding and shape_and_sharding[0] == leaf.shape:
                return shape_and_sharding[1]
        return replicated

    return jax.tree_util.tree_map_with_path(pick, opt_shapes)


def state_initializer(
    model: nn.Module, tx: optax.GradientTransformation, init_args: tuple, loss_scale: LossScale | None = None
):
    """rng -> a fresh TrainState (jit it with shardings, or eval_shape it for shapes alone)."""

    def init(rng):
        params_rng, state_rng = jax.random.split(rng)
        params = nn.unbox(model.init(params_rng, *init_args)["params"])
        return TrainState(
            jnp.zeros((), jnp.int32),
            params,
            tx.init(params),
            state_rng,
            init_loss_scale() if loss_scale is None else loss_scale,
        )

    return init


def state_shardings(
    model: nn.Module, tx: optax.GradientTransformation, init_args: tuple, mesh: Mesh, shapes: TrainState
):
    """Shardings of every leaf of a TrainState with shapes `shapes`."""
    p_shardings = param_shardings(model, init_args, mesh)
    replicated = NamedSharding(mesh, P())
    return TrainState(
        replicated,
        p_shardings,
        _opt_state_shardings(shapes.opt_state, shapes.params, p_shardings, mesh),
        replicated,
        jax.tree_util.tree_map(lambda _: replicated, shapes.loss_scale),
    )
