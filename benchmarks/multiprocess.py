"""Two Slurm tasks against one process on the same CPU cores: training tokens/s, and the token-store bytes each
process reads. JSON on stdout.

    python benchmarks/multiprocess.py --config experiments/gpt_tiny.py --steps 60 --repeats 2 [--config.a.b=v ...]

Needs root and Debian's slurm-wlm and munge: it starts the one-node localhost cluster of tests/integration (2 CPUs)
for its own time. Each repeat trains the same run twice, in this order: one process with 2 XLA host devices, then
experiments/launch/slurm.sbatch with 2 tasks of 1 device each (the same global batch, so the same losses).
Throughput is the median of metrics.jsonl's tokens_per_s (global tokens) over the steps after the first 10.

Bytes read: every process runs jaxlm in-process through `worker` below (`python benchmarks/multiprocess.py train
...`, in place of `jaxlm train`), which counts the bytes of token-id slices taken from the store's train split
(jaxlm.data.store.ShardedTokens, which every read of the memory-mapped tokens goes through) and prints them.
The jaxlm supervisor is skipped there (JAXLM_SUPERVISED=1) so that the count lives in the training process.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SBATCH = os.path.join(ROOT, "experiments", "launch", "slurm.sbatch")
CLUSTER = os.path.join(ROOT, "tests", "integration", "slurm_cluster.sh")
MARK = "STORE_READS "


def worker(argv: list[str]) -> int:
    """`jaxlm ARGV` in this process, counting the train split's token bytes read; prints MARK + JSON at the end."""
    os.environ["JAXLM_SUPERVISED"] = "1"
    sys.path.insert(0, ROOT)
    import jax

    from jaxlm.cli.main import main
    from jaxlm.data import store

    read, sizes = {}, {}
    getitem = store.ShardedTokens.__getitem__

    def counted(self, key):
        out = getitem(self, key)
        if isinstance(key, slice):
            split = os.path.basename(os.path.dirname(self.shards[0].filename))
            read[split] = read.get(split, 0) + len(out) * self.shards[0].dtype.itemsize
            sizes[split] = len(self) * self.shards[0].dtype.itemsize
        return out

    store.ShardedTokens.__getitem__ = counted
    code = main(argv)
    print(MARK + json.dumps({"process": jax.process_index(), "read": read, "split_bytes": sizes}), flush=True)
    return code


def _throughput(workdir: str) -> float:
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        rows = [json.loads(x) for x in f if x.strip()]
    return statistics.median(r["tokens_per_s"] for r in rows if "split" not in r and r["step"] > 10)


def _reads(text: str) -> list[dict]:
    found = [json.loads(line.split(MARK, 1)[1]) for line in text.splitlines() if MARK in line]
    return sorted(found, key=lambda r: r["process"])


def drive(args, overrides: list[str]) -> dict:
    """Bring the cluster up, alternate one process and two Slurm tasks, bring it down."""
    run = [
        f"--config.train.steps={args.steps}",
        "--config.train.log_every=1",
        f"--config.train.eval_every={args.steps}",
        f"--config.train.checkpoint_every={args.steps}",
        "--config.train.eval_batches=1",
        "--config.train.progress=False",
        "--config.train.sample_tokens=0",
        *overrides,
    ]
    me = [sys.executable, os.path.abspath(__file__)]
    out = {
        "config": args.config,
        "steps": args.steps,
        "overrides": overrides,
        "cpus": os.cpu_count(),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
        "single": [],
        "slurm_2_tasks": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([CLUSTER, "up", os.path.join(tmp, "cluster")], check=True)
        env = {**os.environ, "SLURM_CONF": os.path.join(tmp, "cluster", "slurm.conf"), "PYTHONPATH": ROOT}
        try:
            for r in range(args.repeats):
                single = os.path.join(tmp, f"single{r}")
                p = subprocess.run(
                    [*me, "train", "--config", args.config, "--workdir", single, *run],
                    check=True,
                    env={**env, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
                    capture_output=True,
                    text=True,
                )
                out["single"].append(
                    {
                        "tokens_per_s": _throughput(single),
                        "reads": _reads(p.stdout),
                        "load_average_1min_after": os.getloadavg()[0],
                    }
                )
                pair = os.path.join(tmp, f"pair{r}")
                log = os.path.join(tmp, f"pair{r}.log")
                subprocess.run(
                    ["sbatch", "--wait", "--ntasks=2", f"--output={log}", SBATCH, *run],
                    check=True,
                    env={**env, "CONFIG": args.config, "WORKDIR": pair, "JAXLM": " ".join(me)},
                    capture_output=True,
                )
                with open(log) as f:
                    out["slurm_2_tasks"].append(
                        {
                            "tokens_per_s": _throughput(pair),
                            "reads": _reads(f.read()),
                            "load_average_1min_after": os.getloadavg()[0],
                        }
                    )
        finally:
            subprocess.run([CLUSTER, "down", os.path.join(tmp, "cluster")], check=True)
    return out


def main() -> None:
    if sys.argv[1:2] == ["train"]:
        sys.exit(worker(sys.argv[1:]))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=os.path.join(ROOT, "experiments", "gpt_tiny.py"))
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--repeats", type=int, default=2)
    args, overrides = p.parse_known_args()
    print(json.dumps(drive(args, overrides), indent=1))


if __name__ == "__main__":
    main()
