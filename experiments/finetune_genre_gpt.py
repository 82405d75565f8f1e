"""Genre fine-tuning, GPT style: passage, "\\n\\ngenre:", then the label as the continuation (loss only on the
label and eos), with the model of experiments/gpt_shakespeare.py; scored by exact match of the greedy
continuation.

A passage (4 consecutive speeches, truncated so the prompt and the longest label fit 128 tokens) → the genre
folder name of its play; one play per genre held out for validation and one for test (stratified split).
Command:  jaxlm finetune --config experiments/finetune_genre_gpt.py --workdir runs/genre_gpt --init-from runs/gpt_pre
          (or omit --init-from to train the same model from scratch)
          where runs/gpt_pre = jaxlm train --config experiments/gpt_shakespeare.py --workdir runs/gpt_pre \
              --config.data.stratify=True --config.data.val_docs=1 --config.data.test_docs=1
Runtime:  7.4 min on 2 CPU cores with the load average rising from 2 to 5 (200 steps × 4096 tokens: 4.7 min;
          greedy continuations of 2.6k held-out passages, a full forward pass per generated token: 2.6 min);
          the 4×192 GPT costs ~3× the BERT per token, so it is the slowest of the three.
Expected: from scratch: test accuracy 0.27, macro-F1 0.19 (val 0.19 / 0.15); majority class 0.151 / 0.044
          (300 steps instead: test 0.345 / 0.30). From runs/gpt_pre (2000 steps, val 2.22 bits per
          byte), seeds 0 / 1: test 0.309 / 0.284, val 0.236 / 0.229; scratch seed 1: 0.278 / 0.251 (README).
"""

import os

from jaxlm.config.loading import load_config_file
from jaxlm.projects.genre.config import with_genre_section
from jaxlm.projects.genre.finetune import finetune  # noqa: F401  (what a sweep's fine-tune stage runs)


def get_config():
    c = load_config_file(os.path.join(os.path.dirname(os.path.abspath(__file__)), "gpt_shakespeare.py"))
    c.model.update(dropout=0.1)
    c.data.update(
        objective="jaxlm.projects.genre.objectives:continuation", seq_len=128, stratify=True, val_docs=1, test_docs=1
    )
    with_genre_section(c, passage_speeches=4, balance=True)
    c.train.update(
        steps=200,
        batch_size=32,
        log_every=50,
        eval_every=100,
        checkpoint_every=100,
        eval_batch_size=64,
        sample_tokens=0,
    )
    c.optim.update(peak_lr=3e-4, warmup=20, schedule="linear", final_lr_frac=0.0, weight_decay=0.01)
    return c
