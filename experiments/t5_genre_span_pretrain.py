"""T5 pre-training for the genre fine-tune, stage 2: span corruption, continued from experiments/t5_genre_pretrain.py.

Stage 1 (T5's BERT-style denoising, 3000 steps) teaches the decoder to read its encoder: a copy circuit that span
corruption from scratch had not formed after 800 steps (context_gain 0.001 nats), and that 6500 steps × 128 rows
from scratch on a GPU left far behind (val loss 4.02 vs 3.27 here). On its own stage 1 transfers badly. Stage 2
continues with T5's own objective (Raffel et al. 2020: 15% noise, mean span 3, each span → one sentinel; the targets
are the dropped spans) with a fresh optimizer, dropout 0.1, peak lr 1e-3, 5000 steps × 128 rows (82M tokens, ≈ 77
passes over the training plays' 1.06M tokens, each with new noise). `config.finetune.init_from` takes stage 1's
newest weights, model and tokenizer. Both stages read only the training plays of experiments/finetune_genre_t5.py's
stratified split. An accelerator-scale preset: measured on one H200. The CPU-sized version, 5000 × 32 rows without
dropout (`--config.train.batch_size=32 --config.model.dropout=0`, ≈ 17 min on 2 idle cores, val loss 3.30), gave no
clear gain over scratch (README).
Command:  jaxlm train --config experiments/t5_genre_pretrain.py --workdir runs/t5_genre_pretrain   (stage 1)
          jaxlm train --config experiments/t5_genre_span_pretrain.py --workdir runs/t5_genre_span_pretrain
          jaxlm eval --workdir runs/t5_genre_span_pretrain --context-ablation
          jaxlm finetune --config experiments/finetune_genre_t5.py --workdir runs/genre_t5 \
              --init-from runs/t5_genre_span_pretrain
Runtime:  ≈ 3.5 min of steps on one H200 (≈ 25 steps/s, 400k tokens/s, while two other runs shared the GPU;
          2026-11-27); ≈ 70 min on 2 idle CPU cores (20k tokens/s at batch 32; not run at this size).
Expected: validation loss 3.54 → 3.38 → 3.30 → 3.27 nats per target token (steps 1250…5000), test 3.10; target
          accuracy 0.42; `context_gain` 1.93 nats on the validation plays. Fine-tuned (finetune_genre_t5.py,
          seeds 0–9): test accuracy 0.354 vs 0.292 from scratch, val 0.304 vs 0.289.
"""

import os

from jaxlm.config.loading import load_config_file


def get_config():
    c = load_config_file(os.path.join(os.path.dirname(os.path.abspath(__file__)), "t5_genre_pretrain.py"))
    c.model.update(dropout=0.1)
    c.data.update(objective="t5_span_corruption")
    c.train.update(steps=5000, batch_size=128, eval_every=1250, checkpoint_every=1250, log_every=250)
    c.optim.update(peak_lr=1e-3, warmup=200)
    c.finetune.update(init_from="runs/t5_genre_pretrain")
    return c
