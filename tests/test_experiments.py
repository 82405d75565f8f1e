"""Every shipped experiment in experiments/ loads and trains: shrunk to a one-layer model on 32-token inputs, but
with its own family, objective, optimizer, schedule, precision and accumulation, it takes two steps on the
embedded corpus and evaluates to a finite loss."""

import os

import numpy as np
import pytest
from conftest import ROOT

from jaxlm.config.loading import load_config_file
from jaxlm.train.loop import train

EXPERIMENTS = sorted(f for f in os.listdir(os.path.join(ROOT, "experiments")) if f.endswith(".py"))
SHRINK = dict(n_layers=1, n_decoder_layers=0, d_model=32, d_ff=64, n_heads=2, d_kv=0, vocab_size=512, max_len=32)


def test_every_family_has_an_experiment():
    families = {load_config_file(os.path.join(ROOT, "experiments", f)).model.family for f in EXPERIMENTS}
    assert {"gpt", "bert", "t5", "bart"} <= families


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_trains_two_steps(name, tmp_path):
    cfg = load_config_file(os.path.join(ROOT, "experiments", name))
    cfg.model.update(SHRINK)
    cfg.data.update(seq_len=32, dupe_factor=1)
    cfg.train.update(steps=2, batch_size=2 * cfg.train.microbatches, eval_batches=1, eval_batch_size=2,
                     log_every=1, eval_every=2, checkpoint_every=2, progress=False, sample_tokens=0)
    run = train(cfg, str(tmp_path))
    assert int(run.state.step) == 2
    assert np.isfinite(run.results["val"]["loss"]) and np.isfinite(run.results["test"]["loss"])
