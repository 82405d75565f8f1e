"""Claim: denoising objectives pre-train an encoder-decoder better than a prefix language model, and the
denoising variants (BERT-style, i.i.d. replace spans, i.i.d. drop tokens, span corruption) are close to each
other; span corruption is as good with much shorter targets (cheaper).
Source: Raffel et al. 2020, "Exploring the Limits of Transfer Learning with a Unified Text-to-Text
Transformer" (T5), §3.3.1 and Table 4 (prefix LM below BERT-style denoising on GLUE, CNNDM, SQuAD and
SuperGLUE), §3.3.2 and Table 5 (BERT-style, replace corrupted spans and drop corrupted tokens within about a
point, replace-spans slightly best overall), §3.3.4 (span corruption, mean span 3: about as good, shorter
targets).
Expected: finetune_accuracy prefix_lm < bert_style ≈ iid_replace_spans ≈ iid_drop_tokens ≈ span_corruption.
Metrics: `finetune_accuracy` / `finetune_macro_f1` of experiments/finetune_genre_t5.py (text to text: passage →
genre name, exact match of greedy decoding on held-out plays); two fixed tasks on the validation plays for every
model (`config.sweep.evals`): `span_val_loss` (span corruption, favours the span_corruption variant) and
`prefix_val_loss` (prefix LM, favours prefix_lm) — how far each objective transfers to the other kind of task;
`val_loss` is each objective's own task (not comparable across variants).
Setup: T5 2+2 × 128 (relu FF, tied embedding) as experiments/t5_span_corruption.py, peak lr 3e-3, cosine to
10%; every corruption at 15% of tokens (T5's rate), span corruption with mean span 3; inputs of 128 tokens.
Pre-trained on the fine-tune's stratified split (one play per genre held out for validation and one for test),
so the fine-tune's held-out plays are unseen by pre-training. Equal steps and input length for every objective
(T5 compares at equal pre-training steps). At cpu scale the fine-tune runs 80 steps of 16 passages instead of
300 of 32 (`sweep.finetune_overrides`): greedy decoding of the 2.6k held-out passages is a fixed cost per run.
Result (cpu scale, 1 seed, experiments/ablations/results/t5_objectives/): the fine-tune cannot rank the
objectives — after 80 steps every model answers one or two genres for all passages (test accuracy 0.166 for
prefix LM, replace spans and span corruption, all "romances"; BERT-style 0.204, "roman"/"romances"; i.i.d. drop
tokens 0.0: none of its greedy answers is a genre name; majority class 0.151). The fixed evaluations show each
objective transferring to its own kind of task: span_val_loss span corruption 5.13 < replace spans 5.97 < the
rest 7.25–7.35; prefix_val_loss BERT-style 5.95 ≤ prefix LM 5.99 < drop tokens 6.32 < span corruption 6.92 <
replace spans 7.41. Neither agrees nor disagrees with T5's Table 4/5 (see the report).
Runtime (cpu scale, 2 cores): 527 s for 5 variants × 1 seed (160 steps of 16 × 128 tokens, then an 80 × 16
fine-tune each): the measured wall time of the whole sweep (8 min 47 s) on 2 cores shared with other jobs.
Seeds: 1 at cpu scale (160 pre-training steps of 16 × 128 tokens, then an 80 × 16 fine-tune), 3 at accelerator
scale (6+6 × 512, 20000 steps of 64 × 512, the preset's 300-step fine-tune).
Command: jaxlm sweep --config experiments/ablations/t5_objectives.py --workdir runs/t5_objectives [--scale accelerator]
"""

import os

import ml_collections

from jaxlm.config.schema import base_config
from jaxlm.sweep.claims import expect, expect_equivalent

FINETUNE = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "finetune_genre_t5.py"))
CPU_FINETUNE = {
    "train": {"steps": 80, "batch_size": 16, "eval_every": 80, "checkpoint_every": 80, "eval_batches": 2},
    "optim": {"warmup": 8},
}
OBJECTIVES = ("prefix_lm", "bert_style", "iid_replace_spans", "iid_drop_tokens", "span_corruption")


def get_config(scale: str = "cpu") -> ml_collections.ConfigDict:
    """T5 2+2 × 128 for 160 steps (cpu) or 6+6 × 512 for 20000 steps (accelerator), then the text-to-text
    genre fine-tune from each pre-trained model."""
    c = base_config()
    cpu = scale == "cpu"
    c.model.update(
        family="t5",
        n_layers=2 if cpu else 6,
        n_heads=4 if cpu else 8,
        d_model=128 if cpu else 512,
        d_kv=32 if cpu else 64,
        d_ff=512 if cpu else 2048,
        ff="relu",
        vocab_size=4096,
        max_len=128 if cpu else 512,
        layer_norm_eps=1e-6,
    )
    c.data.update(
        objective="t5_span_corruption",
        seq_len=128 if cpu else 512,
        noise_density=0.15,
        mean_span_length=3.0,
        stratify=True,
        val_docs=1,
        test_docs=1,
    )
    c.train.update(
        steps=160 if cpu else 20000,
        batch_size=16 if cpu else 64,
        log_every=20 if cpu else 100,
        eval_every=80 if cpu else 2000,
        eval_batches=4 if cpu else 0,
        eval_batch_size=32,
        checkpoint_every=160 if cpu else 2000,
        sample_tokens=0,
    )
    c.optim.update(peak_lr=3e-3 if cpu else 1e-3, warmup=20 if cpu else 1000, schedule="cosine", final_lr_frac=0.1)
    c.sweep = {
        "seeds": (0, 1, 2),
        "metrics": ("finetune_accuracy", "finetune_macro_f1", "span_val_loss", "prefix_val_loss", "val_loss"),
        "finetune": FINETUNE,
        "finetune_overrides": CPU_FINETUNE if cpu else {},
        "evals": {"span": {"objective": "t5_span_corruption"}, "prefix": {"objective": "t5_prefix_lm"}},
        "claims": (
            expect("prefix_lm", "<", "span_corruption", metric="finetune_accuracy"),
            expect_equivalent("iid_replace_spans", "span_corruption", metric="finetune_accuracy", margin=0.03),
        ),
    }
    return c


def get_variants(scale: str = "cpu") -> dict[str, dict[str, object]]:
    """The five objectives of T5's Tables 4/5 and §3.3.4, each at 15% corruption."""
    return {name: {"data.objective": f"t5_{name}"} for name in OBJECTIVES}
