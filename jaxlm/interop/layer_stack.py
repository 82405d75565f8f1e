"""Layer-stacked params (`config.model.scan_layers=True`) → the unrolled layout every exporter reads.

`jaxlm.models.layers.layer_stack` names a scanned stack's one block `blocks`, its params stacked on a leading
layer axis; unrolled, the same blocks are `block_0`, `block_1`, ... at the same place in the tree.
"""

from collections.abc import Mapping

import jax
import numpy as np

STACKED = "blocks"  # layer_stack's name of a scanned block


def unstack_layers(params: Mapping) -> dict:
    """`params` with every `blocks` subtree split along its leading axis into `block_0` … `block_{n-1}`."""
    out: dict = {}
    for name, value in params.items():
        if name == STACKED and isinstance(value, Mapping):
            n = jax.tree_util.tree_leaves(value)[0].shape[0]
            out |= {
                f"block_{i}": jax.tree_util.tree_map(lambda x, i=i: np.asarray(x)[i], dict(value)) for i in range(n)
            }
        else:
            out[name] = unstack_layers(value) if isinstance(value, Mapping) else value
    return out
