"""Hugging Face T5 checkpoints (`T5ForConditionalGeneration` layout) ↔ jaxlm T5 params, both ways.

Weights map directly: Hugging Face's T5 also leaves the logits unscaled (the 1/sqrt(d_kv) lives in the
init), shares one relative bias table per stack (stored in block 0) and, with tied embeddings, scales the
decoder output by d_model^-1/2 before the shared output projection, as jaxlm's T5 does.
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

FF_KINDS = {"relu": "relu", "gated-gelu": "gated_gelu"}


def model_config(hf: dict) -> ml_collections.ConfigDict:
    """jaxlm's `config.model` for a Hugging Face T5Config dict."""
    ff = hf.get("feed_forward_proj", "relu")
    if ff not in FF_KINDS:
        raise UserError(f"unsupported T5 feed_forward_proj '{ff}': jaxlm's T5 has {' and '.join(FF_KINDS)}")
    m = base_config().model
    m.update(
        family="t5",
        vocab_size=hf["vocab_size"],
        d_model=hf["d_model"],
        d_kv=hf["d_kv"],
        d_ff=hf["d_ff"],
        n_layers=hf["num_layers"],
        n_decoder_layers=hf.get("num_decoder_layers") or hf["num_layers"],
        n_heads=hf["num_heads"],
        relative_buckets=hf.get("relative_attention_num_buckets", 32),
        relative_max_distance=hf.get("relative_attention_max_distance", 128),
        ff=FF_KINDS[ff],
        layer_norm_eps=float(hf.get("layer_norm_epsilon", 1e-6)),
        dropout=float(hf.get("dropout_rate", 0.1)),
        tie_embeddings=bool(hf.get("tie_word_embeddings", True)),
        max_len=hf.get("n_positions", 512),
    )
    return m


def _attention(sd: dict, key: str, n_heads: int, cross: bool) -> dict:
    linears = [(sd[f"{key}.{p}.weight"], None) for p in ("q", "k", "v", "o")]
    return attention_params(*linears, n_heads, cross)


def _ff(sd: dict, key: str) -> dict:
    names = ("wi_0", "wi_1", "wo") if f"{key}.wi_0.weight" in sd else ("wi", "wo")
    return {n: {"kernel": sd[f"{key}.{n}.weight"].T} for n in names}


def _stack(sd: dict, prefix: str, n_layers: int, n_heads: int, decoder: bool) -> dict:
    stack = {
        "rel_bias": {"table": sd[f"{prefix}.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]},
        "ln_final": {"scale": sd[f"{prefix}.final_layer_norm.weight"]},
    }
    for i in range(n_layers):
        layer = f"{prefix}.block.{i}.layer"
        block = {
            "self_attn": _attention(sd, f"{layer}.0.SelfAttention", n_heads, False),
            "ln_self": {"scale": sd[f"{layer}.0.layer_norm.weight"]},
        }
        ff = 2 if decoder else 1
        if decoder:
            block["cross_attn"] = _attention(sd, f"{layer}.1.EncDecAttention", n_heads, True)
            block["ln_cross"] = {"scale": sd[f"{layer}.1.layer_norm.weight"]}
        block["ff"] = _ff(sd, f"{layer}.{ff}.DenseReluDense")
        block["ln_ff"] = {"scale": sd[f"{layer}.{ff}.layer_norm.weight"]}
        stack[f"block_{i}"] = block
    return stack


def convert_state_dict(sd: dict[str, np.ndarray], m: ml_collections.ConfigDict) -> dict:
    """Hugging Face tensors → the jaxlm T5 params tree."""
    if "shared.weight" not in sd or "decoder.final_layer_norm.weight" not in sd:
        raise UserError("the checkpoint has no shared.weight / decoder: it is not a T5ForConditionalGeneration")
    params = {
        "embed": {"embedding": sd["shared.weight"]},
        "encoder": _stack(sd, "encoder", m.n_layers, m.n_heads, False),
        "decoder": _stack(sd, "decoder", m.n_decoder_layers, m.n_heads, True),
    }
    if not m.tie_embeddings:
        params["lm_head"] = {"kernel": sd["lm_head.weight"].T}
    return jax.tree_util.tree_map(np.asarray, params)


def hf_config(m: ml_collections.ConfigDict) -> dict:
    """The T5Config dict (T5ForConditionalGeneration) of a jaxlm T5 `config.model`; UserError for options
    Hugging Face's T5 does not have."""
    ff = {v: k for k, v in FF_KINDS.items()}
    if m.ff not in ff:
        raise UserError(f"config.model.ff='{m.ff}' does not export: Hugging Face's T5 has {' and '.join(ff)}")
    return {
        "model_type": "t5",
        "architectures": ["T5ForConditionalGeneration"],
        "vocab_size": m.vocab_size,
        "d_model": m.d_model,
        "d_kv": m.d_kv or m.d_model // m.n_heads,
        "d_ff": m.d_ff,
        "num_layers": m.n_layers,
        "num_decoder_layers": m.n_decoder_layers or m.n_layers,
        "num_heads": m.n_heads,
        "relative_attention_num_buckets": m.relative_buckets,
        "relative_attention_max_distance": m.relative_max_distance,
        "feed_forward_proj": ff[m.ff],
        "layer_norm_epsilon": m.layer_norm_eps,
        "dropout_rate": m.dropout,
        "n_positions": m.max_len,
        "tie_word_embeddings": bool(m.tie_embeddings),
        "is_encoder_decoder": True,
        "pad_token_id": 0,
        "eos_token_id": 1,
        "decoder_start_token_id": 0,
    }


def _stack_tensors(stack: dict, prefix: str, n_layers: int, decoder: bool) -> dict[str, np.ndarray]:
    sd = {f"{prefix}.block.0.layer.0.SelfAttention.relative_attention_bias.weight": stack["rel_bias"]["table"]}
    sd |= norm_tensors(f"{prefix}.final_layer_norm", stack["ln_final"])
    for i in range(n_layers):
        b, layer, ff = stack[f"block_{i}"], f"{prefix}.block.{i}.layer", 2 if decoder else 1
        att = f"{layer}.0.SelfAttention"
        sd |= attention_tensors(b["self_attn"], [f"{att}.{p}" for p in "qkvo"], False)
        sd |= norm_tensors(f"{layer}.0.layer_norm", b["ln_self"])
        if decoder:
            att = f"{layer}.1.EncDecAttention"
            sd |= attention_tensors(b["cross_attn"], [f"{att}.{p}" for p in "qkvo"], True)
            sd |= norm_tensors(f"{layer}.1.layer_norm", b["ln_cross"])
        for name, dense in b["ff"].items():
            sd |= linear_tensors(f"{layer}.{ff}.DenseReluDense.{name}", linear_of(dense))
        sd |= norm_tensors(f"{layer}.{ff}.layer_norm", b["ln_ff"])
    return sd


def export_state_dict(params: dict, m: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
    """jaxlm T5 params → T5ForConditionalGeneration tensors (the inverse of convert_state_dict)."""
    p = jax.tree_util.tree_map(lambda x: np.asarray(x, np.float32), params)
    sd = {"shared.weight": p["embed"]["embedding"]}
    sd |= _stack_tensors(p["encoder"], "encoder", m.n_layers, False)
    sd |= _stack_tensors(p["decoder"], "decoder", m.n_decoder_layers or m.n_layers, True)
    if not m.tie_embeddings:
        sd["lm_head.weight"] = p["lm_head"]["kernel"].T
    return sd


def write_hf_t5(out_dir: str, m: ml_collections.ConfigDict, params: dict) -> None:
    """Write `config.json` and `model.safetensors` of a T5ForConditionalGeneration into the folder `out_dir`."""
    write_hf_dir(out_dir, hf_config(m), export_state_dict(params, m))
