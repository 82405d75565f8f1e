"""Optimizer factory and schedules against closed forms."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxlm.config.schema import base_config
from jaxlm.optim.factory import build_optimizer, decay_mask
from jaxlm.optim.schedules import build_schedule


def _optim(**kw):
    o = base_config().optim
    o.update(**kw)
    return o


def test_warmup_cosine_to_ten_percent():
    s = build_schedule(_optim(peak_lr=1.0, warmup=10, schedule="cosine", final_lr_frac=0.1), total_steps=110)
    assert float(s(0)) == 0.0 and math.isclose(float(s(5)), 0.5, rel_tol=1e-6)
    for t in (10, 35, 60, 85, 110):
        expected = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (t - 10) / 100))
        assert math.isclose(float(s(t)), expected, rel_tol=1e-5), t
    assert math.isclose(float(s(500)), 0.1, rel_tol=1e-6)


def test_linear_constant_rsqrt():
    lin = build_schedule(_optim(peak_lr=2.0, warmup=0, schedule="linear", final_lr_frac=0.25), total_steps=100)
    assert math.isclose(float(lin(50)), 2.0 - 0.5 * 1.5, rel_tol=1e-6)
    const = build_schedule(_optim(peak_lr=0.3, warmup=4, schedule="constant"), total_steps=100)
    assert math.isclose(float(const(2)), 0.15, rel_tol=1e-6) and math.isclose(float(const(90)), 0.3, rel_tol=1e-6)
    rs = build_schedule(_optim(peak_lr=0.01, warmup=100, schedule="rsqrt"), total_steps=1000)
    assert math.isclose(float(rs(50)), 0.01, rel_tol=1e-6)
    assert math.isclose(float(rs(400)), 0.01 * math.sqrt(100 / 400), rel_tol=1e-6)


def _params():
    k = jax.random.split(jax.random.PRNGKey(0), 3)
    return {"dense": {"kernel": jax.random.normal(k[0], (4, 3)), "bias": jnp.ones(3)},
            "ln": {"scale": jnp.ones(4), "bias": jnp.zeros(4)}, "embed": {"embedding": jax.random.normal(k[1], (5, 4))}}


def test_decay_mask_only_kernels():
    mask = decay_mask(_params())
    assert mask["dense"]["kernel"] and not mask["dense"]["bias"] and not mask["ln"]["scale"]
    assert not mask["embed"]["embedding"] and decay_mask(_params(), decay_embeddings=True)["embed"]["embedding"]


def test_weight_decay_leaves_excluded_leaves_untouched():
    params = _params()
    zero_grads = jax.tree_util.tree_map(jnp.zeros_like, params)
    for name in ("adamw", "sgd", "adafactor"):
        tx, _ = build_optimizer(_optim(name=name, peak_lr=0.1, warmup=0, schedule="constant", weight_decay=0.5), 10)
        updates, _ = tx.update(zero_grads, tx.init(params), params)
        new = optax.apply_updates(params, updates)
        for path in (("dense", "bias"), ("ln", "scale"), ("ln", "bias"), ("embed", "embedding")):
            np.testing.assert_array_equal(new[path[0]][path[1]], params[path[0]][path[1]])
        assert not np.allclose(new["dense"]["kernel"], params["dense"]["kernel"]), name


def test_clipping_bounds_global_norm():
    params = _params()
    tx, _ = build_optimizer(_optim(name="sgd", peak_lr=1.0, warmup=0, schedule="constant", weight_decay=0.0,
                                   clip=0.7), 10)
    for scale in (0.01, 1.0, 1e4):
        grads = jax.tree_util.tree_map(lambda p: scale * jnp.ones_like(p), params)
        updates, _ = tx.update(grads, tx.init(params), params)
        norm = float(optax.tree.norm(updates))
        assert norm <= 0.7 * (1 + 1e-6)
        assert math.isclose(norm, min(0.7, float(optax.tree.norm(grads))), rel_tol=1e-5)
