"""Hugging Face BERT checkpoints → jaxlm BERT params (faithful: post-LN, exact GELU, the checkpoint's eps).

Reads a local directory with `config.json` and `model.safetensors` or `pytorch_model.bin` (loaded with
`torch.load(weights_only=True)`), in the BertModel layout or BertForPreTraining's (`bert.` prefix, `cls.`
heads). The pooler and the MLM / NSP heads are converted when present; the NSP classifier's two rows are
swapped, since Hugging Face's index 0 means "B follows A" and jaxlm's index 1 does.
"""

import os

import jax
import ml_collections
import numpy as np

from jaxlm import checks
from jaxlm.config.schema import base_config
from jaxlm.errors import UserError
from jaxlm.interop.attention_layout import attention_params
from jaxlm.models.bert import BERT

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def read_hf_config(hf_dir: str) -> dict:
    """The checkpoint's config.json as a dict."""
    path = os.path.join(hf_dir, "config.json")
    if not os.path.isfile(path):
        raise UserError(f"'{hf_dir}' has no config.json: point --from-hf at a Hugging Face model directory")
    return checks.json_object(path, "the Hugging Face config")


def read_state_dict(hf_dir: str) -> dict[str, np.ndarray]:
    """Every tensor of the checkpoint as float32 numpy, by its Hugging Face name."""
    import torch
    for name in WEIGHT_FILES:
        path = os.path.join(hf_dir, name)
        if os.path.isfile(path):
            try:
                if name.endswith(".safetensors"):
                    from safetensors.torch import load_file
                    tensors = load_file(path)
                else:
                    tensors = torch.load(path, map_location="cpu", weights_only=True)
                return {k: v.float().numpy() for k, v in tensors.items()}
            except Exception as e:  # noqa: BLE001 - any failure to read means the file is not a checkpoint
                raise UserError(f"'{path}' is not a readable {name} ({type(e).__name__}): save the model again with "
                                "save_pretrained") from None
    raise UserError(f"'{hf_dir}' has none of {', '.join(WEIGHT_FILES)}: save the model with save_pretrained")


def model_config(hf: dict) -> ml_collections.ConfigDict:
    """jaxlm's `config.model` for a Hugging Face BertConfig dict."""
    if hf.get("hidden_act", "gelu") != "gelu" or hf.get("position_embedding_type", "absolute") != "absolute":
        raise UserError(f"unsupported BERT variant (hidden_act={hf.get('hidden_act')}, position_embedding_type="
                        f"{hf.get('position_embedding_type')}): jaxlm's BERT has exact GELU and absolute positions")
    m = base_config().model
    m.update(family="bert", norm="post", vocab_size=hf["vocab_size"], d_model=hf["hidden_size"],
             n_layers=hf["num_hidden_layers"], n_heads=hf["num_attention_heads"], d_ff=hf["intermediate_size"],
             max_len=hf["max_position_embeddings"], type_vocab_size=hf.get("type_vocab_size", 2),
             layer_norm_eps=float(hf.get("layer_norm_eps", 1e-12)), dropout=float(hf.get("hidden_dropout_prob", 0.1)),
             init_std=float(hf.get("initializer_range", 0.02)), tie_embeddings=True, nsp_head=False)
    return m


def _ln(sd: dict, key: str) -> dict:
    """LayerNorm weights under either naming (weight/bias or the TF-era gamma/beta)."""
    scale = sd.get(f"{key}.weight", sd.get(f"{key}.gamma"))
    bias = sd.get(f"{key}.bias", sd.get(f"{key}.beta"))
    return {"scale": scale, "bias": bias}


def _dense(sd: dict, key: str) -> dict:
    return {"kernel": sd[f"{key}.weight"].T, "bias": sd[f"{key}.bias"]}


def _block(sd: dict, key: str, n_heads: int) -> dict:
    att = f"{key}.attention"
    names = [f"{att}.self.{p}" for p in ("query", "key", "value")] + [f"{att}.output.dense"]
    return {
        "attn": attention_params(*[(sd[f"{n}.weight"], sd[f"{n}.bias"]) for n in names], n_heads, False),
        "ln_attn": _ln(sd, f"{att}.output.LayerNorm"),
        "mlp": {"up": _dense(sd, f"{key}.intermediate.dense"), "down": _dense(sd, f"{key}.output.dense")},
        "ln_mlp": _ln(sd, f"{key}.output.LayerNorm"),
    }


def convert_state_dict(sd: dict[str, np.ndarray], m: ml_collections.ConfigDict) -> dict:
    """Hugging Face tensors → the jaxlm BERT params tree (sets m.nsp_head when the checkpoint has one)."""
    enc = {k.removeprefix("bert."): v for k, v in sd.items() if not k.startswith("cls.")}
    if "embeddings.word_embeddings.weight" not in enc:
        raise UserError("the checkpoint has no embeddings.word_embeddings.weight: it is not a BERT checkpoint")
    params = {"embed": {"embedding": enc["embeddings.word_embeddings.weight"]},
              "pos_embed": {"embedding": enc["embeddings.position_embeddings.weight"]},
              "type_embed": {"embedding": enc["embeddings.token_type_embeddings.weight"]},
              "ln_embed": _ln(enc, "embeddings.LayerNorm")}
    for i in range(m.n_layers):
        params[f"block_{i}"] = _block(enc, f"encoder.layer.{i}", m.n_heads)
    if "pooler.dense.weight" in enc:
        params["pooler"] = _dense(enc, "pooler.dense")
    if "cls.predictions.transform.dense.weight" in sd:
        decoder = sd.get("cls.predictions.decoder.weight")
        if decoder is not None and not np.array_equal(decoder, params["embed"]["embedding"]):
            raise UserError("the checkpoint's MLM decoder is not tied to the word embeddings: jaxlm's BERT ties them")
        params["mlm_head"] = {"dense": _dense(sd, "cls.predictions.transform.dense"),
                              "ln": _ln(sd, "cls.predictions.transform.LayerNorm"), "bias": sd["cls.predictions.bias"]}
    if "cls.seq_relationship.weight" in sd and "pooler" in params:
        nsp = _dense(sd, "cls.seq_relationship")
        params["nsp"] = {"kernel": nsp["kernel"][:, ::-1].copy(), "bias": nsp["bias"][::-1].copy()}
        m.nsp_head = True
    return jax.tree_util.tree_map(np.asarray, params)


def load_hf_bert(hf_dir: str) -> tuple[ml_collections.ConfigDict, dict]:
    """(jaxlm `config.model`, params) of a local Hugging Face BERT directory."""
    m = model_config(read_hf_config(hf_dir))
    return m, convert_state_dict(read_state_dict(hf_dir), m)


def bert_hidden_states(model_cfg: ml_collections.ConfigDict, params: dict, input_ids, token_type_ids,
                       attention_mask) -> jax.Array:
    """Final hidden states [B, T, d_model] (Hugging Face's `last_hidden_state`); padding rows are unspecified."""
    return BERT(model_cfg).apply({"params": params}, input_ids, token_type_ids, attention_mask, method=BERT.encode)
