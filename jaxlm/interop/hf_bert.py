"""Hugging Face BERT checkpoints ↔ jaxlm BERT params, both ways (faithful: post-LN, exact GELU, the checkpoint's eps).

Reads the BertModel layout or BertForPreTraining's (`bert.` prefix, `cls.` heads). The pooler and the MLM / NSP heads are converted when present;
the NSP classifier's two rows are swapped, since Hugging Face's index 0 means "B follows A" and jaxlm's index 1
does. Export writes BertForPreTraining (NSP head) or BertForMaskedLM (RoBERTa-style, no NSP), the inverse.
"""

import jax
import ml_collections
import numpy as np

from jaxlm.config.schema import base_config
from jaxlm.errors import UserError
from jaxlm.interop.attention_layout import (
    attention_params,
    attention_tensors,
    linear_of,
    linear_tensors,
    norm_tensors,
)
from jaxlm.interop.hf_files import write_hf_dir


def model_config(hf: dict) -> ml_collections.ConfigDict:
    """jaxlm's `config.model` for a Hugging Face BertConfig dict."""
    if hf.get("hidden_act", "gelu") != "gelu" or hf.get("position_embedding_type", "absolute") != "absolute":
        raise UserError(
            f"unsupported BERT variant (hidden_act={hf.get('hidden_act')}, position_embedding_type="
            f"{hf.get('position_embedding_type')}): jaxlm's BERT has exact GELU and absolute positions"
        )
    m = base_config().model
    m.update(
        family="bert",
        norm="post",
        vocab_size=hf["vocab_size"],
        d_model=hf["hidden_size"],
        n_layers=hf["num_hidden_layers"],
        n_heads=hf["num_attention_heads"],
        d_ff=hf["intermediate_size"],
        max_len=hf["max_position_embeddings"],
        type_vocab_size=hf.get("type_vocab_size", 2),
        layer_norm_eps=float(hf.get("layer_norm_eps", 1e-12)),
        dropout=float(hf.get("hidden_dropout_prob", 0.1)),
        init_std=float(hf.get("initializer_range", 0.02)),
        tie_embeddings=True,
        nsp_head=False,
    )
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
    params = {
        "embed": {"embedding": enc["embeddings.word_embeddings.weight"]},
        "pos_embed": {"embedding": enc["embeddings.position_embeddings.weight"]},
        "type_embed": {"embedding": enc["embeddings.token_type_embeddings.weight"]},
        "ln_embed": _ln(enc, "embeddings.LayerNorm"),
    }
    for i in range(m.n_layers):
        params[f"block_{i}"] = _block(enc, f"encoder.layer.{i}", m.n_heads)
    if "pooler.dense.weight" in enc:
        params["pooler"] = _dense(enc, "pooler.dense")
    if "cls.predictions.transform.dense.weight" in sd:
        decoder = sd.get("cls.predictions.decoder.weight")
        if decoder is not None and not np.array_equal(decoder, params["embed"]["embedding"]):
            raise UserError("the checkpoint's MLM decoder is not tied to the word embeddings: jaxlm's BERT ties them")
        params["mlm_head"] = {
            "dense": _dense(sd, "cls.predictions.transform.dense"),
            "ln": _ln(sd, "cls.predictions.transform.LayerNorm"),
            "bias": sd["cls.predictions.bias"],
        }
    if "cls.seq_relationship.weight" in sd and "pooler" in params:
        nsp = _dense(sd, "cls.seq_relationship")
        params["nsp"] = {"kernel": nsp["kernel"][:, ::-1].copy(), "bias": nsp["bias"][::-1].copy()}
        m.nsp_head = True
    return jax.tree_util.tree_map(np.asarray, params)


def hf_config(m: ml_collections.ConfigDict) -> dict:
    """The BertConfig dict of a jaxlm BERT `config.model` (BertForPreTraining with the NSP head, else
    BertForMaskedLM); UserError for options Hugging Face's BERT does not have."""
    if m.norm != "post":
        raise UserError(
            f"config.model.norm='{m.norm}' does not export: Hugging Face's BERT is post-LN only "
            "(export a model trained with norm=post)"
        )
    if m.num_labels:
        raise UserError(
            f"config.model.num_labels={m.num_labels}: a fine-tuned classifier does not export yet; "
            "export the pretrained run it started from"
        )
    return {
        "model_type": "bert",
        "architectures": ["BertForPreTraining" if m.nsp_head else "BertForMaskedLM"],
        "vocab_size": m.vocab_size,
        "hidden_size": m.d_model,
        "num_hidden_layers": m.n_layers,
        "num_attention_heads": m.n_heads,
        "intermediate_size": m.d_ff,
        "max_position_embeddings": m.max_len,
        "type_vocab_size": m.type_vocab_size,
        "layer_norm_eps": m.layer_norm_eps,
        "hidden_act": "gelu",
        "position_embedding_type": "absolute",
        "hidden_dropout_prob": m.dropout,
        "attention_probs_dropout_prob": m.dropout,
        "initializer_range": m.init_std,
        "tie_word_embeddings": True,
    }


def _block_tensors(b: dict, key: str) -> dict[str, np.ndarray]:
    att = f"{key}.attention"
    names = [f"{att}.self.{p}" for p in ("query", "key", "value")] + [f"{att}.output.dense"]
    return (
        attention_tensors(b["attn"], names, False)
        | norm_tensors(f"{att}.output.LayerNorm", b["ln_attn"])
        | linear_tensors(f"{key}.intermediate.dense", linear_of(b["mlp"]["up"]))
        | linear_tensors(f"{key}.output.dense", linear_of(b["mlp"]["down"]))
        | norm_tensors(f"{key}.output.LayerNorm", b["ln_mlp"])
    )


def export_state_dict(params: dict, m: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
    """jaxlm BERT params → Hugging Face tensors (the inverse of convert_state_dict): BertForPreTraining's or
    BertForMaskedLM's, or BertModel's for params without an MLM head (an imported BertModel)."""
    p = jax.tree_util.tree_map(lambda x: np.asarray(x, np.float32), params)
    enc = "bert." if "mlm_head" in p else ""
    sd = {
        f"{enc}embeddings.word_embeddings.weight": p["embed"]["embedding"],
        f"{enc}embeddings.position_embeddings.weight": p["pos_embed"]["embedding"],
        f"{enc}embeddings.token_type_embeddings.weight": p["type_embed"]["embedding"],
    }
    sd |= norm_tensors(f"{enc}embeddings.LayerNorm", p["ln_embed"])
    for i in range(m.n_layers):
        sd |= _block_tensors(p[f"block_{i}"], f"{enc}encoder.layer.{i}")
    if "pooler" in p and (m.nsp_head or not enc):
        sd |= linear_tensors(f"{enc}pooler.dense", linear_of(p["pooler"]))
    if enc:
        head = p["mlm_head"]
        sd |= (
            linear_tensors("cls.predictions.transform.dense", linear_of(head["dense"]))
            | norm_tensors("cls.predictions.transform.LayerNorm", head["ln"])
            | {"cls.predictions.bias": head["bias"]}
        )
    if m.nsp_head:
        nsp = p["nsp"]
        sd |= linear_tensors("cls.seq_relationship", (nsp["kernel"][:, ::-1].T, nsp["bias"][::-1]))
    return sd


def write_hf_bert(out_dir: str, m: ml_collections.ConfigDict, params: dict) -> None:
    """Write `config.json` and `model.safetensors` of a Hugging Face BERT into the (new, empty) folder `out_dir`."""
    config = hf_config(m)
    if "mlm_head" not in params:
        config["architectures"] = ["BertModel"]
    write_hf_dir(out_dir, config, export_state_dict(params, m))
