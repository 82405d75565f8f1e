"""Muon (optax.contrib.muon) for the hidden matrices, AdamW for everything else, decided by logical axis names.

Muon orthogonalises each update of a matrix that maps a hidden state to a hidden state. jaxlm's kernels keep
their true rank ([embed, 3, heads, kv] for fused q/k/v, [heads, kv, embed] for the output, [layers, ...] when
scanned), so the matrix each one applies is read off its logical axes: 'layers' and unnamed axes (the q/k/v
stack, a classifier's labels) are batch axes, orthogonalised separately; of the named rest, an input 'embed'
is the reduction side and the others the output, otherwise the last axis is the output. Embedding tables,
vocabulary projections, biases, norms and label heads (fewer than two named axes) go to AdamW, as in
modded-nanogpt and Moonlight.
"""

import jax
import optax
from jax.sharding import PartitionSpec
from optax.contrib import MuonDimensionNumbers

BATCH_AXES = (None, "layers")


def matrix_dimensions(names: tuple) -> MuonDimensionNumbers | None:
    """The (reduction, output) axes of a kernel with these logical axis names; None if it is not a hidden matrix."""
    named = [i for i, n in enumerate(names) if n not in BATCH_AXES]
    if len(named) < 2 or "vocab" in names:
        return None
    if names[named[0]] == "embed":
        return MuonDimensionNumbers(reduction_axis=(named[0],), output_axis=tuple(named[1:]))
    return MuonDimensionNumbers(reduction_axis=tuple(named[:-1]), output_axis=(named[-1],))


def muon_dimensions(logical_axes):
    """Per parameter: MuonDimensionNumbers for the matmul kernels that Muon updates, None for AdamW's."""

    def pick(path, spec):
        is_kernel = str(getattr(path[-1], "key", path[-1])) == "kernel"
        return matrix_dimensions(tuple(spec)) if is_kernel else None

    return jax.tree_util.tree_map_with_path(pick, logical_axes, is_leaf=lambda x: isinstance(x, PartitionSpec))


def muon(
    lr: optax.ScalarOrSchedule,
    logical_axes,
    beta: float,
    adam_b1: float,
    adam_b2: float,
    eps: float,
    weight_decay: float,
    mask,
    mu_dtype=None,
) -> optax.GradientTransformation:
    """optax's Muon (Nesterov momentum `beta`, 5 Newton-Schulz steps, update RMS matched to AdamW's by
    `consistent_rms=0.2`, so one peak lr serves both parts) with decoupled weight decay (× lr) on its matrices;
    the AdamW part (embeddings, vocabulary and label heads, biases, norms) is not decayed; `mu_dtype` stores
    both parts' momentum."""
    return optax.contrib.muon(
        lr,
        beta=beta,
        eps=eps,
        weight_decay=weight_decay,
        weight_decay_mask=mask,
        mu_dtype=mu_dtype,
        adam_b1=adam_b1,
        adam_b2=adam_b2,
        adam_weight_decay=0.0,
        muon_weight_dimension_numbers=muon_dimensions(logical_axes),
        consistent_rms=0.2,
    )
