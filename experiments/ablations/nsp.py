"""Claim: the next-sentence-prediction loss does not help downstream fine-tuning; training on the same sentence
pairs without it, or on full-sentence rows without it (RoBERTa), matches or improves the fine-tuned accuracy.
Source: Liu et al. 2019, "RoBERTa: A Robustly Optimized BERT Pretraining Approach", §4.2 and Table 2
(FULL-SENTENCES and DOC-SENTENCES without NSP match or beat SEGMENT-PAIR with NSP on SQuAD, MNLI, SST-2, RACE);
contrary earlier finding: Devlin et al. 2019, "BERT", §5.1 and Table 5 ("No NSP" on the same pairs hurts QNLI,
MNLI and SQuAD).
Expected: finetune_accuracy full_sentences ≥ pairs_nsp and pairs_no_nsp ≥ pairs_nsp (RoBERTa's direction;
BERT's own ablation predicts pairs_no_nsp < pairs_nsp); val_mlm_loss about equal for the two pair variants.
Metrics: `finetune_accuracy` / `finetune_macro_f1` of experiments/finetune_genre_bert.py ([CLS] genre classifier
on the tanh pooler, held-out plays); `val_mlm_loss` — the masked-LM loss on the validation plays: the same pairs
and static masks for pairs_nsp and pairs_no_nsp (comparable), full-sentence rows with other masks for
full_sentences (not comparable); `val_nsp_accuracy` for pairs_nsp (0.5 = chance).
Setup: 4 × 128 post-LN BERT as experiments/bert_shakespeare.py (peak lr 1e-3, AdamW β2 0.999, decay 0.01):
pairs_nsp = `bert_mlm_nsp` (segment pairs, 50% random next, static masks, NSP head on the pooler); pairs_no_nsp
= the same pairs and masks without the NSP label or head; full_sentences = `roberta_mlm` (rows of consecutive
sentences across documents, no pairs, no NSP; note its masks are dynamic, a second difference). Pre-trained on
the fine-tune's stratified split (one play per genre held out for validation and one for test), so the
fine-tune's held-out plays are unseen by pre-training. Without NSP the pooler is fresh at fine-tuning time; with
NSP it starts from the NSP head's pooler. At cpu scale the fine-tune runs 100 steps of 16 passages instead of
300 of 32 (`sweep.finetune_overrides`).
Result (cpu scale, 1 seed, experiments/ablations/results/nsp/): inconclusive. After 240 steps every model is on
the masked-LM unigram plateau (val_mlm_loss 6.0514 with NSP, 6.0514 without; full sentences 6.085 on its own
rows; NSP accuracy 0.535), and the 100 × 16 fine-tune stays at chance: the two models without NSP predict one
genre for every passage (accuracy 0.124, majority class 0.151), the NSP model almost (0.135, macro-F1 0.067,
its pooler having been trained by NSP). Neither RoBERTa's nor BERT's direction can be read from these numbers.
Runtime (cpu scale, 2 cores): 510 s for 3 variants × 1 seed (240 steps of 16 × 128 tokens, then a 100 × 16
fine-tune each): the measured wall time of the whole sweep (8 min 30 s) on 2 cores shared with other jobs.
Seeds: 1 at cpu scale (240 pre-training steps of 16 × 128 tokens, then a 100 × 16 fine-tune), 3 at accelerator
scale (12 × 384, 10000 steps of 128 × 128, the preset's 300-step fine-tune).
Command: jaxlm sweep --config experiments/ablations/nsp.py --workdir runs/nsp [--scale accelerator]
"""

import os

import ml_collections

from jaxlm.config.schema import base_config
from jaxlm.sweep.claims import expect, expect_equivalent

FINETUNE = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "finetune_genre_bert.py"))
CPU_FINETUNE = {
    "train": {"steps": 100, "batch_size": 16, "eval_every": 100, "checkpoint_every": 100, "eval_batches": 2},
    "optim": {"warmup": 10},
}


def get_config(scale: str = "cpu") -> ml_collections.ConfigDict:
    """BERT MLM(+NSP) on a 4 × 128 model for 240 steps (cpu) or 12 × 384 for 10000 steps (accelerator), then the
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
        layer_norm_eps=1e-12,
        norm="post",
        nsp_head=True,
    )
    c.data.update(
        objective="bert_mlm_nsp",
        seq_len=128,
        max_predictions=20,
        nsp=True,
        dupe_factor=5,
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
        peak_lr=1e-3, warmup=24 if cpu else 1000, schedule="linear", final_lr_frac=0.0, b2=0.999, weight_decay=0.01
    )
    c.sweep = {
        "seeds": (0, 1, 2),
        "metrics": ("finetune_accuracy", "finetune_macro_f1", "val_mlm_loss", "val_nsp_accuracy"),
        "finetune": FINETUNE,
        "finetune_overrides": CPU_FINETUNE if cpu else {},
        "claims": (
            expect_equivalent("pairs_no_nsp", "pairs_nsp", metric="finetune_accuracy", margin=0.02),
            expect("full_sentences", ">", "pairs_nsp", metric="finetune_accuracy"),
        ),
    }
    return c


def get_variants(scale: str = "cpu") -> dict[str, dict[str, object]]:
    """Segment pairs with NSP (BERT), the same pairs without NSP, full-sentence rows without NSP (RoBERTa)."""
    return {
        "pairs_nsp": {},
        "pairs_no_nsp": {"data.nsp": False, "model.nsp_head": False},
        "full_sentences": {"data.objective": "roberta_mlm", "data.segment_mask": False, "model.nsp_head": False},
    }
