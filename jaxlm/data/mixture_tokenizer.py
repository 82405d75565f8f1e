"""The one tokenizer of a data mixture: trained on a sample of every source, each source contributing its share
of config.data.tokenizer_sample_bytes (its weight, averaged over a schedule), cached like a single source's."""

import hashlib
import json
import os

import ml_collections
import numpy as np

from jaxlm.config.mixture import mixture_entries
from jaxlm.data.prepare import Plan, cache_root, given_tokenizer, scan, tokenizer_sample, train_configured
from jaxlm.data.store_format import TOKENIZER_FILE
from jaxlm.io import atomic_write


def mixture_tokenizer_path(cfg: ml_collections.ConfigDict, workdir: str | None, progress: bool) -> str:
    """The tokenizer file every source of the mixture is tokenized with: the workdir's (a resumed run's),
    config.data.tokenizer_path, or one trained on the sources' samples (built once, then found in the cache)."""
    d = cfg.data
    if given_tokenizer(d, workdir) is not None:
        saved = os.path.join(workdir, TOKENIZER_FILE) if workdir else ""
        return saved if saved and os.path.exists(saved) else d.tokenizer_path
    entries = mixture_entries(d)
    shares = np.array([e.weight for e in entries]) / sum(e.weight for e in entries)
    shares = (shares + np.array([e.final_weight for e in entries]) / sum(e.final_weight for e in entries)) / 2
    budgets = [max(1, int(d.tokenizer_sample_bytes * s)) for s in shares]
    plans = [Plan.from_config(ml_collections.ConfigDict({**d.to_dict(), "source": e.source}), False) for e in entries]
    settings = [cfg.model.vocab_size, d.tokenizer, d.tokenizer_trainer, d.tokenizer_character_coverage, budgets]
    key = hashlib.sha256(json.dumps([[p.key() for p in plans], settings]).encode()).hexdigest()[:32]
    path = os.path.join(cache_root(), "tokenizers", f"mixture-{key}.model")
    if not os.path.isfile(path):
        texts = []
        for plan, budget in zip(plans, budgets):
            texts += tokenizer_sample(plan, scan(plan, progress), budget, d.split_seed, progress)
        with open(train_configured(texts, cfg, progress), "rb") as f:
            atomic_write(path, f.read())
    return path
