"""`model.remat` in BERT, T5 and BART (GPT's is in test_model.py): the same parameters, loss and gradients as
without it, dropout included; `scan_layers` there computes the unrolled model's loss and gradients."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxlm.config.schema import base_config
from jaxlm.config.validate import validate
from jaxlm.models.bart import BART
from jaxlm.models.bert import BERT
from jaxlm.models.t5 import T5

FAMILIES = {"bert": BERT, "t5": T5, "bart": BART}


def _model_cfg(family: str, remat: str, layers: int = 1):
    """One layer per stack for remat (it wraps each block alike); scan needs two to stack."""
    c = base_config().model
    c.update(
        family=family,
        n_layers=layers,
        n_decoder_layers=layers,
        n_heads=2,
        d_model=32,
        d_kv=8,
        d_ff=48,
        vocab_size=97,
        max_len=32,
        dropout=0.1,
        remat=remat,
        relative_buckets=8,
        relative_max_distance=16,
    )
    return c


def _inputs(family: str) -> tuple:
    rng = np.random.default_rng(0)
    tokens = jnp.asarray(rng.integers(5, 97, size=(2, 12)), jnp.int32)
    if family == "bert":
        return tokens, jnp.zeros_like(tokens), jnp.ones_like(tokens)
    return tokens, jnp.asarray(rng.integers(5, 97, size=(2, 7)), jnp.int32)


def _loss(model, params, args, rng):
    out = model.apply({"params": params}, *args, deterministic=False, rngs={"dropout": rng})
    logits = out["mlm_logits"] if isinstance(out, dict) else out
    return jnp.mean(jax.nn.log_softmax(logits)[..., 3])


def _init(model, args):
    """Parameters from a jitted init (the same values as op by op, in a fraction of the time)."""
    return nn.unbox(jax.jit(model.init)(jax.random.PRNGKey(0), *args)["params"])


@functools.cache
def _plain(family: str):
    """The model without remat: its parameters, loss and gradients, shared by both remat policies."""
    args, rng = _inputs(family), jax.random.PRNGKey(7)
    plain = FAMILIES[family](_model_cfg(family, "none"))
    params = _init(plain, args)
    value, grads = jax.jit(jax.value_and_grad(lambda p: _loss(plain, p, args, rng)))(params)
    return args, rng, params, value, grads


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("remat", ["full", "save_dots"])
def test_remat_keeps_parameters_loss_and_gradients(family, remat):
    args, rng, params, value, grads = _plain(family)
    variant = FAMILIES[family](_model_cfg(family, remat))
    remat_params = _init(variant, args)
    assert jax.tree_util.tree_structure(remat_params) == jax.tree_util.tree_structure(params)  # same names
    for a, b in zip(jax.tree_util.tree_leaves(remat_params), jax.tree_util.tree_leaves(params)):
        np.testing.assert_array_equal(a, b)
    v_value, v_grads = jax.jit(jax.value_and_grad(lambda p: _loss(variant, p, args, rng)))(params)
    np.testing.assert_allclose(v_value, value, rtol=1e-6)
    for g, v in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(v_grads)):
        np.testing.assert_allclose(v, g, atol=1e-6)


def _stack_blocks(tree):
    """Every unrolled block_i subtree → the scanned layout (one 'blocks' entry stacked on a leading axis)."""
    if not isinstance(tree, dict):
        return tree
    out = {k: _stack_blocks(v) for k, v in tree.items() if not k.startswith("block_")}
    blocks = sorted((k for k in tree if k.startswith("block_")), key=lambda k: int(k.split("_")[1]))
    if blocks:
        out["blocks"] = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *[_stack_blocks(tree[k]) for k in blocks])
    return out


@pytest.mark.parametrize("family", FAMILIES)
def test_scan_layers_computes_the_unrolled_loss_and_gradients(family):
    """scan_layers (one nn.scan over layer-stacked params) in BERT, T5 and BART: the unrolled model's loss and
    gradients, with its parameters stacked; validate accepts it."""
    args, rng = _inputs(family), jax.random.PRNGKey(7)
    cfg, scan_cfg = _model_cfg(family, "none", layers=2), _model_cfg(family, "none", layers=2)
    cfg.dropout = scan_cfg.dropout = 0.0
    scan_cfg.scan_layers = True
    c = base_config()
    c.model.update(family=family, scan_layers=True)
    validate(c)
    plain, scanned = FAMILIES[family](cfg), FAMILIES[family](scan_cfg)
    params = _init(plain, args)
    shapes = jax.tree_util.tree_map(jnp.shape, jax.eval_shape(lambda: _init(scanned, args)))
    assert jax.tree_util.tree_map(jnp.shape, _stack_blocks(params)) == shapes
    value, grads = jax.jit(jax.value_and_grad(lambda p: _loss(plain, p, args, rng)))(params)
    s_value, s_grads = jax.jit(jax.value_and_grad(lambda p: _loss(scanned, p, args, rng)))(_stack_blocks(params))
    np.testing.assert_allclose(s_value, value, rtol=1e-6)
    jax.tree_util.tree_map(lambda s, g: np.testing.assert_allclose(s, g, atol=1e-6), s_grads, _stack_blocks(grads))
