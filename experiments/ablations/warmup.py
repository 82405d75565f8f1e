"""Claim: a post-LN Transformer needs learning-rate warmup at a high peak learning rate, a pre-LN one much less.
Source: Xiong et al. 2020, "On Layer Normalization in the Transformer Architecture", §3.2–3.3, Fig. 3 (post-LN
BERT/translation without warmup fails or lags; §4: pre-LN trains without warmup); Liu et al. 2020, "Understanding
the Difficulty of Training Transformers", §3 (post-LN's amplified dependence on the residual branch).
Expected: val_loss post_no_warmup > post_warmup at each peak lr, post-LN's no-warmup runs stuck on the masked-LM
unigram plateau (failed runs), pre_no_warmup < post_no_warmup (pre-LN trains without warmup).
Setup: RoBERTa MLM (dynamic masks) on a deep, narrow 6 × 64 BERT (2 heads, d_ff 256; depth is what makes
post-LN hard), rows of 64 tokens, batch 32, 500 steps; `model.norm` post | pre; peak lr 1e-3 | 3e-3 | 1e-2, AdamW (β2
0.98, ε 1e-6, decay 0.01); "warmup" is a linear ramp over the first 10% of steps, "no_warmup" starts at the peak;
both then decay linearly to 0. A run fails when its final val_loss stays above 6.1: the unigram plateau is 6.18
(every masked token predicted as the most frequent one, val accuracy 0.091).
Result (cpu scale, 3 seeds, experiments/ablations/results/warmup/): not resolved where it matters. At 3e-3 the
directions are the paper's — post-LN without warmup is worst (val_loss 6.116 vs 6.005 with warmup, paired +0.11,
CI [−0.04, +0.27]; vs pre-LN without warmup +0.07, CI [−0.04, +0.19]) — but each CI includes 0; one seed of
post-LN fails (stays on the plateau) with and without warmup. At 1e-3 nothing separates (all 6.03–6.04; pre-LN
with and without warmup equivalent within ±0.05), and at 1e-2 every run of every variant fails (12 / 12; the
order post-LN no-warmup > warmup even disagrees, by 0.004). The 4 × 128, 160-step design before sat on the
plateau in every variant. This design resolves differences of about ±0.15 at 3e-3; a post-LN failure that
warmup prevents did not appear in a 6-layer, 64-wide model within 500 steps.
Runtime (cpu scale, 2 cores): 5674 s for 12 variants × 3 seeds (500 steps of 32 × 64 tokens; the runs' wall
times added up, with 2–6 other sweeps on the 2 cores, load average 2–9).
Seeds: 3 (0, 1, 2) at both scales; the accelerator scale is a 12 × 384 model for 5000 steps of 128 × 128.
Command: jaxlm sweep --config experiments/ablations/warmup.py --workdir runs/warmup [--scale accelerator]
"""

import ml_collections

from jaxlm.config.schema import base_config
from jaxlm.sweep.claims import expect, expect_equivalent, failure

LRS = {"lr1e-3": 1e-3, "lr3e-3": 3e-3, "lr1e-2": 1e-2}


def get_config(scale: str = "cpu") -> ml_collections.ConfigDict:
    """RoBERTa MLM on a 6 × 64 BERT for 500 steps of 32 × 64 (cpu) or 12 × 384 for 5000 of 128 × 128."""
    c = base_config()
    cpu = scale == "cpu"
    c.model.update(
        family="bert",
        n_layers=6 if cpu else 12,
        n_heads=2 if cpu else 6,
        d_model=64 if cpu else 384,
        d_ff=256 if cpu else 1536,
        vocab_size=4096,
        max_len=64 if cpu else 128,
        nsp_head=False,
    )
    c.data.update(objective="roberta_mlm", seq_len=64 if cpu else 128, max_predictions=10 if cpu else 20)
    c.data.segment_mask = False
    c.train.update(
        steps=500 if cpu else 5000,
        batch_size=32 if cpu else 128,
        log_every=50 if cpu else 100,
        eval_every=100 if cpu else 500,
        eval_batches=4 if cpu else 0,
        eval_batch_size=32,
        checkpoint_every=500 if cpu else 1000,
        sample_tokens=0,
    )
    c.optim.update(schedule="linear", final_lr_frac=0.0, b2=0.98, eps=1e-6, weight_decay=0.01)
    c.sweep = {
        "seeds": (0, 1, 2),
        "metrics": ("val_loss", "val_accuracy"),
        "finetune": "",
        "failure": failure("val_loss", above=6.1),
        "claims": tuple(
            claim
            for lr in LRS
            for claim in (
                expect(f"post_no_warmup_{lr}", ">", f"post_warmup_{lr}", metric="val_loss"),
                expect(f"post_no_warmup_{lr}", ">", f"pre_no_warmup_{lr}", metric="val_loss"),
                expect_equivalent(f"pre_no_warmup_{lr}", f"pre_warmup_{lr}", metric="val_loss", margin=0.05),
            )
        ),
    }
    return c


def get_variants(scale: str = "cpu") -> dict[str, dict[str, object]]:
    """Post-LN and pre-LN, each with 10% linear warmup and without, at two peak learning rates."""
    warmup = 50 if scale == "cpu" else 500
    return {
        f"{norm}_{name}_{lr_name}": {"model.norm": norm, "optim.warmup": steps, "optim.peak_lr": lr}
        for lr_name, lr in LRS.items()
        for norm in ("post", "pre")
        for name, steps in (("warmup", warmup), ("no_warmup", 0))
    }
