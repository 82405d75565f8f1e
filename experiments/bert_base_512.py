"""BERT's phase 2: the last 10% of the steps at sequence length 512, continuing a phase-1 run (experiments/bert_base.py
or bert_large.py) — for accelerators, not for 2 CPU cores.

Command:  jaxlm train --config experiments/bert_base_512.py --workdir runs/bert_base_512 \
              --config.data.source=CORPUS --config.finetune.init_from=runs/bert_base   (or runs/bert_large)
Recipe (Devlin et al. 2019): 100k steps of 256 × 512 tokens, 77 predictions per sequence (round(0.15 × 512);
BERT's scripts: 80), lr from where phase 1 left it (1e-4 · 100k/990k) linearly to 0, no new warmup. The model
section and the weights come from the phase-1 workdir (`finetune.init_from`, so this serves BERT-large too);
unlike BERT, Adam's moments start afresh.
"""

import os

from jaxlm.config.loading import load_config_file


def get_config():
    c = load_config_file(os.path.join(os.path.dirname(os.path.abspath(__file__)), "bert_base.py"))
    c.data.update(seq_len=512, max_predictions=0)
    c.train.update(steps=100_000)
    c.optim.update(peak_lr=1e-4 * 10 / 99, warmup=0, final_lr_frac=0.0)
    c.finetune.init_from = "runs/bert_base"
    return c
