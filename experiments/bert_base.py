"""BERT-base (12 layers, d 768, 12 heads, d_ff 3072), phase 1 of 2 — for accelerators, not for 2 CPU cores.

Command:  jaxlm train --config experiments/bert_base.py --workdir runs/bert_base --config.data.source=CORPUS
          then phase 2, experiments/bert_base_512.py (--config.finetune.init_from=runs/bert_base)
Parameters: 111,833,602 (jax.eval_shape of jaxlm's BERT: 32768 vocabulary, 512 positions, MLM + NSP heads);
            110,106,428 with Google's 30522-entry WordPiece vocabulary (the paper's figure: 110M).
Recipe (Devlin et al. 2019): 1M steps of batch 256, seq 128 for the first 90% then 512; Adam lr 1e-4, β2 0.999,
weight decay 0.01, 10k warmup steps then linear decay to 0 at 1M, dropout 0.1; 20 predictions per sequence.
This phase runs the 900k steps at 128 and stops where BERT's schedule stands then: lr 1e-4 · 100k/990k, the
same slope as a decay to 0 at 1M (final_lr_frac 10/99).
"""

from jaxlm.config.schema import base_config


def get_config():
    c = base_config()
    c.model.update(
        family="bert",
        n_layers=12,
        n_heads=12,
        d_model=768,
        d_ff=3072,
        vocab_size=32768,
        max_len=512,
        dropout=0.1,
        init="gpt2",
        init_std=0.02,
        layer_norm_eps=1e-12,
        norm="post",
        nsp_head=True,
    )
    c.data.update(objective="bert_mlm_nsp", seq_len=128, max_predictions=20, dupe_factor=10)
    c.train.update(
        steps=900_000,
        batch_size=256,
        log_every=100,
        eval_every=10_000,
        checkpoint_every=10_000,
        sample_tokens=0,
        precision="bf16",
    )
    c.optim.update(
        peak_lr=1e-4, warmup=10_000, schedule="linear", final_lr_frac=10 / 99, b2=0.999, eps=1e-6, weight_decay=0.01
    )
    return c
