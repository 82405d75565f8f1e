"""Checkpoint import from Hugging Face, one importer per `model_type` of the checkpoint's config.json.

A converted directory holds `config.json` (a complete jaxlm config whose `model` section describes the
checkpoint, readable with `load_saved_config`) and `params/` (the params tree as an orbax checkpoint);
`load_converted(dir)` returns (config, params) ready for `registry.build_model(config).apply`.
"""

import os
from collections.abc import Callable

import ml_collections
import orbax.checkpoint as ocp

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


def import_hf(hf_dir: str) -> tuple[ml_collections.ConfigDict, dict]:
    """(jaxlm config.model, params) of a local Hugging Face directory, by its model_type."""
    model_type = read_hf_config(hf_dir).get("model_type", "")
    if model_type not in HF_IMPORTERS:
        raise UserError(f"cannot import Hugging Face model_type '{model_type}' from '{hf_dir}': "
                        f"supported are {', '.join(HF_IMPORTERS)}")
    return HF_IMPORTERS[model_type](hf_dir)


def save_converted(out_dir: str, model_cfg: ml_collections.ConfigDict, params: dict) -> None:
    """Write `config.json` and `params/` into a new directory `out_dir`."""
    if os.path.exists(out_dir) and os.listdir(out_dir):
        raise UserError(f"'{out_dir}' is not empty: choose another --out (nothing is overwritten)")
    os.makedirs(out_dir, exist_ok=True)
    cfg = base_config()
    cfg.model = model_cfg
    cfg.data.seq_len = min(cfg.data.seq_len, model_cfg.max_len)
    ckpt = ocp.StandardCheckpointer()
    ckpt.save(os.path.join(os.path.abspath(out_dir), "params"), params)
    ckpt.wait_until_finished()
    save_config(cfg, os.path.join(out_dir, "config.json"))


def load_converted(out_dir: str) -> tuple[ml_collections.ConfigDict, dict]:
    """(config, params) of a directory written by `save_converted` / `jaxlm convert`."""
    cfg = load_saved_config(os.path.join(out_dir, "config.json"))
    return cfg, ocp.StandardCheckpointer().restore(os.path.join(os.path.abspath(out_dir), "params"))
