"""A config's real training setup for benchmarks: allocated state, the jitted step and the grain pipeline,
built from the same pieces, in the same way, as `jaxlm train` (jaxlm.train.loop) builds them."""

from collections.abc import Callable
from dataclasses import dataclass

import jax
import ml_collections
import numpy as np

from jaxlm.config.validate import validate
from jaxlm.errors import UserError
from jaxlm.objectives.base import Prepared
from jaxlm.optim.factory import build_optimizer
from jaxlm.optim.ramp import BatchPlan, batch_plan
from jaxlm.pipeline.dataset import device_keys, load_corpus, prepare, train_batches
from jaxlm.registry import build_model, check_objective, family, loss_fn
from jaxlm.sharding.mesh import batch_sharding, data_parallel_size, make_mesh
from jaxlm.train.precision import dynamic_scaling, initial_loss_scale
from jaxlm.train.state import TrainState, create_state
from jaxlm.train.step import (
    MeshStep,
    interleave_microbatches,
    jit_train_step,
    make_train_step,
)


@dataclass
class LiveSetup:
    cfg: ml_collections.ConfigDict
    plan: BatchPlan
    state: TrainState
    train_step: MeshStep
    sharding: jax.sharding.NamedSharding
    prepared: Prepared    # the training split under the config's objective

    def batches(self):
        """A fresh iterator over this process's microbatches (the pipeline `jaxlm train` reads)."""
        return iter(train_batches(self.prepared, self.plan.micro_size // jax.process_count(), self.cfg.train.seed,
                                  jax.process_index(), jax.process_count()))

    def next_batch(self, it) -> dict:
        """The next full host batch: every microbatch, interleaved as the loop does (no ramp)."""
        return interleave_microbatches([next(it) for _ in range(self.plan.microbatches)], self.plan.microbatches)

    def put(self, batch: dict) -> dict:
        """Host batch → global device arrays, as the loop's `put_batch`."""
        return {k: jax.make_array_from_process_local_data(self.sharding, v) for k, v in device_keys(batch).items()}


def build_step(cfg: ml_collections.ConfigDict, loss: Callable | None = None
               ) -> tuple[BatchPlan, TrainState, MeshStep, jax.sharding.NamedSharding]:
    """(batch plan, allocated state, jitted train step, batch sharding) of `cfg`, as the training loop builds them;
    `loss` replaces the objective's loss (to time variants of it)."""
    validate(cfg)
    check_objective(cfg)
    t = cfg.train
    mesh, model, fam = make_mesh(cfg.mesh), build_model(cfg), family(cfg)
    plan = batch_plan(t, cfg.data.seq_len)
    if plan.micro_size % data_parallel_size(mesh):
        raise UserError(f"config.train.batch_size={t.batch_size} / microbatches={t.microbatches} is not divisible "
                        f"by the data-parallel size {data_parallel_size(mesh)}: use a multiple of it")
    tx, _ = build_optimizer(cfg.optim, t.steps, plan)
    state, shardings = create_state(model, tx, fam.init_args(cfg), t.seed, mesh, initial_loss_scale(t))
    sharding = batch_sharding(mesh)
    step = jit_train_step(make_train_step(model.apply, loss or loss_fn(cfg), tx, t.microbatches,
                                          t.loss_scale_period if dynamic_scaling(t) else 0), shardings, sharding)
    return plan, state, step, sharding


def with_data_vocab(cfg: ml_collections.ConfigDict, data_vocab: int | None) -> ml_collections.ConfigDict:
    """`cfg` with its tokenizer capped at `data_vocab` pieces (None: unchanged). Batches from it feed the full-size
    model unchanged (every id is < the model's vocabulary) and time the same, since no op's cost depends on token
    values; this lets GPT-2's 50k vocabulary be measured on a corpus too small for sentencepiece to learn it."""
    if data_vocab is None or data_vocab >= cfg.model.vocab_size:
        return cfg
    probe = cfg.copy_and_resolve_references()
    probe.model.vocab_size = data_vocab
    return probe


def live_setup(cfg: ml_collections.ConfigDict, data_vocab: int | None = None) -> LiveSetup:
    """Allocate `cfg`'s state and build its jitted train step and training pipeline (tokenizer capped at
    `data_vocab` pieces, see `with_data_vocab`)."""
    plan, state, step, sharding = build_step(cfg)
    data_cfg = with_data_vocab(cfg, data_vocab)
    prepared = prepare(load_corpus(data_cfg), data_cfg, "train", train=True)
    return LiveSetup(cfg, plan, state, step, sharding, prepared)


def batch_lengths(batch: dict) -> tuple[int, int]:
    """(inputs length, decoder length or 0) of a batch: the positions each example feeds the model."""
    return batch["inputs"].shape[1], batch["decoder_inputs"].shape[1] if "decoder_inputs" in batch else 0


def param_count(state: TrainState) -> int:
    return int(sum(np.prod(x.shape) for x in jax.tree_util.tree_leaves(state.params)))
