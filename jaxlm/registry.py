"""Explicit registries: model family → module class and the loss its objective trains."""

from dataclasses import dataclass
from typing import Callable

import jax.numpy as jnp
import flax.linen as nn
import ml_collections

from jaxlm.errors import UserError
from jaxlm.losses.causal_lm import causal_lm_loss
from jaxlm.models.gpt import GPT


@dataclass(frozen=True)
class Family:
    model: type[nn.Module]    # Module(cfg.model, dtype=..., decode=...)
    loss: Callable            # (apply_fn, params, batch, rng, train) -> (mean loss, dict of sums)
    init_args: Callable       # cfg -> example positional arguments for model.init (shapes only matter)
    objectives: tuple[str, ...]


def _decoder_init_args(cfg: ml_collections.ConfigDict) -> tuple:
    tokens = jnp.zeros((1, cfg.data.seq_len), jnp.int32)
    return tokens, tokens, jnp.ones_like(tokens)


FAMILIES = {
    "gpt": Family(GPT, causal_lm_loss, _decoder_init_args, ("causal_lm",)),
}

PRECISIONS = {"fp32": jnp.float32, "bf16": jnp.bfloat16}


def family(cfg: ml_collections.ConfigDict) -> Family:
    name = cfg.model.family
    if name not in FAMILIES:
        raise UserError(f"unknown model family '{name}': set config.model.family to one of {', '.join(FAMILIES)}")
    return FAMILIES[name]


def check_objective(cfg: ml_collections.ConfigDict) -> None:
    if cfg.data.objective not in family(cfg).objectives:
        raise UserError(f"objective '{cfg.data.objective}' does not train a '{cfg.model.family}' model: set "
                        f"config.data.objective to one of {', '.join(family(cfg).objectives)}")


def build_model(cfg: ml_collections.ConfigDict, decode: bool = False) -> nn.Module:
    """The family's module with the compute dtype of `config.train.precision` (params stay fp32)."""
    return family(cfg).model(cfg.model, dtype=PRECISIONS[cfg.train.precision], decode=decode)
