"""docs/ARCHITECTURE.md's "How to add a model family", followed with a toy family defined here: a module with its
FLOPs inventory (step 1) and one registry entry (step 2) are all it takes to train, evaluate, checkpoint and count
FLOPs through the CLI."""

import json
import os

import flax.linen as nn
import jax.numpy as jnp
import ml_collections
from conftest import ROOT

from jaxlm import registry
from jaxlm.bench.flops import example_flops, flops_per_token
from jaxlm.cli.main import main
from jaxlm.config.loading import load_config_file
from jaxlm.losses.causal_lm import causal_lm_loss
from jaxlm.models import inventory as inv
from jaxlm.models.layers import HeadInputs, dense, kernel_init, token_embedding

TINY = os.path.join(ROOT, "experiments", "gpt_tiny.py")


class Bigram(nn.Module):
    """Each position predicts the next token from its own token only: embedding → one dense layer → tied head."""

    cfg: ml_collections.ConfigDict
    dtype: jnp.dtype = jnp.float32
    decode: bool = False

    @nn.compact
    def __call__(
        self, tokens, positions=None, segment_ids=None, deterministic: bool = True, return_hidden: bool = False
    ):
        c = self.cfg
        embed = token_embedding(c, c.init, "embed")
        x = embed(tokens).astype(self.dtype)
        x = nn.gelu(dense(c.d_model, ("embed", "mlp"), kernel_init(c.init, c.init_std), True, self.dtype, "mix")(x))
        head = HeadInputs(x, embed.embedding)
        return head if return_hidden else head.logits()


def matmuls(cfg, s, t):
    m = cfg.model
    return [inv.Matmul("mix", m.d_model * m.d_model, s), inv.Matmul("lm_head", m.vocab_size * m.d_model, s)]


def attentions(cfg, s, t):
    return []


def test_a_toy_family_trains_evaluates_and_counts_flops_from_one_registry_entry(monkeypatch, tmp_path):
    init_args = registry.FAMILIES["gpt"].init_args
    monkeypatch.setitem(
        registry.FAMILIES,
        "bigram",
        registry.Family(Bigram, (causal_lm_loss,), init_args, matmuls, attentions, generates_text=False),
    )
    wd = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--config",
                TINY,
                "--workdir",
                str(wd),
                "--config.model.family=bigram",
                "--config.train.steps=2",
                "--config.train.eval_every=2",
                "--config.train.eval_batches=1",
                "--config.train.checkpoint_every=2",
                "--config.train.progress=False",
            ]
        )
        == 0
    )
    saved = json.load(open(wd / "config.json"))
    assert saved["model"]["family"] == "bigram" and os.path.isdir(wd / "checkpoints" / "2")
    assert main(["eval", "--workdir", str(wd)]) == 0
    cfg = load_config_file(TINY)
    cfg.model.family = "bigram"
    d, v, s = cfg.model.d_model, cfg.model.vocab_size, cfg.data.seq_len
    assert example_flops(cfg) == {"dense": 6.0 * (d * d + v * d) * s, "attention": 0.0}
    assert flops_per_token(cfg)[0] == 6.0 * (d * d + v * d)
