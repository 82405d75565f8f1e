"""Hugging Face BART checkpoints (`BartForConditionalGeneration` layout) ↔ jaxlm BART params, both ways.

Hugging Face's learned position table has the same 2-row offset as jaxlm's (fairseq's), so it maps as is;
`scale_embedding` carries over; BART has no final encoder/decoder LayerNorm (mBART's are refused).
"""

import jax
import ml_collections
import numpy as np

from jaxlm.config.schema import base_config
from jaxlm.errors import UserError
from jaxlm.interop.attention_layout import (
    attention_params,
    attention_tensors,
    linear_of,
    linear_tensors,
    norm_tensors,
)
from jaxlm.interop.hf_files import write_hf_dir

ATTENTION = ("q_proj", "k_proj", "v_proj", "out_proj")
HF_LAYER_NORM_EPS = 1e-5  # Hugging Face's BART LayerNorms take torch's default eps


def model_config(hf: dict) -> ml_collections.ConfigDict:
    """jaxlm's `config.model` for a Hugging Face BartConfig dict."""
    same = (
        hf["encoder_attention_heads"] == hf["decoder_attention_heads"]
        and hf["encoder_ffn_dim"] == hf["decoder_ffn_dim"]
    )
    if hf.get("activation_function", "gelu") != "gelu" or not same:
        raise UserError(
            "unsupported BART variant: jaxlm's BART has exact GELU and the same heads and "
            "feed-forward width in the encoder and decoder"
        )
    m = base_config().model
    m.update(
        family="bart",
        vocab_size=hf["vocab_size"],
        d_model=hf["d_model"],
        n_layers=hf["encoder_layers"],
        n_decoder_layers=hf["decoder_layers"],
        n_heads=hf["encoder_attention_heads"],
        d_ff=hf["encoder_ffn_dim"],
        max_len=hf["max_position_embeddings"],
        scale_embedding=bool(hf.get("scale_embedding", False)),
        dropout=float(hf.get("dropout", 0.1)),
        init_std=float(hf.get("init_std", 0.02)),
        layer_norm_eps=HF_LAYER_NORM_EPS,
        tie_embeddings=True,
    )
    return m


def _ln(sd: dict, key: str) -> dict:
    return {"scale": sd[f"{key}.weight"], "bias": sd[f"{key}.bias"]}


def _dense(sd: dict, key: str) -> dict:
    return {"kernel": sd[f"{key}.weight"].T, "bias": sd[f"{key}.bias"]}


def _attention(sd: dict, key: str, n_heads: int, cross: bool) -> dict:
    linears = [(sd[f"{key}.{p}.weight"], sd[f"{key}.{p}.bias"]) for p in ATTENTION]
    return attention_params(*linears, n_heads, cross)


def _attention_tensors(params: dict, key: str, cross: bool) -> dict[str, np.ndarray]:
    return attention_tensors(params, [f"{key}.{p}" for p in ATTENTION], cross)


def _stack(sd: dict, prefix: str, n_layers: int, n_heads: int, decoder: bool) -> dict:
    stack = {
        "pos_embed": {"embedding": sd[f"{prefix}.embed_positions.weight"]},
        "ln_embed": _ln(sd, f"{prefix}.layernorm_embedding"),
    }
    if f"{prefix}.layer_norm.weight" in sd:
        raise UserError("the checkpoint has final encoder/decoder LayerNorms (mBART): jaxlm's BART has none")
    for i in range(n_layers):
        layer = f"{prefix}.layers.{i}"
        block = {
            "self_attn": _attention(sd, f"{layer}.self_attn", n_heads, False),
            "ln_self": _ln(sd, f"{layer}.self_attn_layer_norm"),
            "fc1": _dense(sd, f"{layer}.fc1"),
            "fc2": _dense(sd, f"{layer}.fc2"),
            "ln_ff": _ln(sd, f"{layer}.final_layer_norm"),
        }
        if decoder:
            block["cross_attn"] = _attention(sd, f"{layer}.encoder_attn", n_heads, True)
            block["ln_cross"] = _ln(sd, f"{layer}.encoder_attn_layer_norm")
        stack[f"block_{i}"] = block
    return stack


def convert_state_dict(sd: dict[str, np.ndarray], m: ml_collections.ConfigDict) -> dict:
    """Hugging Face tensors → the jaxlm BART params tree."""
    sd = {k.removeprefix("model."): v for k, v in sd.items()}
    if "shared.weight" not in sd or "decoder.layernorm_embedding.weight" not in sd:
        raise UserError("the checkpoint has no shared.weight / decoder: it is not a BartForConditionalGeneration")
    bias = sd.get("final_logits_bias", np.zeros((1, m.vocab_size), np.float32))
    params = {
        "embed": {"embedding": sd["shared.weight"]},
        "final_logits_bias": bias.reshape(-1),
        "encoder": _stack(sd, "encoder", m.n_layers, m.n_heads, False),
        "decoder": _stack(sd, "decoder", m.n_decoder_layers, m.n_heads, True),
    }
    return jax.tree_util.tree_map(np.asarray, params)


def hf_config(m: ml_collections.ConfigDict) -> dict:
    """The BartConfig dict (BartForConditionalGeneration) of a jaxlm BART `config.model`; UserError for options
    Hugging Face's BART does not have."""
    if m.layer_norm_eps != HF_LAYER_NORM_EPS:
        raise UserError(
            f"config.model.layer_norm_eps={m.layer_norm_eps} does not export: Hugging Face's BART fixes "
            f"it at {HF_LAYER_NORM_EPS} (export a model trained with that eps)"
        )
    n_decoder_layers = m.n_decoder_layers or m.n_layers
    return {
        "model_type": "bart",
        "architectures": ["BartForConditionalGeneration"],
        "vocab_size": m.vocab_size,
        "d_model": m.d_model,
        "encoder_layers": m.n_layers,
        "decoder_layers": n_decoder_layers,
        "num_hidden_layers": m.n_layers,
        "encoder_attention_heads": m.n_heads,
        "decoder_attention_heads": m.n_heads,
        "encoder_ffn_dim": m.d_ff,
        "decoder_ffn_dim": m.d_ff,
        "max_position_embeddings": m.max_len,
        "scale_embedding": bool(m.scale_embedding),
        "activation_function": "gelu",
        "dropout": m.dropout,
        "activation_dropout": m.dropout,
        "attention_dropout": 0.0,
        "init_std": m.init_std,
        "is_encoder_decoder": True,
        "tie_word_embeddings": True,
        "forced_eos_token_id": None,
    }  # jaxlm's decoding never forces an eos


def _stack_tensors(stack: dict, prefix: str, n_layers: int, decoder: bool) -> dict[str, np.ndarray]:
    sd = {f"{prefix}.embed_positions.weight": stack["pos_embed"]["embedding"]}
    sd |= norm_tensors(f"{prefix}.layernorm_embedding", stack["ln_embed"])
    for i in range(n_layers):
        b, layer = stack[f"block_{i}"], f"{prefix}.layers.{i}"
        sd |= _attention_tensors(b["self_attn"], f"{layer}.self_attn", False)
        sd |= norm_tensors(f"{layer}.self_attn_layer_norm", b["ln_self"])
        if decoder:
            sd |= _attention_tensors(b["cross_attn"], f"{layer}.encoder_attn", True)
            sd |= norm_tensors(f"{layer}.encoder_attn_layer_norm", b["ln_cross"])
        sd |= linear_tensors(f"{layer}.fc1", linear_of(b["fc1"])) | linear_tensors(f"{layer}.fc2", linear_of(b["fc2"]))
        sd |= norm_tensors(f"{layer}.final_layer_norm", b["ln_ff"])
    return sd


def export_state_dict(params: dict, m: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
    """jaxlm BART params → BartForConditionalGeneration tensors (the inverse of convert_state_dict)."""
    p = jax.tree_util.tree_map(lambda x: np.asarray(x, np.float32), params)
    sd = {"model.shared.weight": p["embed"]["embedding"], "final_logits_bias": p["final_logits_bias"].reshape(1, -1)}
    sd |= _stack_tensors(p["encoder"], "model.encoder", m.n_layers, False)
    return sd | _stack_tensors(p["decoder"], "model.decoder", m.n_decoder_layers or m.n_layers, True)


def write_hf_bart(out_dir: str, m: ml_collections.ConfigDict, params: dict) -> None:
    """Write `config.json` and `model.safetensors` of a BartForConditionalGeneration into the folder `out_dir`."""
    write_hf_dir(out_dir, hf_config(m), export_state_dict(params, m))
