"""orbax checkpoints of the train state plus the data iterator's position (JSON).

Writes are atomic (orbax finishes a checkpoint in a temporary folder and renames it), so a crash never leaves
a half-written checkpoint that looks complete. With `async_save` (`config.train.async_checkpoints`) a save only
copies the state to host memory and returns; orbax writes it in a background thread while training goes on, and
the next save, `wait()` or `close()` waits for it (reporting a failed write as a UserError). Kept: the last `keep`
checkpoints plus the best one by validation loss. Restoring walks back from the newest checkpoint past any that
fail to load. The folder is created on the first save, so reading a workdir without checkpoints writes nothing.
"""

import errno
import os
import re
import sys
import time

import jax
import orbax.checkpoint as ocp
from etils import epath
from orbax.checkpoint import checkpoint_managers

from jaxlm.errors import UserError
from jaxlm.io import absolute
from jaxlm.io.write_errors import quiet_orbax_failures, write_error_code

ITEM_HANDLERS = {"state": ocp.PyTreeCheckpointHandler, "data": ocp.JsonCheckpointHandler}


class Checkpointer:
    def __init__(self, directory: str, keep: int, async_save: bool = False):
        policy = checkpoint_managers.AnyPreservationPolicy(
            [
                checkpoint_managers.LatestN(keep),
                checkpoint_managers.BestN(
                    get_metric_fn=lambda m: m["val_loss"], reverse=True, n=1, keep_checkpoints_without_metrics=False
                ),
            ]
        )
        # Temporary folders of writes cut short (a kill during a save) are removed when the manager opens.
        self.options = ocp.CheckpointManagerOptions(
            create=False,
            enable_async_checkpointing=async_save,
            cleanup_tmp_directories=True,
            preservation_policy=policy,
        )
        self.directory = epath.Path(absolute(directory))  # a gs:// directory stays a URL
        quiet_orbax_failures()
        self._manager: ocp.CheckpointManager | None = None
        self._in_flight: int | None = None  # the step an asynchronous save is writing

    @property
    def manager(self) -> ocp.CheckpointManager | None:
        """orbax's manager of the folder; None while the folder does not exist (nothing saved yet)."""
        return self._open() if self._manager is None and self.directory.exists() else self._manager

    def _open(self) -> ocp.CheckpointManager:
        """The manager, opened on first use (a bucket has no empty folders: the first save opens it before the folder
        exists). Handlers for both items up front: reading metadata or only the params then finds every item's."""
        if self._manager is None:
            self._manager = ocp.CheckpointManager(
                self.directory, options=self.options, item_handlers={k: h() for k, h in ITEM_HANDLERS.items()}
            )
        return self._manager

    def latest_step(self) -> int | None:
        return self.manager.latest_step() if self.manager else None

    def all_steps(self) -> list[int]:
        return sorted(self.manager.all_steps()) if self.manager else []

    def save(self, step: int, state, data_state: dict, val_loss: float | None = None) -> None:
        """Write checkpoint `step` (in the background with `async_save`, after the previous write has finished);
        `val_loss` (if this step was evaluated) makes it a candidate for 'best'."""
        metrics = {"val_loss": float(val_loss)} if val_loss is not None else None
        self.wait()  # (orbax's save would wait too) so that a failure of the previous write is reported as such
        try:
            self._probe()
            self._open().save(
                step,
                args=ocp.args.Composite(state=ocp.args.PyTreeSave(state), data=ocp.args.JsonSave(data_state)),
                metrics=metrics,
                force=True,
            )
        except Exception as e:  # noqa: BLE001 - orbax wraps the OSError of a failed write in its own errors
            self._failed(step, e)
        self._in_flight = step
        if not self.options.enable_async_checkpointing:
            self.wait()

    def check_writable(self) -> None:
        """Refuse now, in one line, a checkpoint folder that the first save could not write to (read-only, full)."""
        try:
            self._probe()
        except OSError as e:
            self._failed(None, e)

    def _probe(self) -> None:
        """Create the folder if needed and write a few bytes into it: an unwritable folder fails here, in the main
        thread, rather than in orbax's threads, whose siblings would then wait minutes for a folder never made."""
        self.directory.mkdir(parents=True, exist_ok=True)
        probe = self.directory / f".write_test.{os.getpid()}"
        try:
            probe.write_bytes(b"jaxlm")
        finally:
            probe.unlink(missing_ok=True)

    def wait(self) -> None:
        """Block until the checkpoint being written (if any) is committed; a failed write is a UserError."""
        try:
            if self._manager is not None:
                self._manager.wait_until_finished()
                self._manager.check_for_errors()
        except Exception as e:  # noqa: BLE001 - see save
            self._failed(self._in_flight, e)
        self._in_flight = None

    def _failed(self, step: int | None, error: Exception) -> None:
        """A write that failed: its temporary folder is removed (the committed checkpoints stay as they were),
        and the cause becomes one line."""
        self._manager, self._in_flight = None, None  # not closed: it would wait for writes that never finish
        for tmp in self.directory.glob(f"{step}.orbax-checkpoint-tmp*") if self.directory.exists() else ():
            tmp.rmtree(missing_ok=True)
        code = write_error_code(error)
        what = f"checkpoint {step}" if step is not None else "a checkpoint"
        if code in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise UserError(
                f"could not write {what}: checkpoint folder '{self.directory}' is not writable "
                f"({os.strerror(code)}): make it writable and re-run the same command to resume"
            ) from None
        cause = os.strerror(code) if code else (str(error).splitlines() or [type(error).__name__])[0][:120]
        fix = "free disk space" if code in (errno.ENOSPC, errno.EDQUOT) else "fix the cause"
        raise UserError(
            f"could not write {what} to '{self.directory}' ({cause}): {fix} and re-run the same "
            "command to resume from the last complete checkpoint"
        ) from None

    def restore(self, step: int, target_shapes, target_shardings):
        """State restored straight into `target_shardings` (any mesh), and the saved data position."""
        if hasattr(target_shapes, "params"):
            self.check_params(step, target_shapes.params)
        abstract = jax.tree_util.tree_map(
            lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), target_shapes, target_shardings
        )
        out = self.manager.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.PyTreeRestore(
                    abstract, restore_args=ocp.checkpoint_utils.construct_restore_args(abstract)
                ),
                data=ocp.args.JsonRestore(),
            ),
        )
        return out["state"], out["data"]

    def restore_params(self, step: int, param_shapes, param_shardings):
        """Only the params of checkpoint `step`, restored into `param_shardings`: whatever optimizer state the run
        kept (a custom optax chain's included) is not read."""
        self.check_params(step, param_shapes)
        abstract = jax.tree_util.tree_map(
            lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), param_shapes, param_shardings
        )
        item = {"params": abstract}
        out = self.manager.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.PyTreeRestore(
                    item, restore_args=ocp.checkpoint_utils.construct_restore_args(item), partial_restore=True
                )
            ),
        )
        return out["state"]["params"]

    def restore_latest(self, target_shapes, target_shardings):
        """(step, state, data position) of the newest checkpoint that loads, or None if there is none.

        A newer checkpoint that fails to load is reported in one line and skipped. A checkpoint whose shapes
        do not match the model is not corruption: that is an error for the user.
        """
        steps = self.all_steps()
        for i, step in enumerate(reversed(steps)):
            try:
                state, data = self.restore(step, target_shapes, target_shardings)
                return step, state, data
            except UserError:
                raise
            except ValueError as e:
                if "shape" in str(e).lower() and "mismatch" in str(e).lower():
                    raise UserError(
                        f"checkpoint {step} in '{self.directory}' does not match this model's shapes: "
                        "use the config it was trained with, or a fresh --workdir"
                    ) from None
                if "tree structures do not match" in str(e):
                    raise UserError(
                        f"checkpoint {step} in '{self.directory}' holds another optimizer state "
                        "(optimizer or precision changed): resume with the config it was trained with, or "
                        "start a fresh --workdir (--init-from that workdir keeps its weights)"
                    ) from None
                self._report_corrupt(step, steps[: len(steps) - 1 - i], e)
            except Exception as e:  # noqa: BLE001 - any failure to read means this checkpoint is unusable
                self._report_corrupt(step, steps[: len(steps) - 1 - i], e)
        return None

    def check_params(self, step: int, target_params) -> None:
        """Refuse, in one line, a checkpoint whose parameter names are not the model's (another model, or the
        attention layout of jaxlm before the fused projections), rather than mistaking it for a corrupt one."""
        try:
            saved = self.manager.item_metadata(step)["state"].tree["params"]
        except Exception:  # noqa: BLE001 - unreadable metadata is corruption, reported by the restore itself
            return
        saved_shapes, target_shapes = leaf_shapes(saved), leaf_shapes(target_params)
        saved_names, target_names = set(saved_shapes), set(target_shapes)
        if saved_names == target_names:
            for name in sorted(target_names):
                if saved_shapes[name] != target_shapes[name]:
                    raise UserError(
                        f"checkpoint {step} in '{self.directory}': parameter {name} has shape "
                        f"{saved_shapes[name]} but this model's is {target_shapes[name]}: use the config "
                        "it was trained with"
                    )
            return
        extra, missing = sorted(saved_names - target_names), sorted(target_names - saved_names)
        if any(PRE_FUSED_ATTENTION.search(n) for n in extra) and any(FUSED_ATTENTION.search(n) for n in missing):
            raise UserError(
                f"checkpoint {step} in '{self.directory}' has jaxlm's attention layout from before commit "
                "44e9d60 (separate q/k/v/o; now fused qkv/out and q/kv/out): resume it with that older "
                "jaxlm, or start a fresh --workdir"
            )
        shown = "; ".join(
            f"{what}: {', '.join(names[:3])}{' ...' if len(names) > 3 else ''}"
            for what, names in (("not in this model", extra), ("missing", missing))
            if names
        )
        raise UserError(
            f"checkpoint {step} in '{self.directory}' holds other parameters than this model ({shown}): "
            "use the config it was trained with, or a fresh --workdir"
        )

    def _report_corrupt(self, step: int, older: list[int], error: Exception) -> None:
        """Say so in one line and move the checkpoint aside (kept for inspection, out of the manager's way)."""
        aside = self.directory.parent / "corrupt_checkpoints" / f"{step}-{int(time.time())}"
        aside.parent.mkdir(parents=True, exist_ok=True)
        (self.directory / str(step)).rename(aside)
        self.manager.reload()
        where = f"resuming from checkpoint {older[-1]}" if older else "no older checkpoint, starting from scratch"
        reason = str(error).splitlines()[0][:100] if str(error) else type(error).__name__
        print(
            f"jaxlm: warning: checkpoint {step} is corrupt or incomplete ({reason}); moved to {aside}; {where}",
            file=sys.stderr,
        )

    def close(self) -> None:
        """Wait for a write in flight and release orbax's threads; a failed write is not reported here (a run that
        ends normally calls `wait()` first, and one that ends with another error reports that one)."""
        if self._manager is not None:
            try:
                self._manager.close()
            except Exception:  # noqa: BLE001 - see the docstring
                pass


PRE_FUSED_ATTENTION = re.compile(r"/(k|v|o)/(kernel|bias)$")
FUSED_ATTENTION = re.compile(r"/(qkv|kv|out)/(kernel|bias)$")


def leaf_shapes(tree) -> dict[str, tuple]:
    """{'decoder/block_0/attn/qkv/kernel': shape} for every leaf of a parameter tree (arrays or orbax metadata)."""
    leaves = jax.tree_util.tree_flatten_with_path(tree, is_leaf=lambda x: not isinstance(x, dict))[0]
    return {"/".join(str(getattr(k, "key", k)) for k in path): tuple(leaf.shape) for path, leaf in leaves}
