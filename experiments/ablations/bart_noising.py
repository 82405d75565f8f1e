"""Claim: among BART's noising transforms, text infilling is the best single pre-training transform and
infilling + sentence permutation (the final BART recipe) is at least as good; document rotation and sentence
permutation alone are poor.
Source: Lewis et al. 2019, "BART: Denoising Sequence-to-Sequence Pre-training ...", §2.2 (the transforms),
§4.1–4.3 and Table 1 (infilling consistently strong; permutation and rotation alone weak), §5.1 (final recipe:
30% infilling + permuting all sentences).
Expected: recipe_val_loss infill ≈ infill_permute < token_mask, token_delete < permute, rotate.
Metric: each variant's own `val_loss` is a different task (masking is easier than deletion, etc.), so every
model is also evaluated on two fixed tasks on the validation plays (`config.sweep.evals`):
`recipe_val_loss` — the final recipe's noising (30% infilling + all sentences permuted), identical inputs for
every variant (eval noise is seeded by example) — and `clean_val_loss`, rebuilding an un-noised window (copying).
BART's paper compares fine-tuned downstream tasks instead; the recipe eval favours the variant trained on it.
Setup: 2+2-layer, 128-wide BART (post-LN, as experiments/bart_denoise.py); every transform at 30% (rotation:
every document); AdamW peak lr 6e-4, 60 warmup steps, cosine to 10% (at 2e-3 this model collapses to the
unigram prediction and stays there; at 3e-4–6e-4 it leaves that plateau after a few hundred steps).
Caveat: at cpu scale the decoder does not learn to use the encoder within the budget (clean_val_loss ≈
recipe_val_loss ≈ a decoder-only LM's loss, for every variant), so the cpu sweep cannot rank the transforms;
experiments/bart_denoise.py (600 steps of 16 × 128) gets below that level (val 4.85), at ~12 min per run here. See
experiments/ablations/results/bart_noising/report.md.
Runtime (cpu scale, 2 cores): 516 s for 6 variants × 1 seed (600 steps of 8 × 64 tokens): the measured
wall time of the whole sweep (8 min 36 s) on 2 cores shared with other jobs (load average 6–7).
Seeds: 1 at cpu scale, 3 at accelerator scale (6+6 × 512, 20000 steps of 64 × 256).
Command: jaxlm sweep --config experiments/ablations/bart_noising.py --workdir runs/bart_noising [--scale accelerator]
"""

import ml_collections

from jaxlm.config.schema import base_config
from jaxlm.sweep.claims import expect, expect_equivalent

NONE = {"bart_token_mask": 0.0, "bart_token_delete": 0.0, "bart_infill": 0.0, "permute_sentences": 0.0, "rotate": 0.0}
RECIPE = dict(NONE, bart_infill=0.3, permute_sentences=1.0)


def get_config(scale: str = "cpu") -> ml_collections.ConfigDict:
    """BART 2+2 × 128 for 600 steps of 8 × 64 tokens (cpu) or 6+6 × 512 for 20000 steps (accelerator)."""
    c = base_config()
    cpu = scale == "cpu"
    c.model.update(
        family="bart",
        n_layers=2 if cpu else 6,
        n_heads=4 if cpu else 8,
        d_model=128 if cpu else 512,
        d_ff=512 if cpu else 2048,
        vocab_size=4096,
        max_len=64 if cpu else 256,
    )
    c.data.update(objective="bart_denoise", seq_len=64 if cpu else 256, poisson_lambda=3.0, **NONE)
    c.train.update(
        steps=600 if cpu else 20000,
        batch_size=8 if cpu else 64,
        log_every=50 if cpu else 100,
        eval_every=200 if cpu else 2000,
        eval_batches=4 if cpu else 0,
        eval_batch_size=32,
        checkpoint_every=600 if cpu else 2000,
        sample_tokens=0,
    )
    c.optim.update(peak_lr=6e-4, warmup=60 if cpu else 1000, schedule="cosine", final_lr_frac=0.1)
    c.sweep = {
        "seeds": (0, 1, 2),
        "metrics": ("recipe_val_loss", "clean_val_loss", "val_loss"),
        "finetune": "",
        "evals": {"recipe": RECIPE, "clean": NONE},
        "claims": (
            expect("infill", "<", "token_mask", metric="recipe_val_loss"),
            expect("token_delete", "<", "permute", metric="recipe_val_loss"),
            expect("token_mask", "<", "rotate", metric="recipe_val_loss"),
            expect_equivalent("infill", "infill_permute", metric="recipe_val_loss", margin=0.05),
        ),
    }
    return c


def get_variants(scale: str = "cpu") -> dict[str, dict[str, object]]:
    """Each transform alone at 30% (rotation: always), and infilling + permutation."""
    one = {
        "token_mask": "bart_token_mask",
        "token_delete": "bart_token_delete",
        "infill": "bart_infill",
        "permute": "permute_sentences",
        "rotate": "rotate",
    }
    rate = {"permute_sentences": 1.0, "rotate": 1.0}
    variants = {name: {f"data.{key}": rate.get(key, 0.3)} for name, key in one.items()}
    variants["infill_permute"] = {f"data.{k}": v for k, v in RECIPE.items() if v}
    return variants
