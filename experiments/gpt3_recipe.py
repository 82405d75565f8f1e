"""GPT-3's optimization recipe (Brown et al. 2020, appendix B) on a small GPT and the embedded plays.

Adam β1 0.9, β2 0.95, ε 1e-8; global-norm clip 1.0; decoupled weight decay 0.1 on matmul kernels; linear
warmup over the first 50k tokens (GPT-3: 375M) then cosine decay to 10% of peak at the end of training; the
global batch ramps linearly from 2 to 16 sequences of 128 tokens over the first 400k tokens (GPT-3: 32k
tokens to the full batch over 4–12B tokens) as 1..8 accumulated microbatches of 2 sequences inside one
compiled step. Every step logs `tokens` (seen so far), `batch_size` (effective sequences) and `lr`.

Command:  jaxlm train --config experiments/gpt3_recipe.py --workdir runs/gpt3_recipe
Runtime:  about 3 minutes on 2 CPU cores (plus ~1 minute to build the tokenizer the first time).
Expected: batch_size 2 → 16 by step ~470 (375k tokens), lr peaks at step 154; after 600 steps (641k tokens)
          validation bits per byte ≈ 2.40 (test ≈ 2.41).
"""

from jaxlm.config.schema import base_config


def get_config():
    c = base_config()
    c.model.update(n_layers=4, n_heads=4, d_model=128, d_ff=512, vocab_size=4096, max_len=128)
    c.data.seq_len = 128
    c.train.update(
        steps=600,
        batch_size=16,
        microbatches=8,
        batch_ramp_start=2,
        batch_ramp_tokens=400_000,
        log_every=1,
        eval_every=300,
        checkpoint_every=300,
    )
    c.optim.update(
        name="adamw",
        peak_lr=2e-3,
        b1=0.9,
        b2=0.95,
        eps=1e-8,
        clip=1.0,
        weight_decay=0.1,
        schedule="cosine",
        final_lr_frac=0.1,
        warmup_tokens=50_000,
    )
    return c
