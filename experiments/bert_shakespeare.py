"""BERT (MLM + NSP, static masks) on the embedded Shakespeare plays.

Command:  jaxlm train --config experiments/bert_shakespeare.py --workdir runs/bert_shakespeare
Runtime:  3 min 35 s on 2 CPU cores shared with short test runs (2 min 46 s idle at commit 7793345).
Expected: validation MLM loss falls 6.04 → 5.86 → 5.81 (steps 200/400/600), MLM accuracy 0.147; test MLM
          loss 5.79. NSP stays at chance (val nsp_accuracy 0.49) at this size and step count.
"""

from jaxlm.config.schema import base_config


def get_config():
    c = base_config()
    c.model.update(
        family="bert",
        n_layers=4,
        n_heads=4,
        d_model=128,
        d_ff=512,
        vocab_size=4096,
        max_len=128,
        layer_norm_eps=1e-12,
        norm="post",
        nsp_head=True,
    )
    c.data.update(objective="bert_mlm_nsp", seq_len=128, max_predictions=20, nsp=True, dupe_factor=5)
    c.train.update(steps=600, batch_size=16, log_every=50, eval_every=200, checkpoint_every=200, sample_tokens=0)
    c.optim.update(peak_lr=1e-3, warmup=100, schedule="linear", final_lr_frac=0.0, b2=0.999, weight_decay=0.01)
    return c
