"""BART denoising on the embedded Shakespeare plays with the final BART recipe: text infilling (30% of words
in Poisson(3)-length spans, one [MASK] each) + permutation of all sentences; the decoder rebuilds the window.

Command:  jaxlm train --config experiments/bart_denoise.py --workdir runs/bart_denoise
Runtime:  12 min wall on a machine shared with 4 other jobs (4 min 28 s of CPU user time); about 3 min idle.
Expected: validation loss 5.75 → 4.99 → 4.85 nats per token at steps 200/400/600, 2.71 bits per byte.
          A peak lr of 2e-3 leaves this post-LN model (and Hugging Face's BartForConditionalGeneration, on
          the same batches) stuck at the unigram prediction (~6.0); 6e-4 leaves that plateau after ~250 steps.
"""

from jaxlm.config.schema import base_config


def get_config():
    c = base_config()
    c.model.update(family="bart", n_layers=2, n_heads=4, d_model=128, d_ff=512, vocab_size=4096, max_len=128)
    c.data.update(objective="bart_denoise", seq_len=128, bart_infill=0.3, poisson_lambda=3.0, permute_sentences=1.0)
    c.train.update(
        steps=600, batch_size=16, log_every=50, eval_every=200, checkpoint_every=200, eval_batches=8, sample_tokens=0
    )
    c.optim.update(peak_lr=6e-4, warmup=100, schedule="cosine", final_lr_frac=0.1)
    return c
