"""GPT model, with GPT-2's block and with Llama's (rotary positions, RMSNorm, SwiGLU, grouped-query attention, no
biases, untied head): causal + segment isolation through the real forward pass, KV-cache decoding, and the same
function whether layers are scanned or unrolled, rematerialised or not."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxlm.config.schema import base_config
from jaxlm.models.gpt import GPT

LLAMA_BLOCK = dict(
    positions="rope", norm_type="rmsnorm", mlp="swiglu", n_kv_heads=2, use_bias=False, tie_embeddings=False
)
# Llama's descendants' options at once: a sliding window shorter than the sequences, Qwen3's q/k norms and head
# width (12, where d_model / n_heads is 8), and YaRN's rotary scaling.
NEWER_BLOCK = dict(
    LLAMA_BLOCK, sliding_window=5, qk_norm=True, d_kv=12, rope_scaling="yarn", rope_factor=2.0, rope_original_max_len=12
)


def _model_cfg(block: str = "gpt2"):
    c = base_config().model
    c.update(n_layers=2, n_heads=2, d_model=32, d_ff=64, vocab_size=97, max_len=24)
    if block in ("llama", "newer"):
        c.update(n_heads=4, **(LLAMA_BLOCK if block == "llama" else NEWER_BLOCK))
    return c


def _params(cfg, T=16):
    tokens = jnp.zeros((1, T), jnp.int32)
    return nn.unbox(GPT(cfg).init(jax.random.PRNGKey(0), tokens)["params"])


@pytest.mark.parametrize("block", ["gpt2", "llama", "newer"])
def test_outputs_depend_only_on_own_document_prefix(block):
    cfg = _model_cfg(block)
    params = _params(cfg)
    rng = np.random.default_rng(0)
    tokens = rng.integers(10, 97, size=(1, 16))
    seg = np.array([[1] * 6 + [2] * 7 + [0] * 3])
    pos = np.array([list(range(6)) + list(range(7)) + [0, 1, 2]])
    f = lambda t: GPT(cfg).apply({"params": params}, jnp.asarray(t), jnp.asarray(pos), jnp.asarray(seg))
    base = np.asarray(f(tokens))
    # Changing document 1 must not move any logit of document 2, and vice versa.
    t2 = tokens.copy()
    t2[0, :6] = rng.integers(10, 97, size=6)
    np.testing.assert_array_equal(np.asarray(f(t2))[0, 6:13], base[0, 6:13])
    t3 = tokens.copy()
    t3[0, 6:13] = rng.integers(10, 97, size=7)
    np.testing.assert_array_equal(np.asarray(f(t3))[0, :6], base[0, :6])
    # Changing a token must not move logits at earlier positions (causality).
    t4 = tokens.copy()
    t4[0, 9] = (t4[0, 9] + 1) % 97
    out4 = np.asarray(f(t4))
    np.testing.assert_array_equal(out4[0, :9], base[0, :9])
    assert not np.allclose(out4[0, 9], base[0, 9])


@pytest.mark.parametrize(
    "block,scan",
    [("gpt2", False), ("gpt2", True), ("llama", False), ("llama", True), ("newer", False), ("newer", True)],
)
def test_kv_cache_decoding_matches_full_forward(block, scan):
    cfg = _model_cfg(block)
    cfg.scan_layers = scan
    params = _params(cfg)
    tokens = jnp.asarray(np.random.default_rng(1).integers(10, 97, size=(2, 12)))
    full = GPT(cfg).apply({"params": params}, tokens)
    dec = GPT(cfg, decode=True)
    cache = dec.init(jax.random.PRNGKey(0), jnp.zeros((2, cfg.max_len), jnp.int32))["cache"]
    cache = jax.tree_util.tree_map(jnp.zeros_like, cache)
    # Prefill 5 tokens at once, then one token at a time.
    logits, v = dec.apply(
        {"params": params, "cache": cache}, tokens[:, :5], jnp.broadcast_to(jnp.arange(5), (2, 5)), mutable=["cache"]
    )
    steps = [logits]
    for t in range(5, 12):
        logits, v = dec.apply(
            {"params": params, "cache": v["cache"]}, tokens[:, t : t + 1], jnp.full((2, 1), t), mutable=["cache"]
        )
        steps.append(logits)
    np.testing.assert_allclose(np.concatenate(steps, 1), np.asarray(full), atol=1e-5, rtol=1e-5)


def test_gpt2_init_scales_residual_projections():
    cfg = _model_cfg()
    cfg.update(n_layers=4, d_model=256, n_heads=4, d_ff=1024)
    p = _params(cfg)
    std = lambda x: float(np.std(np.asarray(x)))
    assert abs(std(p["block_0"]["mlp"]["up"]["kernel"]) - 0.02) < 0.02 * 0.03
    target = 0.02 / np.sqrt(2 * 4)
    assert abs(std(p["block_0"]["mlp"]["down"]["kernel"]) - target) < target * 0.03
    assert abs(std(p["block_1"]["attn"]["out"]["kernel"]) - target) < target * 0.03


def test_parameters_carry_logical_axes():
    cfg = _model_cfg()
    boxed = GPT(cfg).init(jax.random.PRNGKey(0), jnp.zeros((1, 8), jnp.int32))["params"]
    specs = nn.get_partition_spec(boxed)
    assert tuple(specs["embed"]["embedding"]) == ("vocab", "embed")
    assert tuple(specs["block_0"]["attn"]["qkv"]["kernel"]) == ("embed", None, "heads", "kv")
    assert tuple(specs["block_0"]["mlp"]["down"]["kernel"]) == ("mlp", "embed")
    llama = nn.get_partition_spec(
        GPT(_model_cfg("llama")).init(jax.random.PRNGKey(0), jnp.zeros((1, 8), jnp.int32))["params"]
    )
    assert tuple(llama["block_0"]["attn"]["q"]["kernel"]) == ("embed", "heads", "kv")
    assert tuple(llama["block_0"]["attn"]["kv"]["kernel"]) == ("embed", None, "kv_heads", "kv")
    assert tuple(llama["block_0"]["mlp"]["gate"]["kernel"]) == ("embed", "mlp")
    assert tuple(llama["lm_head"]["kernel"]) == ("vocab", "embed")
    assert "pos_embed" not in llama and "bias" not in llama["block_0"]["mlp"]["up"]


def _stacked(params: dict, n_layers: int) -> dict:
    """Unrolled block_i parameters → the scanned layout (one 'blocks' entry stacked on a leading axis)."""
    out = {k: v for k, v in params.items() if not k.startswith("block_")}
    out["blocks"] = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *[params[f"block_{i}"] for i in range(n_layers)])
    return out


@pytest.mark.parametrize(
    "block,remat,scan",
    [
        ("gpt2", "full", False),
        ("gpt2", "save_dots", False),
        ("gpt2", "none", True),
        ("gpt2", "full", True),
        ("llama", "full", True),
        ("newer", "save_dots", True),
    ],
)
def test_scan_and_remat_compute_the_same_loss_and_gradients(block, remat, scan):
    cfg = _model_cfg(block)
    cfg.n_layers = 3
    params = _params(cfg)
    tokens = jnp.asarray(np.random.default_rng(2).integers(10, 97, size=(2, 16)))
    variant = cfg.copy_and_resolve_references()
    variant.update(remat=remat, scan_layers=scan)
    boxed = GPT(variant).init(jax.random.PRNGKey(0), tokens)["params"]
    if scan:  # the stacked axis is named, so the sharding rules replicate it
        assert boxed["blocks"]["mlp"]["up"]["kernel"].names == ("layers", "embed", "mlp")
    moved = _stacked(params, 3) if scan else params
    assert jax.tree_util.tree_structure(nn.unbox(boxed)) == jax.tree_util.tree_structure(moved)

    def loss(model, p):
        return jnp.mean(jax.nn.log_softmax(model.apply({"params": p}, tokens))[..., 3])

    value, grads = jax.value_and_grad(lambda p: loss(GPT(cfg), p))(params)
    v_value, v_grads = jax.jit(jax.value_and_grad(lambda p: loss(GPT(variant), p)))(moved)
    np.testing.assert_allclose(v_value, value, rtol=1e-6)
    expected = _stacked(grads, 3) if scan else grads
    for g, v in zip(jax.tree_util.tree_leaves(expected), jax.tree_util.tree_leaves(v_grads)):
        np.testing.assert_allclose(v, g, atol=1e-6)


def test_building_blocks_keep_flax_init():
    """Attention, MLP and Weight name their init scheme `scheme`/`initializer`, so flax's Module.init still works."""
    from jaxlm.models.layers import MLP, Attention, Weight

    key, x = jax.random.PRNGKey(0), jnp.ones((1, 3, 8))
    shapes = lambda variables: jax.tree.map(jnp.shape, nn.unbox(variables["params"]))
    assert shapes(Attention(2, 4).init(key, x, None))["qkv"]["kernel"] == (8, 3, 2, 4)
    assert shapes(MLP(16).init(key, x))["up"]["kernel"] == (8, 16)
    assert shapes(Weight((2, 3), (None, None), nn.initializers.ones).init(key))["kernel"] == (2, 3)


def test_decoding_cache_holds_prompt_and_new_tokens_only():
    from jaxlm.generate.sampling import cache_slots, generate

    assert [cache_slots(n, 1024) for n in (1, 64, 65, 200, 600, 5000)] == [64, 64, 128, 256, 1024, 1024]
    assert cache_slots(100, 96) == 96
    cfg = _model_cfg("newer")
    cfg.max_len = 256  # 6 + 10 positions need a 64-slot cache, a quarter of the context
    params = _params(cfg)
    prompt = [5, 17, 3, 42, 8, 11]
    new = generate(GPT(cfg, decode=True), params, prompt, 10, jax.random.PRNGKey(0), temperature=0.0)
    logits = GPT(cfg).apply({"params": params}, jnp.asarray([prompt + new]))[0]  # causal: one pass scores every step
    assert new == np.argmax(logits[len(prompt) - 1 : -1], -1).tolist()
