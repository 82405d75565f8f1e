"""The shared cross-entropy equals optax's (value and gradient) and counts argmax hits; the fused, chunked
cross-entropy through the output embedding equals it."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxlm.losses.cross_entropy import cross_entropy_sums
from jaxlm.losses.fused_cross_entropy import auto_chunk, fused_cross_entropy_sums


def test_cross_entropy_sums_match_optax_and_argmax():
    logits = 5 * jax.random.normal(jax.random.PRNGKey(0), (4, 7, 64))
    targets = jax.random.randint(jax.random.PRNGKey(1), (4, 7), 0, 64).at[:, 0].set(jnp.argmax(logits[:, 0], -1))
    weights = jnp.ones((4, 7)).at[3].set(0.0)
    sums = cross_entropy_sums(logits, targets, weights)
    reference = lambda x: jnp.sum(optax.softmax_cross_entropy_with_integer_labels(x, targets) * weights)
    np.testing.assert_allclose(sums["nats"], reference(logits), rtol=1e-6)
    np.testing.assert_allclose(
        jax.grad(lambda x: cross_entropy_sums(x, targets, weights)["nats"])(logits),
        jax.grad(reference)(logits),
        atol=1e-6,
    )
    assert float(sums["weight"]) == 21.0
    assert float(sums["correct"]) == float(jnp.sum((jnp.argmax(logits, -1) == targets) * weights)) >= 3.0


def _head_problem(seed: int = 0):
    k = jax.random.split(jax.random.PRNGKey(seed), 3)
    hidden = jax.random.normal(k[0], (3, 16, 8))
    embedding = jax.random.normal(k[1], (50, 8))
    targets = jax.random.randint(k[2], (3, 16), 0, 50)
    weights = jnp.ones((3, 16)).at[2, 5:].set(0.0)
    return hidden, embedding, targets, weights


@pytest.mark.parametrize("chunk", [1, 4, 16, -1])
def test_fused_cross_entropy_equals_the_plain_path_in_value_and_gradient(chunk):
    hidden, embedding, targets, weights = _head_problem()

    def plain(h, e):
        sums = cross_entropy_sums(jnp.einsum("btd,vd->btv", h, e), targets, weights)
        return 3.0 * sums["nats"], sums

    def fused(h, e):
        sums = fused_cross_entropy_sums(h, e, targets, weights, chunk)
        return 3.0 * sums["nats"], sums

    (value, sums), grads = jax.value_and_grad(plain, (0, 1), has_aux=True)(hidden, embedding)
    (f_value, f_sums), f_grads = jax.jit(jax.value_and_grad(fused, (0, 1), has_aux=True))(hidden, embedding)
    np.testing.assert_allclose(f_value, value, rtol=1e-6)
    assert float(f_sums["correct"]) == float(sums["correct"]) and float(f_sums["weight"]) == 37.0
    for g, f in zip(grads, f_grads):
        np.testing.assert_allclose(f, g, atol=1e-5)
    assert float(jnp.abs(f_grads[0][2, 5:]).max()) == 0.0  # zero-weight positions get no gradient


def test_fused_cross_entropy_with_an_output_bias_equals_the_plain_path():
    hidden, embedding, targets, weights = _head_problem(1)
    bias = jax.random.normal(jax.random.PRNGKey(7), (50,))

    def plain(h, e, b):
        return cross_entropy_sums(jnp.einsum("btd,vd->btv", h, e) + b, targets, weights)["nats"]

    def fused(h, e, b):
        return fused_cross_entropy_sums(h, e, targets, weights, 4, bias=b)["nats"]

    value, grads = jax.value_and_grad(plain, (0, 1, 2))(hidden, embedding, bias)
    f_value, f_grads = jax.jit(jax.value_and_grad(fused, (0, 1, 2)))(hidden, embedding, bias)
    np.testing.assert_allclose(f_value, value, rtol=1e-6)
    for g, f in zip(grads, f_grads):
        np.testing.assert_allclose(f, g, atol=1e-5)


@pytest.mark.parametrize("family", ["bert", "t5", "bart", "llama"])
def test_every_vocabulary_head_trains_through_the_fused_loss(family):
    """BERT's MLM head (gathered positions, output bias), T5's scaled tied head, BART's biased head and a Llama-style
    GPT's untied head: the fused cross-entropy gives the logits path's loss and gradients."""
    from jaxlm import registry
    from jaxlm.config.schema import base_config

    cfg = base_config()
    objective = {"bert": "bert_mlm_nsp", "t5": "t5_span_corruption", "bart": "bart_denoise", "llama": "causal_lm"}[
        family
    ]
    cfg.model.update(
        family="gpt" if family == "llama" else family,
        n_layers=1,
        n_heads=2,
        d_model=16,
        d_ff=32,
        vocab_size=64,
        max_len=16,
        nsp_head=family == "bert",
        tie_embeddings=family != "llama",
    )
    if family == "llama":
        cfg.model.update(positions="rope", norm_type="rmsnorm", mlp="swiglu", n_kv_heads=1, use_bias=False)
    cfg.data.update(objective=objective, seq_len=8)
    model = registry.build_model(cfg)
    params = model.init(jax.random.PRNGKey(0), *registry.family(cfg).init_args(cfg))["params"]
    r = np.random.default_rng(0)
    tokens = r.integers(5, 64, (2, 8)).astype(np.int32)
    ones, weights = np.ones((2, 8), np.int32), (r.random((2, 8)) < 0.5).astype(np.float32)
    if family == "bert":
        batch = dict(
            inputs=tokens,
            segment_ids=0 * ones,
            attention_mask=ones,
            mlm_targets=tokens[::-1],
            mlm_weights=weights,
            nsp_label=np.array([0, 1], np.int32),
        )
    elif family == "llama":
        batch = dict(
            inputs=tokens,
            targets=tokens[::-1],
            weights=weights,
            segment_ids=ones,
            positions=np.broadcast_to(np.arange(8, dtype=np.int32), (2, 8)),
        )
    else:
        positions = np.broadcast_to(np.arange(8, dtype=np.int32), (2, 8))
        batch = dict(
            inputs=tokens,
            decoder_inputs=tokens[:, ::-1],
            targets=tokens[::-1],
            weights=weights,
            inputs_segment_ids=ones,
            targets_segment_ids=ones,
            inputs_positions=positions,
            targets_positions=positions,
        )
    results = []
    for chunk in (0, -1):
        cfg.train.loss_chunk = chunk
        loss = registry.loss_fn(cfg)
        if family == "bert":
            loss = functools.partial(loss, loss_chunk=chunk)
        results.append(
            jax.value_and_grad(lambda p: loss(model.apply, p, batch, jax.random.PRNGKey(0), False)[0])(params)
        )
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-6)
    jax.tree_util.tree_map(lambda f, g: np.testing.assert_allclose(f, g, atol=1e-6), results[1][1], results[0][1])


def test_fused_cross_entropy_never_holds_all_logits():
    """With 4-position chunks XLA's temporaries stay far below one [B, T, V] fp32 logits buffer."""
    hidden = jnp.zeros((4, 256, 64))
    embedding, targets, weights = jnp.zeros((4096, 64)), jnp.zeros((4, 256), jnp.int32), jnp.ones((4, 256))
    grad = jax.jit(jax.grad(lambda h, e: fused_cross_entropy_sums(h, e, targets, weights, 4)["nats"], (0, 1)))
    logits_bytes = 4 * 256 * 4096 * 4
    assert grad.lower(hidden, embedding).compile().memory_analysis().temp_size_in_bytes < logits_bytes / 4


def test_auto_chunk_is_the_largest_divisor_within_the_budget():
    assert auto_chunk(16, 256, 8192) == 16  # 16·16·8192 = 2^21 logits
    assert auto_chunk(12, 64, 8192) == 16  # 21 positions would fit; 16 is the largest divisor ≤ 21
    assert auto_chunk(1, 100, 8) == 100
    assert auto_chunk(4096, 7, 8192) == 1
    assert auto_chunk(32, 1024, 50304, budget=2**27) == 64  # an accelerator budget: GPT-2 at batch 32


def test_mlm_loss_on_gathered_positions_equals_every_position():
    """Running BERT's MLM head only on the max_predictions predicted positions changes no sum and no gradient."""
    import flax.linen as nn

    from jaxlm.config.schema import base_config
    from jaxlm.losses.mlm import mlm_loss
    from jaxlm.models.bert import BERT

    c = base_config().model
    c.update(family="bert", n_layers=2, n_heads=2, d_model=32, d_ff=64, vocab_size=120, max_len=16)
    rng = np.random.default_rng(0)
    weights = np.zeros((3, 16), np.float32)
    for row, n in enumerate((3, 5, 0)):  # the last row predicts nothing
        weights[row, rng.choice(16, n, replace=False)] = 1.0
    batch = dict(
        inputs=jnp.asarray(rng.integers(5, 120, (3, 16))),
        segment_ids=jnp.zeros((3, 16), jnp.int32),
        attention_mask=jnp.ones((3, 16), jnp.int32).at[1, 12:].set(0),
        mlm_targets=jnp.asarray(rng.integers(5, 120, (3, 16))),
        mlm_weights=jnp.asarray(weights),
        nsp_label=jnp.asarray([0, 1, 0]),
    )
    model = BERT(c)
    params = nn.unbox(
        model.init(jax.random.PRNGKey(0), batch["inputs"], batch["segment_ids"], batch["attention_mask"])["params"]
    )
    run = lambda p, k: mlm_loss(model.apply, p, batch, jax.random.PRNGKey(0), False, max_predictions=k)
    (full, full_sums), full_grads = jax.value_and_grad(run, has_aux=True)(params, 0)
    (gathered, sums), grads = jax.value_and_grad(run, has_aux=True)(params, 5)
    np.testing.assert_allclose(gathered, full, rtol=1e-6)
    assert {k: float(v) for k, v in sums.items()} == pytest.approx({k: float(v) for k, v in full_sums.items()})
    assert float(sums["mlm_weight"]) == 8.0
    for a, b in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(full_grads)):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_fused_cross_entropy_scales_fp16_gradients_before_casting():
    """Under fp16 the loss scale reaches the hidden-state gradient in fp32, before the cast: tiny gradients that
    would flush to zero in fp16 survive, as on the plain path (fp32 logits)."""
    hidden, embedding, targets, weights = _head_problem()
    hidden, embedding = hidden.astype(jnp.float16), embedding * 1e-8  # unscaled d loss / d hidden ≈ 1e-8: below fp16
    scale = 2.0**15

    def grads(loss):
        return jax.grad(lambda h: scale * loss(h))(hidden)

    plain = grads(
        lambda h: cross_entropy_sums(jnp.einsum("btd,vd->btv", h.astype(jnp.float32), embedding), targets, weights)[
            "nats"
        ]
    )
    fused = grads(lambda h: fused_cross_entropy_sums(h, embedding, targets, weights, 4)["nats"])
    assert fused.dtype == jnp.float16 and float(jnp.mean(fused == 0)) == float(jnp.mean(plain == 0))
    assert float(jnp.mean(fused == 0)) == pytest.approx(11 / 48)  # only the zero-weight positions
    np.testing.assert_allclose(np.asarray(fused, np.float32), np.asarray(plain, np.float32), rtol=2e-3, atol=1e-7)
