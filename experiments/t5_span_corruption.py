"""T5 span corruption on the embedded Shakespeare plays: a small T5 (relu FF, tied embedding) on CPU.

Command:  jaxlm train --config experiments/t5_span_corruption.py --workdir runs/t5_span_corruption
Runtime:  55 s on 2 idle CPU cores (after the 4096-piece tokenizer is cached; 203 s on a loaded machine).
Expected: validation loss ≈ 4.9 nats per target token (5.00 at step 200 → 4.91 at step 400; target accuracy
          ≈ 0.28); the training loss starts near 6.0 at step 50.
"""

from jaxlm.config.schema import base_config


def get_config():
    c = base_config()
    c.model.update(
        family="t5",
        n_layers=2,
        n_heads=4,
        d_model=128,
        d_kv=32,
        d_ff=512,
        ff="relu",
        vocab_size=4096,
        max_len=128,
        layer_norm_eps=1e-6,
    )
    c.data.update(objective="t5_span_corruption", seq_len=128, noise_density=0.15, mean_span_length=3.0)
    c.train.update(
        steps=400, batch_size=16, log_every=50, eval_every=200, checkpoint_every=200, eval_batches=8, sample_tokens=0
    )
    c.optim.update(peak_lr=3e-3, warmup=50, schedule="cosine", final_lr_frac=0.1)
    return c
