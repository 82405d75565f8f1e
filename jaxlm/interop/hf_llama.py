"""Hugging Face Llama-style checkpoints (LlamaForCausalLM, and Mistral's, Qwen2's and Qwen3's, whose differences are
config fields: Mistral's sliding window, Qwen2's q/k/v biases (jaxlm's `qkv_bias`), Qwen3's per-head q/k RMSNorm
and head width (`qk_norm`, `d_kv`); Llama 3.1's and YaRN's `rope_scaling`) ↔ jaxlm GPT params with rotary
positions, RMSNorm, SwiGLU and grouped-query attention, both ways.

Torch's Linear weights are [out, in], so jaxlm's kernels are their transposes reshaped per head. Hugging Face
stores q and k already permuted for the rotate-half rotary layout, which is jaxlm's, so no permutation is needed.
With as many key/value heads as heads, jaxlm fuses q, k, v into one `qkv` kernel [d, 3, heads, head_dim];
otherwise it keeps `q` [d, heads, head_dim] and a fused `kv` [d, 2, kv_heads, head_dim].
"""

import ml_collections
import numpy as np

from jaxlm.config.schema import base_config
from jaxlm.errors import UserError
from jaxlm.interop.hf_files import write_hf_dir
from jaxlm.models.inventory import head_width

MODEL_TYPES = ("llama", "mistral", "qwen2", "qwen3")
LLAMA_OPTIONS = {"positions": "rope", "norm_type": "rmsnorm", "mlp": "swiglu"}  # what makes a GPT Llama-shaped


def _refuse(hf: dict, field: str, why: str) -> None:
    raise UserError(f"cannot import this {hf.get('model_type')} checkpoint: {field}={hf.get(field)!r} {why}")


def model_config(hf: dict) -> ml_collections.ConfigDict:
    """jaxlm's `config.model` for a Hugging Face LlamaConfig / MistralConfig dict; UserError naming the field that
    jaxlm cannot represent."""
    d, heads = hf["hidden_size"], hf["num_attention_heads"]
    if hf.get("hidden_act", "silu") != "silu":
        _refuse(hf, "hidden_act", "is not SwiGLU's SiLU")
    kind = hf.get("model_type")
    qwen2 = kind == "qwen2"  # biases on q, k, v only (its config has no bias fields)
    if not qwen2 and bool(hf.get("attention_bias", False)) != bool(hf.get("mlp_bias", False)):
        _refuse(
            hf,
            "attention_bias",
            f"differs from mlp_bias={hf.get('mlp_bias', False)}: jaxlm's use_bias is one switch for every projection",
        )
    m = base_config().model
    m.update(
        **_rope_scaling(hf),
        sliding_window=_sliding_window(hf),
        qk_norm=kind == "qwen3",
        d_kv=hf["head_dim"] if hf.get("head_dim") not in (None, d // heads) else 0,
    )
    m.update(
        family="gpt",
        vocab_size=hf["vocab_size"],
        d_model=d,
        n_layers=hf["num_hidden_layers"],
        n_heads=heads,
        n_kv_heads=hf.get("num_key_value_heads") or heads,
        d_ff=hf["intermediate_size"],
        max_len=hf["max_position_embeddings"],
        layer_norm_eps=float(hf.get("rms_norm_eps", 1e-6)),
        rope_theta=float(hf.get("rope_theta", 10000.0)),
        use_bias=bool(hf.get("attention_bias", False)),
        qkv_bias=qwen2,
        tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
        dropout=float(hf.get("attention_dropout", 0.0)),
        init="gpt2",
        init_std=float(hf.get("initializer_range", 0.02)),
        **LLAMA_OPTIONS,
    )
    return m


ROPE_FIELDS = {
    "linear": (),
    "llama3": ("low_freq_factor", "high_freq_factor"),
    "yarn": ("beta_fast", "beta_slow", "attention_factor"),
}


def _rope_scaling(hf: dict) -> dict:
    """config.model's rope_* fields for a Hugging Face `rope_scaling` (linear, llama3, yarn)."""
    scaling = hf.get("rope_scaling") or {}
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    if kind == "default":
        return {}
    if kind not in ROPE_FIELDS:
        _refuse(
            hf,
            "rope_scaling",
            f"has rope_type '{kind}': jaxlm scales rotary positions by {', '.join(ROPE_FIELDS)} only",
        )
    if scaling.get("mscale") or scaling.get("mscale_all_dim") or scaling.get("truncate", True) is False:
        _refuse(hf, "rope_scaling", "sets mscale, mscale_all_dim or truncate=False, which jaxlm's YaRN lacks")
    fields = {
        "rope_scaling": kind,
        "rope_factor": float(scaling["factor"]),
        "rope_original_max_len": int(scaling.get("original_max_position_embeddings") or hf["max_position_embeddings"]),
    }
    return fields | {f"rope_{k}": float(scaling[k]) for k in ROPE_FIELDS[kind] if scaling.get(k) is not None}


def _sliding_window(hf: dict) -> int:
    """config.model.sliding_window: Mistral's window, or Qwen's when every layer uses it; 0 for none."""
    window = hf.get("sliding_window")
    if window is None or not hf.get("use_sliding_window", True) or window >= hf["max_position_embeddings"]:
        return 0
    if set(hf.get("layer_types") or ["sliding_attention"]) != {"sliding_attention"} or hf.get("max_window_layers"):
        _refuse(
            hf,
            "sliding_window",
            "windows some layers only (layer_types / max_window_layers): jaxlm windows every layer or none",
        )
    return int(window)


def _linear(sd: dict, key: str, shape: tuple, bias: bool, n_in: int = 1) -> dict:
    """A torch Linear [out, in] as a jaxlm kernel of `shape` (its first `n_in` axes the input), with its bias
    shaped as the output axes."""
    p = {"kernel": sd[f"{key}.weight"].T.reshape(shape)}
    if bias:
        p["bias"] = sd[f"{key}.bias"].reshape(shape[n_in:])
    return p


def _attention(sd: dict, key: str, m: ml_collections.ConfigDict) -> dict:
    d, h, kvh, b = m.d_model, m.n_heads, m.n_kv_heads or m.n_heads, m.use_bias
    hd = head_width(m)
    norms = {f"{n}_norm": {"scale": sd[f"{key}.{n}_norm.weight"]} for n in ("q", "k")} if m.qk_norm else {}
    q, k, v = (
        _linear(sd, f"{key}.{n}_proj", (d, n_h, hd), b or m.qkv_bias) for n, n_h in (("q", h), ("k", kvh), ("v", kvh))
    )
    out = _linear(sd, f"{key}.o_proj", (h, hd, d), b, n_in=2)
    if kvh == h:
        return {
            "qkv": {n: np.stack([q[n], k[n], v[n]], axis=1 if n == "kernel" else 0) for n in q},
            "out": out,
            **norms,
        }
    return {"q": q, "kv": {n: np.stack([k[n], v[n]], axis=1 if n == "kernel" else 0) for n in k}, "out": out, **norms}


def convert_state_dict(sd: dict[str, np.ndarray], m: ml_collections.ConfigDict) -> dict:
    """Hugging Face Llama tensors (LlamaModel or LlamaForCausalLM) → the jaxlm GPT params tree."""
    sd = {k.removeprefix("model."): np.asarray(v, np.float32) for k, v in sd.items()}
    if "embed_tokens.weight" not in sd:
        raise UserError("the checkpoint has no embed_tokens.weight: it is not a Llama-style checkpoint")
    d, f, b = m.d_model, m.d_ff, m.use_bias
    params = {"embed": {"embedding": sd["embed_tokens.weight"]}, "ln_final": {"scale": sd["norm.weight"]}}
    if not m.tie_embeddings:
        params["lm_head"] = {"kernel": sd["lm_head.weight"]}
    for i in range(m.n_layers):
        p = f"layers.{i}"
        params[f"block_{i}"] = {
            "ln_attn": {"scale": sd[f"{p}.input_layernorm.weight"]},
            "attn": _attention(sd, f"{p}.self_attn", m),
            "ln_mlp": {"scale": sd[f"{p}.post_attention_layernorm.weight"]},
            "mlp": {
                "gate": _linear(sd, f"{p}.mlp.gate_proj", (d, f), b),
                "up": _linear(sd, f"{p}.mlp.up_proj", (d, f), b),
                "down": _linear(sd, f"{p}.mlp.down_proj", (f, d), b),
            },
        }
    return params


def is_llama_shaped(m: ml_collections.ConfigDict) -> bool:
    """Whether a GPT `config.model` has Llama's block (rotary positions, RMSNorm, SwiGLU)."""
    return all(m[k] == v for k, v in LLAMA_OPTIONS.items())


def hf_config(m: ml_collections.ConfigDict) -> dict:
    """The config dict of a Llama-shaped jaxlm GPT `config.model`: Qwen3's with qk_norm, Qwen2's when only q/k/v have
    biases, Mistral's with a sliding window, else Llama's."""
    kind = (
        "qwen3"
        if m.qk_norm
        else "qwen2"
        if m.qkv_bias and not m.use_bias
        else "mistral"
        if m.sliding_window
        else "llama"
    )
    if kind != "llama" and m.use_bias:
        raise UserError(
            f"config.model.use_bias=True has no {kind} layout (its projections have no biases): "
            "export with use_bias=False, or as Llama without sliding_window and qk_norm"
        )
    if kind == "qwen3" and m.qkv_bias:
        raise UserError("config.model.qkv_bias=True has no Qwen3 layout (qk_norm exports as Qwen3, without biases)")
    window = {"sliding_window": m.sliding_window or None}
    if kind in ("qwen2", "qwen3"):
        window |= {
            "use_sliding_window": bool(m.sliding_window),
            "max_window_layers": 0,
            "layer_types": [("sliding" if m.sliding_window else "full") + "_attention"] * m.n_layers,
        }
    architecture = {
        "llama": "LlamaForCausalLM",
        "mistral": "MistralForCausalLM",
        "qwen2": "Qwen2ForCausalLM",
        "qwen3": "Qwen3ForCausalLM",
    }[kind]
    config = {
        "model_type": kind,
        "architectures": [architecture],
        "vocab_size": m.vocab_size,
        "hidden_size": m.d_model,
        "intermediate_size": m.d_ff,
        "num_hidden_layers": m.n_layers,
        "num_attention_heads": m.n_heads,
        "num_key_value_heads": m.n_kv_heads or m.n_heads,
        "head_dim": head_width(m),
        "hidden_act": "silu",
        "max_position_embeddings": m.max_len,
        "rms_norm_eps": m.layer_norm_eps,
        "rope_theta": m.rope_theta,
        "rope_scaling": _hf_rope_scaling(m),
        "attention_dropout": m.dropout,
        "tie_word_embeddings": m.tie_embeddings,
        "initializer_range": m.init_std,
        "torch_dtype": "float32",
    }
    if kind in ("llama", "qwen3"):
        config |= {"attention_bias": m.use_bias, **({"mlp_bias": m.use_bias} if kind == "llama" else {})}
    return config | (window if kind != "llama" else {})


def _hf_rope_scaling(m: ml_collections.ConfigDict) -> dict | None:
    """Hugging Face's `rope_scaling` for config.model's rope_* fields (the inverse of _rope_scaling)."""
    if m.rope_scaling == "none":
        return None
    fields = {k: float(m[f"rope_{k}"]) for k in ROPE_FIELDS[m.rope_scaling]}
    if m.rope_scaling == "yarn" and not m.rope_attention_factor:
        del fields["attention_factor"]
    return {
        "rope_type": m.rope_scaling,
        "factor": float(m.rope_factor),
        "original_max_position_embeddings": int(m.rope_original_max_len),
        **fields,
    }


def _torch_linear(p: dict, key: str, out: int) -> dict[str, np.ndarray]:
    """A jaxlm kernel (in first, any per-head shape) as a torch Linear [out, in], and its bias flattened."""
    sd = {f"{key}.weight": p["kernel"].reshape(-1, out).T}
    if "bias" in p:
        sd[f"{key}.bias"] = p["bias"].reshape(out)
    return sd


def export_state_dict(params: dict, m: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
    """jaxlm GPT params → LlamaForCausalLM tensors (the inverse of convert_state_dict)."""
    d, h = m.d_model, m.n_heads
    kv_width = (m.n_kv_heads or h) * head_width(m)
    sd = {"model.embed_tokens.weight": params["embed"]["embedding"], "model.norm.weight": params["ln_final"]["scale"]}
    if not m.tie_embeddings:
        sd["lm_head.weight"] = params["lm_head"]["kernel"]
    for i in range(m.n_layers):
        b, k = params[f"block_{i}"], f"model.layers.{i}"
        a = b["attn"]
        if "qkv" in a:
            q, kv = (
                {n: w[:, 0] if n == "kernel" else w[0] for n, w in a["qkv"].items()},
                {n: w[:, 1:] if n == "kernel" else w[1:] for n, w in a["qkv"].items()},
            )
        else:
            q, kv = a["q"], a["kv"]
        for j, name in enumerate(("k", "v")):
            sd.update(
                _torch_linear(
                    {n: w[:, j] if n == "kernel" else w[j] for n, w in kv.items()},
                    f"{k}.self_attn.{name}_proj",
                    kv_width,
                )
            )
        sd.update(_torch_linear(q, f"{k}.self_attn.q_proj", h * head_width(m)))
        sd.update({f"{k}.self_attn.{n}.weight": a[n]["scale"] for n in ("q_norm", "k_norm") if n in a})
        sd.update(_torch_linear(a["out"], f"{k}.self_attn.o_proj", d))
        for name in ("gate", "up", "down"):
            sd.update(_torch_linear(b["mlp"][name], f"{k}.mlp.{name}_proj", d if name == "down" else m.d_ff))
        sd.update(
            {
                f"{k}.input_layernorm.weight": b["ln_attn"]["scale"],
                f"{k}.post_attention_layernorm.weight": b["ln_mlp"]["scale"],
            }
        )
    return {k: np.ascontiguousarray(np.asarray(v, np.float32)) for k, v in sd.items()}


def write_hf_llama(out_dir: str, m: ml_collections.ConfigDict, params: dict) -> None:
    """Write `config.json` and `model.safetensors` of a LlamaForCausalLM (or Qwen2ForCausalLM) into `out_dir`."""
    write_hf_dir(out_dir, hf_config(m), export_state_dict(params, m))
