"""The training step's stall per checkpoint save, synchronous against asynchronous (orbax), in one process.

Windows of one save followed by K train steps, alternating: no save, a synchronous save, an asynchronous save. A
window's stall is its time (save, K steps, and waiting for the write to commit) minus the median no-save window;
`save returns` is how long `Checkpointer.save` held the loop. Same state, same jitted step, same disk.

    PYTHONPATH=$PWD python benchmarks/checkpoint_stall.py --config experiments/gpt_shakespeare.py
    PYTHONPATH=$PWD python benchmarks/checkpoint_stall.py --config experiments/gpt2_124m.py --data-vocab 4096 \
        --config.train.batch_size=1 --config.data.seq_len=128
"""

import argparse
import json
import statistics
import sys
import tempfile
import time

import jax

from jaxlm.bench.live import live_setup
from jaxlm.config.loading import split_overrides
from jaxlm.train.checkpoint import Checkpointer
from jaxlm.train.workdir import resolve_config


def main(argv: list[str]) -> dict:
    rest, overrides = split_overrides(argv)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True)
    p.add_argument("--data-vocab", type=int, default=None, help="tokenizer size for a large-vocabulary preset")
    p.add_argument("--rounds", type=int, default=5, help="windows of each kind")
    p.add_argument("--steps", type=int, default=5, help="train steps after each save (K)")
    p.add_argument("--dir", default=None, help="where the checkpoints go (default: a temporary folder)")
    args = p.parse_args(rest)
    cfg = resolve_config(args.config, overrides)
    setup = live_setup(cfg, args.data_vocab)
    batches, state = setup.batches(), setup.state
    n_params = sum(x.size for x in jax.tree_util.tree_leaves(state.params))

    def step(s):
        s, metrics = setup.train_step(s, setup.put(setup.next_batch(batches)))
        jax.block_until_ready(metrics)
        return s

    for _ in range(2):  # compile and warm up
        state = step(state)
    with tempfile.TemporaryDirectory(dir=args.dir) as root:
        checkpointers = {
            mode: Checkpointer(f"{root}/{mode}", keep=1, async_save=mode == "async") for mode in ("sync", "async")
        }
        window: dict[str, list[float]] = {"none": [], "sync": [], "async": []}
        returns: dict[str, list[float]] = {"sync": [], "async": []}
        n = 0
        for _ in range(args.rounds):
            for mode in ("none", "sync", "async"):
                n += 1
                start = time.perf_counter()
                if mode != "none":
                    checkpointers[mode].save(n, state, {"window": n})
                    returns[mode].append(time.perf_counter() - start)
                for _ in range(args.steps):
                    state = step(state)
                if mode != "none":
                    checkpointers[mode].wait()
                window[mode].append(time.perf_counter() - start)
        for c in checkpointers.values():
            c.close()
    base = statistics.median(window["none"])
    med = statistics.median
    return dict(
        config=args.config,
        overrides=[f"{k}={v}" for k, v in overrides],
        parameters=int(n_params),
        steps_per_window=args.steps,
        rounds=args.rounds,
        step_s=round(base / args.steps, 4),
        **{f"{m}_save_returns_s": round(med(returns[m]), 3) for m in returns},
        **{f"{m}_stall_s": round(med(window[m]) - base, 3) for m in returns},
        windows_s={m: [round(t, 3) for t in ts] for m, ts in window.items()},
    )


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=1))
