"""Starting a run from a pretrained workdir (`config.finetune.init_from`): its model, tokenizer and weights.

The run takes the pretrained workdir's model section (every field but `dropout`, `num_labels` and `pooling`, which
belong to the fine-tune) and its tokenizer, so dims and ids always agree; the parameters of the newest
checkpoint replace the fresh ones wherever the new model has the same parameter (same path and shape), and
a new head (e.g. BERT's `classifier`) keeps its fresh initialisation, as does every parameter whose name
(`decoder/block_0/cross_attn/q/kernel`) matches the regular expression `config.finetune.reinit` (re-initialising
chosen layers, as in Zhang et al. 2021, "Revisiting Few-sample BERT Fine-tuning"). The optimizer state starts afresh.
Anything that cannot match (another family, no checkpoint, no tokenizer, a parameter of another shape, a
workdir holding a run with another tokenizer) is a one-line UserError, raised before the run's config.json is
written. The pretrained workdir is only read.
"""

import re

import flax.linen as nn
import jax
import ml_collections

from jaxlm import io
from jaxlm.config.loading import load_saved_config
from jaxlm.errors import UserError
from jaxlm.interop import load_converted
from jaxlm.io.cache import local_copy
from jaxlm.pipeline.dataset import TOKENIZER_FILE
from jaxlm.registry import build_model, family
from jaxlm.train.checkpoint import Checkpointer
from jaxlm.train.state import TrainState, abstract_params, param_shardings

FINE_TUNE_MODEL_KEYS = ("dropout", "num_labels", "pooling")  # kept from the fine-tune config, not the pretrained one


def pretrained_config(cfg: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """A copy of `cfg` with the model section of `config.finetune.init_from` (cfg itself when it is empty)."""
    source = cfg.finetune.init_from
    if not source:
        return cfg
    saved = load_saved_config(io.join(source, "config.json"))
    if saved.model.family != cfg.model.family:
        raise UserError(
            f"--init-from '{source}' holds a '{saved.model.family}' model but config.model.family is "
            f"'{cfg.model.family}': fine-tune it with a {saved.model.family} config"
        )
    out = ml_collections.ConfigDict(cfg.to_dict())
    for key, value in saved.model.items():
        if key not in FINE_TUNE_MODEL_KEYS:
            out.model[key] = value
    return out


def copy_tokenizer(source: str, workdir: str) -> None:
    """Put the pretrained workdir's tokenizer into `workdir`; a run already there must have the same one."""
    src, dst = io.join(source, TOKENIZER_FILE), io.join(workdir, TOKENIZER_FILE)
    if not io.is_file(src):
        raise UserError(f"--init-from '{source}' has no {TOKENIZER_FILE}: is it a workdir written by `jaxlm train`?")
    if io.exists(io.join(workdir, "config.json")) and io.exists(dst):
        if io.read_bytes(src) != io.read_bytes(dst):
            raise UserError(
                f"workdir '{workdir}' holds a run with another tokenizer than '{source}': use a fresh --workdir"
            )
        return
    io.atomic_write(dst, io.read_bytes(src))


def newest_params(source: str, mesh, flag: str = "--init-from"):
    """The params of the newest checkpoint of the workdir `source` (only the params: any optimizer, a custom optax
    chain's too), restored onto `mesh` (its layout from the run's config), or of a `jaxlm convert` directory (on the host); the
    error messages name `flag`, the caller's flag for `source`."""
    directory = io.join(source, "checkpoints")
    if not io.is_dir(directory) and io.is_dir(io.join(source, "params")):
        return load_converted(local_copy(source, flag))[1]
    pre = load_saved_config(io.join(source, "config.json"))
    checkpointer = Checkpointer(directory, pre.train.keep_checkpoints) if io.is_dir(directory) else None
    steps = checkpointer.all_steps() if checkpointer else []
    if not steps:
        raise UserError(f"{flag} '{source}' has no checkpoint: train it first with `jaxlm train`")
    model, init_args = build_model(pre), family(pre).init_args(pre)
    shapes = nn.unbox(abstract_params(model, init_args))
    try:
        return checkpointer.restore_params(steps[-1], shapes, param_shardings(model, init_args, mesh))
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - any failure to read means this workdir cannot initialise the run
        reason = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        raise UserError(
            f"cannot read checkpoint {steps[-1]} of {flag} '{source}' ({reason}): check that its "
            "config.json is the one it was trained with"
        ) from None
    finally:
        checkpointer.close()


def param_name(path: tuple) -> str:
    """'decoder/block_0/cross_attn/q/kernel' for a parameter's key path."""
    return "/".join(str(getattr(k, "key", getattr(k, "name", k))) for k in path)


def reinit_matcher(pattern: str, params) -> re.Pattern | None:
    """The compiled `config.finetune.reinit` pattern ('' = None); it must name at least one parameter of `params`."""
    if not pattern:
        return None
    try:
        matcher = re.compile(pattern)
    except re.error as e:
        raise UserError(
            f"config.finetune.reinit='{pattern}' is not a regular expression ({e}): give one such as "
            "'decoder/.*/cross_attn/'"
        ) from None
    names = [param_name(p) for p, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
    if not any(matcher.search(n) for n in names):
        raise UserError(
            f"config.finetune.reinit='{pattern}' matches no parameter (names look like '{names[0]}'): fix the pattern"
        )
    return matcher


def init_from_pretrained(
    state: TrainState, shardings: TrainState, tx, source: str, mesh, reinit: str = ""
) -> TrainState:
    """`state` with the pretrained params wherever the model has the same parameter (except those matching the
    `reinit` pattern, which keep their fresh initialisation), and a fresh optimizer."""
    matcher = reinit_matcher(reinit, state.params)
    pretrained = {
        jax.tree_util.keystr(p): x for p, x in jax.tree_util.tree_flatten_with_path(newest_params(source, mesh))[0]
    }

    def take(path, fresh):
        key = jax.tree_util.keystr(path)
        if key not in pretrained or (matcher and matcher.search(param_name(path))):
            return fresh
        if pretrained[key].shape != fresh.shape:
            raise UserError(
                f"parameter {key} of --init-from '{source}' has shape {pretrained[key].shape} but this "
                f"model's is {fresh.shape}: fine-tune with the config the workdir was trained with"
            )
        return pretrained[key]

    params = jax.device_put(jax.tree_util.tree_map_with_path(take, state.params), shardings.params)
    opt_state = jax.jit(tx.init, out_shardings=shardings.opt_state)(params)
    return state.replace(params=params, opt_state=opt_state)


def load_pretrained(
    finetune: ml_collections.ConfigDict, state: TrainState, shardings: TrainState, tx, mesh
) -> TrainState:
    """`state` with `config.finetune.init_from`'s weights (but for the `finetune.reinit` matches) and a fresh
    optimizer; `state` itself when it is empty. The one start used by `jaxlm train`/`finetune` and `jaxlm probe`."""
    if not finetune.init_from:
        return state
    return init_from_pretrained(state, shardings, tx, finetune.init_from, mesh, finetune.reinit)
