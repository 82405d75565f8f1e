"""`train(config, workdir)`: the training loop, top to bottom.

corpus → model → optimizer → sharded state (restored if the workdir has a checkpoint) → jitted steps with
logging, evaluation and checkpoints → final validation/test evaluation.
"""

import os
import time

import jax
import ml_collections
import optax
from tqdm import tqdm

from jaxlm.config.loading import load_saved_config, save_config
from jaxlm.config.validate import validate
from jaxlm.data.dataset import Corpus, device_keys, load_corpus, prepare, train_batches
from jaxlm.errors import UserError
from jaxlm.optim.factory import build_optimizer
from jaxlm.registry import build_model, check_objective, family
from jaxlm.sharding.mesh import batch_sharding, data_parallel_size, make_mesh
from jaxlm.train.checkpoint import Checkpointer
from jaxlm.train.evaluate import evaluate, summarize
from jaxlm.train.metrics import MetricsWriter
from jaxlm.train.state import create_state
from jaxlm.train.step import jit_eval_step, jit_train_step, make_eval_step, make_train_step

MODEL_SHAPE_KEYS = ("family", "n_layers", "n_heads", "d_model", "d_ff", "vocab_size", "max_len", "tie_embeddings")


class Run:
    """Everything a workdir's model needs for training, evaluation and generation."""

    def __init__(self, cfg: ml_collections.ConfigDict, workdir: str, tx: optax.GradientTransformation | None = None):
        validate(cfg)
        check_objective(cfg)
        self.cfg, self.workdir = cfg, workdir
        self.mesh = make_mesh(cfg.mesh)
        dp = data_parallel_size(self.mesh)
        if cfg.train.batch_size % dp:
            raise UserError(f"config.train.batch_size={cfg.train.batch_size} is not divisible by the data-parallel "
                            f"size {dp} (mesh data×fsdp): use a multiple of {dp}")
        self.corpus: Corpus = load_corpus(cfg, workdir)
        self.model = build_model(cfg)
        self.fam = family(cfg)
        if tx is None:
            tx, self.schedule = build_optimizer(cfg.optim, cfg.train.steps)
        else:
            self.schedule = None
        self.tx = tx
        self.state, self.shardings = create_state(self.model, tx, self.fam.init_args(cfg), cfg.train.seed, self.mesh)
        self.batch_sharding = batch_sharding(self.mesh)
        self.checkpointer = Checkpointer(os.path.join(workdir, "checkpoints"), cfg.train.keep_checkpoints)
        self.results: dict = {}
        self._eval_data: dict = {}
        self.eval_step = jit_eval_step(make_eval_step(self.model.apply, self.fam.loss), self.shardings.params,
                                       self.batch_sharding)

    def put_batch(self, batch: dict) -> dict:
        """Process-local numpy batch → one global array sharded over (data, fsdp)."""
        return {k: jax.make_array_from_process_local_data(self.batch_sharding, v)
                for k, v in device_keys(batch).items()}

    def restore(self) -> dict | None:
        """Restore the latest checkpoint into the current state's shardings; returns the saved data position."""
        step = self.checkpointer.latest_step()
        if step is None:
            return None
        shapes = jax.eval_shape(lambda s: s, self.state)
        self.state, data_state = self.checkpointer.restore(step, shapes, self.shardings)
        return data_state

    def evaluate(self, split: str) -> dict:
        if split not in self._eval_data:
            self._eval_data[split] = prepare(self.corpus, self.cfg, split, train=False)
        t = self.cfg.train
        return evaluate(self.eval_step, self.state.params, self._eval_data[split], t.eval_batch_size,
                        self.corpus.tokenizer.byte_lengths(), self.put_batch, t.eval_batches)


def check_resumable(cfg: ml_collections.ConfigDict, workdir: str) -> None:
    """A workdir that already holds a run must be resumed with the same model shape."""
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        return
    saved = load_saved_config(path)
    for k in MODEL_SHAPE_KEYS:
        if saved.model.get(k) != cfg.model.get(k):
            raise UserError(f"workdir '{workdir}' was trained with model.{k}={saved.model.get(k)} but the config says "
                            f"{cfg.model.get(k)}: use a fresh --workdir or the original config")


def prepare_workdir(cfg: ml_collections.ConfigDict, workdir: str) -> None:
    try:
        os.makedirs(workdir, exist_ok=True)
        probe = os.path.join(workdir, ".write_test")
        open(probe, "w").close()
        os.remove(probe)
    except OSError as e:
        raise UserError(f"cannot write to workdir '{workdir}' ({e.strerror}): choose a writable --workdir") from None
    check_resumable(cfg, workdir)


def train(cfg: ml_collections.ConfigDict, workdir: str, tx: optax.GradientTransformation | None = None,
          stop_after: int | None = None) -> Run:
    """Train (resuming if the workdir has a checkpoint); returns the Run, whose `results` hold the final
    validation and test metrics.

    `stop_after` ends the loop early after that many total steps (with a checkpoint), as if interrupted.
    """
    prepare_workdir(cfg, workdir)
    run = Run(cfg, workdir, tx)
    save_config(cfg, os.path.join(workdir, "config.json"))
    t = cfg.train
    data = train_batches(prepare(run.corpus, cfg, "train", train=True), t.batch_size // jax.process_count(),
                         t.seed, jax.process_index(), jax.process_count())
    data_iter = iter(data)
    data_state = run.restore()
    if data_state is not None:
        data_iter.set_state(data_state)
    start = int(run.state.step)
    writer = MetricsWriter(workdir, start)
    train_step = jit_train_step(make_train_step(run.model.apply, run.fam.loss, run.tx), run.shardings,
                                run.batch_sharding)
    tokens_per_step = t.batch_size * cfg.data.seq_len
    end = min(t.steps, stop_after) if stop_after else t.steps
    bar = tqdm(total=t.steps, initial=start, disable=not t.progress or jax.process_index() != 0,
               unit="step", dynamic_ncols=True)
    window_start, window_steps, val = time.perf_counter(), 0, {}
    for step in range(start + 1, end + 1):
        batch = run.put_batch(next(data_iter))
        run.state, metrics = train_step(run.state, batch)
        window_steps += 1
        bar.update(1)
        if step % t.log_every == 0 or step == end:
            metrics = jax.device_get(metrics)
            elapsed = time.perf_counter() - window_start
            row = dict(tokens=step * tokens_per_step, **summarize(metrics), grad_norm=metrics["grad_norm"],
                       lr=float(run.schedule(step - 1)) if run.schedule else float("nan"),
                       tokens_per_s=window_steps * tokens_per_step / elapsed)
            writer.write(step, row)
            bar.set_postfix(loss=f"{row['loss']:.3f}", tok_s=f"{row['tokens_per_s']:.0f}")
            window_start, window_steps = time.perf_counter(), 0
        if step % t.eval_every == 0 or step == t.steps:
            val = run.evaluate("val")
            if val:
                writer.write(step, dict(split="val", tokens=step * tokens_per_step, **val))
                bar.write(f"step {step}: val loss {val['loss']:.4f}, bits/byte {val['bits_per_byte']:.4f}")
            window_start = time.perf_counter()
        if step % t.checkpoint_every == 0 or step == end:
            run.checkpointer.save(step, run.state, data_iter.get_state())
            window_start = time.perf_counter()
    bar.close()
    if end == t.steps:
        run.results = dict(val=val if start < end and val else run.evaluate("val"), test=run.evaluate("test"))
    writer.close()
    return run


