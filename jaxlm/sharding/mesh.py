"""Device mesh from `config.mesh` and the one table that maps logical parameter axes to mesh axes."""

import math

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxlm.errors import UserError

MESH_AXES = ("data", "fsdp", "tensor")

# Logical axis → mesh axis (None = replicated). Parameters are sharded over fsdp (ZeRO-3 style) along their
# embedding dimension and over tensor (Megatron style) along heads / MLP hidden / vocabulary. Activations
# ('batch', 'length', 'act_embed', and 'heads'/'mlp'/'vocab' inside a block) are split over the batch axes and
# over tensor where the weights are; logical names missing from this table are unsharded.
LOGICAL_RULES = (
    ("batch", ("data", "fsdp")),
    ("length", None),
    ("act_embed", None),
    ("embed", "fsdp"),
    ("mlp", "tensor"),
    ("heads", "tensor"),
    ("kv_heads", "tensor"),  # grouped-query attention's key/value heads (validate: a multiple of tensor)
    ("kv", None),
    ("vocab", "tensor"),
    ("layers", None),  # the stacked-layer axis of scanned blocks (model.scan_layers)
)


def mesh_shape(
    mesh_cfg: ml_collections.ConfigDict, n_devices: int, processes: int | None = None
) -> tuple[int, int, int]:
    """Resolve the (data, fsdp, tensor) sizes; one of them may be -1 to take the remaining devices. `processes`
    (default: jax.process_count(), asked only when needed) lets a mesh be checked before JAX starts."""
    sizes = [int(mesh_cfg[a]) for a in MESH_AXES]
    if sizes.count(-1) > 1 or any(s == 0 or s < -1 for s in sizes):
        raise UserError(f"mesh {dict(zip(MESH_AXES, sizes))} is invalid: use positive sizes and at most one -1")
    known = math.prod(s for s in sizes if s != -1)
    if -1 in sizes:
        if n_devices % known:
            raise UserError(
                f"mesh {dict(zip(MESH_AXES, sizes))} does not divide {n_devices} devices: change config.mesh"
            )
        sizes[sizes.index(-1)] = n_devices // known
    if math.prod(sizes) > n_devices or (math.prod(sizes) < n_devices and (processes or jax.process_count()) > 1):
        raise UserError(
            f"mesh {dict(zip(MESH_AXES, sizes))} needs {math.prod(sizes)} devices but {n_devices} are "
            "available (a multi-process mesh must use all): change config.mesh (-1 takes the rest)"
        )
    return tuple(sizes)


def make_mesh(mesh_cfg: ml_collections.ConfigDict, devices=None) -> Mesh:
    """A (data, fsdp, tensor) mesh over `devices` (default: all devices of all processes). A single process
    may use fewer devices than it has (the first ones); a multi-process mesh must use all of them."""
    devices = jax.devices() if devices is None else devices
    shape = mesh_shape(mesh_cfg, len(devices))
    return Mesh(np.asarray(devices[: math.prod(shape)]).reshape(shape), MESH_AXES)


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Batches are split over data and fsdp along their leading axis."""
    return NamedSharding(mesh, P(("data", "fsdp")))


def data_parallel_size(mesh: Mesh) -> int:
    return mesh.shape["data"] * mesh.shape["fsdp"]
