"""A config's train step and its inputs as shapes only: nothing is allocated, so any model size can be measured."""

from dataclasses import dataclass

import jax
import ml_collections
import numpy as np
import optax

from jaxlm.bench.live import with_data_vocab
from jaxlm.pipeline.dataset import device_keys, load_corpus, prepare
from jaxlm.train.build import build
from jaxlm.train.state import TrainState


@dataclass
class AbstractSetup:
    cfg: ml_collections.ConfigDict
    tx: optax.GradientTransformation
    state: TrainState  # jax.ShapeDtypeStruct leaves
    batch: dict  # jax.ShapeDtypeStruct per model input, global batch
    train_step: object  # the jitted train step, as `jaxlm train` builds it


SHAPE_PROBE_VOCAB = 4096


def batch_shapes(cfg: ml_collections.ConfigDict) -> dict:
    """Global-batch shapes of the objective's model inputs, from one real training example (any family).

    Shapes do not depend on the vocabulary, so a large-vocabulary preset (GPT-2's 50k, which sentencepiece
    cannot learn from a few MB of text) is probed with a tokenizer of at most SHAPE_PROBE_VOCAB pieces.
    """
    probe = with_data_vocab(cfg, SHAPE_PROBE_VOCAB)
    example = prepare(load_corpus(probe), probe, "train", train=True).example(0, np.random.default_rng(0))
    return {
        k: jax.ShapeDtypeStruct((cfg.train.batch_size, *np.shape(v)), np.asarray(v).dtype)
        for k, v in device_keys(example).items()
    }


def abstract_setup(cfg: ml_collections.ConfigDict) -> AbstractSetup:
    """Model, optimizer, state shapes, batch shapes and the jitted step of `cfg`, with no parameters allocated."""
    built = build(cfg, abstract=True)
    return AbstractSetup(cfg, built.tx, built.state, batch_shapes(cfg), built.train_step)
