"""T5 pre-training for the genre fine-tune: T5's BERT-style denoising on the fine-tune's stratified split, the
objective whose decoder learns to read its encoder within a CPU budget (span corruption's does not).

The model of experiments/t5_span_corruption.py (2+2 × 128, relu FF, tied embedding), pre-trained on the training
plays of experiments/finetune_genre_t5.py's split (one play per genre held out for validation, one for test),
so no held-out play is seen. The objective is T5's "BERT-style" denoising (Raffel et al. 2020, §3.3.1: 15% of
tokens corrupted, 90% to [MASK] and 10% to a random token; the decoder reconstructs the whole original text).
Its targets are mostly copies of the input, which a decoder can only produce through cross-attention, so the
encoder is used once that copy circuit forms (the loss falls from 3.7 to 1.1 between steps 1000 and 1500).
Under span corruption the decoder's own language model explains the short targets almost as well, and after
800 steps × 32 its decoder still ignored the encoder (context_gain 0.001 nats).
Command:  jaxlm train --config experiments/t5_genre_pretrain.py --workdir runs/t5_genre_pretrain
          jaxlm eval --workdir runs/t5_genre_pretrain --context-ablation
          then stage 2, experiments/t5_genre_span_pretrain.py (span corruption from these weights), before
          experiments/finetune_genre_t5.py: fine-tuned from this stage alone, T5 trails scratch; after stage 2
          it is ahead on the test plays (README)
Runtime:  ≈ 27 min on 2 idle CPU cores (8.1k tokens/s, 12.3M tokens; the decoder runs over all 128 targets); 71 min
          measured while the cores were shared with other runs.
Expected: validation loss 4.67 → 3.69 → 1.07 → 0.83 → 0.74 → 0.71 nats per target token (steps 500…3000; the
          copy circuit forms between steps 1000 and 1500), token accuracy 0.875; test loss 0.66. `context_gain`
          5.35 nats on the validation plays (6.06 with another passage's encoder inputs).
"""

import os

from jaxlm.config.loading import load_config_file


def get_config():
    c = load_config_file(os.path.join(os.path.dirname(os.path.abspath(__file__)), "t5_span_corruption.py"))
    c.data.update(objective="t5_bert_style", stratify=True, val_docs=1, test_docs=1)
    c.train.update(steps=3000, batch_size=32, eval_every=500, checkpoint_every=500, keep_checkpoints=2)
    c.optim.update(warmup=200)
    return c
