"""Explicit registries: model family → module class and the losses it trains with; the objective records
(jaxlm/objectives) are matched to a family by their loss, and every config rule is checked once, here."""

import functools
from collections.abc import Callable
from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxlm.config.schema import base_config
from jaxlm.config.validate import validate
from jaxlm.data.masking import max_predictions
from jaxlm.errors import UserError
from jaxlm.losses.causal_lm import causal_lm_loss
from jaxlm.losses.classification import classification_loss
from jaxlm.losses.mlm import mlm_loss
from jaxlm.losses.seq2seq import seq2seq_loss
from jaxlm.models import bart, bert, gpt, t5
from jaxlm.models.attention import attention_implementation
from jaxlm.models.inventory import head_width
from jaxlm.objectives import OBJECTIVES, objective


@dataclass(frozen=True)
class Family:
    model: type[nn.Module]  # Module(cfg.model, dtype=..., decode=...)
    losses: tuple[Callable, ...]  # the losses (jaxlm/losses) whose batches its model takes: it trains exactly the
    #                               objectives whose `loss` is one of them
    init_args: Callable  # cfg -> example positional arguments for model.init (shapes only matter)
    matmuls: Callable  # (cfg, s, t) -> [Matmul]: FLOPs inventory (jaxlm/models/inventory.py; s, t: encoder
    attentions: Callable  # (cfg, s, t) -> [Attention]    and decoder positions of one example)
    generates_text: bool = True  # decoder-only: `jaxlm train` ends with a sample from the prompt "\n"
    encoder_decoder: bool = False  # inputs → encoder, targets → decoder (FLOPs count both, generation takes --input)
    attention_configurable: bool = False  # honours config.model.attention (T5/BART: XLA's, for their bias/cache)
    encoder_states: Callable | None = None  # (model, params, batch) -> (final encoder states, real-token mask);
    #                                         None: no encoder (decoder-only), e.g. nothing for a linear probe


def _decoder_init_args(cfg: ml_collections.ConfigDict) -> tuple:
    tokens = jnp.zeros((1, cfg.data.seq_len), jnp.int32)
    return tokens, tokens, jnp.ones_like(tokens)


def _encoder_init_args(cfg: ml_collections.ConfigDict) -> tuple:
    tokens = jnp.zeros((1, cfg.data.seq_len), jnp.int32)
    return tokens, tokens, jnp.ones_like(tokens)


def _seq2seq_init_args(cfg: ml_collections.ConfigDict) -> tuple:
    tokens = jnp.zeros((1, cfg.data.seq_len), jnp.int32)
    return tokens, tokens  # inputs, decoder inputs (parameter shapes do not depend on the lengths)


def _bert_encoder_states(model: nn.Module, params, batch: dict) -> tuple[jax.Array, jax.Array]:
    return (
        model.apply(
            {"params": params}, batch["inputs"], batch["segment_ids"], batch["attention_mask"], method="encode"
        ),
        batch["attention_mask"],
    )


def _seq2seq_encoder_states(model: nn.Module, params, batch: dict) -> tuple[jax.Array, jax.Array]:
    return (
        model.apply(
            {"params": params}, batch["inputs"], batch["inputs_segment_ids"], batch["inputs_positions"], method="encode"
        ),
        batch["inputs_segment_ids"] > 0,
    )


FAMILIES = {
    "gpt": Family(
        gpt.GPT, (causal_lm_loss,), _decoder_init_args, gpt.matmuls, gpt.attentions, attention_configurable=True
    ),
    "bert": Family(
        bert.BERT,
        (mlm_loss, classification_loss),
        _encoder_init_args,
        bert.matmuls,
        bert.attentions,
        generates_text=False,
        attention_configurable=True,
        encoder_states=_bert_encoder_states,
    ),
    "t5": Family(
        t5.T5,
        (seq2seq_loss,),
        _seq2seq_init_args,
        t5.matmuls,
        t5.attentions,
        generates_text=False,
        encoder_decoder=True,
        encoder_states=_seq2seq_encoder_states,
    ),
    "bart": Family(
        bart.BART,
        (seq2seq_loss,),
        _seq2seq_init_args,
        bart.matmuls,
        bart.attentions,
        generates_text=False,
        encoder_decoder=True,
        encoder_states=_seq2seq_encoder_states,
    ),
}

PRECISIONS = {"fp32": jnp.float32, "bf16": jnp.bfloat16, "fp16": jnp.float16}


def family(cfg: ml_collections.ConfigDict) -> Family:
    name = cfg.model.family
    if name not in FAMILIES:
        raise UserError(f"unknown model family '{name}': set config.model.family to one of {', '.join(FAMILIES)}")
    return FAMILIES[name]


def trained_objectives(fam: Family) -> list[str]:
    """The built-in objectives' names that train `fam` (those whose loss it takes)."""
    return [name for name, o in OBJECTIVES.items() if o.loss in fam.losses]


def natural_objective(model_cfg: ml_collections.ConfigDict) -> str:
    """The first built-in objective (those named after the family first) that trains, without classifying, a model
    of this config section: causal_lm (gpt), bert_mlm_nsp (roberta_mlm without an NSP head), t5_span_corruption,
    bart_denoise."""
    cfg = base_config()
    cfg.model = ml_collections.ConfigDict(model_cfg.to_dict())
    cfg.model.num_labels = 0
    for name in sorted(trained_objectives(family(cfg)), key=lambda n: not n.startswith(f"{cfg.model.family}_")):
        cfg.data.objective = name
        if not OBJECTIVES[name].classifies and _passes(OBJECTIVES[name].check, cfg):
            return name
    raise UserError(f"no built-in objective trains a '{cfg.model.family}' model: set config.data.objective")


def _passes(check: Callable | None, cfg: ml_collections.ConfigDict) -> bool:
    try:
        if check is not None:
            check(cfg)
    except UserError:
        return False
    return True


def check_family(cfg: ml_collections.ConfigDict) -> None:
    """UserError unless the family takes the config: its objective (and a classifier head exactly when it
    classifies) and its attention choice."""
    if cfg.model.attention != "auto" and not family(cfg).attention_configurable:
        takes = " and ".join(name for name, f in FAMILIES.items() if f.attention_configurable)
        raise UserError(
            f"config.model.attention='{cfg.model.attention}' applies to {takes} only "
            f"({cfg.model.family} always uses XLA attention): leave config.model.attention=auto"
        )
    o = objective(cfg.data.objective)
    if o.loss not in family(cfg).losses:
        raise UserError(
            f"objective '{cfg.data.objective}' does not train a '{cfg.model.family}' model: set "
            f"config.data.objective to one of {', '.join(trained_objectives(family(cfg)))}"
        )
    if o.classifies != (cfg.model.num_labels > 0):
        raise UserError(
            f"config.model.num_labels={cfg.model.num_labels} is only for an objective that classifies "
            f"(> 0 there, 0 otherwise; '{cfg.data.objective}' {'does' if o.classifies else 'does not'}): "
            "fix config.model.num_labels"
        )


_CHECKED: set[str] = set()  # the JSON of every config that passed check_config in this process


def check_config(cfg: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """`cfg`, after every rule has passed (UserError for the first that fails): the schema's (config/validate.py),
    its family's and its objective's own. Each public entry point calls this; a config whose content has
    already passed (the one the CLI validated, passed down) is not checked again."""
    key = cfg.to_json(sort_keys=True)
    if key not in _CHECKED:
        validate(cfg)
        check_family(cfg)
        check = objective(cfg.data.objective).check
        if check is not None:
            check(cfg)
        _CHECKED.add(key)
    return cfg


def loss_fn(cfg: ml_collections.ConfigDict) -> Callable:
    """The loss that trains the configured objective, with its options bound."""
    loss = objective(cfg.data.objective).loss
    if loss is mlm_loss:
        return functools.partial(loss, max_predictions=max_predictions(cfg.data))  # the fused MLM head's gather size
    if loss in (causal_lm_loss, seq2seq_loss):
        return functools.partial(loss, loss_chunk=cfg.train.loss_chunk)
    return loss


def precision(cfg: ml_collections.ConfigDict) -> str:
    """`config.train.precision`, with 'auto' resolved for the backend: bf16 on GPU/TPU, fp32 on CPU (XLA:CPU
    runs bf16 matmuls slower than fp32 ones, converting them to fp32 internally)."""
    if cfg.train.precision != "auto":
        return cfg.train.precision
    return "fp32" if jax.default_backend() == "cpu" else "bf16"


def build_model(cfg: ml_collections.ConfigDict, decode: bool = False) -> nn.Module:
    """The family's module with the compute dtype of `config.train.precision` (params stay fp32)."""
    return family(cfg).model(cfg.model, dtype=PRECISIONS[precision(cfg)], decode=decode)


def attention(cfg: ml_collections.ConfigDict) -> str:
    """The attention implementation the configured model runs with ('xla' or 'cudnn')."""
    if not family(cfg).attention_configurable:
        return "xla"
    m = cfg.model
    return attention_implementation(m.attention, PRECISIONS[precision(cfg)], head_width(m))
