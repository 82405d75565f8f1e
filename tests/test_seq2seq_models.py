"""T5 and BART: cached decoding equals the full forward pass, beam 1 equals greedy, packed segments stay apart."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxlm.config.schema import base_config
from jaxlm.generate.seq2seq import beam_search, generate, make_step, start_decoding
from jaxlm.models.bart import BART
from jaxlm.models.t5 import T5

VARIANTS = [(T5, "relu", True), (T5, "gated_gelu", False), (BART, "relu", True)]


def _cfg(ff="relu", tied=True):
    c = base_config().model
    c.update(
        n_layers=2,
        n_decoder_layers=3,
        n_heads=2,
        d_model=32,
        d_kv=8,
        d_ff=48,
        vocab_size=97,
        max_len=32,
        ff=ff,
        tie_embeddings=tied,
        relative_buckets=8,
        relative_max_distance=16,
        layer_norm_eps=1e-6,
    )
    return c


def _params(model_cls, cfg):
    t = jnp.zeros((1, 8), jnp.int32)
    return nn.unbox(model_cls(cfg).init(jax.random.PRNGKey(0), t, t)["params"])


@pytest.mark.parametrize("model_cls,ff,tied", VARIANTS)
def test_cached_decoding_equals_full_forward(model_cls, ff, tied):
    cfg = _cfg(ff, tied)
    params = _params(model_cls, cfg)
    rng = np.random.default_rng(0)
    inputs, decoder = rng.integers(10, 97, (2, 10)), rng.integers(10, 97, (2, 9))
    inputs[1, 6:] = 0
    seg = (np.arange(10) < np.array([[10], [6]])).astype(np.int32)
    full = model_cls(cfg).apply({"params": params}, inputs, decoder, seg)
    model = model_cls(cfg, decode=True)
    _, _, cache = start_decoding(model, params, [1] * 10, 2, 12)  # an empty cache for 2 rows, 12 steps
    encoded = model.apply({"params": params}, inputs, seg, method=model.encode)
    step = make_step(model)
    rows = []
    for t in range(9):  # one token at a time; the first step also fills the cross-attention cache
        logits, cache = step(params, cache, jnp.asarray(decoder[:, t : t + 1]), encoded if t == 0 else None, seg)
        rows.append(np.asarray(logits))
    np.testing.assert_allclose(np.stack(rows, 1), np.asarray(full), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("model_cls,ff,tied", VARIANTS)
def test_beam_of_one_equals_greedy(model_cls, ff, tied):
    cfg = _cfg(ff, tied)
    params = _params(model_cls, cfg)
    model = model_cls(cfg, decode=True)
    for seed in range(3):
        inputs = list(np.random.default_rng(seed).integers(10, 97, 7))
        greedy = generate(model, params, inputs, 12, jax.random.PRNGKey(0), 0, temperature=0.0, eos_id=5)
        assert beam_search(model, params, inputs, 1, 12, 0, eos_id=5) == greedy
        assert len(beam_search(model, params, inputs, 3, 12, 0, length_penalty=0.6, eos_id=5)) <= 12
    sampled = generate(model, params, inputs, 12, jax.random.PRNGKey(1), 0, temperature=1.0, top_k=5, top_p=0.9)
    assert 1 <= len(sampled) <= 12


@pytest.mark.parametrize("model_cls", [T5, BART])
def test_packed_examples_do_not_see_each_other(model_cls):
    cfg = _cfg()
    params = _params(model_cls, cfg)
    rng = np.random.default_rng(1)
    inputs, decoder = rng.integers(10, 97, (1, 12)), rng.integers(10, 97, (1, 10))
    in_seg, in_pos = np.array([[1] * 5 + [2] * 7]), np.array([list(range(5)) + list(range(7))])
    tg_seg, tg_pos = np.array([[1] * 4 + [2] * 6]), np.array([list(range(4)) + list(range(6))])
    f = lambda i, d: np.asarray(model_cls(cfg).apply({"params": params}, i, d, in_seg, tg_seg, in_pos, tg_pos))
    base = f(inputs, decoder)
    i2, d2 = inputs.copy(), decoder.copy()
    i2[0, :5], d2[0, :4] = rng.integers(10, 97, 5), rng.integers(10, 97, 4)  # change example 1 on both sides
    np.testing.assert_array_equal(f(i2, d2)[0, 4:], base[0, 4:])
    d3 = decoder.copy()
    d3[0, 7] = (d3[0, 7] + 1) % 97  # causal decoder
    np.testing.assert_array_equal(f(inputs, d3)[0, :7], base[0, :7])


@pytest.mark.parametrize("model_cls", [T5, BART])
def test_every_param_has_logical_axes(model_cls):
    t = jnp.zeros((1, 8), jnp.int32)
    boxed = jax.eval_shape(lambda: model_cls(_cfg()).init(jax.random.PRNGKey(0), t, t)["params"])
    leaves = jax.tree_util.tree_leaves(boxed, is_leaf=lambda x: isinstance(x, nn.LogicallyPartitioned))
    assert leaves and all(isinstance(x, nn.LogicallyPartitioned) for x in leaves)
    assert all(len(x.names) == len(x.value.shape) for x in leaves)


def test_t5_init_folds_attention_scale_into_queries():
    cfg = _cfg()
    cfg.update(d_model=256, d_kv=64, n_heads=4)
    q = _params(T5, cfg)["encoder"]["block_0"]["self_attn"]["qkv"]["kernel"][:, 0]
    assert abs(float(np.std(q)) - (256 * 64) ** -0.5) < 0.1 * (256 * 64) ** -0.5


@pytest.mark.parametrize("model_cls", [T5, BART])
def test_all_zero_examples_contribute_nothing(model_cls):
    from jaxlm.losses.seq2seq import seq2seq_loss

    cfg = _cfg()
    params = _params(model_cls, cfg)
    zeros = {
        k: np.zeros((2, 8), np.int32)
        for k in (
            "inputs",
            "decoder_inputs",
            "targets",
            "inputs_segment_ids",
            "targets_segment_ids",
            "inputs_positions",
            "targets_positions",
        )
    }
    loss, sums = seq2seq_loss(
        model_cls(cfg).apply, params, {**zeros, "weights": np.zeros((2, 8), np.float32)}, jax.random.PRNGKey(0), False
    )
    assert float(loss) == 0.0 and float(sums["weight"]) == 0.0 and float(sums["nats"]) == 0.0
