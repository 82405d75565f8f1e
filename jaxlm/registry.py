"""Explicit registries: model family → module class and the loss its objective trains."""

import functools
from collections.abc import Callable
from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxlm.data.masking import max_predictions
from jaxlm.errors import UserError
from jaxlm.losses.causal_lm import causal_lm_loss
from jaxlm.losses.classification import classification_loss
from jaxlm.losses.mlm import mlm_loss
from jaxlm.losses.seq2seq import seq2seq_loss
from jaxlm.models import bart, bert, gpt, t5
from jaxlm.models.attention import attention_implementation
from jaxlm.models.inventory import head_width


@dataclass(frozen=True)
class Family:
    model: type[nn.Module]    # Module(cfg.model, dtype=..., decode=...)
    loss: Callable            # (apply_fn, params, batch, rng, train, norms=None) -> (mean loss, dict of sums)
    init_args: Callable       # cfg -> example positional arguments for model.init (shapes only matter)
    objectives: tuple[str, ...]
    matmuls: Callable         # (cfg, s, t) -> [Matmul]: FLOPs inventory (jaxlm/models/inventory.py; s, t: encoder
    attentions: Callable      # (cfg, s, t) -> [Attention]    and decoder positions of one example)
    generates_text: bool = True   # decoder-only: `jaxlm train` ends with a sample from the prompt "\n"
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
    return (model.apply({"params": params}, batch["inputs"], batch["segment_ids"], batch["attention_mask"],
                        method="encode"), batch["attention_mask"])


def _seq2seq_encoder_states(model: nn.Module, params, batch: dict) -> tuple[jax.Array, jax.Array]:
    return (model.apply({"params": params}, batch["inputs"], batch["inputs_segment_ids"], batch["inputs_positions"],
                        method="encode"), batch["inputs_segment_ids"] > 0)


SEQ2SEQ_OBJECTIVES = ("t5_span_corruption", "t5_prefix_lm", "t5_iid_replace_spans", "t5_iid_drop_tokens",
                      "t5_bert_style", "bart_denoise", "genre_text_to_text")

FAMILIES = {
    "gpt": Family(gpt.GPT, causal_lm_loss, _decoder_init_args, ("causal_lm", "genre_continuation"), gpt.matmuls,
                  gpt.attentions, attention_configurable=True),
    "bert": Family(bert.BERT, mlm_loss, _encoder_init_args, ("bert_mlm_nsp", "roberta_mlm", "genre_classification"),
                   bert.matmuls, bert.attentions, generates_text=False, attention_configurable=True,
                   encoder_states=_bert_encoder_states),
    "t5": Family(t5.T5, seq2seq_loss, _seq2seq_init_args, SEQ2SEQ_OBJECTIVES, t5.matmuls, t5.attentions,
                 generates_text=False, encoder_decoder=True, encoder_states=_seq2seq_encoder_states),
    "bart": Family(bart.BART, seq2seq_loss, _seq2seq_init_args, SEQ2SEQ_OBJECTIVES, bart.matmuls, bart.attentions,
                   generates_text=False, encoder_decoder=True, encoder_states=_seq2seq_encoder_states),
}

# Objectives whose loss is not their family's (the family's model then has another head).
OBJECTIVE_LOSSES = {"genre_classification": classification_loss}

PRECISIONS = {"fp32": jnp.float32, "bf16": jnp.bfloat16, "fp16": jnp.float16}


def family(cfg: ml_collections.ConfigDict) -> Family:
    name = cfg.model.family
    if name not in FAMILIES:
        raise UserError(f"unknown model family '{name}': set config.model.family to one of {', '.join(FAMILIES)}")
    return FAMILIES[name]


def check_family(cfg: ml_collections.ConfigDict) -> None:
    """UserError unless the family takes the config: its objective (and a classifier head exactly when it
    classifies) and its attention choice."""
    if cfg.model.attention != "auto" and not family(cfg).attention_configurable:
        takes = " and ".join(name for name, f in FAMILIES.items() if f.attention_configurable)
        raise UserError(f"config.model.attention='{cfg.model.attention}' applies to {takes} only "
                        f"({cfg.model.family} always uses XLA attention): leave config.model.attention=auto")
    if cfg.data.objective not in family(cfg).objectives:
        raise UserError(f"objective '{cfg.data.objective}' does not train a '{cfg.model.family}' model: set "
                        f"config.data.objective to one of {', '.join(family(cfg).objectives)}")
    classifies = cfg.data.objective == "genre_classification"
    if classifies != (cfg.model.num_labels > 0):
        raise UserError(f"config.model.num_labels={cfg.model.num_labels} is only for objective genre_classification "
                        f"(> 0 there, 0 otherwise): fix config.model.num_labels")


def loss_fn(cfg: ml_collections.ConfigDict) -> Callable:
    """The loss that trains the configured objective: its own if it has one, else the family's."""
    loss = OBJECTIVE_LOSSES.get(cfg.data.objective, family(cfg).loss)
    if loss is mlm_loss:
        return functools.partial(loss, max_predictions=max_predictions(cfg.data))  # fused MLM head: see issue 21 note
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
