"""RoBERTa (MLM only, dynamic masks, full-sentence rows across documents) on the embedded Shakespeare plays.

Command:  jaxlm train --config experiments/roberta_shakespeare.py --workdir runs/roberta_shakespeare
Runtime:  not measured to the end: on 2 CPU cores shared with other jobs (load average ≈ 10) the first 200
          of 600 steps took about 10 min (~1.2k tokens/s); an idle machine is several times faster.
Expected: validation MLM loss 5.91 (accuracy 0.136) at step 200, train MLM loss 6.11 → 5.71 over steps
          50–200; the final figure is still to be measured on an idle machine.
"""

from jaxlm.config.schema import base_config


def get_config():
    c = base_config()
    c.model.update(family="bert", n_layers=4, n_heads=4, d_model=128, d_ff=512, vocab_size=4096, max_len=128,
                   layer_norm_eps=1e-5, norm="post", nsp_head=False)
    c.data.update(objective="roberta_mlm", seq_len=128, max_predictions=20, segment_mask=False)
    c.train.update(steps=600, batch_size=32, log_every=50, eval_every=200, checkpoint_every=200, sample_tokens=0)
    c.optim.update(peak_lr=2e-3, warmup=60, schedule="linear", final_lr_frac=0.0, b2=0.98, eps=1e-6,
                   weight_decay=0.01)
    return c
