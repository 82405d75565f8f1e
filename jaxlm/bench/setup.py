"""A config's train step and its inputs as shapes only: nothing is allocated, so any model size can be measured."""

from dataclasses import dataclass

import jax
import ml_collections
import numpy as np
import optax

from jaxlm.bench.live import with_data_vocab
from jaxlm.config.validate import validate
from jaxlm.optim.factory import build_optimizer
from jaxlm.optim.ramp import batch_plan
from jaxlm.pipeline.dataset import device_keys, load_corpus, prepare
from jaxlm.registry import build_model, check_objective, family, loss_fn
from jaxlm.sharding.mesh import batch_sharding, make_mesh
from jaxlm.train.precision import dynamic_scaling, initial_loss_scale
from jaxlm.train.state import TrainState, state_initializer, state_shardings
from jaxlm.train.step import jit_train_step, make_train_step


@dataclass
class AbstractSetup:
    cfg: ml_collections.ConfigDict
    tx: optax.GradientTransformation
    state: TrainState       # jax.ShapeDtypeStruct leaves
    batch: dict             # jax.ShapeDtypeStruct per model input, global batch
    train_step: object      # the jitted train step, as `jaxlm train` builds it


SHAPE_PROBE_VOCAB = 4096


def batch_shapes(cfg: ml_collections.ConfigDict) -> dict:
    """Global-batch shapes of the objective's model inputs, from one real training example (any family).

    Shapes do not depend on the vocabulary, so a large-vocabulary preset (GPT-2's 50k, which sentencepiece
    cannot learn from a few MB of text) is probed with a tokenizer of at most SHAPE_PROBE_VOCAB pieces.
    """
    probe = with_data_vocab(cfg, SHAPE_PROBE_VOCAB)
    example = prepare(load_corpus(probe), probe, "train", train=True).example(0, np.random.default_rng(0))
    return {k: jax.ShapeDtypeStruct((cfg.train.batch_size, *np.shape(v)), np.asarray(v).dtype)
            for k, v in device_keys(example).items()}


def abstract_setup(cfg: ml_collections.ConfigDict) -> AbstractSetup:
    """Model, optimizer, state shapes, batch shapes and the jitted step of `cfg`, with no parameters allocated."""
    validate(cfg)
    check_objective(cfg)
    mesh, model, fam, t = make_mesh(cfg.mesh), build_model(cfg), family(cfg), cfg.train
    tx, _ = build_optimizer(cfg.optim, t.steps, batch_plan(t, cfg.data.seq_len))
    init_args = fam.init_args(cfg)
    shapes = jax.eval_shape(state_initializer(model, tx, init_args, initial_loss_scale(t)), jax.random.PRNGKey(0))
    step = make_train_step(model.apply, loss_fn(cfg), tx, t.microbatches, t.loss_scale_period if dynamic_scaling(t) else 0)
    jitted = jit_train_step(step, state_shardings(model, tx, init_args, mesh, shapes), batch_sharding(mesh))
    return AbstractSetup(cfg, tx, shapes, batch_shapes(cfg), jitted)
