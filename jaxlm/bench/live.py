"""A config's real training setup for benchmarks: allocated state, the jitted step and the grain pipeline,
built by the same `jaxlm.train.build.build` as `jaxlm train`."""

from collections.abc import Callable
from dataclasses import dataclass

import jax
import ml_collections
import numpy as np

from jaxlm.objectives.base import Prepared
from jaxlm.optim.ramp import BatchPlan
from jaxlm.pipeline.dataset import load_corpus, prepare, train_batches
from jaxlm.train.build import build
from jaxlm.train.state import TrainState
from jaxlm.train.step import (
    MeshStep,
    interleave_microbatches,
)


@dataclass
class LiveSetup:
    cfg: ml_collections.ConfigDict
    plan: BatchPlan
    state: TrainState
    train_step: MeshStep
    put: Callable[[dict], dict]  # host batch → global device arrays: the loop's own `Built.put_batch`
    prepared: Prepared  # the training split under the config's objective

    def batches(self):
        """A fresh iterator over this process's microbatches (the pipeline `jaxlm train` reads)."""
        return iter(
            train_batches(
                self.prepared,
                self.plan.micro_size // jax.process_count(),
                self.cfg.train.seed,
                jax.process_index(),
                jax.process_count(),
            )
        )

    def next_batch(self, it) -> dict:
        """The next full host batch: every microbatch, interleaved as the loop does (no ramp)."""
        return interleave_microbatches([next(it) for _ in range(self.plan.microbatches)], self.plan.microbatches)


def build_step(
    cfg: ml_collections.ConfigDict, loss: Callable | None = None
) -> tuple[BatchPlan, TrainState, MeshStep, Callable[[dict], dict]]:
    """(batch plan, allocated state, jitted train step, put_batch) of `cfg`, as the training loop builds them;
    `loss` replaces the objective's loss (to time variants of it)."""
    built = build(cfg, loss=loss)
    return built.plan, built.state, built.train_step, built.put_batch


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
    plan, state, step, put = build_step(cfg)
    data_cfg = with_data_vocab(cfg, data_vocab)
    prepared = prepare(load_corpus(data_cfg), data_cfg, "train", train=True)
    return LiveSetup(cfg, plan, state, step, put, prepared)


def batch_lengths(batch: dict) -> tuple[int, int]:
    """(inputs length, decoder length or 0) of a batch: the positions each example feeds the model."""
    return batch["inputs"].shape[1], batch["decoder_inputs"].shape[1] if "decoder_inputs" in batch else 0


def param_count(state: TrainState) -> int:
    return int(sum(np.prod(x.shape) for x in jax.tree_util.tree_leaves(state.params)))
