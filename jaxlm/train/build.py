"""`build(cfg)`: a config's model, optimizer, sharded state, jitted steps and batch placement, in one place.

Training (`jaxlm.train.loop.Run`), fine-tuning, the benchmarks and `jaxlm compile` all build from here, so the
step they time or compile is the step `jaxlm train` runs. `abstract=True` gives the state as shapes only
(nothing allocated), for compiling or restoring a model of any size.
"""

from collections.abc import Callable
from dataclasses import dataclass

import flax.linen as nn
import jax
import ml_collections
import optax
from jax.sharding import Mesh, NamedSharding

from jaxlm.errors import UserError
from jaxlm.optim.factory import build_optimizer
from jaxlm.optim.ramp import BatchPlan, batch_plan
from jaxlm.pipeline.dataset import device_keys
from jaxlm.registry import Family, build_model, check_config, family, loss_fn
from jaxlm.sharding.mesh import batch_sharding, data_parallel_size, make_mesh
from jaxlm.train.precision import dynamic_scaling, initial_loss_scale
from jaxlm.train.state import TrainState, abstract_params, state_initializer, state_shardings
from jaxlm.train.step import MeshStep, jit_eval_step, jit_train_step, make_eval_step, make_train_step


@dataclass(frozen=True)
class Built:
    cfg: ml_collections.ConfigDict
    mesh: Mesh
    plan: BatchPlan
    model: nn.Module
    family: Family
    loss: Callable  # (apply_fn, params, batch, rng, train) -> (mean loss, sums)
    tx: optax.GradientTransformation
    schedule: optax.Schedule | None  # the learning rate by optimizer step (None for a user's tx without one)
    state: TrainState  # allocated in its shardings, or jax.ShapeDtypeStruct leaves if abstract
    shardings: TrainState
    batch_sharding: NamedSharding
    train_step: MeshStep  # jitted: (state, batch) -> (state, metrics)
    eval_step: Callable  # jitted: (params, batch) -> sums

    def put_batch(self, batch: dict) -> dict:
        """Process-local numpy batch → one global array per model input, sharded over (data, fsdp)."""
        return {
            k: jax.make_array_from_process_local_data(self.batch_sharding, v) for k, v in device_keys(batch).items()
        }


def checked_plan(cfg: ml_collections.ConfigDict, mesh: Mesh) -> BatchPlan:
    """The batch plan of `cfg`, refused (UserError) unless each microbatch splits evenly over the data axes."""
    t, dp = cfg.train, data_parallel_size(mesh)
    plan = batch_plan(t, cfg.data.seq_len)
    if plan.micro_size % dp:
        raise UserError(
            f"config.train.batch_size={t.batch_size} / microbatches={t.microbatches} is not divisible "
            f"by the data-parallel size {dp} (mesh data×fsdp): use a multiple of {dp}"
        )
    return plan


def build(
    cfg: ml_collections.ConfigDict,
    mesh: Mesh | None = None,
    abstract: bool = False,
    tx: optax.GradientTransformation | None = None,
    schedule: optax.Schedule | None = None,
    loss: Callable | None = None,
    plan: BatchPlan | None = None,
) -> Built:
    """Everything `cfg` trains with, on `mesh` (default: from config.mesh). `tx` replaces the optimizer of
    config.optim (`schedule` is then its lr, for logging only); `loss` replaces the objective's (to time variants);
    `plan`: the caller's `checked_plan(cfg, mesh)`, if it already has it."""
    check_config(cfg)
    t = cfg.train
    mesh = mesh or make_mesh(cfg.mesh)
    plan = plan or checked_plan(cfg, mesh)
    model, fam = build_model(cfg), family(cfg)
    init_args = fam.init_args(cfg)
    if tx is None:
        tx, schedule = build_optimizer(
            cfg.optim, t.steps, plan, nn.get_partition_spec(abstract_params(model, init_args))
        )
    loss = loss or loss_fn(cfg)
    init = state_initializer(model, tx, init_args, initial_loss_scale(t))
    shapes = jax.eval_shape(init, jax.random.PRNGKey(t.seed))
    shardings = state_shardings(model, tx, init_args, mesh, shapes)
    state = shapes if abstract else jax.jit(init, out_shardings=shardings)(jax.random.PRNGKey(t.seed))
    placed = batch_sharding(mesh)
    train_step = jit_train_step(
        make_train_step(model.apply, loss, tx, t.microbatches, t.loss_scale_period if dynamic_scaling(t) else 0),
        shardings,
        placed,
    )
    eval_step = jit_eval_step(make_eval_step(model.apply, loss), shardings.params, placed)
    return Built(cfg, mesh, plan, model, fam, loss, tx, schedule, state, shardings, placed, train_step, eval_step)
