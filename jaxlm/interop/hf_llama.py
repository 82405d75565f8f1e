"""Hugging Face Llama-style checkpoints (LlamaForCausalLM, and Mistral's and Qwen2's, whose differences are config
fields: Qwen2's q/k/v projections have biases, jaxlm's `qkv_bias`) ↔ jaxlm GPT params with rotary positions,
RMSNorm, SwiGLU and grouped-query attention, both ways.

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

MODEL_TYPES = ("llama", "mistral", "qwen2")
LLAMA_OPTIONS = {"positions": "rope", "norm_type": "rmsnorm", "mlp": "swiglu"}  # what makes a GPT Llama-shaped


def _refuse(hf: dict, field: str, why: str) -> None:
    raise UserError(f"cannot import this {hf.get('model_type')} checkpoint: {field}={hf.get(field)!r} {why}")


def model_config(hf: dict) -> ml_collections.ConfigDict:
    """jaxlm's `config.model` for a Hugging Face LlamaConfig / MistralConfig dict; UserError naming the field that
    jaxlm cannot represent."""
    d, heads = hf["hidden_size"], hf["num_attention_heads"]
    if hf.get("hidden_act", "silu") != "silu":
        _refuse(hf, "hidden_act", "is not SwiGLU's SiLU")
    if hf.get("rope_scaling"):
        _refuse(hf, "rope_scaling", "is not supported: jaxlm's rotary positions are unscaled")
    if hf.get("head_dim") not in (None, d // heads):
        _refuse(hf, "head_dim", f"differs from hidden_size / num_attention_heads = {d // heads}")
    qwen2 = hf.get("model_type") == "qwen2"  # biases on q, k, v only (its config has no bias fields)
    if not qwen2 and bool(hf.get("attention_bias", False)) != bool(hf.get("mlp_bias", False)):
        _refuse(hf, "attention_bias", f"differs from mlp_bias={hf.get('mlp_bias', False)}: jaxlm's use_bias is "
                                      "one switch for every projection")
    window = hf.get("sliding_window")
    if window is not None and hf.get("use_sliding_window", True) and window < hf["max_position_embeddings"]:
        _refuse(hf, "sliding_window", "is shorter than the context: jaxlm's attention is not windowed")
    m = base_config().model
    m.update(family="gpt", vocab_size=hf["vocab_size"], d_model=d, n_layers=hf["num_hidden_layers"], n_heads=heads,
             n_kv_heads=hf.get("num_key_value_heads") or heads, d_ff=hf["intermediate_size"],
             max_len=hf["max_position_embeddings"], layer_norm_eps=float(hf.get("rms_norm_eps", 1e-6)),
             rope_theta=float(hf.get("rope_theta", 10000.0)), use_bias=bool(hf.get("attention_bias", False)),
             qkv_bias=qwen2,
             tie_embeddings=bool(hf.get("tie_word_embeddings", False)), dropout=float(hf.get("attention_dropout", 0.0)),
             init="gpt2", init_std=float(hf.get("initializer_range", 0.02)), **LLAMA_OPTIONS)
    return m


def _linear(sd: dict, key: str, shape: tuple, bias: bool, n_in: int = 1) -> dict:
    """A torch Linear [out, in] as a jaxlm kernel of `shape` (its first `n_in` axes the input), with its bias
    shaped as the output axes."""
    p = {"kernel": sd[f"{key}.weight"].T.reshape(shape)}
    if bias:
        p["bias"] = sd[f"{key}.bias"].reshape(shape[n_in:])
    return p


def _attention(sd: dict, key: str, m: ml_collections.ConfigDict) -> dict:
    d, h, kvh, b = m.d_model, m.n_heads, m.n_kv_heads or m.n_heads, m.use_bias
    hd = d // h
    q, k, v = (_linear(sd, f"{key}.{n}_proj", (d, n_h, hd), b or m.qkv_bias)
               for n, n_h in (("q", h), ("k", kvh), ("v", kvh)))
    out = _linear(sd, f"{key}.o_proj", (h, hd, d), b, n_in=2)
    if kvh == h:
        return {"qkv": {n: np.stack([q[n], k[n], v[n]], axis=1 if n == "kernel" else 0) for n in q}, "out": out}
    return {"q": q, "kv": {n: np.stack([k[n], v[n]], axis=1 if n == "kernel" else 0) for n in k}, "out": out}


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
            "mlp": {"gate": _linear(sd, f"{p}.mlp.gate_proj", (d, f), b), "up": _linear(sd, f"{p}.mlp.up_proj", (d, f), b),
                    "down": _linear(sd, f"{p}.mlp.down_proj", (f, d), b)},
        }
    return params


def is_llama_shaped(m: ml_collections.ConfigDict) -> bool:
    """Whether a GPT `config.model` has Llama's block (rotary positions, RMSNorm, SwiGLU)."""
    return all(m[k] == v for k, v in LLAMA_OPTIONS.items())


def hf_config(m: ml_collections.ConfigDict) -> dict:
    """The LlamaConfig dict of a Llama-shaped jaxlm GPT `config.model` (Qwen2Config's when only q/k/v have
    biases)."""
    if m.qkv_bias and not m.use_bias:
        return {"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "vocab_size": m.vocab_size,
                "hidden_size": m.d_model, "intermediate_size": m.d_ff, "num_hidden_layers": m.n_layers,
                "num_attention_heads": m.n_heads, "num_key_value_heads": m.n_kv_heads or m.n_heads,
                "hidden_act": "silu", "max_position_embeddings": m.max_len, "rms_norm_eps": m.layer_norm_eps,
                "rope_theta": m.rope_theta, "rope_scaling": None, "use_sliding_window": False, "sliding_window": None,
                "attention_dropout": m.dropout, "tie_word_embeddings": m.tie_embeddings,
                "initializer_range": m.init_std, "torch_dtype": "float32"}
    return {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": m.vocab_size,
            "hidden_size": m.d_model, "intermediate_size": m.d_ff, "num_hidden_layers": m.n_layers,
            "num_attention_heads": m.n_heads, "num_key_value_heads": m.n_kv_heads or m.n_heads,
            "head_dim": m.d_model // m.n_heads, "hidden_act": "silu", "max_position_embeddings": m.max_len,
            "rms_norm_eps": m.layer_norm_eps, "rope_theta": m.rope_theta, "rope_scaling": None,
            "attention_bias": m.use_bias, "mlp_bias": m.use_bias, "attention_dropout": m.dropout,
            "tie_word_embeddings": m.tie_embeddings, "initializer_range": m.init_std, "torch_dtype": "float32"}


def _torch_linear(p: dict, key: str, out: int) -> dict[str, np.ndarray]:
    """A jaxlm kernel (in first, any per-head shape) as a torch Linear [out, in], and its bias flattened."""
    sd = {f"{key}.weight": p["kernel"].reshape(-1, out).T}
    if "bias" in p:
        sd[f"{key}.bias"] = p["bias"].reshape(out)
    return sd


def export_state_dict(params: dict, m: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
    """jaxlm GPT params → LlamaForCausalLM tensors (the inverse of convert_state_dict)."""
    d, h = m.d_model, m.n_heads
    kv_width = (m.n_kv_heads or h) * (d // h)
    sd = {"model.embed_tokens.weight": params["embed"]["embedding"], "model.norm.weight": params["ln_final"]["scale"]}
    if not m.tie_embeddings:
        sd["lm_head.weight"] = params["lm_head"]["kernel"]
    for i in range(m.n_layers):
        b, k = params[f"block_{i}"], f"model.layers.{i}"
        a = b["attn"]
        if "qkv" in a:
            q, kv = ({n: w[:, 0] if n == "kernel" else w[0] for n, w in a["qkv"].items()},
                     {n: w[:, 1:] if n == "kernel" else w[1:] for n, w in a["qkv"].items()})
        else:
            q, kv = a["q"], a["kv"]
        for j, name in enumerate(("k", "v")):
            sd.update(_torch_linear({n: w[:, j] if n == "kernel" else w[j] for n, w in kv.items()},
                                    f"{k}.self_attn.{name}_proj", kv_width))
        sd.update(_torch_linear(q, f"{k}.self_attn.q_proj", d))
        sd.update(_torch_linear(a["out"], f"{k}.self_attn.o_proj", d))
        for name in ("gate", "up", "down"):
            sd.update(_torch_linear(b["mlp"][name], f"{k}.mlp.{name}_proj", d if name == "down" else m.d_ff))
        sd.update({f"{k}.input_layernorm.weight": b["ln_attn"]["scale"],
                   f"{k}.post_attention_layernorm.weight": b["ln_mlp"]["scale"]})
    return {k: np.ascontiguousarray(np.asarray(v, np.float32)) for k, v in sd.items()}


def write_hf_llama(out_dir: str, m: ml_collections.ConfigDict, params: dict) -> None:
    """Write `config.json` and `model.safetensors` of a LlamaForCausalLM (or Qwen2ForCausalLM) into `out_dir`."""
    write_hf_dir(out_dir, hf_config(m), export_state_dict(params, m))
