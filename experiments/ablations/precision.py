"""Claim: fp16 training needs loss scaling because small gradients underflow to zero in fp16's backward pass;
bf16 (fp32's exponent range) and fp16 with dynamic loss scaling train like fp32.
Source: Micikevicius et al. 2018, "Mixed Precision Training", §3.2 (loss scaling; Fig. 3: gradient histogram
below fp16's range), §4; Kalamkar et al. 2019, "A Study of BFLOAT16 for Deep Learning Training", §1, §4.
Expected: val_loss fp32 ≈ bf16 ≈ fp16_loss_scale ≤ fp16_no_scale; train_grad_zero_frac fp16_no_scale >
fp16_loss_scale ≈ bf16 ≈ fp32.
Metric: `grad_zero_frac` is the fraction of all parameter-gradient elements that are exactly 0.0 in a step's
gradient (after microbatch accumulation and loss-scale unscaling, before clipping), logged by the jitted step
every step (log_every=1); `train_grad_zero_frac` is its mean over all steps. Params and optimizer state are
fp32 in every variant, so the excess over the fp32 run is the underflow of the low-precision backward pass.
fp16_loss_scale starts at 2^15 and halves on overflow (a skipped step, `train_skipped_steps` in results.csv).
Runtime (cpu scale, 2 cores): 444 s for 4 variants × 3 seeds (2 × 128 GPT, 150 steps of 16 × 64 tokens; the
runs' wall times added up, 2 cores shared with other sweeps, load average 6–9).
Result (cpu scale, 3 seeds, experiments/ablations/results/precision/): fp16 without loss scaling zeroes more
gradient elements than fp32 — agrees (train_grad_zero_frac 0.0014 vs 3e-8, CI of the difference [+0.0001,
+0.0027]); bf16 ≈ fp32 and fp16 with loss scaling ≈ fp32 within ±0.02 in val_loss are not resolved: the paired
differences are small (−0.054, −0.008) but vary by ±0.15–0.25 between seeds at 150 steps, so this design cannot
show equivalence to ±0.02 (it would take ~40 seeds); it does rule out an effect beyond about ±0.25.
Seeds: 3 (0, 1, 2) at both scales.
Command: jaxlm sweep --config experiments/ablations/precision.py --workdir runs/precision [--scale accelerator]
"""

import os

import ml_collections

from jaxlm.config.loading import import_user_module
from jaxlm.config.schema import base_config
from jaxlm.sweep.claims import expect, expect_equivalent


def get_config(scale: str = "cpu") -> ml_collections.ConfigDict:
    """The optimizers ablation's GPT and budget at `scale` (2 × 128, 150 steps on cpu; 6 × 384, 5000 steps on an
    accelerator), here AdamW at 3e-3 with the default weight decay, a shorter warmup and every step logged."""
    optimizers = os.path.join(os.path.dirname(os.path.abspath(__file__)), "optimizers.py")
    c = import_user_module(optimizers, "ablation module", "experiments/ablations/optimizers.py").get_config(scale)
    c.train.log_every = 1
    c.optim.update(peak_lr=3e-3, warmup=15 if scale == "cpu" else 250, weight_decay=base_config().optim.weight_decay)
    c.sweep = {
        "seeds": (0, 1, 2),
        "metrics": ("val_loss", "train_grad_zero_frac"),
        "finetune": "",
        "claims": (
            expect_equivalent("bf16", "fp32", metric="val_loss", margin=0.02),
            expect_equivalent("fp16_loss_scale", "fp32", metric="val_loss", margin=0.02),
            expect("fp16_no_scale", ">", "fp32", metric="train_grad_zero_frac"),
        ),
    }
    return c


def get_variants(scale: str = "cpu") -> dict[str, dict[str, object]]:
    """fp32, bf16, fp16 with dynamic loss scaling, fp16 without."""
    return {
        "fp32": {"train.precision": "fp32"},
        "bf16": {"train.precision": "bf16"},
        "fp16_loss_scale": {"train.precision": "fp16", "train.loss_scale": True},
        "fp16_no_scale": {"train.precision": "fp16", "train.loss_scale": False},
    }
