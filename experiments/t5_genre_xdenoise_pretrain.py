"""T5 genre pre-training, stage 2 (extreme denoising): continued from experiments/t5_genre_pretrain.py.

UL2's "X-denoiser" (Tay et al. 2022): span corruption with half of the tokens corrupted (noise density 0.5) in spans
of mean length 8, so the decoder must rebuild half of each passage and cannot do it from its own language model
alone; the encoder has to carry the passage's content. It starts from stage 1's weights (T5's BERT-style denoising,
whose decoder already reads its encoder) with a fresh optimizer, dropout 0.1, peak lr 1e-3, 4000 steps × 128 rows
(65.5M tokens, ≈ 62 passes over the training plays' 1.06M tokens, each with new noise). Both stages read only the
training plays of experiments/finetune_genre_t5.py's stratified split. An accelerator-scale preset: measured on one
H200; on 2 idle CPU cores ≈ 3 h, estimated (3k tokens/s measured at batch 32 on a machine loaded ≈ 2×).
Command:  jaxlm train --config experiments/t5_genre_pretrain.py --workdir runs/t5_genre_pretrain   (stage 1)
          jaxlm train --config experiments/t5_genre_xdenoise_pretrain.py --workdir runs/t5_genre_xdenoise_pretrain
          jaxlm eval --workdir runs/t5_genre_xdenoise_pretrain --context-ablation
          jaxlm finetune --config experiments/finetune_genre_t5.py --workdir runs/genre_t5 \
              --init-from runs/t5_genre_xdenoise_pretrain
Runtime:  ≈ 2.5 min of steps on one H200 (≈ 450k tokens/s while two other runs shared the GPU; 2026-11-27).
Expected: validation loss 4.23 → 4.03 → 3.96 → 3.93 nats per target token (steps 1000…4000), test 3.75; target
          accuracy 0.29; `context_gain` 0.86 nats on the validation plays. Fine-tuned (finetune_genre_t5.py,
          seeds 0–4): test accuracy 0.343 vs 0.283 from scratch (same seeds), val 0.294 vs 0.294.
"""

import os

from jaxlm.config.loading import load_config_file


def get_config():
    c = load_config_file(os.path.join(os.path.dirname(os.path.abspath(__file__)), "t5_genre_pretrain.py"))
    c.model.update(dropout=0.1)
    c.data.update(objective="t5_span_corruption", noise_density=0.5, mean_span_length=8.0)
    c.train.update(steps=4000, batch_size=128, eval_every=1000, checkpoint_every=1000, log_every=250)
    c.optim.update(peak_lr=1e-3, warmup=200)
    c.finetune.update(init_from="runs/t5_genre_pretrain")
    return c
