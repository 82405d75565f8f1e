"""Teacher-forced cross-entropy for encoder-decoders (T5, BART).

The objective puts the decoder inputs in the batch (targets shifted right after the family's start token:
pad for T5, eos for BART); padding has weight 0, so all-zero examples contribute nothing.
"""

import jax

from jaxlm.losses.cross_entropy import mean_term
from jaxlm.losses.fused_cross_entropy import head_cross_entropy_sums


def seq2seq_loss(
    apply_fn, params, batch: dict, rng: jax.Array, train: bool = True, *, norms: dict | None = None, loss_chunk: int = 0
):
    """Mean cross-entropy over weighted target tokens; aux holds the sums for exact aggregation. `loss_chunk`:
    see `head_cross_entropy_sums` (0 = through the logits)."""
    head = apply_fn(
        {"params": params},
        batch["inputs"],
        batch["decoder_inputs"],
        batch["inputs_segment_ids"],
        batch["targets_segment_ids"],
        batch["inputs_positions"],
        batch["targets_positions"],
        deterministic=not train,
        rngs={"dropout": rng},
        return_hidden=True,
    )
    sums = head_cross_entropy_sums(head, batch["targets"], batch["weights"], loss_chunk)
    return mean_term(sums, norms=norms), sums
