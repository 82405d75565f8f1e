"""Gradient accumulation: k microbatches equal one step on the whole batch; padding microbatches count for nothing."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxlm.config.schema import base_config
from jaxlm.losses.causal_lm import causal_lm_loss
from jaxlm.models.gpt import GPT
from jaxlm.registry import build_model, family, loss_fn
from jaxlm.train.precision import init_loss_scale
from jaxlm.train.state import TrainState
from jaxlm.train.step import accumulate_grads, interleave_microbatches, make_train_step, split_microbatches

T = 16


def _model():
    c = base_config().model
    c.update(n_layers=2, n_heads=2, d_model=64, d_ff=256, vocab_size=512, max_len=64)
    model = GPT(c)
    params = nn.unbox(model.init(jax.random.PRNGKey(0), jnp.zeros((1, T), jnp.int32))["params"])
    return model, params


def _rows(n: int, seed: int) -> dict:
    """n packed rows with two documents each and a varying number of weighted targets."""
    rng = np.random.default_rng(seed)
    cut = rng.integers(3, T - 3, size=n)
    seg = np.where(np.arange(T)[None] < cut[:, None], 1, 2).astype(np.int32)
    pos = np.where(seg == 1, np.arange(T)[None], np.arange(T)[None] - cut[:, None]).astype(np.int32)
    weights = (np.arange(T)[None] < rng.integers(4, T + 1, size=n)[:, None]).astype(np.float32)
    return dict(
        inputs=rng.integers(8, 512, (n, T)).astype(np.int32),
        targets=rng.integers(8, 512, (n, T)).astype(np.int32),
        positions=pos,
        segment_ids=seg,
        weights=weights,
    )


def _grads(model, params, batch, k):
    f = jax.jit(lambda p, b: accumulate_grads(model.apply, causal_lm_loss, p, b, jax.random.PRNGKey(1), k))
    return f(params, {key: jnp.asarray(v) for key, v in batch.items()})


def _max_diff(a, b) -> float:
    return max(
        float(jnp.max(jnp.abs(x - y))) for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b))
    )


def test_interleave_and_split_are_inverse():
    parts = [_rows(3, i) for i in range(2)]
    batch = interleave_microbatches(parts, 4)
    split = split_microbatches({k: jnp.asarray(v) for k, v in batch.items()}, 4)
    for i in range(4):
        for key in parts[0]:
            expected = parts[i][key] if i < 2 else np.zeros_like(parts[0][key])
            np.testing.assert_array_equal(np.asarray(split[key][i]), expected)


def test_microbatches_equal_one_big_batch():
    model, params = _model()
    batch = _rows(8, 0)
    loss1, sums1, g1 = _grads(model, params, batch, 1)
    for k in (2, 8):
        loss_k, sums_k, g_k = _grads(model, params, batch, k)
        assert _max_diff(g1, g_k) <= 1e-6, k
        assert abs(float(loss1) - float(loss_k)) <= 1e-6 * float(loss1) and float(sums1["weight"]) == float(
            sums_k["weight"]
        )


def test_padding_microbatches_contribute_nothing():
    model, params = _model()
    parts = [_rows(2, i) for i in range(3)]
    padded = interleave_microbatches(parts, 8)  # 3 of 8 microbatches used, as early in a batch ramp
    plain = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    _, sums_p, g_p = _grads(model, params, padded, 8)
    _, sums_1, g_1 = _grads(model, params, plain, 1)
    assert _max_diff(g_p, g_1) <= 1e-6 and float(sums_p["weight"]) == float(sums_1["weight"])
    assert abs(float(sums_p["nats"]) - float(sums_1["nats"])) <= 1e-6 * float(sums_1["nats"])


def test_train_step_with_microbatches_matches_single_step():
    model, params = _model()
    tx = optax.sgd(0.5)
    batch = {k: jnp.asarray(v) for k, v in _rows(8, 3).items()}
    state = lambda: TrainState(
        jnp.zeros((), jnp.int32), params, tx.init(params), jax.random.PRNGKey(0), init_loss_scale()
    )
    s1, m1 = jax.jit(make_train_step(model.apply, causal_lm_loss, tx))(state(), batch)
    s4, m4 = jax.jit(make_train_step(model.apply, causal_lm_loss, tx, microbatches=4))(state(), batch)
    assert _max_diff(s1.params, s4.params) <= 1e-6
    assert abs(float(m1["grad_norm"]) - float(m4["grad_norm"])) <= 1e-6


def _family_case(name: str):
    """A tiny model of each non-GPT loss and an 8-row batch whose rows hold different numbers of targets."""
    cfg = base_config()
    cfg.model.update(n_layers=1, n_heads=2, d_model=32, d_ff=64, vocab_size=128, max_len=T, dropout=0.0)
    cfg.data.seq_len, cfg.data.max_predictions = T, T
    rng = np.random.default_rng(5)
    n = 8
    lengths = rng.integers(3, T + 1, size=n)
    real = (np.arange(T)[None] < lengths[:, None]).astype(np.int32)
    tokens = (rng.integers(8, 128, (n, T)) * real).astype(np.int32)
    if name in ("bert_mlm_nsp", "jaxlm.projects.genre.objectives:classification"):
        cfg.model.family = "bert"
        batch = dict(
            inputs=tokens, segment_ids=(np.arange(T)[None] >= lengths[:, None] // 2) * real, attention_mask=real
        )
        if name == "bert_mlm_nsp":
            weights = real * (rng.random((n, T)) < rng.uniform(0.1, 0.6, (n, 1)))
            batch.update(
                mlm_targets=tokens * weights,
                mlm_weights=weights.astype(np.float32),
                nsp_label=rng.integers(0, 2, n).astype(np.int32),
            )
        else:
            cfg.model.update(num_labels=3, nsp_head=False)
            batch.update(label=rng.integers(0, 3, n).astype(np.int32))
    else:
        cfg.model.family = "t5"
        seg = np.ones((n, T), np.int32) * real
        batch = dict(
            inputs=tokens,
            decoder_inputs=np.roll(tokens, 1, 1) * real,
            inputs_segment_ids=seg,
            targets_segment_ids=seg,
            inputs_positions=np.tile(np.arange(T, dtype=np.int32), (n, 1)) * real,
            targets_positions=np.tile(np.arange(T, dtype=np.int32), (n, 1)) * real,
            targets=tokens,
            weights=real.astype(np.float32),
        )
    cfg.data.objective = name
    model = build_model(cfg)
    params = nn.unbox(model.init(jax.random.PRNGKey(0), *family(cfg).init_args(cfg))["params"])
    return model, params, loss_fn(cfg), {k: jnp.asarray(v) for k, v in batch.items()}


@pytest.mark.parametrize(
    "name", ["bert_mlm_nsp", "t5_span_corruption", "jaxlm.projects.genre.objectives:classification"]
)
def test_microbatches_equal_one_big_batch_for_every_loss(name):
    """With two loss terms (MLM tokens and NSP pairs) each term is normalised by its own whole-batch count."""
    model, params, loss, batch = _family_case(name)
    run = jax.jit(lambda p, b, k: accumulate_grads(model.apply, loss, p, b, jax.random.PRNGKey(1), k), static_argnums=2)
    loss1, sums1, g1 = run(params, batch, 1)
    loss4, sums4, g4 = run(params, batch, 4)
    assert abs(float(loss1) - float(loss4)) <= 2e-6 * abs(float(loss1))
    assert _max_diff(g1, g4) <= 1e-6 * max(float(jnp.max(jnp.abs(g))) for g in jax.tree_util.tree_leaves(g1))
    assert {k: float(v) for k, v in sums1.items() if k.endswith("weight")} == {
        k: float(v) for k, v in sums4.items() if k.endswith("weight")
    }


def test_counting_pass_adds_no_model_flops():
    """The whole-batch counts come from the batch alone: the accumulated step costs what k microbatch steps do."""
    model, params, loss, batch = _family_case("bert_mlm_nsp")
    flops = {
        k: jax.jit(lambda p, b: accumulate_grads(model.apply, loss, p, b, jax.random.PRNGKey(1), k))
        .lower(params, batch)
        .compile()
        .cost_analysis()["flops"]
        for k in (1, 4)
    }
    assert flops[4] <= 1.05 * flops[1]
