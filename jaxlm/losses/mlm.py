"""Masked-LM (+ next-sentence) loss for encoder-only models: BERT's objective O = MLM + NSP.

O = mean NLL over the predicted (weighted) tokens of the batch + mean NSP NLL over the batch's examples
(google-research/bert sums the two means the same way); NSP only when the batch has `nsp_label`.
The sums make any number of batches aggregate exactly: `nats`/`weight`/`correct` are the MLM sums, so the
generic `loss`, `accuracy` and `perplexity` are MLM figures (nats per predicted token), and
`mlm_*`/`nsp_*` give mlm_loss, mlm_accuracy, nsp_loss and nsp_accuracy; the optimised objective is
mlm_loss + nsp_loss. An all-zero (padding) example has attention mask 0 and weight 0 everywhere.
"""

import jax
import jax.numpy as jnp

from jaxlm.losses.cross_entropy import cross_entropy_sums, mean_term
from jaxlm.losses.fused_cross_entropy import head_cross_entropy_sums


def mlm_loss(
    apply_fn,
    params,
    batch: dict,
    rng: jax.Array,
    train: bool = True,
    *,
    norms: dict | None = None,
    loss_chunk: int = 0,
    max_predictions: int = 0,
):
    """(O, sums) for a batch of inputs, segment_ids, attention_mask, mlm_targets, mlm_weights [, nsp_label].

    `max_predictions` > 0 (the masking's cap per sequence) runs the MLM head only on that many positions per
    row, the predicted ones first (a stable sort of the weights), instead of on every position. `norms`: each
    term's whole-batch count under gradient accumulation (see `mean_term`). `loss_chunk`: see
    `head_cross_entropy_sums` (0 = through the logits).
    """
    targets, weights, gather = batch["mlm_targets"], batch["mlm_weights"], {}
    if 0 < max_predictions < targets.shape[1]:
        order = jnp.argsort(weights == 0, axis=1, stable=True)[:, :max_predictions]
        targets, weights = (jnp.take_along_axis(x, order, axis=1) for x in (targets, weights))
        gather = dict(mlm_positions=order)
    out = apply_fn(
        {"params": params},
        batch["inputs"],
        batch["segment_ids"],
        batch["attention_mask"],
        deterministic=not train,
        rngs={"dropout": rng},
        return_hidden=True,
        **gather,
    )
    mlm = head_cross_entropy_sums(out["mlm_head"], targets, weights, loss_chunk)
    sums = dict(mlm, **{f"mlm_{k}": v for k, v in mlm.items()})
    loss = mean_term(sums, "mlm_", norms)
    if "nsp_label" in batch:
        real = (batch["attention_mask"][:, 0] > 0).astype(jnp.float32)
        nsp = cross_entropy_sums(out["nsp_logits"], batch["nsp_label"], real)
        sums.update({f"nsp_{k}": v for k, v in nsp.items()})
        loss = loss + mean_term(sums, "nsp_", norms)
    return loss, sums
