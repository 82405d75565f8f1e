"""T5-small (T5 v1.0 shapes: 6+6 layers, d_model 512, d_ff 2048, 8 heads of 64, ReLU FF, tied 32128-id embedding)
with span corruption, for an accelerator.

Command:  jaxlm train --config experiments/t5_small.py --workdir runs/t5_small --config.data.source=CORPUS.jsonl
Runtime:  an accelerator job: 512-token inputs, batch 128; needs a corpus big enough for a 32128-piece tokenizer
          (the embedded plays are not).
Expected: 60,506,624 parameters (Hugging Face's t5-small has the same count); span-corruption loss falls steadily.
"""

from jaxlm.config.schema import base_config


def get_config():
    c = base_config()
    c.model.update(
        family="t5",
        n_layers=6,
        n_heads=8,
        d_model=512,
        d_kv=64,
        d_ff=2048,
        ff="relu",
        vocab_size=32128,
        max_len=512,
        dropout=0.1,
        layer_norm_eps=1e-6,
        relative_buckets=32,
        relative_max_distance=128,
    )
    c.data.update(objective="t5_span_corruption", seq_len=512, noise_density=0.15, mean_span_length=3.0)
    c.train.update(
        steps=100_000,
        batch_size=128,
        log_every=100,
        eval_every=5000,
        checkpoint_every=5000,
        eval_batches=50,
        precision="bf16",
        sample_tokens=0,
    )
    c.optim.update(name="adafactor", peak_lr=1e-2, warmup=10_000, schedule="rsqrt", weight_decay=0.0)  # T5 recipe
    return c
