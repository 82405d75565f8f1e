"""Hugging Face GPT-2 checkpoints ↔ jaxlm GPT params, both ways (the same architecture: pre-LN, learned positions,
tanh-approximate GELU, biases everywhere, tied embedding).

GPT-2 stores its projections as `Conv1D` weights [in, out], so jaxlm's kernels are reshapes of them, never
transposes: `c_attn` [d, 3·d] ↔ `qkv` [d, 3, heads, head_dim], `attn.c_proj` [d, d] ↔ `out` [heads, head_dim, d].
Import reads GPT2Model or GPT2LMHeadModel directories (`transformer.` prefix); export writes a GPT2LMHeadModel
directory (`config.json` + `model.safetensors`) that `transformers` loads with `from_pretrained`.
"""

import jax
import ml_collections
import numpy as np

from jaxlm.config.schema import base_config
from jaxlm.errors import UserError
from jaxlm.interop.hf_files import write_hf_dir

SUPPORTED_ACTIVATIONS = ("gelu_new", "gelu_pytorch_tanh")  # GPT-2's tanh approximation, as jaxlm's GELU


def model_config(hf: dict) -> ml_collections.ConfigDict:
    """jaxlm's `config.model` for a Hugging Face GPT2Config dict."""
    act = hf.get("activation_function", "gelu_new")
    if (
        act not in SUPPORTED_ACTIVATIONS
        or not hf.get("scale_attn_weights", True)
        or hf.get("scale_attn_by_inverse_layer_idx")
        or hf.get("reorder_and_upcast_attn")
    ):
        raise UserError(
            f"unsupported GPT-2 variant (activation_function={act}, scale_attn_weights="
            f"{hf.get('scale_attn_weights', True)}, scale_attn_by_inverse_layer_idx="
            f"{hf.get('scale_attn_by_inverse_layer_idx')}): jaxlm's GPT is GPT-2's original block"
        )
    d = hf["n_embd"]
    m = base_config().model
    m.update(
        family="gpt",
        vocab_size=hf["vocab_size"],
        d_model=d,
        n_layers=hf["n_layer"],
        n_heads=hf["n_head"],
        d_ff=hf.get("n_inner") or 4 * d,
        max_len=hf["n_positions"],
        layer_norm_eps=float(hf.get("layer_norm_epsilon", 1e-5)),
        dropout=float(hf.get("resid_pdrop", 0.1)),
        init="gpt2",
        init_std=float(hf.get("initializer_range", 0.02)),
        tie_embeddings=True,
    )
    return m


def _ln(sd: dict, key: str) -> dict:
    return {"scale": sd[f"{key}.weight"], "bias": sd[f"{key}.bias"]}


def convert_state_dict(sd: dict[str, np.ndarray], m: ml_collections.ConfigDict) -> dict:
    """Hugging Face GPT-2 tensors → the jaxlm GPT params tree."""
    sd = {k.removeprefix("transformer."): v for k, v in sd.items()}
    if "wte.weight" not in sd:
        raise UserError("the checkpoint has no wte.weight: it is not a GPT-2 checkpoint")
    head = sd.get("lm_head.weight")
    if head is not None and not np.array_equal(head, sd["wte.weight"]):
        raise UserError("the checkpoint's lm_head is not tied to wte: jaxlm's GPT ties them")
    d, h = m.d_model, m.n_heads
    params = {
        "embed": {"embedding": sd["wte.weight"]},
        "pos_embed": {"embedding": sd["wpe.weight"]},
        "ln_final": _ln(sd, "ln_f"),
    }
    for i in range(m.n_layers):
        p = f"h.{i}"
        params[f"block_{i}"] = {
            "ln_attn": _ln(sd, f"{p}.ln_1"),
            "attn": {
                "qkv": {
                    "kernel": sd[f"{p}.attn.c_attn.weight"].reshape(d, 3, h, d // h),
                    "bias": sd[f"{p}.attn.c_attn.bias"].reshape(3, h, d // h),
                },
                "out": {
                    "kernel": sd[f"{p}.attn.c_proj.weight"].reshape(h, d // h, d),
                    "bias": sd[f"{p}.attn.c_proj.bias"],
                },
            },
            "ln_mlp": _ln(sd, f"{p}.ln_2"),
            "mlp": {
                "up": {"kernel": sd[f"{p}.mlp.c_fc.weight"], "bias": sd[f"{p}.mlp.c_fc.bias"]},
                "down": {"kernel": sd[f"{p}.mlp.c_proj.weight"], "bias": sd[f"{p}.mlp.c_proj.bias"]},
            },
        }
    return jax.tree_util.tree_map(lambda x: np.asarray(x, np.float32), params)


GPT2_BLOCK = {
    "positions": "learned",
    "norm_type": "layernorm",
    "mlp": "gelu",
    "use_bias": True,
    "tie_embeddings": True,
    "sliding_window": 0,
    "qk_norm": False,
    "d_kv": 0,
}


def hf_config(m: ml_collections.ConfigDict) -> dict:
    """The GPT2Config dict of a jaxlm GPT `config.model`; UserError naming the first option GPT-2 does not have."""
    for key, value in GPT2_BLOCK.items():
        if m[key] != value:
            raise UserError(
                f"config.model.{key}={m[key]} has no Hugging Face layout: a GPT exports as GPT-2 "
                f"({key}={value}) or as Llama (positions=rope, norm_type=rmsnorm, mlp=swiglu)"
            )
    if m.n_kv_heads not in (0, m.n_heads):
        raise UserError(
            f"config.model.n_kv_heads={m.n_kv_heads} has no GPT-2 layout: grouped-query attention "
            "exports with Llama's block (positions=rope, norm_type=rmsnorm, mlp=swiglu)"
        )
    return {
        "model_type": "gpt2",
        "architectures": ["GPT2LMHeadModel"],
        "vocab_size": m.vocab_size,
        "n_positions": m.max_len,
        "n_embd": m.d_model,
        "n_layer": m.n_layers,
        "n_head": m.n_heads,
        "n_inner": m.d_ff,
        "activation_function": "gelu_new",
        "layer_norm_epsilon": m.layer_norm_eps,
        "resid_pdrop": m.dropout,
        "embd_pdrop": m.dropout,
        "attn_pdrop": m.dropout,
        "initializer_range": m.init_std,
        "tie_word_embeddings": True,
    }


def export_state_dict(params: dict, m: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
    """jaxlm GPT params → GPT2LMHeadModel tensors (the inverse of convert_state_dict)."""
    p = jax.tree_util.tree_map(lambda x: np.asarray(x, np.float32), params)
    d = m.d_model
    sd = {
        "transformer.wte.weight": p["embed"]["embedding"],
        "transformer.wpe.weight": p["pos_embed"]["embedding"],
        "transformer.ln_f.weight": p["ln_final"]["scale"],
        "transformer.ln_f.bias": p["ln_final"]["bias"],
    }
    for i in range(m.n_layers):
        b, k = p[f"block_{i}"], f"transformer.h.{i}"
        sd.update(
            {
                f"{k}.ln_1.weight": b["ln_attn"]["scale"],
                f"{k}.ln_1.bias": b["ln_attn"]["bias"],
                f"{k}.attn.c_attn.weight": b["attn"]["qkv"]["kernel"].reshape(d, 3 * d),
                f"{k}.attn.c_attn.bias": b["attn"]["qkv"]["bias"].reshape(3 * d),
                f"{k}.attn.c_proj.weight": b["attn"]["out"]["kernel"].reshape(d, d),
                f"{k}.attn.c_proj.bias": b["attn"]["out"]["bias"],
                f"{k}.ln_2.weight": b["ln_mlp"]["scale"],
                f"{k}.ln_2.bias": b["ln_mlp"]["bias"],
                f"{k}.mlp.c_fc.weight": b["mlp"]["up"]["kernel"],
                f"{k}.mlp.c_fc.bias": b["mlp"]["up"]["bias"],
                f"{k}.mlp.c_proj.weight": b["mlp"]["down"]["kernel"],
                f"{k}.mlp.c_proj.bias": b["mlp"]["down"]["bias"],
            }
        )
    return {k: np.ascontiguousarray(v) for k, v in sd.items()}


def write_hf_gpt2(out_dir: str, m: ml_collections.ConfigDict, params: dict) -> None:
    """Write `config.json` and `model.safetensors` of a GPT2LMHeadModel into the (new, empty) folder `out_dir`."""
    write_hf_dir(out_dir, hf_config(m), export_state_dict(params, m))
