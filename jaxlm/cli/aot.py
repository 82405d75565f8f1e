"""`jaxlm compile`: lower and compile the train step ahead of time for a mesh and report per-device memory.

Catches an out-of-memory config before a long queue wait. `--devices N` fakes N CPU devices, so a pod-sized
mesh can be checked on a laptop (the compiled program is XLA:CPU's, so byte counts are a close estimate of
what an accelerator build needs, not an exact one).
"""

import json
import os

import numpy as np

from jaxlm import checks
from jaxlm.registry import precision


def register(sub) -> None:
    p = sub.add_parser("compile", help="compile the train step for a mesh and print per-device memory (JSON)")
    p.add_argument("--config", required=True)
    p.add_argument("--mesh", help="DATA,FSDP,TENSOR (e.g. 1,8,1); default: config.mesh")
    p.add_argument("--devices", type=int, help="fake this many CPU devices (must come before any JAX work)")
    p.set_defaults(run=run_compile)


def _shard_bytes(shapes, shardings) -> int:
    """Bytes one device holds of a tree of global shapes laid out by `shardings`."""
    import jax

    return int(
        sum(
            np.prod(s.shard_shape(x.shape), dtype=np.int64) * np.dtype(x.dtype).itemsize
            for x, s in zip(jax.tree_util.tree_leaves(shapes), jax.tree_util.tree_leaves(shardings))
        )
    )


def run_compile(args, overrides) -> int:
    from jaxlm.sharding.mesh import mesh_shape
    from jaxlm.train.workdir import resolve_config

    if args.devices is not None:
        checks.int_in_range(args.devices, "--devices", 1, None, 8)
    cfg = resolve_config(args.config, overrides)
    if args.mesh:
        cfg.mesh.data, cfg.mesh.fsdp, cfg.mesh.tensor = checks.mesh_sizes(args.mesh, "--mesh")
    if args.devices is not None:
        mesh_shape(cfg.mesh, args.devices, processes=1)
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={args.devices}"
        ).strip()
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax

    from jaxlm.bench.setup import abstract_setup

    setup = abstract_setup(cfg)
    compiled = setup.train_step.lower(setup.state, setup.batch).compile()
    state_shardings = compiled.input_shardings[0][0]
    stats = compiled.memory_analysis()
    get = lambda name: int(getattr(stats, f"{name}_size_in_bytes", 0) or 0)
    mesh = state_shardings.params
    leaf = jax.tree_util.tree_leaves(mesh)[0].mesh
    report = dict(
        devices=jax.device_count(),
        mesh=dict(leaf.shape),
        family=cfg.model.family,
        optimizer=cfg.optim.name,
        precision=precision(cfg),
        global_batch=cfg.train.batch_size,
        seq_len=cfg.data.seq_len,
        param_count=int(sum(np.prod(x.shape) for x in jax.tree_util.tree_leaves(setup.state.params))),
        per_device=dict(
            params_bytes=_shard_bytes(setup.state.params, state_shardings.params),
            opt_state_bytes=_shard_bytes(setup.state.opt_state, state_shardings.opt_state),
            argument_bytes=get("argument"),
            output_bytes=get("output"),
            alias_bytes=get("alias"),
            temp_bytes=get("temp"),
            peak_estimate_bytes=get("argument") + get("output") - get("alias") + get("temp"),
        ),
    )
    print(json.dumps(report))
    return 0
