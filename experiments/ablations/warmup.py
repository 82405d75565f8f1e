"""Claim: a post-LN Transformer needs learning-rate warmup at a high peak learning rate, a pre-LN one much less.
Source: Xiong et al. 2020, "On Layer Normalization in the Transformer Architecture", §3.2–3.3, Fig. 3 (post-LN
BERT/translation without warmup fails or lags; §4: pre-LN trains without warmup); Liu et al. 2020, "Understanding
the Difficulty of Training Transformers", §3 (post-LN's amplified dependence on the residual branch).
Expected: val_loss post_no_warmup > post_warmup, and pre_no_warmup ≈ pre_warmup (the warmup gap is larger for
post-LN than for pre-LN).
Setup: RoBERTa MLM (dynamic masks) on a 4 × 128 BERT, `model.norm` post | pre; peak lr 2e-3, AdamW (β2 0.98,
ε 1e-6, decay 0.01) as experiments/roberta_shakespeare.py, where post-LN trains with warmup; "warmup" is a
linear ramp over the first 10% of steps, "no_warmup" starts at the peak; both then decay linearly to 0.
Runtime (cpu scale, 2 cores): 492 s for 4 variants × 1 seed (160 steps of 16 × 128 tokens): the measured
wall time of the whole sweep (8 min 12 s) on 2 cores shared with other jobs (load average 6–7).
Seeds: 1 at cpu scale, 3 at accelerator scale (a 12 × 384 model: depth makes post-LN harder).
Command: jaxlm sweep --config experiments/ablations/warmup.py --workdir runs/warmup [--scale accelerator]
"""

import ml_collections

from jaxlm.config.schema import base_config
from jaxlm.sweep.claims import expect, expect_equivalent


def get_config(scale: str = "cpu") -> ml_collections.ConfigDict:
    """RoBERTa MLM on a 4 × 128 BERT for 160 steps (cpu) or 12 × 384 for 5000 steps (accelerator), lr 2e-3."""
    c = base_config()
    cpu = scale == "cpu"
    c.model.update(
        family="bert",
        n_layers=4 if cpu else 12,
        n_heads=4 if cpu else 6,
        d_model=128 if cpu else 384,
        d_ff=512 if cpu else 1536,
        vocab_size=4096,
        max_len=128,
        nsp_head=False,
    )
    c.data.update(objective="roberta_mlm", seq_len=128, max_predictions=20, segment_mask=False)
    c.train.update(
        steps=160 if cpu else 5000,
        batch_size=16 if cpu else 128,
        log_every=10 if cpu else 100,
        eval_every=40 if cpu else 500,
        eval_batches=4 if cpu else 0,
        eval_batch_size=32,
        checkpoint_every=160 if cpu else 1000,
        sample_tokens=0,
    )
    c.optim.update(peak_lr=2e-3, schedule="linear", final_lr_frac=0.0, b2=0.98, eps=1e-6, weight_decay=0.01)
    c.sweep = {
        "seeds": (0, 1, 2),
        "metrics": ("val_loss",),
        "finetune": "",
        "claims": (
            expect("post_no_warmup", ">", "post_warmup", metric="val_loss"),
            expect_equivalent("pre_no_warmup", "pre_warmup", metric="val_loss", margin=0.02),
        ),
    }
    return c


def get_variants(scale: str = "cpu") -> dict[str, dict[str, object]]:
    """Post-LN and pre-LN, each with 10% linear warmup and without."""
    warmup = 16 if scale == "cpu" else 500
    return {
        f"{norm}_{name}": {"model.norm": norm, "optim.warmup": steps}
        for norm in ("post", "pre")
        for name, steps in (("warmup", warmup), ("no_warmup", 0))
    }
