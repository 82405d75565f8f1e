"""orbax checkpoints of the train state plus the data iterator's position (JSON).

Writes are atomic (orbax finishes a checkpoint in a temporary folder and renames it), so a crash never leaves
a half-written checkpoint that looks complete. Kept: the last `keep` checkpoints plus the best one by
validation loss. Restoring walks back from the newest checkpoint past any that fail to load.
"""

import os
import re
import sys
import time

import jax
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers

from jaxlm.errors import UserError
from jaxlm.io import absolute


class Checkpointer:
    def __init__(self, directory: str, keep: int):
        policy = checkpoint_managers.AnyPreservationPolicy([
            checkpoint_managers.LatestN(keep),
            checkpoint_managers.BestN(get_metric_fn=lambda m: m["val_loss"], reverse=True, n=1,
                                      keep_checkpoints_without_metrics=False),
        ])
        options = ocp.CheckpointManagerOptions(create=True, enable_async_checkpointing=False,
                                               preservation_policy=policy)
        self.directory = absolute(directory)  # a gs:// directory stays a URL
        self.manager = ocp.CheckpointManager(self.directory, options=options, item_names=("state", "data"))

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def save(self, step: int, state, data_state: dict, val_loss: float | None = None) -> None:
        """Write synchronously; `val_loss` (if this step was evaluated) makes it a candidate for 'best'."""
        metrics = {"val_loss": float(val_loss)} if val_loss is not None else None
        try:
            self.manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                            data=ocp.args.JsonSave(data_state)),
                              metrics=metrics, force=True)
            self.manager.wait_until_finished()
        except OSError as e:
            raise UserError(f"could not write checkpoint {step} to '{self.directory}' ({e.strerror or e}): free disk "
                            "space and re-run the same command to resume from the last complete checkpoint") from None

    def restore(self, step: int, target_shapes, target_shardings):
        """State restored straight into `target_shardings` (any mesh), and the saved data position."""
        if hasattr(target_shapes, "params"):
            self.check_params(step, target_shapes.params)
        abstract = jax.tree_util.tree_map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
                                          target_shapes, target_shardings)
        out = self.manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract),
                                                                 data=ocp.args.JsonRestore()))
        return out["state"], out["data"]

    def restore_params(self, step: int, param_shapes, param_shardings):
        """Only the params of checkpoint `step`, restored into `param_shardings`: whatever optimizer state the run
        kept (a custom optax chain's included) is not read."""
        self.check_params(step, param_shapes)
        abstract = jax.tree_util.tree_map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
                                          param_shapes, param_shardings)
        out = self.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.PyTreeRestore({"params": abstract}, partial_restore=True)))
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
                    raise UserError(f"checkpoint {step} in '{self.directory}' does not match this model's shapes: "
                                    "use the config it was trained with, or a fresh --workdir") from None
                if "tree structures do not match" in str(e):
                    raise UserError(f"checkpoint {step} in '{self.directory}' holds another optimizer state "
                                    "(optimizer or precision changed): resume with the config it was trained with, or "
                                    "start a fresh --workdir (--init-from that workdir keeps its weights)") from None
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
        saved_names, target_names = param_names(saved), param_names(target_params)
        if saved_names == target_names:
            return
        extra, missing = sorted(saved_names - target_names), sorted(target_names - saved_names)
        if any(PRE_FUSED_ATTENTION.search(n) for n in extra) and any(FUSED_ATTENTION.search(n) for n in missing):
            raise UserError(f"checkpoint {step} in '{self.directory}' has jaxlm's attention layout from before commit "
                            "44e9d60 (separate q/k/v/o; now fused qkv/out and q/kv/out): resume it with that older "
                            "jaxlm, or start a fresh --workdir")
        shown = "; ".join(f"{what}: {', '.join(names[:3])}{' ...' if len(names) > 3 else ''}"
                          for what, names in (("not in this model", extra), ("missing", missing)) if names)
        raise UserError(f"checkpoint {step} in '{self.directory}' holds other parameters than this model ({shown}): "
                        "use the config it was trained with, or a fresh --workdir")

    def _report_corrupt(self, step: int, older: list[int], error: Exception) -> None:
        """Say so in one line and move the checkpoint aside (kept for inspection, out of the manager's way)."""
        aside = os.path.join(os.path.dirname(self.directory), "corrupt_checkpoints", f"{step}-{int(time.time())}")
        os.makedirs(os.path.dirname(aside), exist_ok=True)
        os.replace(os.path.join(self.directory, str(step)), aside)
        self.manager.reload()
        where = f"resuming from checkpoint {older[-1]}" if older else "no older checkpoint, starting from scratch"
        reason = str(error).splitlines()[0][:100] if str(error) else type(error).__name__
        print(f"jaxlm: warning: checkpoint {step} is corrupt or incomplete ({reason}); moved to {aside}; {where}",
              file=sys.stderr)

    def close(self) -> None:
        self.manager.close()


PRE_FUSED_ATTENTION = re.compile(r"/(k|v|o)/(kernel|bias)$")
FUSED_ATTENTION = re.compile(r"/(qkv|kv|out)/(kernel|bias)$")


def param_names(tree) -> set[str]:
    """'decoder/block_0/attn/qkv/kernel' for every leaf of a parameter tree (arrays or orbax metadata)."""
    leaves = jax.tree_util.tree_flatten_with_path(tree, is_leaf=lambda x: not isinstance(x, dict))[0]
    return {"/".join(str(getattr(k, "key", k)) for k in path) for path, _ in leaves}
