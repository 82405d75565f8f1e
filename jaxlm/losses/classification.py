"""Sequence classification loss for encoder-only models: cross-entropy of the pooled-[CLS] classifier.

One weight per real example (attention mask 1 at [CLS]), so `nats`/`weight` is the mean loss over examples
and `correct`/`weight` the classification accuracy; an all-zero (padding) example contributes nothing.
"""

import jax
import jax.numpy as jnp

from jaxlm.losses.cross_entropy import cross_entropy_sums, mean_term


def classification_loss(
    apply_fn, params, batch: dict, rng: jax.Array, train: bool = True, *, norms: dict | None = None
):
    """(mean cross-entropy over the batch's examples, sums) for inputs, segment_ids, attention_mask, label."""
    out = apply_fn(
        {"params": params},
        batch["inputs"],
        batch["segment_ids"],
        batch["attention_mask"],
        deterministic=not train,
        rngs={"dropout": rng},
    )
    real = (batch["attention_mask"][:, 0] > 0).astype(jnp.float32)
    sums = cross_entropy_sums(out["cls_logits"], batch["label"], real)
    return mean_term(sums, norms=norms), sums
