"""Initialization schemes: the empirical std of every parameter group matches its formula within 3%."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxlm.config.schema import base_config
from jaxlm.models.gpt import GPT

L, D, H, F, V = 2, 256, 4, 1024, 1024
HD = D // H


def _expected(scheme: str, path: str) -> float:
    """The std each scheme's formula gives a parameter group (by key path)."""
    fan_in = {"qkv": D, "out": H * HD, "up": D, "down": F, "lm_head": D}
    if path.endswith("bias"):
        return 0.0
    if path == "pos_embed/embedding":
        return 0.01
    if path == "embed/embedding":
        return 1.0 if scheme == "t5" else 0.02
    layer = path.split("/")[-2]
    if scheme == "gpt2":
        return 0.02 / math.sqrt(2 * L) if layer in ("out", "down") else 0.02
    return 1 / math.sqrt(fan_in[layer.split(":")[0]]) * (HD**-0.5 if scheme == "t5" and layer == "qkv:q" else 1.0)


@pytest.mark.parametrize("scheme", ["gpt2", "fan_in", "t5"])
def test_parameter_stds_match_their_formulas(scheme):
    c = base_config().model
    c.update(n_layers=L, n_heads=H, d_model=D, d_ff=F, vocab_size=V, max_len=64, init=scheme, tie_embeddings=False)
    params = nn.unbox(GPT(c).init(jax.random.PRNGKey(0), jnp.zeros((1, 8), jnp.int32))["params"])
    checked = 0
    for key_path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        path = "/".join(k.key for k in key_path)
        x = np.asarray(leaf)
        if path.startswith("ln") or "/ln_" in path:
            assert np.all(x == (1.0 if path.endswith("scale") else 0.0)), path
            continue
        groups = [(path, x)]
        if path.endswith("qkv/kernel"):  # query, key and value slices of the fused kernel
            groups = [(path.replace("qkv", f"qkv:{n}"), x[:, i]) for i, n in enumerate("qkv")]
        for name, values in groups:
            std = _expected(scheme, name if not name.startswith("block") else "/".join(name.split("/")[1:]))
            got = float(np.std(values))
            assert (got == 0.0) if std == 0.0 else abs(got - std) <= 0.03 * std, (name, got, std)
            checked += 1
    assert checked >= 2 + 2 * 8 + 1


def test_t5_scheme_folds_attention_scaling_into_the_query():
    c = base_config().model
    c.update(n_layers=1, n_heads=2, d_model=32, d_ff=64, vocab_size=64, max_len=16, init="t5")
    tokens = jnp.asarray(np.random.default_rng(0).integers(8, 64, (1, 16)))
    params = nn.unbox(GPT(c).init(jax.random.PRNGKey(0), tokens)["params"])
    # With unscaled dot products, multiplying the query by sqrt(d_kv) must equal the standard 1/sqrt(d_kv) logits.
    std = c.copy_and_resolve_references()
    std.init = "fan_in"
    scaled = jax.tree_util.tree_map(lambda x: x, params)
    qkv = scaled["block_0"]["attn"]["qkv"]["kernel"]
    scaled["block_0"]["attn"]["qkv"]["kernel"] = qkv.at[:, 0].multiply(math.sqrt(16))
    np.testing.assert_allclose(
        GPT(c).apply({"params": params}, tokens), GPT(std).apply({"params": scaled}, tokens), rtol=1e-4, atol=1e-4
    )
