"""BERT-large (24 layers, d 1024, 16 heads, d_ff 4096) — for accelerators, not for 2 CPU cores.

Command:  jaxlm train --config experiments/bert_large.py --workdir runs/bert_large --config.data.source=CORPUS
Parameters: 338,528,258 (jax.eval_shape of jaxlm's BERT: 32768 vocabulary, 512 positions, MLM + NSP heads);
            336,226,108 with Google's 30522-entry WordPiece vocabulary (the paper's figure: 340M).
Recipe (Devlin et al. 2019): as BERT-base (experiments/bert_base.py) with the larger model.
"""

from jaxlm.config.schema import base_config


def get_config():
    c = base_config()
    c.model.update(family="bert", n_layers=24, n_heads=16, d_model=1024, d_ff=4096, vocab_size=32768, max_len=512,
                   dropout=0.1, init="gpt2", init_std=0.02, layer_norm_eps=1e-12, norm="post", nsp_head=True)
    c.data.update(objective="bert_mlm_nsp", seq_len=128, max_predictions=20, dupe_factor=10)
    c.train.update(steps=1_000_000, batch_size=256, log_every=100, eval_every=10_000, checkpoint_every=10_000,
                   sample_tokens=0, precision="bf16")
    c.optim.update(peak_lr=1e-4, warmup=10_000, schedule="linear", final_lr_frac=0.0, b2=0.999, eps=1e-6,
                   weight_decay=0.01)
    return c
