"""Run every (variant, seed) of a sweep into DIR/runs/VARIANT/seed_S/ in turn; finished runs are skipped.

With `config.sweep.warm_start` (overrides of the base config), one model is first trained into DIR/warm_start/
and every run's pre-training starts from its weights (`finetune.init_from`); DIR/warm_start.json marks it done.
A run trains into `pretrain/` (resuming from its checkpoint if interrupted), optionally fine-tunes into
`finetune/`, and only then writes `results.json` atomically: its presence marks the run finished. Besides the
final val/test metrics a run records its parameter and optimizer-state bytes, a few training-log statistics
(`train_*`) and the `config.sweep.evals` evaluations (`NAME_val_*`). The
sweep's definition is kept in DIR/sweep.json and a different definition is refused in the same DIR.
"""

import copy
import datetime
import json
import math
import os
import time
from collections.abc import Callable

import jax
import numpy as np

from jaxlm import checks, io
from jaxlm.config.loading import config_changes, flatten
from jaxlm.data.tokenizer import default_cache_dir
from jaxlm.errors import UserError
from jaxlm.io import atomic_write
from jaxlm.sweep.environment import environment
from jaxlm.sweep.spec import Sweep, eval_config
from jaxlm.train.loop import Run, train
from jaxlm.train.metrics import read_metrics
from jaxlm.train.remote_lock import workdir_lock

SWEEP_FILE, RESULTS_FILE, WALL_FILE = "sweep.json", "results.json", "wall_s.partial"
WARM_START, WARM_START_FILE = "warm_start", "warm_start.json"
TRAIN_LAST = ("tokens", "loss", "loss_scale", "skipped_steps")  # train_KEY: the last logged value
TRAIN_MEAN = ("grad_zero_frac", "tokens_per_s")  # train_KEY: the mean over every logged step


def run_dir(sweep_dir: str, variant: str, seed: int) -> str:
    """Where one (variant, seed) run lives."""
    return io.join(sweep_dir, "runs", variant, f"seed_{seed}")


def write_json(path: str, obj: object) -> None:
    """Write JSON atomically (a reader sees the old file or the whole new one)."""
    atomic_write(path, json.dumps(obj, indent=2))


def final_metrics(results: dict, prefix: str = "") -> dict[str, int | float]:
    """A run's nested final results ({"val": {"loss": ...}}) → {"val_loss": ...}, numbers only."""
    return {
        k: v if isinstance(v, int) else float(v)
        for k, v in flatten(results, "_", prefix).items()
        if isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
    }


def tree_bytes(tree) -> int:
    """Total bytes of a tree's array leaves."""
    return int(sum(x.size * x.dtype.itemsize for x in jax.tree_util.tree_leaves(tree)))


def state_bytes(state) -> dict[str, int | float]:
    """param_bytes, opt_state_bytes and their ratio opt_state_to_params, from the trained state."""
    params, opt = tree_bytes(state.params), tree_bytes(state.opt_state)
    return {"param_bytes": params, "opt_state_bytes": opt, "opt_state_to_params": opt / params}


def train_log_metrics(workdir: str) -> dict[str, int | float]:
    """From a run's metrics.jsonl: the last logged `TRAIN_LAST` and the mean of `TRAIN_MEAN` over its train lines."""
    rows = (
        [r for r in read_metrics(workdir) if "split" not in r] if io.exists(io.join(workdir, "metrics.jsonl")) else []
    )
    out = {f"train_{k}": rows[-1][k] for k in TRAIN_LAST if rows and isinstance(rows[-1].get(k), (int, float))}
    for k in TRAIN_MEAN:
        values = [r[k] for r in rows if isinstance(r.get(k), (int, float))]
        if values:
            out[f"train_{k}"] = float(np.mean(values))
    return out


def extra_evals(run: Run, evals: dict[str, dict[str, object]]) -> dict[str, int | float]:
    """`NAME_val_*`: the trained model on the validation split prepared with each evaluation's data fields."""
    out = {}
    for name, fields in evals.items():
        out.update(final_metrics({f"{name}_val": run.evaluate("val", data_cfg=eval_config(run.cfg, fields))}))
    return out


def _first_difference(old: dict, new: dict) -> str | None:
    """The first way a recorded definition differs from a new one (schema fields added since are ignored)."""
    if old.get("evals", {}) != new["evals"]:
        return f"config.sweep.evals was {old.get('evals', {})!r} and is now {new['evals']!r}"
    if old.get("warm_start") != new["warm_start"]:
        return "config.sweep.warm_start changed"
    if not set(old["seeds"]) <= set(new["seeds"]):  # added seeds extend a sweep; its finished runs stay valid
        return f"config.sweep.seeds was {old['seeds']!r} and is now {new['seeds']!r} (seeds may only be added)"
    if old["finetune"] != new["finetune"]:
        return f"config.sweep.finetune was {old['finetune']!r} and is now {new['finetune']!r}"
    removed = set(old["variants"]) - set(new["variants"])
    if removed:  # added variants extend a sweep, as added seeds do
        return f"variant '{min(removed)}' is gone (variants may only be added)"
    sections = [(f"variant '{name}'", old["variants"][name], new["variants"][name]) for name in old["variants"]]
    for where, a, b in sections + [
        ("the fine-tune config", old["finetune_config"] or {}, new["finetune_config"] or {})
    ]:
        for key, was, now in config_changes(a, b)[:1]:
            return f"{where} has {key}={now!r}, the runs there used {was!r}"
    return None


def read_sweep_json(sweep_dir: str) -> dict:
    """DIR/sweep.json: the sweep's definition, command and report metrics."""
    path = io.join(sweep_dir, SWEEP_FILE)
    if not io.is_file(path):
        raise UserError(f"'{sweep_dir}' has no {SWEEP_FILE}: is it a sweep dir written by `jaxlm sweep`?")
    meta = checks.load_json(path, "restore it or use a new --workdir")
    keys = (
        "seeds",
        "finetune",
        "finetune_config",
        "variants",
        "config",
        "scale",
        "overrides",
        "metrics",
        "description",
    )
    if not isinstance(meta, dict) or not all(k in meta for k in keys):
        raise UserError(f"'{path}' is not a sweep.json written by `jaxlm sweep`: restore it or use a new --workdir")
    return meta


def record_definition(sweep: Sweep, sweep_dir: str) -> None:
    """Write DIR/sweep.json, refusing a DIR whose recorded definition differs from this sweep's."""
    path = io.join(sweep_dir, SWEEP_FILE)
    new = json.loads(json.dumps(sweep.definition()))
    if io.exists(path):
        difference = _first_difference(read_sweep_json(sweep_dir), new)
        if difference:
            raise UserError(
                f"sweep dir '{sweep_dir}' holds a different sweep: {difference}: pass a new --workdir "
                "(or restore the original definition to resume)"
            )
    write_json(
        path,
        dict(
            new,
            config=sweep.path,
            scale=sweep.scale,
            overrides=sweep.overrides,
            metrics=list(sweep.metrics),
            description=sweep.description,
            claims=sweep.claims,
            failure=sweep.failure,
        ),
    )


def record_claims(sweep: Sweep, sweep_dir: str) -> None:
    """Replace the claims, failure rule, report metrics and description in DIR/sweep.json by the module's: they
    decide nothing the runs compute, so a study's decision rules can be declared or revised after its runs
    (`--report-only --config`)."""
    meta = read_sweep_json(sweep_dir)
    if set(meta["variants"]) != set(sweep.variants):
        raise UserError(
            f"'{sweep.path}' defines variants {', '.join(sweep.variants)}, but sweep dir '{sweep_dir}' "
            f"ran {', '.join(meta['variants'])}: pass the module the sweep was run with"
        )
    write_json(
        io.join(sweep_dir, SWEEP_FILE),
        dict(
            meta, claims=sweep.claims, failure=sweep.failure, metrics=list(sweep.metrics), description=sweep.description
        ),
    )


def enable_compilation_cache() -> None:
    """Share compiled steps between runs of the same shapes (every seed of a variant) via jax's disk cache."""
    if not jax.config.jax_compilation_cache_dir:
        jax.config.update("jax_compilation_cache_dir", os.path.join(os.path.dirname(default_cache_dir()), "xla"))


def _train_and_finetune(sweep: Sweep, sweep_dir: str, variant: str, seed: int) -> dict[str, int | float]:
    """Pre-train (resuming; from the warm start if any), then fine-tune if the sweep has a fine-tune stage; the
    run's final metrics."""
    directory = run_dir(sweep_dir, variant, seed)
    cfg = copy.deepcopy(sweep.variants[variant])
    cfg.train.seed = seed
    if sweep.warm_start:
        cfg.finetune.init_from = io.join(sweep_dir, WARM_START)
    pretrain = io.join(directory, "pretrain")
    run = train(cfg, pretrain)
    metrics = final_metrics(run.results)
    metrics.update(state_bytes(run.state), **extra_evals(run, sweep.evals))
    metrics.update(train_log_metrics(pretrain))
    if sweep.finetune_config is not None:
        ft_cfg = copy.deepcopy(sweep.finetune_config)
        ft_cfg.train.seed = seed
        results = sweep.finetune_run(ft_cfg, workdir=io.join(directory, "finetune"), init_from=pretrain)
        metrics.update(final_metrics(results, "finetune_"))
    return metrics


def warm_start(sweep: Sweep, sweep_dir: str, log: Callable[[str], None]) -> None:
    """Train the shared warm start into DIR/warm_start/ (resuming), then write DIR/warm_start.json (its results)."""
    done = io.join(sweep_dir, WARM_START_FILE)
    if io.exists(done):
        log(f"warm start: finished earlier, in {io.join(sweep_dir, WARM_START)}")
        return
    log(f"warm start: training in {io.join(sweep_dir, WARM_START)}")
    start = time.perf_counter()
    run = train(copy.deepcopy(sweep.warm_start), io.join(sweep_dir, WARM_START))
    metrics = final_metrics(run.results)
    wall = time.perf_counter() - start
    write_json(done, {"metrics": metrics, "wall_s": wall, "environment": environment()})
    log(f"warm start: done in {wall:.1f} s (val_loss {metrics.get('val_loss', math.nan):.4f})")


def run_one(sweep: Sweep, sweep_dir: str, variant: str, seed: int) -> dict:
    """Train (and fine-tune) one run, then write its results.json; wall time adds up over interruptions."""
    directory = run_dir(sweep_dir, variant, seed)
    io.makedirs(directory)
    wall_path = io.join(directory, WALL_FILE)
    before = float(io.read_text(wall_path)) if io.exists(wall_path) else 0.0
    start = time.perf_counter()
    try:
        metrics = _train_and_finetune(sweep, sweep_dir, variant, seed)
    finally:
        wall = before + time.perf_counter() - start
        atomic_write(wall_path, str(wall))
    record = {
        "variant": variant,
        "seed": seed,
        "metrics": metrics,
        "wall_s": wall,
        "finished": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "environment": environment(),
    }
    write_json(io.join(directory, RESULTS_FILE), record)
    io.remove(wall_path)
    return record


def run_sweep(
    sweep: Sweep,
    sweep_dir: str,
    only: list[str] | None = None,
    log: Callable[[str], None] = print,
    compilation_cache: bool = False,
) -> None:
    """Run the sweep's missing runs in order (all of them, or the variants in `only`), one log line each;
    `compilation_cache` turns on jax's disk cache of compiled programs (shared by runs of equal shapes)."""
    todo = sweep.runs(only)
    try:
        io.makedirs(sweep_dir)
        lock = workdir_lock(sweep_dir, 0).acquire()
    except OSError as e:
        raise UserError(
            f"cannot write to sweep dir '{sweep_dir}' ({e.strerror}): choose a writable --workdir"
        ) from None
    try:
        record_definition(sweep, sweep_dir)
        if compilation_cache:
            enable_compilation_cache()
        if sweep.warm_start:
            warm_start(sweep, sweep_dir, log)
        for i, (variant, seed) in enumerate(todo, 1):
            tag = f"[{i}/{len(todo)}] {variant} seed {seed}"
            if io.exists(io.join(run_dir(sweep_dir, variant, seed), RESULTS_FILE)):
                log(f"{tag}: finished earlier, skipped")
                continue
            log(f"{tag}: training in {run_dir(sweep_dir, variant, seed)}")
            record = run_one(sweep, sweep_dir, variant, seed)
            shown = ", ".join(f"{m} {record['metrics'][m]:.4f}" for m in sweep.metrics if m in record["metrics"])
            log(f"{tag}: done in {record['wall_s']:.1f} s" + (f" ({shown})" if shown else ""))
    finally:
        lock.release()
