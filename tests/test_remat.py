"""`model.remat` in BERT, T5 and BART (GPT's is in test_model.py): the same parameters, loss and gradients as
without it, dropout included; `scan_layers` outside GPT is a config error."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxlm.config.schema import base_config
from jaxlm.config.validate import validate
from jaxlm.errors import UserError
from jaxlm.models.bart import BART
from jaxlm.models.bert import BERT
from jaxlm.models.t5 import T5

FAMILIES = {"bert": BERT, "t5": T5, "bart": BART}


def _model_cfg(family: str, remat: str):
    c = base_config().model
    c.update(family=family, n_layers=2, n_decoder_layers=2, n_heads=2, d_model=32, d_kv=8, d_ff=48, vocab_size=97,
             max_len=32, dropout=0.1, remat=remat, relative_buckets=8, relative_max_distance=16)
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


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("remat", ["full", "save_dots"])
def test_remat_keeps_parameters_loss_and_gradients(family, remat):
    args, rng = _inputs(family), jax.random.PRNGKey(7)
    plain, variant = FAMILIES[family](_model_cfg(family, "none")), FAMILIES[family](_model_cfg(family, remat))
    params = nn.unbox(plain.init(jax.random.PRNGKey(0), *args)["params"])
    remat_params = nn.unbox(variant.init(jax.random.PRNGKey(0), *args)["params"])
    assert jax.tree_util.tree_structure(remat_params) == jax.tree_util.tree_structure(params)  # same names
    for a, b in zip(jax.tree_util.tree_leaves(remat_params), jax.tree_util.tree_leaves(params)):
        np.testing.assert_array_equal(a, b)
    value, grads = jax.jit(jax.value_and_grad(lambda p: _loss(plain, p, args, rng)))(params)
    v_value, v_grads = jax.jit(jax.value_and_grad(lambda p: _loss(variant, p, args, rng)))(params)
    np.testing.assert_allclose(v_value, value, rtol=1e-6)
    for g, v in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(v_grads)):
        np.testing.assert_allclose(v, g, atol=1e-6)


@pytest.mark.parametrize("family", FAMILIES)
def test_scan_layers_outside_gpt_is_a_config_error(family):
    c = base_config()
    c.model.update(family=family, scan_layers=True)
    with pytest.raises(UserError, match="gpt only"):
        validate(c)
