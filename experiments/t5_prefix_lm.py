"""T5 prefix LM on the embedded Shakespeare plays: windows split at a uniform point, prefix → encoder,
the rest → decoder (a small T5, gated-GELU FF).

Command:  jaxlm train --config experiments/t5_prefix_lm.py --workdir runs/t5_prefix_lm
Runtime:  about 4–5 minutes on 2 CPU cores (285 s measured while another training shared the machine).
Expected: validation loss ≈ 5.5 nats per target token, ≈ 3.1 bits per byte (5.90 at step 150 → 5.50 at
          step 300).
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
        d_ff=256,
        ff="gated_gelu",
        vocab_size=4096,
        max_len=128,
        layer_norm_eps=1e-6,
    )
    c.data.update(objective="t5_prefix_lm", seq_len=128)
    c.train.update(
        steps=300, batch_size=16, log_every=50, eval_every=150, checkpoint_every=150, eval_batches=8, sample_tokens=0
    )
    c.optim.update(peak_lr=3e-3, warmup=50, schedule="cosine", final_lr_frac=0.1)
    return c
