"""GPT on the embedded Shakespeare plays — the `make train` default.

Command:  jaxlm train --config experiments/gpt_shakespeare.py --workdir runs/gpt_shakespeare
Runtime:  about 10 minutes on 2 CPU cores (`make train` from a fresh clone, install included: 524 s at 05cf522,
          605 s at e60b48e; plus ~1 minute to build the tokenizer the first time).
Expected: validation bits per byte 2.075 on the 3 held-out plays, test 2.093 (Muon; AdamW's 2000 steps in
          about the same time gave 2.1675: experiments/RESULTS.md).
"""

from jaxlm.config.schema import base_config


def get_config():
    c = base_config()
    c.model.update(n_layers=4, n_heads=4, d_model=192, d_ff=768, vocab_size=4096, max_len=128)
    c.data.seq_len = 128
    c.train.update(steps=1400, batch_size=8, log_every=50, eval_every=600, checkpoint_every=600)
    c.optim.update(name="muon", peak_lr=3e-3, warmup=100, schedule="cosine", final_lr_frac=0.1)
    return c
