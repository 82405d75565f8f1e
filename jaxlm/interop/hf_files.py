"""A local Hugging Face model directory's files: its config.json, its weights (one file or the shards an index
names) and, for export, the two files every exporter writes."""

import json
import os

import numpy as np

from jaxlm import checks
from jaxlm.errors import UserError

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def read_hf_config(hf_dir: str) -> dict:
    """The checkpoint's config.json as a dict."""
    path = os.path.join(hf_dir, "config.json")
    if not os.path.isfile(path):
        raise UserError(f"'{hf_dir}' has no config.json: point --from-hf at a Hugging Face model directory")
    return checks.json_object(path, "the Hugging Face config")


def _weight_files(hf_dir: str) -> list[str]:
    """The checkpoint's weight files: one file, or the shards its `*.index.json` names (all present)."""
    for name in WEIGHT_FILES:
        if os.path.isfile(os.path.join(hf_dir, name)):
            return [os.path.join(hf_dir, name)]
        index = os.path.join(hf_dir, f"{name}.index.json")
        if os.path.isfile(index):
            weight_map = checks.json_object(index, "the shard index").get("weight_map")
            if not isinstance(weight_map, dict) or not weight_map:
                raise UserError(
                    f"the shard index '{index}' has no weight_map: save the model again with save_pretrained"
                )
            shards = sorted(set(map(str, weight_map.values())))
            missing = [s for s in shards if not os.path.isfile(os.path.join(hf_dir, s))]
            if missing:
                raise UserError(
                    f"'{hf_dir}' lacks the shard {missing[0]} ({len(missing)} of the {len(shards)} that "
                    f"{name}.index.json names are missing): download every shard of the checkpoint"
                )
            return [os.path.join(hf_dir, s) for s in shards]
    raise UserError(
        f"'{hf_dir}' has none of {', '.join(WEIGHT_FILES)} (nor a sharded *.index.json): save the model "
        "with save_pretrained"
    )


def _read_weights(path: str) -> dict[str, np.ndarray]:
    """Every tensor of one safetensors or torch weight file as float32 numpy."""
    import torch

    kind = "safetensors file" if path.endswith(".safetensors") else "pytorch_model.bin"
    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            tensors = load_file(path)
        else:
            tensors = torch.load(path, map_location="cpu", weights_only=True)
        return {k: v.float().numpy() for k, v in tensors.items()}
    except Exception as e:  # noqa: BLE001 - any failure to read means the file is not a checkpoint
        raise UserError(
            f"'{path}' is not a readable {kind} ({type(e).__name__}): save the model again with save_pretrained"
        ) from None


def read_state_dict(hf_dir: str) -> dict[str, np.ndarray]:
    """Every tensor of the checkpoint (one weight file or its shards) as float32 numpy, by its Hugging Face name."""
    state_dict: dict[str, np.ndarray] = {}
    for path in _weight_files(hf_dir):
        state_dict |= _read_weights(path)
    return state_dict


def write_hf_dir(out_dir: str, config: dict, tensors: dict[str, np.ndarray]) -> None:
    """Write `config.json` and `model.safetensors` (contiguous float32, metadata format=pt) into `out_dir`."""
    from safetensors.numpy import save_file

    tensors = {k: np.ascontiguousarray(v, np.float32) for k, v in tensors.items()}
    save_file(tensors, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(out_dir, "config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=1)


def load_hf(hf_dir: str, model_config, convert_state_dict) -> tuple:
    """(jaxlm `config.model`, params) of a Hugging Face directory, by one importer's `model_config(hf config)`
    and `convert_state_dict(tensors, config.model)`."""
    m = model_config(read_hf_config(hf_dir))
    return m, convert_state_dict(read_state_dict(hf_dir), m)
