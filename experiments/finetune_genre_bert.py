"""Genre fine-tuning, BERT style: a new classifier on the pooled [CLS] of experiments/bert_shakespeare.py's model.

A passage (4 consecutive speeches, truncated to 126 tokens) → the genre of its play (6 labels); one play per
genre held out for validation and one for test (stratified split), training passages balanced by genre.
Command:  jaxlm finetune --config experiments/finetune_genre_bert.py --workdir runs/genre_bert \
              --init-from runs/bert_pre      (or omit --init-from to train the same model from scratch)
          where runs/bert_pre = jaxlm train --config experiments/bert_shakespeare.py --workdir runs/bert_pre \
              --config.data.stratify=True --config.data.val_docs=1 --config.data.test_docs=1
          (pre-trained on the same stratified split, so the held-out plays are unseen by pre-training too).
Runtime:  2.5 min on 2 CPU cores at load average ≈ 2 (300 steps × 4096 tokens, then scoring 2.6k held-out
          passages); 7–8.5 min while the shared machine ran at load ≈ 7.
Expected: test (6 plays, 1287 passages) accuracy 0.355, macro-F1 0.31 from bert_pre (val 0.358 / 0.31);
          from scratch 0.359 / 0.28 (val 0.327 / 0.30); majority class ('histories') 0.151 / 0.044. With
          --config.train.seed=1: 0.307 / 0.26 pre-trained, 0.346 / 0.27 scratch (no reliable gap). Both fit
          the training plays (train accuracy ≈ 0.9); the validation loss rises after step 150.
          From a 4× longer pre-training (bert_pre with --config.train.steps=2400): 0.176 / 0.13 and 0.246 / 0.21
          (seeds 0 / 1), below scratch: longer pre-training is not what this task needs (README).
"""

import os

from jaxlm.config.loading import load_config_file


def get_config():
    c = load_config_file(os.path.join(os.path.dirname(os.path.abspath(__file__)), "bert_shakespeare.py"))
    c.model.update(num_labels=6, dropout=0.1)
    c.data.update(objective="genre_classification", seq_len=128, stratify=True, val_docs=1, test_docs=1)
    c.finetune.update(passage_speeches=4, balance=True)
    c.train.update(steps=300, batch_size=32, log_every=50, eval_every=150, checkpoint_every=150,
                   eval_batch_size=64)
    c.optim.update(peak_lr=3e-4, warmup=30, schedule="linear", final_lr_frac=0.0, weight_decay=0.01, b2=0.999)
    return c
