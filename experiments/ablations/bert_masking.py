"""Claim: how BERT corrupts the positions it predicts matters little for fine-tuning, but a model trained only on
[MASK] inputs (100/0/0) has never had to predict a token it can see, so it is worst at positions where the real
token is shown (the pre-train/fine-tune mismatch that the 10% kept tokens of 80/10/10 address).
Source: Devlin et al. 2019, "BERT: Pre-training of Deep Bidirectional Transformers ...", §3.1 (the 80/10/10
rule and its motivation) and Appendix C.2, Table 8 (MASK/SAME/RND ablation: fine-tuned MNLI and NER within
~0.5 point of each other; 100% [MASK] is worst for feature-based NER, where the mismatch is not trained away).
Expected: kept_val_loss 80/0/20 < 80/10/10 < 80/20/0 ≈ 100/0/0 (only kept tokens teach "the shown token is
usually right"); finetune_accuracy about equal for every mixture (within the seed spread); masked_val_loss
about equal, slightly best for 100/0/0 (trained only on that task).
Metrics: `kept_val_loss` — MLM loss on the validation plays with mask_token_frac = random_token_frac = 0, so
the model predicts 15% of positions while seeing the real token there (jaxlm/data/masking.py keeps every
chosen token); `masked_val_loss` — every predicted position is [MASK] (the same inputs for every variant);
`val_loss` — each variant's own mixture (different tasks, not comparable); `finetune_accuracy` /
`finetune_macro_f1` — experiments/finetune_genre_bert.py ([CLS] genre classifier, held-out plays).
Setup: RoBERTa MLM (`roberta_mlm`: dynamic masks, no NSP, so the masking mixture is the only difference and the
pooler starts fresh in every fine-tune) on a 4 × 128 post-LN BERT as experiments/roberta_shakespeare.py (peak lr
2e-3, AdamW β2 0.98), pre-trained on the stratified split of the fine-tune (one play per genre held out for
validation and one for test), so the fine-tune's held-out plays are unseen by pre-training. Variant names are
MASK/RANDOM/SAME percentages; 80/20/0 runs at accelerator scale only (the cpu sweep's 12-minute budget holds
three variants). At cpu scale the fine-tune runs 100 instead of 300 steps (`sweep.finetune_overrides`).
Result (cpu scale, 3 seeds, experiments/ablations/results/bert_masking/): kept_val_loss 80/0/20 2.00 < 80/10/10
5.80 agrees (paired −3.80, CI [−4.62, −2.98]); 80/10/10 < 100/0/0 (6.13) is not resolved (paired −0.33, CI
[−1.13, +0.47]): one of three 80/10/10 seeds (6.14) stays on the unigram plateau, where it ignores the shown
token like 100/0/0. masked_val_loss 6.13 for all three (the plateau after 240 steps); the fine-tune is near
chance for all (accuracy 0.16–0.20, majority 0.151). 1 seed before (the same direction in both claims: 2.05 <
5.50 < 6.13).
Runtime (cpu scale, 2 cores): 3709 s for 3 variants × 3 seeds (240 steps of 16 × 128 tokens, then a 100 × 32
fine-tune each; the runs' wall times added up, with 3–6 other sweeps on the 2 cores, load average 4–9).
Seeds: 3 (0, 1, 2) at both scales (accelerator: 12 × 384, 10000 steps of 128 × 128, the preset's 300-step
fine-tune).
Command: jaxlm sweep --config experiments/ablations/bert_masking.py --workdir runs/bert_masking [--scale accelerator]
"""

import os

import ml_collections

from jaxlm.config.schema import base_config
from jaxlm.sweep.claims import expect

FINETUNE = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "finetune_genre_bert.py"))
CPU_FINETUNE = {
    "train": {"steps": 100, "eval_every": 100, "checkpoint_every": 100, "eval_batches": 2},
    "optim": {"warmup": 10},
}
MIXTURES = {
    "mask80_rnd10_same10": (0.8, 0.1),
    "mask100_rnd0_same0": (1.0, 0.0),
    "mask80_rnd0_same20": (0.8, 0.0),
    "mask80_rnd20_same0": (0.8, 0.2),
}


def get_config(scale: str = "cpu") -> ml_collections.ConfigDict:
    """RoBERTa MLM on a 4 × 128 BERT for 240 steps (cpu) or 12 × 384 for 10000 steps (accelerator), then the
    BERT genre fine-tune from each pre-trained model."""
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
        layer_norm_eps=1e-5,
        nsp_head=False,
    )
    c.data.update(
        objective="roberta_mlm",
        seq_len=128,
        max_predictions=20,
        segment_mask=False,
        stratify=True,
        val_docs=1,
        test_docs=1,
    )
    c.train.update(
        steps=240 if cpu else 10000,
        batch_size=16 if cpu else 128,
        log_every=20 if cpu else 100,
        eval_every=120 if cpu else 1000,
        eval_batches=8 if cpu else 0,
        eval_batch_size=32,
        checkpoint_every=240 if cpu else 2000,
        sample_tokens=0,
    )
    c.optim.update(
        peak_lr=2e-3,
        warmup=24 if cpu else 1000,
        schedule="linear",
        final_lr_frac=0.0,
        b2=0.98,
        eps=1e-6,
        weight_decay=0.01,
    )
    c.sweep = {
        "seeds": (0, 1, 2),
        "metrics": ("kept_val_loss", "masked_val_loss", "finetune_accuracy", "finetune_macro_f1", "val_loss"),
        "finetune": FINETUNE,
        "finetune_overrides": CPU_FINETUNE if cpu else {},
        "evals": {
            "kept": {"mask_token_frac": 0.0, "random_token_frac": 0.0},
            "masked": {"mask_token_frac": 1.0, "random_token_frac": 0.0},
        },
        "claims": (
            expect("mask80_rnd0_same20", "<", "mask80_rnd10_same10", metric="kept_val_loss"),
            expect("mask80_rnd10_same10", "<", "mask100_rnd0_same0", metric="kept_val_loss"),
        ),
    }
    return c


def get_variants(scale: str = "cpu") -> dict[str, dict[str, object]]:
    """80/10/10 (BERT), 100/0/0, 80/0/20 and (accelerator scale) 80/20/0 as [MASK] / random token / kept token."""
    names = list(MIXTURES)[:3] if scale == "cpu" else list(MIXTURES)
    return {
        name: {"data.mask_token_frac": MIXTURES[name][0], "data.random_token_frac": MIXTURES[name][1]} for name in names
    }
