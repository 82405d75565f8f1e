"""Claim: ramping the batch size up from a small value early in training (GPT-3's recipe) reaches a lower
validation loss at an equal number of tokens than training at the full batch from the start.
Source: Brown et al. 2020, "Language Models are Few-Shot Learners", Appendix B (batch ramp from 32k tokens over
the first 4–12B tokens); McCandlish et al. 2018, "An Empirical Model of Large-Batch Training", §2.2, §4 (the
critical batch grows as the loss falls, so small early batches waste fewer tokens).
Expected: val_loss ramp < no_ramp at equal train_tokens (the ramp also takes more optimizer steps).
Setup: experiments/gpt3_recipe.py's optimizer (AdamW β2 0.95, clip 1.0, decay 0.1, peak 2e-3) on a 2 × 128
GPT; full batch 16 × 128 tokens as 8 microbatches of 2; "ramp" grows 2 → 16 sequences over the first half of
the tokens; warmup (10%) and cosine decay are on the token clock, so both variants see the same learning rate
at the same token count, and each variant's step count is chosen so both stop at exactly the same tokens
(train_tokens). The validation curves are plotted against tokens seen.
Runtime (cpu scale, 2 cores): 138 s for 2 variants × 3 seeds (200,704 tokens per run; the runs' wall times added
up, 2 cores shared with other sweeps, load average 2–8); 141 s for 2 × 2 seeds before.
Result (cpu scale, 3 seeds, experiments/ablations/results/gpt3_recipe/): agrees — val_loss ramp 5.26 ± 0.08 vs
no_ramp 5.74 ± 0.14, paired difference −0.48, 95% CI [−0.62, −0.34] (2 seeds before: the same direction).
Seeds: 3 (0, 1, 2) at both scales (accelerator: 4 × 256 GPT, 49M tokens).
Command: jaxlm sweep --config experiments/ablations/gpt3_recipe.py --workdir runs/gpt3_recipe [--scale accelerator]
"""

import ml_collections

from jaxlm.config.schema import base_config
from jaxlm.optim.ramp import batch_plan
from jaxlm.sweep.claims import expect

TOKENS = {"cpu": 200_704, "accelerator": 49_217_536}  # whole full batches, with a half-way ramp that ends on one


def get_config(scale: str = "cpu") -> ml_collections.ConfigDict:
    """GPT-3's optimizer on a 2 × 128 GPT (cpu) or 4 × 256 (accelerator), 8 microbatches per full batch."""
    c = base_config()
    cpu = scale == "cpu"
    c.model.update(
        n_layers=2 if cpu else 4,
        n_heads=4,
        d_model=128 if cpu else 256,
        d_ff=512 if cpu else 1024,
        vocab_size=4096,
        max_len=128,
    )
    c.data.seq_len = 128
    c.train.update(batch_size=16 if cpu else 256, microbatches=8)
    c.train.update(
        steps=steps_for(c.train, 128, TOKENS[scale]),
        log_every=5 if cpu else 20,
        eval_every=14 if cpu else 200,
        eval_batches=4 if cpu else 0,
        eval_batch_size=32,
        checkpoint_every=1000,
        sample_tokens=0,
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
        warmup_tokens=TOKENS[scale] // 10,
        decay_tokens=TOKENS[scale],
    )
    c.sweep = {
        "seeds": (0, 1, 2),
        "metrics": ("val_loss", "train_tokens"),
        "finetune": "",
        "claims": (expect("ramp", "<", "no_ramp", metric="val_loss"),),
    }
    return c


def steps_for(train: ml_collections.ConfigDict, seq_len: int, tokens: int) -> int:
    """The optimizer steps after which `train`'s batch plan has consumed exactly `tokens` tokens."""
    plan = batch_plan(train, seq_len)
    steps = len(plan.ramp_active) + (tokens - plan.tokens(len(plan.ramp_active))) // plan.full_tokens
    if plan.tokens(steps) != tokens:
        raise ValueError(f"no step count consumes exactly {tokens} tokens: choose TOKENS and the ramp to match")
    return steps


def get_variants(scale: str = "cpu") -> dict[str, dict[str, object]]:
    """The full batch throughout, and the ramp from 2 sequences over the first half of the tokens."""
    train = get_config(scale).train
    train.update(batch_ramp_start=2, batch_ramp_tokens=TOKENS[scale] // 2)
    return {
        "no_ramp": {},
        "ramp": {
            "train.batch_ramp_start": 2,
            "train.batch_ramp_tokens": TOKENS[scale] // 2,
            "train.steps": steps_for(train, 128, TOKENS[scale]),
            "train.eval_every": 17 if scale == "cpu" else 340,
        },
    }
