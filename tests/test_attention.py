"""Attention: the causal flag and a segment mask give exactly the old combined mask on XLA; causal attention by
query blocks equals the whole square in value and gradient; `auto` picks cuDNN's fused attention only on GPU in
bf16/fp16; on a GPU, cuDNN and XLA agree in value and gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxlm.config.schema import base_config
from jaxlm.config.validate import validate
from jaxlm.errors import UserError
from jaxlm.models.attention import attention_implementation, attention_mask, causal_blocks, dot_product_attention
from jaxlm.registry import attention, check_family

ON_GPU = jax.default_backend() == "gpu"


def _inputs(dtype, b=2, t=32, n=4, h=16):
    q, k, v = (jax.random.normal(jax.random.PRNGKey(i), (b, t, n, h), jnp.float32).astype(dtype) for i in range(3))
    segments = jnp.asarray(np.repeat([[1] * 20 + [2] * 8 + [0] * 4, [1] * 32], 1, axis=0), jnp.int32)[:b]
    return q, k, v, segments


def test_causal_flag_equals_the_combined_mask_on_xla():
    q, k, v, seg = _inputs(jnp.float32)
    old = jax.nn.dot_product_attention(q, k, v, mask=attention_mask(seg, seg, causal=True), scale=0.25)
    new = dot_product_attention(q, k, v, attention_mask(seg, seg, causal=False), 0.25, causal=True)
    np.testing.assert_array_equal(np.asarray(new), np.asarray(old))
    only_causal = dot_product_attention(q, k, v, None, 0.25, causal=True)
    ones = jnp.ones_like(seg)
    np.testing.assert_array_equal(
        np.asarray(only_causal),
        np.asarray(jax.nn.dot_product_attention(q, k, v, mask=attention_mask(ones, ones, causal=True), scale=0.25)),
    )


def test_fp16_spelled_out_path_matches_fp32():
    q, k, v, seg = _inputs(jnp.float32)
    mask = attention_mask(seg, seg, causal=False)
    ref = dot_product_attention(q, k, v, mask, 0.25, causal=True)
    half = dot_product_attention(*(x.astype(jnp.float16) for x in (q, k, v)), mask, 0.25, causal=True)
    np.testing.assert_allclose(np.asarray(half, np.float32), np.asarray(ref), atol=5e-3)


def test_causal_blocks_only_split_long_sequences():
    assert [causal_blocks(t) for t in (64, 100, 128, 256, 384, 512, 1024, 2048)] == [1, 1, 2, 4, 6, 8, 8, 8]


@pytest.mark.parametrize("blocks", [2, 4])
def test_blocked_causal_attention_equals_the_whole_square(blocks):
    """Value and gradient of every input (fp32, within 2e-6): grouped-query heads, packed segments with padding
    and a per-head bias; padded queries (no allowed key, never read by a loss) are left out of the comparison."""
    q, _, _, seg = _inputs(jnp.float32, t=64, n=4)
    k, v = (jax.random.normal(jax.random.PRNGKey(5 + i), (2, 64, 2, 16)) for i in range(2))
    seg = jnp.concatenate([seg, seg], axis=1)
    bias = jax.random.normal(jax.random.PRNGKey(9), (2, 4, 64, 64))
    mask = attention_mask(seg, seg, causal=False)
    real = np.asarray(seg > 0)[:, :, None, None]
    cot = jax.random.normal(jax.random.PRNGKey(7), q.shape) * real

    def run(n):
        f = lambda q, k, v, bias: dot_product_attention(q, k, v, mask, 0.25, causal=True, bias=bias, blocks=n)
        out, vjp = jax.vjp(f, q, k, v, bias)
        return [np.asarray(out) * real, *map(np.asarray, vjp(cot))]

    for got, want in zip(run(blocks), run(1), strict=True):
        np.testing.assert_allclose(got, want, atol=2e-6, rtol=2e-6)


def test_gpt_loss_and_gradients_with_blocked_attention(monkeypatch):
    """A GPT at seq 128 (auto: 2 causal blocks) against the same model forced to one block: loss and every
    parameter gradient agree in fp32 within 1e-6 (relative to the gradient's scale)."""
    from jaxlm.models import attention as attention_module
    from jaxlm.registry import build_model

    c = base_config()
    c.model.update(family="gpt", n_layers=2, n_heads=2, d_model=32, d_ff=64, vocab_size=64, max_len=128)
    tokens = jax.random.randint(jax.random.PRNGKey(0), (2, 128), 1, 64)
    segments = jnp.asarray(np.repeat([[1] * 90 + [2] * 38], 2, axis=0), jnp.int32)
    model = build_model(c)
    params = model.init(jax.random.PRNGKey(1), tokens, segment_ids=segments)["params"]

    def loss(p):
        logits = model.apply({"params": p}, tokens, segment_ids=segments)
        return jnp.mean(jax.nn.logsumexp(logits, -1) - jnp.take_along_axis(logits, tokens[..., None], -1)[..., 0])

    assert causal_blocks(128) == 2
    blocked = jax.value_and_grad(loss)(params)
    monkeypatch.setattr(attention_module, "MAX_CAUSAL_BLOCKS", 1)
    whole = jax.value_and_grad(loss)(params)
    assert abs(float(blocked[0]) - float(whole[0])) < 1e-6
    for g, w in zip(jax.tree.leaves(blocked[1]), jax.tree.leaves(whole[1]), strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), atol=1e-6 * float(jnp.max(jnp.abs(w))) + 1e-9)


def test_auto_chooses_cudnn_only_on_gpu_for_half_precision():
    expect = "cudnn" if ON_GPU else "xla"
    assert attention_implementation("auto", jnp.bfloat16, 64) == expect
    assert attention_implementation("auto", jnp.float16, 128) == expect
    assert attention_implementation("auto", jnp.float32, 64) == "xla"
    assert attention_implementation("auto", jnp.bfloat16, 256) == "xla"  # beyond the fused kernel's head widths
    assert attention_implementation("auto", jnp.bfloat16, 36) == "xla"  # not a multiple of 8
    assert attention_implementation("xla", jnp.bfloat16, 64) == "xla"
    assert attention_implementation("cudnn", jnp.float32, 64) == "cudnn"  # explicit choices are kept
    c = base_config()
    c.model.family, c.train.precision = "t5", "bf16"
    assert attention(c) == "xla"  # T5/BART keep XLA's attention whatever the backend


@pytest.mark.parametrize(
    "family,value,fragment",
    [("gpt", "flash", "unknown"), ("t5", "xla", "gpt and bert only"), ("bart", "xla", "gpt and bert only")],
)
def test_validation_refuses_bad_attention(family, value, fragment):
    c = base_config()
    c.model.update(family=family, attention=value)
    c.data.objective = "causal_lm" if family == "gpt" else "t5_span_corruption"
    with pytest.raises(UserError, match=fragment):
        validate(c)
        check_family(c)


@pytest.mark.skipif(ON_GPU, reason="on a GPU, attention='cudnn' is valid")
def test_explicit_cudnn_without_a_gpu_is_a_config_error():
    c = base_config()
    c.model.attention = "cudnn"
    with pytest.raises(UserError, match="needs an NVIDIA GPU"):
        validate(c)


@pytest.mark.skipif(not ON_GPU, reason="cuDNN fused attention needs an NVIDIA GPU (benchmarks/gpu.sh runs this there)")
@pytest.mark.parametrize("causal", [True, False])
def test_cudnn_matches_xla_in_value_and_gradient(causal):
    q, k, v, seg = _inputs(jnp.bfloat16, b=2, t=128, n=4, h=64)
    seg = jnp.concatenate([seg] * 4, axis=1)
    mask = attention_mask(seg, seg, causal=False)

    def loss(impl, q, k, v):
        out = dot_product_attention(q, k, v, mask, 0.125, causal, impl)
        real = (seg > 0)[:, :, None, None]
        return jnp.sum(jnp.where(real, out.astype(jnp.float32), 0.0) ** 2)

    values = {
        impl: jax.jit(jax.value_and_grad(lambda *a, i=impl: loss(i, *a), argnums=(0, 1, 2)))(q, k, v)
        for impl in ("xla", "cudnn")
    }
    (lx, gx), (lc, gc) = values["xla"], values["cudnn"]
    np.testing.assert_allclose(float(lc), float(lx), rtol=2e-2)
    for a, b in zip(gc, gx):
        a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
        assert np.abs(a - b).max() <= 0.05 * np.abs(b).max() + 1e-3
