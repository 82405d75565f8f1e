"""What the in-loop downstream evaluation costs next to training, as JSON.

    python benchmarks/downstream_cost.py --config experiments/gpt_shakespeare.py \
        [--config.eval.tasks=shakespeare_cloze,shakespeare_speaker] [--config.eval.limit=N]

Times one evaluation of config.eval.tasks (the second call; the first compiles) and the median train step (after
a warm-up), on one freshly initialised run, and states the share of a whole run that the evaluations add
(one every train.eval_every steps and one at the end, as `jaxlm train` runs them).
"""

import json
import statistics
import sys
import tempfile
import time

import jax

from jaxlm.config.loading import split_overrides
from jaxlm.evals.downstream import Downstream, load_tasks
from jaxlm.pipeline.dataset import prepare, train_batches
from jaxlm.train.loop import Run
from jaxlm.train.step import jit_eval_step
from jaxlm.train.workdir import resolve_config

STEPS = 10


def main(argv: list[str]) -> dict:
    rest, overrides = split_overrides(argv)
    cfg = resolve_config(rest[rest.index("--config") + 1], overrides)
    if not cfg.eval.tasks:
        cfg.eval.tasks = "shakespeare_cloze,shakespeare_speaker"
    cfg.train.progress = False
    with tempfile.TemporaryDirectory() as workdir:
        run = Run(cfg, workdir)
        downstream = Downstream.for_run(run, load_tasks(cfg.eval), jit_eval_step)
        batches = iter(train_batches(prepare(run.corpus, cfg, "train", train=True), run.plan.micro_size, 0))
        times = []
        for _ in range(STEPS + 1):
            batch = run.put_batch(next(batches))
            start = time.perf_counter()
            run.state, metrics = run.train_step(run.state, batch)
            jax.block_until_ready(metrics)
            times.append(time.perf_counter() - start)
        step_s = statistics.median(times[1:])
        first = downstream(run.state.params)["seconds"]
        scores = downstream(run.state.params)
    t = cfg.train
    evaluations = t.steps // t.eval_every + (t.steps % t.eval_every != 0)
    rows = sum(len(r) for rows in downstream.rows.values() for r in rows)
    return {
        "device": jax.devices()[0].device_kind,
        "tasks": cfg.eval.tasks,
        "documents": sum(len(x.docs) for x in downstream.tasks),
        "scored_rows": rows,
        "eval_seconds_first": first,
        "eval_seconds": scores["seconds"],
        "step_seconds": step_s,
        "evaluations_per_run": evaluations,
        "run_overhead": evaluations * scores["seconds"] / (t.steps * step_s),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
