"""Precision policies: the loss-scale state machine, skipped fp16 steps, fp16 underflow, and exact resume."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxlm.config.schema import base_config
from jaxlm.losses.causal_lm import causal_lm_loss
from jaxlm.models.gpt import GPT
from jaxlm.train.loop import train
from jaxlm.train.metrics import read_metrics
from jaxlm.train.precision import init_loss_scale, update_loss_scale
from jaxlm.train.state import TrainState
from jaxlm.train.step import accumulate_grads, make_train_step

T = 16


def _model(dtype):
    c = base_config().model
    c.update(n_layers=2, n_heads=2, d_model=64, d_ff=256, vocab_size=512, max_len=64)
    params = nn.unbox(GPT(c).init(jax.random.PRNGKey(0), jnp.zeros((1, T), jnp.int32))["params"])
    return GPT(c, dtype=dtype), params


def _batch(n=4, seed=0):
    rng = np.random.default_rng(seed)
    tokens = jnp.asarray(rng.integers(8, 512, (n, T + 1)), jnp.int32)
    return dict(
        inputs=tokens[:, :-1],
        targets=tokens[:, 1:],
        positions=jnp.broadcast_to(jnp.arange(T), (n, T)),
        segment_ids=jnp.ones((n, T), jnp.int32),
        weights=jnp.ones((n, T), jnp.float32),
    )


def test_loss_scale_state_machine():
    ls = init_loss_scale(8.0)
    for good in (1, 2):
        ls = update_loss_scale(ls, jnp.asarray(True), period=3)
        assert float(ls.scale) == 8.0 and int(ls.good_steps) == good
    ls = update_loss_scale(ls, jnp.asarray(True), period=3)  # third good step in a row: grow
    assert float(ls.scale) == 16.0 and int(ls.good_steps) == 0 and int(ls.skipped) == 0
    ls = update_loss_scale(update_loss_scale(ls, jnp.asarray(True), 3), jnp.asarray(False), 3)  # overflow: halve
    assert float(ls.scale) == 8.0 and int(ls.good_steps) == 0 and int(ls.skipped) == 1
    floor = update_loss_scale(init_loss_scale(1.0), jnp.asarray(False), 3)
    assert float(floor.scale) == 1.0 and int(floor.skipped) == 1


def test_fp16_step_skips_non_finite_gradients_and_halves_the_scale():
    model, params = _model(jnp.float16)
    tx = optax.adam(1e-3)
    step = jax.jit(make_train_step(model.apply, causal_lm_loss, tx, loss_scale_period=2000))
    overflow = TrainState(
        jnp.zeros((), jnp.int32), params, tx.init(params), jax.random.PRNGKey(0), init_loss_scale(2.0**40)
    )  # fp16 backward overflows (max 65504)
    new, m = step(overflow, _batch())
    assert float(new.loss_scale.scale) == 2.0**39 and int(new.loss_scale.skipped) == 1 and int(m["skipped_steps"]) == 1
    assert all(
        np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(new.params), jax.tree_util.tree_leaves(params))
    )
    assert int(new.opt_state[0].count) == 0 and int(new.step) == 1
    fine = TrainState(
        jnp.zeros((), jnp.int32), params, tx.init(params), jax.random.PRNGKey(0), init_loss_scale(2.0**10)
    )
    new, m = step(fine, _batch())
    assert float(m["loss_scale"]) == 2.0**10 and int(new.loss_scale.good_steps) == 1 and int(m["skipped_steps"]) == 0
    assert not np.array_equal(new.params["block_0"]["mlp"]["up"]["kernel"], params["block_0"]["mlp"]["up"]["kernel"])


def test_fp16_without_scaling_flushes_small_gradients_to_zero():
    small = lambda *a, **k: jax.tree_util.tree_map(
        lambda x: x * 2.0**-14, causal_lm_loss(*a, **k)
    )  # a small loss's gradients
    (m32, params), (m16, _) = _model(jnp.float32), _model(jnp.float16)
    grads = lambda m, scale: np.concatenate(
        [
            np.ravel(g)
            for g in jax.tree_util.tree_leaves(
                jax.jit(lambda p: accumulate_grads(m.apply, small, p, _batch(), jax.random.PRNGKey(0), 1, scale)[2])(
                    params
                )
            )
        ]
    )
    ref, plain, scaled = grads(m32, None), grads(m16, None), grads(m16, 2.0**15)
    tiny = (ref != 0) & (np.abs(ref) < 2.0**-24)  # below fp16's smallest subnormal
    flushed_plain, flushed_scaled = np.sum((plain == 0) & (ref != 0)), np.sum((scaled == 0) & (ref != 0))
    assert tiny.sum() > 10_000 and flushed_plain > 10_000 and flushed_scaled < flushed_plain / 100
    assert np.mean(scaled[tiny] == 0) < 0.01
    rel = lambda g: np.linalg.norm(g - ref) / np.linalg.norm(ref)
    assert rel(scaled) < 0.01 and rel(plain) > 0.5


def test_bf16_loss_matches_fp32():
    losses = [
        float(causal_lm_loss(m.apply, p, _batch(), jax.random.PRNGKey(0), False)[0])
        for m, p in (_model(jnp.float32), _model(jnp.bfloat16))
    ]
    assert abs(losses[0] - losses[1]) < 0.02


def test_resume_is_exact_with_microbatches_fp16_and_batch_ramp(tiny_config, tmp_path):
    cfg = tiny_config
    cfg.train.update(
        steps=12,
        eval_every=12,
        eval_batches=1,
        checkpoint_every=12,
        log_every=1,
        precision="fp16",
        loss_scale_period=4,
        microbatches=4,
        batch_ramp_start=2,
        batch_ramp_tokens=1500,
    )
    cfg.optim.warmup_tokens = 2000
    full, resumed = str(tmp_path / "full"), str(tmp_path / "resumed")
    a = train(cfg, full)
    train(cfg, resumed, stop_after=5)
    b = train(cfg, resumed)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "tokens_per_s"} for r in rows]
    rows = strip(read_metrics(full))
    assert rows == strip(read_metrics(resumed))
    train_rows = [r for r in rows if "split" not in r]
    assert [r["batch_size"] for r in train_rows[:7]] == [2, 2, 4, 4, 6, 6, 8] and train_rows[-1]["batch_size"] == 8
    assert all(r2["tokens"] - r1["tokens"] == r2["batch_size"] * 64 for r1, r2 in zip(train_rows, train_rows[1:]))
    assert train_rows[-1]["loss_scale"] > 2.0**15 and "skipped_steps" in train_rows[-1]
    for x, y in zip(
        jax.tree_util.tree_leaves(jax.device_get(a.state)), jax.tree_util.tree_leaves(jax.device_get(b.state))
    ):
        assert np.asarray(x).tobytes() == np.asarray(y).tobytes()


def test_auto_precision_is_fp32_on_cpu_and_bf16_on_accelerators(monkeypatch):
    from jaxlm import registry

    cfg = base_config()
    assert cfg.train.precision == "auto" and registry.precision(cfg) == "fp32"  # the tests run on CPU
    assert registry.build_model(cfg).dtype == jnp.float32
    monkeypatch.setattr(registry.jax, "default_backend", lambda: "gpu")
    assert registry.precision(cfg) == "bf16" and registry.build_model(cfg).dtype == jnp.bfloat16
    cfg.train.precision = "fp16"
    assert registry.precision(cfg) == "fp16"
