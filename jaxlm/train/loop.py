"""`train(config, workdir)`: the training loop, top to bottom.

corpus → model → optimizer → sharded state (restored if the workdir has a checkpoint) → jitted steps with
logging, evaluation and checkpoints → final validation/test evaluation.
"""

import contextlib
import json
import sys
import time
from collections.abc import Callable

import jax
import ml_collections
import optax
from jax.experimental import multihost_utils

from jaxlm import io
from jaxlm.config.loading import config_changes, load_saved_config, save_config
from jaxlm.data.progress import Progress
from jaxlm.errors import UserError
from jaxlm.evals.downstream import Downstream, load_tasks
from jaxlm.objectives.causal_lm import prepare_rolling
from jaxlm.pipeline.dataset import Corpus, batched, eval_limit, prepare, training_examples, training_splits
from jaxlm.registry import check_config
from jaxlm.sharding.mesh import make_mesh
from jaxlm.train.build import build, checked_plan
from jaxlm.train.checkpoint import Checkpointer
from jaxlm.train.evaluate import evaluate, evaluate_sources, summarize
from jaxlm.train.loggers import check_trackers
from jaxlm.train.metrics import MetricsWriter
from jaxlm.train.nonfinite import NonFiniteGuard
from jaxlm.train.precision import dynamic_scaling
from jaxlm.train.preemption import Preempted, Preemption
from jaxlm.train.pretrained import (
    copy_tokenizer,
    load_pretrained,
    pretrained_config,
)
from jaxlm.train.remote_inputs import run_corpus
from jaxlm.train.remote_lock import workdir_lock
from jaxlm.train.step import (
    interleave_microbatches,
    jit_eval_step,
)

EVAL_SHOWN = ("loss", "bits_per_byte", "mlm_accuracy", "nsp_accuracy", "accuracy")
# May change when a run is resumed: the length of the run, how it reports and checkpoints, and the layout.
RESUME_FREE_KEYS = (
    "train.steps",
    "train.progress",
    "train.log_every",
    "train.eval_every",
    "train.eval_batches",
    "train.eval_batch_size",
    "train.eval_tokens",
    "train.checkpoint_every",
    "train.keep_checkpoints",
    "train.async_checkpoints",
    "train.sample_tokens",
    "train.nonfinite",
    "train.max_nonfinite_in_a_row",
    "data.prepare_workers",
    "data.store",
    "mesh.data",
    "mesh.fsdp",
    "mesh.tensor",
    "eval.tasks",
    "eval.limit",
    "eval.batch_size",
    "train.loggers",
    "train.wandb.project",
    "train.wandb.entity",
    "train.wandb.mode",
    "train.wandb.name",
)
MODEL_SHAPE_KEYS = (
    "family",
    "n_layers",
    "n_decoder_layers",
    "n_heads",
    "d_model",
    "d_ff",
    "d_kv",
    "ff",
    "vocab_size",
    "max_len",
    "tie_embeddings",
    "type_vocab_size",
    "nsp_head",
    "num_labels",
    "relative_buckets",
)


class Run:
    """Everything a workdir's model needs for training, evaluation and generation."""

    def __init__(
        self,
        cfg: ml_collections.ConfigDict,
        workdir: str,
        tx: optax.GradientTransformation | None = None,
        schedule: optax.Schedule | None = None,
    ):
        self.cfg, self.workdir = check_config(cfg), workdir
        mesh = make_mesh(cfg.mesh)
        plan = checked_plan(cfg, mesh)  # before the corpus writes anything into the workdir
        self.corpus: Corpus = run_corpus(cfg, workdir, progress=cfg.train.progress)
        built = build(cfg, mesh, tx=tx, schedule=schedule, plan=plan)
        self.mesh, self.plan, self.model, self.fam, self.loss = (
            built.mesh,
            built.plan,
            built.model,
            built.family,
            built.loss,
        )
        self.tx, self.schedule, self.state, self.shardings = built.tx, built.schedule, built.state, built.shardings
        self.batch_sharding, self.train_step, self.eval_step = built.batch_sharding, built.train_step, built.eval_step
        self.put_batch = built.put_batch
        self.checkpointer = Checkpointer(
            io.join(workdir, "checkpoints"), cfg.train.keep_checkpoints, async_save=cfg.train.async_checkpoints
        )
        self.results: dict = {}
        self._eval_data: dict = {}
        self.evaluated_whole = True  # the last evaluation scored what a final one scores
        self.by_source: dict[str, dict] = {}  # a mixture's: split → source name → its last evaluation's metrics

    def restore(self) -> dict | None:
        """Restore the newest loadable checkpoint into the current state's shardings (any mesh); returns the
        saved data position, or None if there is no checkpoint."""
        shapes = jax.eval_shape(lambda s: s, self.state)
        restored = self.checkpointer.restore_latest(shapes, self.shardings)
        if restored is None:
            return None
        _, self.state, data_state = restored
        return data_state

    def evaluate(
        self,
        split: str,
        transform: Callable[[dict], dict] | None = None,
        rolling: bool = False,
        data_cfg: ml_collections.ConfigDict | None = None,
        during_training: bool = False,
    ) -> dict:
        """The split's metrics over `train.eval_batches` batches of its rows (`during_training`: `eval_limit`'s);
        `rolling`: over all of it, each document scored apart as lm-eval's loglikelihood_rolling scores it (causal
        LMs; `prepare_rolling`); `data_cfg`: the rows as that config's data section prepares them (a sweep's).
        A mixture's split: its sources' rows pooled (each source's metrics: `by_source[split]`)."""
        t = self.cfg.train
        if self.corpus.parts and data_cfg is None and not rolling:
            parts = {}
            for name, part in self.corpus.parts.items():
                if (split, name) not in self._eval_data:
                    self._eval_data[(split, name)] = prepare(part, self.cfg, split, train=False)
                parts[name] = self._eval_data[(split, name)]
            limits = {name: eval_limit(data, self.cfg, during_training) for name, data in parts.items()}
            self.evaluated_whole = all(n in (0, t.eval_batches) for n in limits.values())
            out, self.by_source[split] = evaluate_sources(
                self.eval_step,
                self.state.params,
                parts,
                limits,
                t.eval_batch_size,
                self.corpus.tokenizer.byte_lengths(),
                self.put_batch,
                transform,
                progress=t.progress,
            )
            return out
        if data_cfg is not None:
            data = prepare(self.corpus, data_cfg, split, train=False)
        else:
            key = (split, rolling)
            if key not in self._eval_data:
                self._eval_data[key] = (
                    prepare_rolling(self.corpus.splits[split], self.cfg, self.corpus.tokenizer)
                    if rolling
                    else prepare(self.corpus, self.cfg, split, train=False)
                )
            data = self._eval_data[key]
        limit = 0 if rolling else eval_limit(data, self.cfg, during_training)
        self.evaluated_whole = limit == 0 or limit == t.eval_batches
        return evaluate(
            self.eval_step,
            self.state.params,
            data,
            t.eval_batch_size,
            self.corpus.tokenizer.byte_lengths(),
            self.put_batch,
            limit,
            transform,
            progress=t.progress,
        )


def check_resumable(cfg: ml_collections.ConfigDict, workdir: str, allow_config_change: bool = False) -> None:
    """A workdir that already holds a run must be resumed with the same model shape, and with the same
    hyper-parameters unless `allow_config_change` (then the changes are reported in one warning line)."""
    path = io.join(workdir, "config.json")
    if not io.exists(path):
        return
    saved = load_saved_config(path)
    for k in MODEL_SHAPE_KEYS:
        if saved.model.get(k) != cfg.model.get(k):
            raise UserError(
                f"workdir '{workdir}' was trained with model.{k}={saved.model.get(k)} but the config says "
                f"{cfg.model.get(k)}: use a fresh --workdir or the original config"
            )
    was, now = saved.finetune.init_from, cfg.finetune.init_from
    if (was and io.absolute(was)) != (now and io.absolute(now)):
        raise UserError(
            f"workdir '{workdir}' was initialised from '{was or 'scratch'}', not "
            f"'{now or 'scratch'}': use a fresh --workdir or the original --init-from"
        )
    changes = [
        (k, a, b) for k, a, b in config_changes(saved.to_dict(), json.loads(cfg.to_json())) if k not in RESUME_FREE_KEYS
    ]
    if not changes:
        return
    listed = ", ".join(f"{k}={b!r} (was {a!r})" for k, a, b in changes)
    if not allow_config_change:
        raise UserError(
            f"workdir '{workdir}' holds a run with other hyper-parameters: {listed}: use the original "
            "config, a fresh --workdir, or --allow-config-change to resume with the new values"
        )
    print(f"jaxlm: warning: resuming '{workdir}' with changed hyper-parameters: {listed}", file=sys.stderr)


def prepare_workdir(cfg: ml_collections.ConfigDict, workdir: str, allow_config_change: bool = False) -> None:
    """Validate `cfg` against itself and the run already in `workdir` (if any), then create the workdir:
    nothing is written for a config that is refused."""
    check_config(cfg)
    check_resumable(cfg, workdir, allow_config_change)
    try:
        io.makedirs(workdir)
        probe = io.join(workdir, f".write_test.{jax.process_index()}")
        io.atomic_write(probe, b"")
        io.remove(probe)
    except OSError as e:
        raise UserError(
            f"cannot write to workdir '{workdir}' ({e.strerror or e}): choose a writable --workdir"
        ) from None


def train(
    cfg: ml_collections.ConfigDict,
    workdir: str,
    tx: optax.GradientTransformation | None = None,
    stop_after: int | None = None,
    schedule: optax.Schedule | None = None,
    allow_config_change: bool = False,
) -> Run:
    """Train (resuming if the workdir has a checkpoint); returns the Run, whose `results` hold the final
    validation and test metrics.

    `tx` replaces the optimizer built from `config.optim` (`schedule`, its lr as a function of the optimizer
    count, is then only used for logging `lr`). `stop_after` ends the loop early after that many total steps
    (with a checkpoint), as if interrupted. With `config.finetune.init_from`, a fresh run takes that workdir's
    model section, tokenizer and latest weights (jaxlm/train/pretrained.py). Resuming a workdir with other
    hyper-parameters (other than `RESUME_FREE_KEYS`) is refused unless `allow_config_change`.
    """
    cfg = check_config(pretrained_config(cfg))  # the pretrained model section against the objective, before any work
    tasks = load_tasks(cfg.eval)  # downstream tasks are read before anything is written
    check_trackers(cfg.train)  # a tracker that cannot start here fails before anything is written
    prepare_workdir(cfg, workdir, allow_config_change)
    with workdir_lock(workdir, jax.process_index()), Preemption() as preemption, contextlib.ExitStack() as cleanup:
        return _train_locked(cfg, workdir, tx, stop_after, preemption, cleanup, schedule, tasks)


def _train_locked(
    cfg, workdir, tx, stop_after, preemption: Preemption, cleanup: contextlib.ExitStack, schedule=None, tasks=()
) -> Run:
    source = cfg.finetune.init_from
    if source and jax.process_index() == 0:
        copy_tokenizer(source, workdir)
    if source and jax.process_count() > 1:  # the others read it from the workdir
        multihost_utils.sync_global_devices("jaxlm: init_from tokenizer")
    run = Run(cfg, workdir, tx, schedule)
    cleanup.callback(run.checkpointer.close)  # however the run ends, a checkpoint being written is committed
    run.checkpointer.check_writable()  # before any step is spent
    data_state = run.restore()
    downstream = Downstream.for_run(run, tasks, jit_eval_step)
    if data_state is None:
        run.state = load_pretrained(cfg.finetune, run.state, run.shardings, run.tx, run.mesh)
    t = cfg.train
    plan = run.plan
    data = batched(
        training_examples(training_splits(run.corpus, cfg), cfg),
        plan.micro_size // jax.process_count(),
        jax.process_index(),
        jax.process_count(),
    )
    if jax.process_index() == 0:
        save_config(cfg, io.join(workdir, "config.json"))  # once everything above has been accepted
    data_iter = iter(data)
    if data_state is not None:
        data_iter.set_state(data_state)
    start = int(run.state.step)
    writer = MetricsWriter(workdir, start, cfg)
    train_step = run.train_step
    end = min(t.steps, stop_after) if stop_after else t.steps
    bar = Progress(
        "train", total=t.steps, initial=start, unit="steps", leave=True, enabled=t.progress and jax.process_index() == 0
    )
    window_start, window_steps, val = time.perf_counter(), 0, {}
    guard = NonFiniteGuard(t.nonfinite, t.max_nonfinite_in_a_row, run.checkpointer.latest_step)
    pending = None  # the previous step's non-finite flags, checked once the next step is dispatched
    for step in range(start + 1, end + 1):
        parts = [next(data_iter) for _ in range(plan.active(step - 1))]
        batch = run.put_batch(interleave_microbatches(parts, plan.microbatches))
        run.state, metrics = train_step(run.state, batch)
        stop = preemption.due(step)
        if pending:
            guard.check(*pending)
        # Under dynamic loss scaling, overflowing gradients are the scaler's business, not divergence.
        pending = (step, metrics["nonfinite_loss"], False if dynamic_scaling(t) else metrics["nonfinite_grads"])
        window_steps += 1
        bar.update(1)
        if step % t.checkpoint_every == 0 or step == end or stop:
            guard.check(*pending)  # never checkpoint past a step the policy stops at
            pending = None
        if step % t.log_every == 0 or step == end:
            metrics = jax.device_get(metrics)
            elapsed = time.perf_counter() - window_start
            row = dict(
                tokens=plan.tokens(step),
                batch_size=plan.active(step - 1) * plan.micro_size,
                **summarize(metrics),
                grad_norm=metrics["grad_norm"],
                grad_zero_frac=metrics["grad_zero_frac"],
                **(
                    {"loss_scale": float(metrics["loss_scale"]), "skipped_steps": int(metrics["skipped_steps"])}
                    if "loss_scale" in metrics
                    else {}
                ),
                **({"lr": float(run.schedule(step - 1))} if run.schedule else {}),
                tokens_per_s=(plan.tokens(step) - plan.tokens(step - window_steps)) / elapsed,
            )
            writer.write(step, row)
            bar.set_postfix(loss=f"{row['loss']:.3f}", tok_s=f"{row['tokens_per_s']:.0f}")
            window_start, window_steps = time.perf_counter(), 0
        if step % t.eval_every == 0 or step == t.steps:
            val = run.evaluate("val", during_training=True)
            if val:
                writer.write(step, dict(split="val", tokens=plan.tokens(step), **val))
                for name, m in run.by_source.get("val", {}).items():  # a mixture's sources
                    writer.write(step, dict(split=f"val/{name}", tokens=plan.tokens(step), **m))
                bar.write(f"step {step}: " + ", ".join(f"val {k} {val[k]:.4f}" for k in EVAL_SHOWN if k in val))
            if downstream:
                scores = downstream(run.state.params)
                writer.write(step, dict(split="tasks", **scores))
                bar.write(f"step {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
            window_start = time.perf_counter()
        if step % t.checkpoint_every == 0 or step == end or stop:
            evaluated = step % t.eval_every == 0 or step == t.steps
            val_loss = val.get("loss") if evaluated and val else None
            unhealthy = guard.unhealthy(val_loss, run.state)
            if unhealthy:
                print(
                    f"jaxlm: warning: checkpoint {step} not written: {unhealthy}; the last good checkpoint "
                    f"({run.checkpointer.latest_step() or 'none'}) stays the newest",
                    file=sys.stderr,
                )
            else:
                writer.flush()  # a bucket's metrics.jsonl holds every line up to the checkpoint a resume starts from
                run.checkpointer.save(step, run.state, data_iter.get_state(), val_loss)
            window_start = time.perf_counter()
        if stop:
            run.checkpointer.wait()
            bar.close()
            writer.close()
            raise Preempted(step, preemption.signal)
    bar.close()
    if pending:
        guard.check(*pending)
    if end == t.steps:
        final_val = val if start < end and val and run.evaluated_whole else run.evaluate("val")
        run.results = dict(val=final_val, test=run.evaluate("test"))
        run.results.update({f"{s}/{n}": m for s in ("val", "test") for n, m in run.by_source.get(s, {}).items()})
    run.checkpointer.wait()  # the last checkpoint, written while the final evaluation ran
    writer.close()
    guard.check_results(run.results)
    return run
