"""Subprocess helper for tests/test_distributed.py: trains a few steps on fake CPU devices, prints JSON.

usage: python mesh_worker.py N_DEVICES WORKDIR_ROOT CONFIG D,F,T [D,F,T ...]
"""

import json
import os
import sys

os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={sys.argv[1]}"

import flax.linen as nn
import jax

from jaxlm.config.loading import load_config_file
from jaxlm.sharding.mesh import LOGICAL_RULES
from jaxlm.train.loop import Run, train
from jaxlm.train.metrics import read_metrics
from jaxlm.train.state import abstract_params


def tiny(config: str, mesh: tuple[int, int, int]):
    cfg = load_config_file(config)
    cfg.train.update(steps=5, log_every=1, eval_every=5, checkpoint_every=5, eval_batches=2, progress=False,
                     sample_tokens=0, batch_size=8, eval_batch_size=8)
    cfg.model.update(n_layers=2, d_model=64, d_ff=128, vocab_size=512, max_len=64,
                     n_heads=8)  # 8 heads so that tensor=8 divides them
    if cfg.model.d_kv:
        cfg.model.d_kv = 8
    cfg.data.seq_len = 64
    cfg.mesh.update(data=mesh[0], fsdp=mesh[1], tensor=mesh[2])
    return cfg


def main() -> None:
    root, config = sys.argv[2], sys.argv[3]
    out = {}
    for spec in sys.argv[4:]:
        mesh = tuple(int(x) for x in spec.split(","))
        cfg = tiny(config, mesh)
        workdir = os.path.join(root, spec.replace(",", "x"))
        run = train(cfg, workdir)
        specs = nn.get_partition_spec(abstract_params(run.model, run.fam.init_args(cfg)))
        is_spec = lambda x: isinstance(x, jax.sharding.PartitionSpec)
        rules = dict(LOGICAL_RULES)
        expected = {p: tuple(rules.get(a) for a in s) for p, s in
                    jax.tree_util.tree_flatten_with_path(specs, is_leaf=is_spec)[0]}
        mismatched = []
        for p, x in jax.tree_util.tree_flatten_with_path(run.state.params)[0]:
            actual = tuple(x.sharding.spec) + (None,) * (x.ndim - len(x.sharding.spec))
            if _resolve(actual, mesh) != _resolve(expected[p], mesh):
                mismatched.append(f"{jax.tree_util.keystr(p)}: {actual} vs {expected[p]}")
        out[spec] = {"losses": [r["loss"] for r in read_metrics(workdir) if "split" not in r],
                     "val": [r["loss"] for r in read_metrics(workdir) if r.get("split") == "val"],
                     "sharding_mismatches": mismatched}
    if len(sys.argv) > 5:  # restore the first mesh's checkpoint onto the last mesh
        first, last = sys.argv[4], sys.argv[-1]
        cfg = tiny(config, tuple(int(x) for x in last.split(",")))
        src = os.path.join(root, first.replace(",", "x"))
        moved = Run(cfg, src)
        moved.restore()
        original = Run(tiny(config, tuple(int(x) for x in first.split(","))), src)
        original.restore()
        same = all((jax.device_get(a) == jax.device_get(b)).all() for a, b in
                   zip(jax.tree_util.tree_leaves(moved.state.params), jax.tree_util.tree_leaves(original.state.params)))
        out["restore_other_mesh_equal"] = bool(same)
    print("RESULT " + json.dumps(out))


def _resolve(axes, mesh):
    """Mesh axes of size 1 shard nothing: drop them so equal layouts compare equal."""
    sizes = dict(zip(("data", "fsdp", "tensor"), mesh))
    def one(a):
        if a is None:
            return None
        names = (a,) if isinstance(a, str) else tuple(a)
        names = tuple(n for n in names if sizes[n] > 1)
        return names or None
    return tuple(one(a) for a in axes)


if __name__ == "__main__":
    main()
