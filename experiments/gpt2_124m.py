"""GPT-2 small (124M parameters) — an accelerator preset, and the model the memory estimates in the README use.

Command:  jaxlm train --config experiments/gpt2_124m.py --workdir runs/gpt2_124m --config.train.precision=bf16
          jaxlm compile --config experiments/gpt2_124m.py --devices 8 --mesh 1,8,1   # per-device memory, on a laptop
Runtime:  not meant for 2 CPU cores (a step takes minutes there); sized for one GPU/TPU chip or more.
Expected: the same architecture as GPT-2 (12 layers, 12 heads, d 768, context 1024, vocab 50304 — 50257 rounded
          up to a multiple of 64); 124.4M parameters with tied embeddings.
Sizes:    --config.model.n_layers=24 --config.model.d_model=1024 --config.model.n_heads=16 (350M),
          36/1280/20 (774M), 48/1600/25 (1.5B); d_ff is 4·d_model.
"""

from jaxlm.config.schema import base_config


def get_config():
    c = base_config()
    c.model.update(n_layers=12, n_heads=12, d_model=768, d_ff=3072, vocab_size=50304, max_len=1024)
    c.data.update(seq_len=1024)
    c.train.update(
        steps=600000,
        batch_size=512,
        microbatches=1,
        log_every=100,
        eval_every=2000,
        checkpoint_every=2000,
        eval_batches=50,
        sample_tokens=0,
    )
    c.optim.update(peak_lr=6e-4, warmup=2000, schedule="cosine", final_lr_frac=0.1, weight_decay=0.1)
    return c
