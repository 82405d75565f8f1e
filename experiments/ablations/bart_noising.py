"""Claim: among BART's noising transforms, text infilling is the best single pre-training transform and
infilling + sentence permutation (the final BART recipe) is at least as good; document rotation and sentence
permutation alone are poor.
Source: Lewis et al. 2019, "BART: Denoising Sequence-to-Sequence Pre-training ...", §2.2 (the transforms),
§4.1–4.3 and Table 1 (infilling consistently strong; permutation and rotation alone weak), §5.1 (final recipe:
30% infilling + permuting all sentences).
Expected: recipe_val_loss infill ≈ infill_permute < token_mask, token_delete < permute, rotate; every
transform's clean_val_loss clearly (> 0.5 nats) below the decoder-only LM's (the decoder reads its encoder).
Metric: each variant's own `val_loss` is a different task (masking is easier than deletion, etc.), so every
model is also evaluated on fixed tasks on the validation plays (`config.sweep.evals`): `recipe_val_loss` — the
final recipe's noising (30% infilling + all sentences permuted), identical inputs for every variant (eval noise
is seeded by example); `clean_val_loss`, rebuilding an un-noised window (copying); `lm_val_loss`, every input
token masked (what the decoder predicts alone, as a language model). BART's paper compares fine-tuned
downstream tasks instead; the recipe eval favours the variant trained on it.
Setup: 2+2-layer, 64-wide BART (2 heads, d_ff 256, post-LN as experiments/bart_denoise.py), rows of 64 tokens,
batch 32. From scratch no transform made the decoder read its encoder within the cpu budget (earlier design:
2+2 × 128, 600 steps of 8 × 64, clean_val_loss 5.20–5.22 ≈ a language model's for every variant), so every run
starts from one shared warm start (`config.sweep.warm_start`): 800 steps of un-noised copying (the same model
rebuilding its clean input), where the copy circuit forms; each variant then trains 300 steps (fresh AdamW,
peak lr 2e-3, 30 warmup steps, cosine to 10%) with its transform at 30% (rotation: every document).
`decoder_only` masks every input token: a decoder-only language model of the same shape and steps, the
reference that clean_val_loss must beat. Caveat: the warm start favours transforms close to copying (token
masking) over those that reorder (permutation, rotation); the seeds vary the continued training only, so the
CIs do not include the warm start's own seed-to-seed spread.
Result (cpu scale, 3 seeds, experiments/ablations/results/bart_noising/): the decoder reads its encoder. The
decoder-only model's clean_val_loss is 4.51 (= its language-model loss); token masking's is 2.55, infilling's 3.62,
permutation's 3.71, the recipe's 3.99 — more than 0.5 nats below it, four agree — and token deletion's 4.22 and
rotation's 4.06 are below it by less than the 0.5 margin (not resolved; CIs ±0.02–0.04). On the recipe task:
infilling < token masking agrees (4.48 vs 5.99, paired −1.51, CI ±0.09), as in BART; token deletion < permutation
and token masking < rotation disagree (deletion 4.94 > permutation 4.27; masking 5.99 > rotation 4.32) — the
recipe task permutes every sentence, which the permutation and rotation variants were trained on; infilling ≈
the recipe within ±0.05 is not equivalent (the recipe variant, trained on that task, is 0.32 better). BART's
Table 1 ranks fine-tuned downstream tasks, which the recipe loss only approximates.
Runtime (cpu scale, 2 cores): 3097 s for 7 variants × 3 seeds (300 steps of 32 × 64 tokens) plus 519 s for the
warm start; the runs' wall times added up, with 3–6 other sweeps on the 2 cores (load average 4–9).
Seeds: 3 (0, 1, 2) at both scales; accelerator scale: 6+6 × 512 from scratch, 20000 steps of 64 × 256.
Command: jaxlm sweep --config experiments/ablations/bart_noising.py --workdir runs/bart_noising [--scale accelerator]
"""

import ml_collections

from jaxlm.config.schema import base_config
from jaxlm.sweep.claims import expect, expect_equivalent

NONE = {"bart_token_mask": 0.0, "bart_token_delete": 0.0, "bart_infill": 0.0, "permute_sentences": 0.0, "rotate": 0.0}
RECIPE = dict(NONE, bart_infill=0.3, permute_sentences=1.0)


def get_config(scale: str = "cpu") -> ml_collections.ConfigDict:
    """BART 2+2 × 64 for 300 steps of 32 × 64 tokens after an 800-step copying warm start (cpu), or 6+6 × 512
    for 20000 steps of 64 × 256 from scratch (accelerator)."""
    c = base_config()
    cpu = scale == "cpu"
    c.model.update(
        family="bart",
        n_layers=2 if cpu else 6,
        n_heads=2 if cpu else 8,
        d_model=64 if cpu else 512,
        d_ff=256 if cpu else 2048,
        vocab_size=4096,
        max_len=64 if cpu else 256,
    )
    c.data.update(objective="bart_denoise", seq_len=64 if cpu else 256, poisson_lambda=3.0, **NONE)
    c.train.update(
        steps=300 if cpu else 20000,
        batch_size=32 if cpu else 64,
        log_every=50 if cpu else 100,
        eval_every=100 if cpu else 2000,
        eval_batches=4 if cpu else 0,
        eval_batch_size=32,
        checkpoint_every=300 if cpu else 2000,
        sample_tokens=0,
    )
    c.optim.update(peak_lr=2e-3 if cpu else 6e-4, warmup=30 if cpu else 1000, schedule="cosine", final_lr_frac=0.1)
    c.sweep = {
        "seeds": (0, 1, 2),
        "metrics": ("recipe_val_loss", "clean_val_loss", "lm_val_loss", "val_loss"),
        "finetune": "",
        "evals": {"recipe": RECIPE, "clean": NONE, "lm": dict(NONE, bart_token_mask=1.0)},
        "warm_start": (
            {"train": {"steps": 800, "checkpoint_every": 800, "eval_every": 400}, "optim": {"warmup": 100}}
            if cpu
            else {}
        ),
        "claims": (
            *(
                expect(name, "<", "decoder_only", metric="clean_val_loss", margin=0.5)
                for name in ("token_mask", "token_delete", "infill", "permute", "rotate", "infill_permute")
            ),
            expect("infill", "<", "token_mask", metric="recipe_val_loss"),
            expect("token_delete", "<", "permute", metric="recipe_val_loss"),
            expect("token_mask", "<", "rotate", metric="recipe_val_loss"),
            expect_equivalent("infill", "infill_permute", metric="recipe_val_loss", margin=0.05),
        ),
    }
    return c


def get_variants(scale: str = "cpu") -> dict[str, dict[str, object]]:
    """Each transform alone at 30% (rotation: always), infilling + permutation, and every token masked."""
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
    variants["decoder_only"] = {"data.bart_token_mask": 1.0}
    return variants
