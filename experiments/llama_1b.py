"""A 1.1B-parameter Llama-2-style decoder (TinyLlama-1.1B's published shape) — an accelerator preset.

Command:  jaxlm train --config experiments/llama_1b.py --workdir runs/llama_1b --config.data.source=CORPUS \
              --config.train.precision=bf16
          jaxlm compile --config experiments/llama_1b.py --devices 8 --mesh 1,8,1   # per-device memory, on a laptop
Runtime:  not meant for 2 CPU cores; sized for a GPU/TPU slice (fsdp over 8 chips).
Expected: 22 layers, 32 heads sharing 4 key/value heads, d 2048, SwiGLU d_ff 5632, context 2048, vocab 32000,
          untied head: 1,100,048,384 parameters. `jaxlm compile` on 8 fake CPU devices, mesh 1,8,1 (at 9a3809b):
          0.55 GB of parameters + 1.10 GB of AdamW state per device (0.83 GB with --config.optim.mu_dtype=bf16,
          measured at 6dacd9d). XLA:CPU's temporaries (133 GB per device for
          this file's microbatch of 4 sequences per device in fp32; 35 GB for one sequence in bf16) do not carry
          over to a GPU (the CPU allocator does not reuse buffers by liveness; benchmarks/RESULTS.md §3): the
          activation figure waits for a device.
"""

from jaxlm.config.schema import base_config


def get_config():
    c = base_config()
    c.model.update(
        n_layers=22,
        n_heads=32,
        n_kv_heads=4,
        d_model=2048,
        d_ff=5632,
        vocab_size=32000,
        max_len=2048,
        positions="rope",
        rope_theta=10000.0,
        norm_type="rmsnorm",
        mlp="swiglu",
        use_bias=False,
        tie_embeddings=False,
        layer_norm_eps=1e-5,
        init_std=0.02,
        remat="full",
    )
    c.data.update(seq_len=2048)
    c.train.update(
        steps=100_000,
        batch_size=512,
        microbatches=16,
        log_every=100,
        eval_every=2000,
        checkpoint_every=2000,
        eval_batches=50,
        sample_tokens=0,
    )
    c.optim.update(
        name="adamw", peak_lr=4e-4, warmup=2000, schedule="cosine", final_lr_frac=0.1, weight_decay=0.1, clip=1.0
    )
    return c
