"""Hugging Face Llama-style decoders both ways (small random models, CPU fp32): imported logits equal transformers',
jaxlm's KV-cache greedy decoding equals transformers' `generate`, HF → jaxlm → HF and jaxlm → HF → jaxlm are
bit-identical, and what jaxlm cannot represent is refused naming the field."""

import json

import flax.linen as nn
import jax
import numpy as np
import pytest
import torch
from test_bert_hf import _randomize
from test_gpt2_hf import greedy_tokens
from transformers import (
    AutoModelForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

from jaxlm.config.schema import base_config
from jaxlm.config.validate import validate
from jaxlm.errors import UserError
from jaxlm.interop import export_hf, import_hf
from jaxlm.interop.hf_files import read_state_dict
from jaxlm.interop.hf_llama import export_state_dict
from jaxlm.models.gpt import GPT

TOL = 1e-4
IDS = np.random.default_rng(0).integers(0, 99, (3, 17))
SHAPE = dict(
    vocab_size=99,
    hidden_size=32,
    intermediate_size=56,
    num_hidden_layers=2,
    num_attention_heads=4,
    max_position_embeddings=48,
    rms_norm_eps=1e-6,
    rope_theta=500.0,
)


def _save(tmp_path_factory, name: str, model) -> str:
    d = tmp_path_factory.mktemp(name)
    _randomize(model.eval()).save_pretrained(d)
    return str(d)


LLAMA3 = {
    "rope_type": "llama3",
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 12,
}
YARN = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 12, "beta_fast": 8.0}


@pytest.fixture(
    scope="module",
    params=[
        (LlamaForCausalLM, LlamaConfig, 2, False, {}),
        (LlamaForCausalLM, LlamaConfig, 4, True, {}),
        (Qwen2ForCausalLM, Qwen2Config, 2, False, {}),
        (LlamaForCausalLM, LlamaConfig, 2, False, {"rope_scaling": LLAMA3}),
        (LlamaForCausalLM, LlamaConfig, 2, False, {"rope_scaling": YARN}),
        (LlamaForCausalLM, LlamaConfig, 2, False, {"rope_scaling": {"rope_type": "linear", "factor": 2.0}}),
        (MistralForCausalLM, MistralConfig, 2, False, {"sliding_window": 5}),
        (Qwen3ForCausalLM, Qwen3Config, 2, True, {"head_dim": 12}),
    ],
    ids=["gqa-untied", "mha-tied", "qwen2", "llama3-rope", "yarn-rope", "linear-rope", "mistral-window", "qwen3"],
)
def hf_dir(request, tmp_path_factory):
    """Llama in both attention layouts, Qwen2 (biases on q, k and v only), Llama 3.1's, YaRN's and linear rotary
    scaling, Mistral's sliding window (shorter than the prompt and its continuation), and Qwen3 (per-head q/k
    RMSNorm, heads 12 wide where hidden_size / heads is 8)."""
    cls, config, kv_heads, tied, extra = request.param
    return _save(
        tmp_path_factory, "llama", cls(config(num_key_value_heads=kv_heads, tie_word_embeddings=tied, **SHAPE, **extra))
    )


def _logits(cfg, params, ids=IDS) -> np.ndarray:
    return np.asarray(GPT(cfg).apply({"params": params}, ids))


def _hf_logits(hf_dir: str, cls=AutoModelForCausalLM, ids=IDS) -> np.ndarray:
    with torch.no_grad():
        return cls.from_pretrained(hf_dir).eval()(torch.tensor(ids)).logits.numpy()


def test_imported_llama_gives_transformers_logits_and_greedy_tokens(hf_dir):
    cfg, params = import_hf(hf_dir)
    hf = json.load(open(f"{hf_dir}/config.json"))
    assert (cfg.positions, cfg.norm_type, cfg.mlp, cfg.use_bias) == ("rope", "rmsnorm", "swiglu", False)
    assert (cfg.n_kv_heads, cfg.tie_embeddings, cfg.rope_theta) == (
        hf["num_key_value_heads"],
        hf["tie_word_embeddings"],
        500.0,
    )
    assert np.max(np.abs(_logits(cfg, params) - _hf_logits(hf_dir))) <= TOL
    assert cfg.qkv_bias == (hf["model_type"] == "qwen2")
    assert (cfg.qk_norm, cfg.sliding_window) == (hf["model_type"] == "qwen3", hf.get("sliding_window") or 0)
    assert cfg.rope_scaling == (hf.get("rope_scaling") or {"rope_type": "none"})["rope_type"]
    mine, theirs = greedy_tokens(cfg, params, AutoModelForCausalLM.from_pretrained(hf_dir))
    assert mine == theirs


def test_hf_to_jaxlm_to_hf_is_bit_identical(hf_dir):
    cfg, params = import_hf(hf_dir)
    original, exported = read_state_dict(hf_dir), export_state_dict(params, cfg)
    assert set(exported) == set(original) - ({"lm_head.weight"} if cfg.tie_embeddings else set())
    for k, v in exported.items():
        np.testing.assert_array_equal(v, original[k], err_msg=k)


def _jaxlm_llama(**kw):
    c = base_config()
    c.model.update(
        **dict(
            n_layers=2,
            n_heads=4,
            d_model=32,
            d_ff=56,
            vocab_size=99,
            max_len=48,
            positions="rope",
            norm_type="rmsnorm",
            mlp="swiglu",
            n_kv_heads=2,
            use_bias=True,
            tie_embeddings=False,
        )
        | kw
    )
    c.data.seq_len = 48
    validate(c)
    params = nn.unbox(jax.jit(GPT(c.model).init)(jax.random.PRNGKey(3), IDS)["params"])
    noise = np.random.default_rng(1)  # biases and norm scales away from their 0 / 1 init
    return c.model, jax.tree_util.tree_map(
        lambda x: np.asarray(x) + noise.normal(0, 0.05, x.shape).astype(np.float32), params
    )


@pytest.mark.parametrize(
    "biases,cls",
    [
        ({}, LlamaForCausalLM),
        ({"use_bias": False, "qkv_bias": True}, Qwen2ForCausalLM),
        ({"use_bias": False, "sliding_window": 5}, MistralForCausalLM),
        ({"use_bias": False, "qk_norm": True, "d_kv": 12}, Qwen3ForCausalLM),
        ({"rope_scaling": "llama3", "rope_factor": 8.0, "rope_original_max_len": 12}, LlamaForCausalLM),
        (
            {"rope_scaling": "yarn", "rope_factor": 4.0, "rope_original_max_len": 12, "rope_beta_fast": 8.0},
            LlamaForCausalLM,
        ),
    ],
    ids=["llama", "qwen2", "mistral", "qwen3", "llama3-rope", "yarn-rope"],
)
def test_jaxlm_to_hf_to_jaxlm_is_bit_identical_and_loads_cleanly(biases, cls, tmp_path):
    """With biases (Llama's attention_bias and mlp_bias; Qwen2's on q/k/v only), so every tensor kind round-trips;
    and each newer option exports as the architecture that has it."""
    cfg, params = _jaxlm_llama(**biases)
    export_hf(str(tmp_path / "hf"), cfg, params)
    model, info = AutoModelForCausalLM.from_pretrained(tmp_path / "hf", output_loading_info=True)
    assert type(model) is cls and not any(info.values()), info
    assert np.max(np.abs(_hf_logits(str(tmp_path / "hf")) - _logits(cfg, params))) <= TOL
    back_cfg, back = import_hf(str(tmp_path / "hf"))
    assert back_cfg.to_dict() == cfg.to_dict()
    jax.tree_util.tree_map(np.testing.assert_array_equal, back, params)


def test_mistral_imports_and_what_jaxlm_lacks_is_refused(tmp_path_factory):
    d = _save(
        tmp_path_factory,
        "mistral",
        MistralForCausalLM(MistralConfig(num_key_value_heads=1, sliding_window=None, **SHAPE)),
    )
    cfg, params = import_hf(d)
    assert (cfg.n_kv_heads, cfg.sliding_window) == (1, 0)  # multi-query, no window
    assert np.max(np.abs(_logits(cfg, params) - _hf_logits(d, MistralForCausalLM))) <= TOL
    hf = json.load(open(f"{d}/config.json"))
    for change, field in [
        ({"rope_scaling": {"rope_type": "dynamic", "factor": 2.0}}, "rope_scaling"),
        ({"rope_scaling": {"rope_type": "yarn", "factor": 2.0, "mscale": 0.7}}, "rope_scaling"),
        (
            {"model_type": "qwen2", "sliding_window": 8, "use_sliding_window": True, "max_window_layers": 1},
            "sliding_window",
        ),
        ({"hidden_act": "gelu"}, "hidden_act"),
    ]:
        json.dump(dict(hf, **change), open(f"{d}/config.json", "w"))
        with pytest.raises(UserError, match=field):
            import_hf(d)


def test_gpt_options_without_a_hugging_face_layout_are_refused(tmp_path):
    cfg, params = _jaxlm_llama()
    cfg.norm_type = "layernorm"  # rope + layernorm: neither GPT-2's block nor Llama's
    with pytest.raises(UserError, match="positions=rope has no Hugging Face layout"):
        export_hf(str(tmp_path / "out"), cfg, params)
    assert not (tmp_path / "out").exists()
