"""Checkpoint import from Hugging Face, one importer per `model_type` of the checkpoint's config.json.

A converted directory holds `config.json` (a complete jaxlm config whose `model` section describes the
checkpoint, readable with `load_saved_config`) and `params/` (the params tree as an orbax checkpoint);
`load_converted(dir)` returns (config, params) ready for `registry.build_model(config).apply`.
"""

import os
import shutil
from collections.abc import Callable

import ml_collections
import orbax.checkpoint as ocp

from jaxlm import checks
from jaxlm.config.loading import load_saved_config, save_config
from jaxlm.config.schema import base_config
from jaxlm.errors import UserError
from jaxlm.interop.hf_bart import load_hf_bart
from jaxlm.interop.hf_bert import load_hf_bert, read_hf_config
from jaxlm.interop.hf_t5 import load_hf_t5

# model_type → (hf_dir → (jaxlm config.model, params))
HF_IMPORTERS: dict[str, Callable[[str], tuple[ml_collections.ConfigDict, dict]]] = {
    "bert": load_hf_bert,
    "t5": load_hf_t5,
    "bart": load_hf_bart,
}


CONVERTED_ENTRIES = ("config.json", "params")  # what save_converted writes (and `--force` may replace)


def import_hf(hf_dir: str) -> tuple[ml_collections.ConfigDict, dict]:
    """(jaxlm config.model, params) of a local Hugging Face directory, by its model_type; a config.json that
    lacks a field, or weights that lack a tensor or do not fit it, are one-line UserErrors."""
    model_type = read_hf_config(hf_dir).get("model_type", "")
    if model_type not in HF_IMPORTERS:
        raise UserError(f"cannot import Hugging Face model_type '{model_type}' from '{hf_dir}': "
                        f"supported are {', '.join(HF_IMPORTERS)}")
    try:
        return HF_IMPORTERS[model_type](hf_dir)
    except KeyError as e:
        raise UserError(f"the {model_type} checkpoint in '{hf_dir}' has no '{e.args[0]}' (a config.json field or a "
                        "weight): save the model with save_pretrained") from None
    except (TypeError, ValueError, AttributeError) as e:
        reason = str(e).splitlines()[0][:100] if str(e) else type(e).__name__
        raise UserError(f"the {model_type} checkpoint in '{hf_dir}' does not fit its config.json ({reason}): save "
                        "the model with save_pretrained") from None


def save_converted(out_dir: str, model_cfg: ml_collections.ConfigDict, params: dict) -> None:
    """Write `config.json` and `params/` into a temporary sibling of `out_dir`, then move it into place
    (replacing an earlier conversion there): a failed write leaves `out_dir` as it was."""
    out_dir = os.path.abspath(checks.output_folder(out_dir, "--out", True, CONVERTED_ENTRIES))
    cfg = base_config()
    cfg.model = model_cfg
    cfg.data.seq_len = min(cfg.data.seq_len, model_cfg.max_len)
    tmp, old = f"{out_dir}.{os.getpid()}.tmp", f"{out_dir}.{os.getpid()}.old"
    try:
        os.makedirs(tmp)
        ckpt = ocp.StandardCheckpointer()
        ckpt.save(os.path.join(tmp, "params"), params)
        ckpt.wait_until_finished()
        save_config(cfg, os.path.join(tmp, "config.json"))
        if os.path.isdir(out_dir) and os.listdir(out_dir):  # an earlier conversion (--force): move it aside
            os.replace(out_dir, old)
        try:
            os.replace(tmp, out_dir)
        except OSError:
            if os.path.exists(old):
                os.replace(old, out_dir)
            raise
    except OSError as e:
        raise UserError(f"cannot write --out '{out_dir}' ({e.strerror or e}): free disk space or choose another "
                        "--out") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def load_converted(out_dir: str) -> tuple[ml_collections.ConfigDict, dict]:
    """(config, params) of a directory written by `save_converted` / `jaxlm convert`."""
    cfg = load_saved_config(os.path.join(out_dir, "config.json"))
    return cfg, ocp.StandardCheckpointer().restore(os.path.join(os.path.abspath(out_dir), "params"))
