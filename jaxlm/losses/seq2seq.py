"""Teacher-forced cross-entropy for encoder-decoders (T5, BART).

The objective puts the decoder inputs in the batch (targets shifted right after the family's start token:
pad for T5, eos for BART); padding has weight 0, so all-zero examples contribute nothing.
"""

import jax

from jaxlm.losses.cross_entropy import cross_entropy_sums, mean_term


def seq2seq_loss(apply_fn, params, batch: dict, rng: jax.Array, train: bool = True, norms: dict | None = None):
    """Mean cross-entropy over weighted target tokens; aux holds the sums for exact aggregation."""
    logits = apply_fn({"params": params}, batch["inputs"], batch["decoder_inputs"], batch["inputs_segment_ids"],
                      batch["targets_segment_ids"], batch["inputs_positions"], batch["targets_positions"],
                      deterministic=not train, rngs={"dropout": rng})
    sums = cross_entropy_sums(logits, batch["targets"], batch["weights"])
    return mean_term(sums, norms=norms), sums
