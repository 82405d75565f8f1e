"""T5 pre-training for the genre fine-tune, stage 2: span corruption, continued from experiments/t5_genre_pretrain.py.

Stage 1 (T5's BERT-style denoising, 3000 steps) teaches the decoder to read its encoder: a copy circuit that span
corruption from scratch had not formed after 800 steps (context_gain 0.001 nats). On its own it transfers
badly: the decoder's cross-attention looks where it copied from, and its encoder's features are no better for
genre than a fresh initialisation's (`jaxlm probe`). Stage 2 continues with T5's own objective (Raffel et al. 2020:
15% noise, mean span 3, each span → one sentinel; the targets are the dropped spans), which now uses the encoder
from its first steps, for 5000 steps × 32 rows at peak lr 1e-3 with a fresh optimizer (`config.finetune.init_from`
takes stage 1's newest weights, model and tokenizer). Both stages read only the training plays of
experiments/finetune_genre_t5.py's stratified split.
Command:  jaxlm train --config experiments/t5_genre_pretrain.py --workdir runs/t5_genre_pretrain   (stage 1)
          jaxlm train --config experiments/t5_genre_span_pretrain.py --workdir runs/t5_genre_span_pretrain
          jaxlm eval --workdir runs/t5_genre_span_pretrain --context-ablation
          jaxlm finetune --config experiments/finetune_genre_t5.py --workdir runs/genre_t5 \
              --init-from runs/t5_genre_span_pretrain
Runtime:  ≈ 17 min on 2 idle CPU cores (≈ 20k tokens/s; 20.5M tokens), 24 min measured while sharing them with
          another run; stage 1 ≈ 27 min.
Expected: validation loss 3.63 → 3.49 → 3.38 → 3.33 → 3.30 nats per target token (steps 1000…5000), test 3.09;
          `context_gain` 2.01 nats on the validation plays (1.50 after 1500 steps).
"""

import os

from jaxlm.config.loading import load_config_file


def get_config():
    c = load_config_file(os.path.join(os.path.dirname(os.path.abspath(__file__)), "t5_genre_pretrain.py"))
    c.data.update(objective="t5_span_corruption")
    c.train.update(steps=5000, eval_every=1000, checkpoint_every=500)
    c.optim.update(peak_lr=1e-3, warmup=100)
    c.finetune.update(init_from="runs/t5_genre_pretrain")
    return c
