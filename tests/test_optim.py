"""Optimizer factory and schedules against closed forms."""

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import ROOT

from jaxlm.config.loading import load_config_file
from jaxlm.config.schema import base_config
from jaxlm.config.validate import validate
from jaxlm.errors import UserError
from jaxlm.optim.factory import build_optimizer, decay_mask
from jaxlm.optim.matrix_view import matrix_shape
from jaxlm.optim.ramp import batch_plan
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
    return {
        "dense": {"kernel": jax.random.normal(k[0], (4, 3)), "bias": jnp.ones(3)},
        "ln": {"scale": jnp.ones(4), "bias": jnp.zeros(4)},
        "embed": {"embedding": jax.random.normal(k[1], (5, 4))},
    }


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
    tx, _ = build_optimizer(
        _optim(name="sgd", peak_lr=1.0, warmup=0, schedule="constant", weight_decay=0.0, clip=0.7), 10
    )
    for scale in (0.01, 1.0, 1e4):
        grads = jax.tree_util.tree_map(lambda p: scale * jnp.ones_like(p), params)
        updates, _ = tx.update(grads, tx.init(params), params)
        norm = float(optax.tree.norm(updates))
        assert norm <= 0.7 * (1 + 1e-6)
        assert math.isclose(norm, min(0.7, float(optax.tree.norm(grads))), rel_tol=1e-5)


def test_linear_decay_after_warmup():
    s = build_schedule(_optim(peak_lr=1.0, warmup=20, schedule="linear", final_lr_frac=0.1), total_steps=120)
    for t, expected in [(10, 0.5), (20, 1.0), (70, 1.0 - 0.9 * 0.5), (120, 0.1), (1000, 0.1)]:
        assert math.isclose(float(s(t)), expected, rel_tol=1e-6), t


def _plan(batch=8, k=4, seq=16, start=0, ramp=0):
    t = base_config().train
    t.update(batch_size=batch, microbatches=k, batch_ramp_start=start, batch_ramp_tokens=ramp)
    return batch_plan(t, seq)


def test_token_clock_without_ramp_is_steps_times_batch_tokens():
    plan = _plan()  # 8 × 16 = 128 tokens per step
    s = build_schedule(
        _optim(peak_lr=1.0, warmup_tokens=1280, decay_tokens=12800, schedule="cosine", final_lr_frac=0.1),
        total_steps=1000,
        plan=plan,
    )
    for t in (0, 5, 10, 55, 100, 150):
        x = 128 * t
        expected = x / 1280 if x < 1280 else 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(x - 1280, 11520) / 11520))
        assert math.isclose(float(s(t)), expected, rel_tol=1e-5, abs_tol=1e-7), t


def test_batch_ramp_plan_and_token_schedule():
    mb, k, seq, start, ramp = 2, 8, 16, 2, 4096
    plan = _plan(batch=mb * k, k=k, seq=seq, start=start, ramp=ramp)
    seen = 0
    for count in range(len(plan.ramp_active) + 5):  # the recurrence in closed form, step by step
        batch = start + (mb * k - start) * min(seen / ramp, 1.0)
        n = min(max(math.floor(batch / mb + 0.5), 1), k)
        assert plan.active(count) == n and plan.tokens(count) == seen, count
        seen += n * mb * seq
    assert plan.active(0) == 1 and plan.active(10_000) == k
    assert plan.tokens(10_000) == plan.tokens(len(plan.ramp_active)) + (10_000 - len(plan.ramp_active)) * mb * k * seq
    s = build_schedule(
        _optim(peak_lr=1.0, warmup_tokens=1000, schedule="linear", final_lr_frac=0.0, decay_tokens=9000),
        total_steps=100,
        plan=plan,
    )
    for count in (0, 3, 10, 20, len(plan.ramp_active), 80):
        x = plan.tokens(count)
        expected = x / 1000 if x < 1000 else max(1.0 - (x - 1000) / 8000, 0.0)
        assert math.isclose(float(s(count)), expected, rel_tol=1e-5, abs_tol=1e-6), count
        assert math.isclose(float(plan.tokens_traced(jnp.asarray(count))), x, rel_tol=1e-7)


def test_adafactor_is_optax_adafactor_without_weight_decay():
    params = {"w": jax.random.normal(jax.random.PRNGKey(0), (256, 128)), "b": jnp.ones(7)}
    ours, _ = build_optimizer(
        _optim(name="adafactor", peak_lr=0.01, warmup=0, schedule="constant", weight_decay=0.0, clip=0.0), 10
    )
    ref = optax.adafactor(0.01)
    s_ours, s_ref = ours.init(params), ref.init(params)
    for i in range(3):
        grads = jax.tree_util.tree_map(lambda p: jax.random.normal(jax.random.PRNGKey(i + 1), p.shape), params)
        u_ours, s_ours = ours.update(grads, s_ours, params)
        u_ref, s_ref = ref.update(grads, s_ref, params)
        for a, b in zip(jax.tree_util.tree_leaves(u_ours), jax.tree_util.tree_leaves(u_ref)):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)
    factored = [x.shape for x in jax.tree_util.tree_leaves(s_ours) if x.ndim == 1 and x.shape[0] in (128, 256)]
    assert (256,) in factored and (128,) in factored  # row and column statistics, not a 256×128 moment


def test_clipping_never_exceeds_threshold_random_grads():
    params = _params()
    tx, _ = build_optimizer(
        _optim(name="sgd", peak_lr=1.0, warmup=0, schedule="constant", weight_decay=0.0, clip=1.0), 10
    )
    for seed in range(20):
        scale = 10.0 ** (seed % 7 - 3)
        grads = jax.tree_util.tree_map(lambda p: scale * jax.random.normal(jax.random.PRNGKey(seed), p.shape), params)
        updates, _ = tx.update(grads, tx.init(params), params)
        assert float(optax.tree.norm(updates)) <= 1.0 * (1 + 1e-6)


@pytest.mark.parametrize(
    "key,value,match",
    [
        ("train.microbatches", 3, "divide batch_size"),
        ("train.batch_ramp_tokens", 1000, "needs train.microbatches > 1"),
        ("train.loss_scale_init", 0.5, "loss_scale_init"),
        ("optim.warmup_tokens", -1, "≥ 0"),
        ("model.init", "xavier", "unknown"),
        ("optim.mu_dtype", "fp16", "unknown"),
    ],
)
def test_optimization_fields_are_validated(key, value, match):
    cfg = base_config()
    section, leaf = key.split(".")
    cfg[section][leaf] = value
    with pytest.raises(UserError, match=match):
        validate(cfg)


def test_adafactor_factors_attention_kernels_as_the_matrices_they_apply():
    assert matrix_shape((512, 8, 64)) == (512, 512)  # [embed, heads, kv] query/key/value kernel
    assert matrix_shape((8, 64, 512)) == (512, 512)  # [heads, kv, embed] output kernel
    assert matrix_shape((384, 3, 6, 64)) == (384, 1152)  # fused qkv
    assert matrix_shape((300, 7)) == (300, 7) and matrix_shape((5,)) == (5,)
    params = {"q": jnp.ones((256, 4, 64)), "o": jnp.ones((4, 64, 256))}
    tx, _ = build_optimizer(
        _optim(name="adafactor", peak_lr=0.01, warmup=0, schedule="constant", weight_decay=0.0, clip=0.0), 10
    )
    state = tx.init(params)
    moments = sorted(x.shape for x in jax.tree_util.tree_leaves(state) if x.ndim >= 1 and x.size > 1)
    assert moments == [(256,), (256,), (256,), (256,)]  # rows + columns of two 256×256 matrices, no full moment
    grads = jax.tree_util.tree_map(lambda p: jax.random.normal(jax.random.PRNGKey(0), p.shape), params)
    updates, _ = tx.update(grads, state, params)
    assert jax.tree_util.tree_map(jnp.shape, updates) == jax.tree_util.tree_map(jnp.shape, params)
    flat, _ = tx.update(
        {k: g.reshape(256, 256) for k, g in grads.items()},
        tx.init({k: p.reshape(256, 256) for k, p in params.items()}),
        {k: p.reshape(256, 256) for k, p in params.items()},
    )
    for k in params:  # identical to Adafactor on the explicit matrices
        np.testing.assert_allclose(updates[k].reshape(256, 256), flat[k], rtol=1e-6)


def test_gpt3_recipe_header_states_its_schedule():
    """The header's lr peak and full-batch step are those the config produces."""
    path = os.path.join(ROOT, "experiments", "gpt3_recipe.py")
    cfg = load_config_file(path)
    plan = batch_plan(cfg.train, cfg.data.seq_len)
    lr = np.array([float(build_schedule(cfg.optim, cfg.train.steps, plan)(i)) for i in range(cfg.train.steps)])
    header = open(path).read()
    assert f"lr peaks at step {int(lr.argmax())};" in header
    full = int(np.argmax(plan.ramp_active == cfg.train.microbatches))
    assert f"by step ~{round(full, -1)}" in header


@pytest.mark.parametrize(
    "names,expected",
    [
        (("embed", None, "heads", "kv"), ((0,), (2, 3))),  # fused q/k/v: three matrices, batched
        (("layers", "embed", None, "heads", "kv"), ((1,), (3, 4))),  # the same, scanned over layers
        (("heads", "kv", "embed"), ((0, 1), (2,))),  # attention output
        (("embed", "mlp"), ((0,), (1,))),
        (("mlp", "embed"), ((0,), (1,))),
        (("embed", "vocab"), None),
        (("mlp", None), None),
        (("mlp",), None),  # vocabulary / label heads, biases
    ],
)
def test_muon_reads_each_kernels_matrix_off_its_logical_axes(names, expected):
    from jaxlm.optim.muon import matrix_dimensions

    dims = matrix_dimensions(names)
    assert (dims if dims is None else (tuple(dims.reduction_axis), tuple(dims.output_axis))) == expected


def test_muon_orthogonalises_hidden_matrices_and_adam_updates_the_rest():
    """One Muon step on a GPT's parameters: each q/k/v matrix and MLP kernel moves by a near-orthogonal update
    (singular values within a narrow band although the gradient's span 10×), while embeddings, norms and
    biases get exactly optax's (Nesterov) AdamW update, undecayed."""
    import flax.linen as nn

    from jaxlm.registry import build_model, family
    from jaxlm.train.state import abstract_params

    cfg = load_config_file(os.path.join(ROOT, "experiments", "gpt_tiny.py"))
    cfg.optim.update(name="muon", peak_lr=0.02, warmup=0, schedule="constant", clip=0.0, weight_decay=0.1)
    model = build_model(cfg)
    boxed = abstract_params(model, family(cfg).init_args(cfg))
    params = nn.unbox(model.init(jax.random.PRNGKey(0), *family(cfg).init_args(cfg))["params"])
    tx, _ = build_optimizer(cfg.optim, 10, logical_axes=nn.get_partition_spec(boxed))
    rng = np.random.default_rng(0)

    def ill_conditioned(x):  # a gradient whose rows' scales span 1 ... 10
        g = rng.normal(size=x.shape).astype(np.float32)
        return jnp.asarray(g * np.geomspace(1, 10, x.shape[0]).reshape((-1,) + (1,) * (x.ndim - 1)), x.dtype)

    grads = jax.tree_util.tree_map(ill_conditioned, params)
    updates, _ = tx.update(grads, tx.init(params), params)

    def polar(m):  # the orthogonal factor U Vᵀ of m = U Σ Vᵀ
        u, _, vt = np.linalg.svd(m, full_matrices=False)
        return u @ vt

    for path in (("block_0", "mlp", "up"), ("block_1", "attn", "qkv")):
        u, g = (np.asarray(t[path[0]][path[1]][path[2]]["kernel"]) for t in (updates, grads))
        u, g = (u[:, 1], g[:, 1]) if path[-1] == "qkv" else (u, g)  # the key matrix of the fused q/k/v
        u, g = u.reshape(u.shape[0], -1), g.reshape(g.shape[0], -1)
        cosine = lambda a, b: float(np.sum(a * b) / np.linalg.norm(a) / np.linalg.norm(b))
        assert cosine(-u, polar(g)) > 0.97 and cosine(g, polar(g)) < 0.9, path
    adam = optax.adamw(0.02, b1=cfg.optim.b1, b2=cfg.optim.b2, eps=cfg.optim.eps, weight_decay=0.0, nesterov=True)
    expected, _ = adam.update(grads, adam.init(params), params)
    for path in (("embed", "embedding"), ("ln_final", "scale"), ("block_0", "mlp", "up", "bias")):
        got, want = updates, expected
        for key in path:
            got, want = got[key], want[key]
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)


def test_muon_trains_through_build_like_any_optimizer():
    from jaxlm.train.build import build

    cfg = load_config_file(os.path.join(ROOT, "experiments", "gpt_tiny.py"))
    cfg.optim.update(name="muon", peak_lr=0.02, warmup=0)
    built = build(cfg)
    rng = np.random.default_rng(0)
    tokens = rng.integers(3, 40, size=(cfg.train.batch_size, cfg.data.seq_len + 1)).astype(np.int32)
    positions = np.broadcast_to(np.arange(cfg.data.seq_len, dtype=np.int32), tokens[:, 1:].shape)
    batch = built.put_batch(
        {
            "inputs": tokens[:, :-1],
            "targets": tokens[:, 1:],
            "positions": positions,
            "segment_ids": np.ones_like(tokens[:, 1:]),
            "weights": np.ones_like(tokens[:, 1:], np.float32),
        }
    )
    state, losses = built.state, []
    for _ in range(4):
        state, metrics = built.train_step(state, batch)
        losses.append(float(metrics["loss"]))
    assert all(np.isfinite(losses)) and losses[-1] < losses[0] - 0.5, losses
    with pytest.raises(UserError, match="logical axes"):
        build_optimizer(cfg.optim, 10)


def _params_and_axes(name: str):
    """(params, logical axes or None): gpt_tiny's for Muon (it reads the axes), a small dense layer otherwise."""
    if name != "muon":
        return {"dense": {"kernel": jnp.full((256, 128), 0.1), "bias": jnp.zeros(128)}}, None
    import flax.linen as nn

    from jaxlm.registry import build_model, family
    from jaxlm.train.state import abstract_params

    cfg = load_config_file(os.path.join(ROOT, "experiments", "gpt_tiny.py"))
    model = build_model(cfg)
    params = nn.unbox(model.init(jax.random.PRNGKey(0), *family(cfg).init_args(cfg))["params"])
    return params, nn.get_partition_spec(abstract_params(model, family(cfg).init_args(cfg)))


@pytest.mark.parametrize(
    "name,extra",
    [("adamw", {}), ("adam", {}), ("sgd", {"momentum": 0.9}), ("adafactor", {"momentum": 0.9}), ("muon", {})],
)
def test_bf16_first_moment_halves_its_state_and_keeps_the_update(name, extra):
    """optim.mu_dtype=bf16: the momentum of every parameter is stored in bf16 (the state shrinks by exactly 2
    bytes per parameter) and the first update equals the fp32 one within bf16 rounding (rtol 1e-2)."""
    params, axes = _params_and_axes(name)
    keys = iter(jax.random.split(jax.random.PRNGKey(1), len(jax.tree.leaves(params))))
    grads = jax.tree.map(lambda p: jax.random.normal(next(keys), p.shape), params)

    def first_step(mu_dtype):
        tx, _ = build_optimizer(_optim(name=name, warmup=0, mu_dtype=mu_dtype, **extra), 10, logical_axes=axes)
        updates, state = tx.update(grads, tx.init(params), params)
        return updates, state

    (u32, s32), (u16, s16) = first_step(""), first_step("bf16")
    state_bytes = lambda t: sum(x.nbytes for x in jax.tree.leaves(t))
    assert state_bytes(s32) - state_bytes(s16) == 2 * sum(p.size for p in jax.tree.leaves(params))
    assert jnp.dtype(jnp.bfloat16) in {x.dtype for x in jax.tree.leaves(s16)}
    for a, b in zip(jax.tree.leaves(u16), jax.tree.leaves(u32), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-2, atol=1e-6)
