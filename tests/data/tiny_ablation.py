"""Claim: a 3× higher peak learning rate lowers the tiny GPT's validation loss after 10 steps.
Source: none (a test fixture for `jaxlm sweep`). Expected direction: lr_1e-2 < lr_3e-3 in val_loss.
Runtime (cpu scale, 2 cores): ~40 s for 2 variants × 2 seeds (with the tokenizer on a first run).
Command: jaxlm sweep --config tests/data/tiny_ablation.py --workdir runs/tiny_ablation [--scale accelerator]
"""

import ml_collections

from jaxlm.config.schema import base_config
from jaxlm.sweep.claims import expect


def get_config(scale: str = "cpu") -> ml_collections.ConfigDict:
    """The tiny GPT of experiments/gpt_tiny.py for 10 steps (100 at accelerator scale), evaluated every 5."""
    c = base_config()
    c.model.update(n_layers=2, n_heads=2, d_model=64, d_ff=256, vocab_size=512, max_len=64)
    c.data.update(seq_len=64)
    c.train.update(
        steps=10 if scale == "cpu" else 100,
        batch_size=8,
        log_every=5,
        eval_every=5,
        eval_batches=1,
        eval_batch_size=8,
        checkpoint_every=5,
        sample_tokens=0,
    )
    c.optim.update(warmup=2)
    c.sweep = {
        "seeds": (0, 1),
        "metrics": ("val_loss", "val_bits_per_byte"),
        "finetune": "",
        "claims": (expect("lr_1e-2", "<", "lr_3e-3", metric="val_loss"),),
    }
    return c


def get_variants(scale: str = "cpu") -> dict[str, dict[str, object]]:
    """Two peak learning rates."""
    return {"lr_3e-3": {"optim.peak_lr": 3e-3}, "lr_1e-2": {"optim.peak_lr": 1e-2}}
