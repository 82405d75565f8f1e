"""Checkpoint import from Hugging Face (one importer per `model_type` of the checkpoint's config.json) and export to
it (one exporter per jaxlm family).

A converted directory holds `config.json` (a complete jaxlm config whose `model` section describes the
checkpoint, readable with `load_saved_config`) and `params/` (the params tree as an orbax checkpoint);
`load_converted(dir)` returns (config, params) ready for `registry.build_model(config).apply`.
"""

import json
import os
from collections.abc import Callable

import ml_collections
import orbax.checkpoint as ocp

from jaxlm.config.loading import load_saved_config, save_config
from jaxlm.config.schema import base_config
from jaxlm.data.tokenizer import Tokenizer
from jaxlm.errors import UserError
from jaxlm.interop import hf_bart, hf_bert, hf_gpt2, hf_llama, hf_t5
from jaxlm.interop.hf_files import load_hf, read_hf_config
from jaxlm.interop.hf_tokenizer import HF_TOKENIZER_ENTRIES, write_hf_tokenizer
from jaxlm.interop.layer_stack import unstack_layers
from jaxlm.interop.out_folder import write_folder
from jaxlm.io.write_errors import quiet_orbax_failures
from jaxlm.objectives.seq2seq import DECODER_START_ROLES

# model_type → the module whose model_config(hf config) and convert_state_dict(tensors, config.model) import it
HF_IMPORTERS = {
    "bert": hf_bert,
    "t5": hf_t5,
    "bart": hf_bart,
    "gpt2": hf_gpt2,
    **dict.fromkeys(hf_llama.MODEL_TYPES, hf_llama),
}


def write_hf_gpt(out_dir: str, m: ml_collections.ConfigDict, params: dict) -> None:
    """A GPT with Llama's block exports as LlamaForCausalLM, any other as GPT2LMHeadModel (which names the
    option it lacks)."""
    (hf_llama.write_hf_llama if hf_llama.is_llama_shaped(m) else hf_gpt2.write_hf_gpt2)(out_dir, m, params)


# jaxlm family → (out_dir, config.model, params) → writes a Hugging Face model directory
HF_EXPORTERS: dict[str, Callable[[str, ml_collections.ConfigDict, dict], None]] = {
    "gpt": write_hf_gpt,
    "bert": hf_bert.write_hf_bert,
    "t5": hf_t5.write_hf_t5,
    "bart": hf_bart.write_hf_bart,
}
# jaxlm family → its Hugging Face config.json for a config.model (UserError naming an option HF has no layout for)
HF_CONFIGS: dict[str, Callable[[ml_collections.ConfigDict], dict]] = {
    "gpt": lambda m: (hf_llama if hf_llama.is_llama_shaped(m) else hf_gpt2).hf_config(m),
    "bert": hf_bert.hf_config,
    "t5": hf_t5.hf_config,
    "bart": hf_bart.hf_config,
}
EXPORTED_ENTRIES = ("config.json", "model.safetensors", *HF_TOKENIZER_ENTRIES)


CONVERTED_ENTRIES = ("config.json", "params", "tokenizer.model")  # what save_converted writes (`--force` replaces)
HF_TOKENIZER_FILES = ("tokenizer.json", "spiece.model", "tokenizer.model")  # the first one found is converted


def import_hf(hf_dir: str) -> tuple[ml_collections.ConfigDict, dict]:
    """(jaxlm config.model, params) of a local Hugging Face directory, by its model_type; a config.json that
    lacks a field, or weights that lack a tensor or do not fit it, are one-line UserErrors."""
    model_type = read_hf_config(hf_dir).get("model_type", "")
    if model_type not in HF_IMPORTERS:
        raise UserError(
            f"cannot import Hugging Face model_type '{model_type}' from '{hf_dir}': "
            f"supported are {', '.join(HF_IMPORTERS)}"
        )
    try:
        importer = HF_IMPORTERS[model_type]
        return load_hf(hf_dir, importer.model_config, importer.convert_state_dict)
    except KeyError as e:
        raise UserError(
            f"the {model_type} checkpoint in '{hf_dir}' has no '{e.args[0]}' (a config.json field or a "
            "weight): save the model with save_pretrained"
        ) from None
    except (TypeError, ValueError, AttributeError) as e:
        reason = str(e).splitlines()[0][:100] if str(e) else type(e).__name__
        raise UserError(
            f"the {model_type} checkpoint in '{hf_dir}' does not fit its config.json ({reason}): save "
            "the model with save_pretrained"
        ) from None


def hf_tokenizer(hf_dir: str) -> bytes | None:
    """The bytes of a Hugging Face directory's tokenizer (tokenizer.json, else a sentencepiece model), or None."""
    for name in HF_TOKENIZER_FILES:
        path = os.path.join(hf_dir, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                return f.read()
    return None


def save_converted(
    out_dir: str,
    model_cfg: ml_collections.ConfigDict,
    params: dict,
    tokenizer: bytes | None = None,
    objective: str = "causal_lm",
) -> None:
    """Write `config.json` (with `objective`, the family's own, so eval, export and `--init-from` take it as it is),
    `params/` (orbax) and the tokenizer as `tokenizer.model` (so `--init-from` takes the directory like a workdir)
    into `out_dir`, atomically."""
    cfg = base_config()
    cfg.model = model_cfg
    cfg.data.seq_len = min(cfg.data.seq_len, model_cfg.max_len)
    cfg.data.objective = objective

    quiet_orbax_failures()  # a failed write is the one line write_folder makes of it

    def write(tmp: str) -> None:
        ckpt = ocp.StandardCheckpointer()
        try:
            ckpt.save(os.path.join(tmp, "params"), params)
            ckpt.wait_until_finished()
        finally:
            ckpt.close()  # a failed write's background threads are done before its folder is removed
        save_config(cfg, os.path.join(tmp, "config.json"))
        if tokenizer is not None:
            with open(os.path.join(tmp, "tokenizer.model"), "wb") as f:
                f.write(tokenizer)

    write_folder(out_dir, CONVERTED_ENTRIES, write)


def export_hf(
    out_dir: str, model_cfg: ml_collections.ConfigDict, params: dict, tokenizer: bytes | None = None, specials: str = ""
) -> None:
    """Write a Hugging Face model directory for a jaxlm model (its family's exporter), atomically; the tokenizer
    (`specials` as config.data.tokenizer_specials) goes beside it as tokenizer.json with its roles, so
    `AutoTokenizer.from_pretrained` loads it too and encodes as jaxlm does."""
    check_exportable(model_cfg, options=False)  # the exporter refuses an option itself, inside the atomic write
    params = unstack_layers(params)  # a scan_layers run exports like an unrolled one

    def write(tmp: str) -> None:
        HF_EXPORTERS[model_cfg.family](tmp, model_cfg, params)
        if tokenizer is not None:
            write_hf_tokenizer(
                tmp,
                tokenizer,
                specials,
                max_len=model_cfg.get("max_len"),
                token_types=model_cfg.family == "bert",
                append_eos=model_cfg.family in DECODER_START_ROLES,
            )
            _set_token_ids(
                os.path.join(tmp, "config.json"), Tokenizer.from_bytes(tokenizer, specials), model_cfg.family
            )

    write_folder(out_dir, EXPORTED_ENTRIES, write, "--to-hf")


def check_exportable(model_cfg: ml_collections.ConfigDict, options: bool = True) -> None:
    """Refuse, before any weight is read, a model that has no Hugging Face layout: its family, and with `options`
    a model option the family's Hugging Face class lacks."""
    if model_cfg.family not in HF_EXPORTERS:
        raise UserError(
            f"Hugging Face export of family '{model_cfg.family}' is not built yet: exportable are "
            f"{', '.join(HF_EXPORTERS)}"
        )
    if options:
        HF_CONFIGS[model_cfg.family](model_cfg)


def _set_token_ids(config_path: str, tok: Tokenizer, family: str) -> None:
    """config.json's pad/eos/bos ids (and an encoder-decoder's decoder start) become the exported tokenizer's, so
    `generate` on the export starts and stops where jaxlm's does."""
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    ids = {f"{role}_token_id": getattr(tok.ids, role) for role in ("pad", "eos", "bos")}
    if family in DECODER_START_ROLES:
        ids["decoder_start_token_id"] = getattr(tok.ids, DECODER_START_ROLES[family])
    config.update({k: v for k, v in ids.items() if v is not None})
    with open(config_path, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=1)


def load_converted(out_dir: str) -> tuple[ml_collections.ConfigDict, dict]:
    """(config, params) of a directory written by `save_converted` / `jaxlm convert`."""
    cfg = load_saved_config(os.path.join(out_dir, "config.json"))
    return cfg, ocp.StandardCheckpointer().restore(os.path.join(os.path.abspath(out_dir), "params"))
