"""Subprocess helper for tests/test_distributed.py: trains a few steps on fake CPU devices, prints JSON.

usage: python mesh_worker.py N_DEVICES WORKDIR_ROOT CONFIG D,F,T [D,F,T ...]

Every mesh trains the same tiny model on the same data, so the corpus and the prepared splits are built once
and shared (the time goes into compiling each mesh's steps). The first mesh's checkpoint is then restored onto
its own mesh and onto the last mesh, reusing those two runs' sharded states as restore targets.
"""

import json
import os
import sys

# LLVM's -O0 backend: compiling each mesh's steps takes about half the time. Sharding propagation, the SPMD
# partitioner and every other HLO pass run as usual, and all meshes get the same flags.
os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={sys.argv[1]} --xla_backend_optimization_level=0"

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxlm.config.loading import load_config_file
from jaxlm.sharding.mesh import LOGICAL_RULES
from jaxlm.train import loop
from jaxlm.train.loop import train
from jaxlm.train.metrics import read_metrics
from jaxlm.train.state import abstract_params


def tiny(config: str, mesh: tuple[int, int, int]):
    cfg = load_config_file(config)
    cfg.train.update(
        steps=5,
        log_every=1,
        eval_every=5,
        checkpoint_every=5,
        eval_batches=2,
        progress=False,
        sample_tokens=0,
        batch_size=8,
        eval_batch_size=8,
    )
    cfg.model.update(
        n_layers=1, d_model=64, d_ff=128, vocab_size=512, max_len=64, n_heads=8
    )  # 8 heads so that tensor=8 divides them
    if cfg.model.d_kv:
        cfg.model.d_kv = 8
    cfg.data.seq_len = 64
    cfg.data.dupe_factor = 1  # bert_mlm_nsp: one copy of the training pairs is plenty for 5 steps
    cfg.mesh.update(data=mesh[0], fsdp=mesh[1], tensor=mesh[2])
    return cfg


def _share_data_between_meshes() -> None:
    """Memoise the corpus and the prepared splits by everything in the config but the mesh."""
    corpora, prepared = {}, {}
    load_corpus, prepare = loop.run_corpus, loop.prepare
    key = lambda cfg: json.dumps({k: v for k, v in cfg.to_dict().items() if k != "mesh"}, sort_keys=True, default=str)

    def shared_corpus(cfg, workdir=None, progress=False):
        if key(cfg) not in corpora:
            corpora[key(cfg)] = load_corpus(cfg, workdir, progress)
        return corpora[key(cfg)]

    def shared_prepare(corpus, cfg, split, train):
        k = (key(cfg), id(corpus), split, train)
        if k not in prepared:
            prepared[k] = prepare(corpus, cfg, split, train)
        return prepared[k]

    loop.run_corpus, loop.prepare = shared_corpus, shared_prepare


def main() -> None:
    root, config = sys.argv[2], sys.argv[3]
    specs_in = sys.argv[4:]
    _share_data_between_meshes()
    out, runs = {}, {}
    for spec in specs_in:
        mesh = tuple(int(x) for x in spec.split(","))
        cfg = tiny(config, mesh)
        workdir = os.path.join(root, spec.replace(",", "x"))
        run = train(cfg, workdir)
        specs = nn.get_partition_spec(abstract_params(run.model, run.fam.init_args(cfg)))
        is_spec = lambda x: isinstance(x, jax.sharding.PartitionSpec)
        rules = dict(LOGICAL_RULES)
        expected = {
            p: tuple(rules.get(a) for a in s)
            for p, s in jax.tree_util.tree_flatten_with_path(specs, is_leaf=is_spec)[0]
        }
        mismatched = []
        for p, x in jax.tree_util.tree_flatten_with_path(run.state.params)[0]:
            actual = tuple(x.sharding.spec) + (None,) * (x.ndim - len(x.sharding.spec))
            if _resolve(actual, mesh) != _resolve(expected[p], mesh):
                mismatched.append(f"{jax.tree_util.keystr(p)}: {actual} vs {expected[p]}")
        out[spec] = {
            "losses": [r["loss"] for r in read_metrics(workdir) if "split" not in r],
            "val": [r["loss"] for r in read_metrics(workdir) if r.get("split") == "val"],
            "sharding_mismatches": mismatched,
        }
        if spec in (specs_in[0], specs_in[-1]):
            runs[spec] = run
    if len(specs_in) > 1:  # restore the first mesh's checkpoint (its final step) onto the first and the last mesh
        original, moved = runs[specs_in[0]], runs[specs_in[-1]]
        trained = jax.device_get(original.state.params)
        moved.checkpointer = original.checkpointer  # the last mesh's Run reads the first mesh's checkpoints
        for run in (original, moved):  # zero the states first, so that only a real restore can match
            run.state = jax.tree_util.tree_map(lambda x: jnp.zeros(x.shape, x.dtype, device=x.sharding), run.state)
            assert run.restore() is not None
        same = lambda a, b: all(
            (jax.device_get(x) == jax.device_get(y)).all()
            for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True)
        )
        out["restore_other_mesh_equal"] = bool(
            same(moved.state.params, original.state.params)
            and same(moved.state.params, trained)
            and all(
                x.sharding == s
                for x, s in zip(
                    jax.tree_util.tree_leaves(moved.state.params),
                    jax.tree_util.tree_leaves(moved.shardings.params),
                    strict=True,
                )
            )
            and int(moved.state.step) == int(original.state.step) == 5
        )
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
