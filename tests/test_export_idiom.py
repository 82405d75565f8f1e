"""The usual Hugging Face idiom on a jaxlm export: `model.generate(**tok(text, return_tensors="pt"))` with the
exported tokenizer gives jaxlm's greedy tokens (GPT: no token_type_ids reach the model; T5/BART: the input ends
with eos, as jaxlm encodes it)."""

import jax
import pytest
import test_hf_export
import torch
import transformers
from test_hf_export import CASES, _jaxlm_init, _model_cfg

from jaxlm.data.tokenizer import Tokenizer
from jaxlm.generate import sampling, seq2seq
from jaxlm.interop import export_hf
from jaxlm.objectives.seq2seq import DECODER_START_ROLES
from jaxlm.registry import FAMILIES

tokenizer_bytes = test_hf_export.tokenizer_bytes  # the module-scoped fixture: a jaxlm-trained unigram tokenizer
TEXT = "To be, or not to be, that is the question."
NEW = 12
# One worker builds the module's `tokenizer_bytes`, not one per worker.
pytestmark = pytest.mark.xdist_group("export_idiom")


def _export(m, tokenizer_bytes, tmp_path):
    tok = Tokenizer.from_bytes(tokenizer_bytes)
    m = m.copy_and_resolve_references()
    m.update(vocab_size=tok.vocab_size)
    params = _jaxlm_init(m)
    export_hf(str(tmp_path / "hf"), m, params, tokenizer_bytes)
    return tok, m, params, transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")


def test_gpt_export_generates_from_the_tokenizers_own_output(tokenizer_bytes, tmp_path):
    tok, m, params, hf_tok = _export(_model_cfg("gpt", n_decoder_layers=0), tokenizer_bytes, tmp_path)
    enc = hf_tok(TEXT, return_tensors="pt")
    assert sorted(enc) == ["attention_mask", "input_ids"]
    prompt = tok.encode(TEXT)
    assert enc["input_ids"][0].tolist() == prompt
    mine = sampling.generate(
        FAMILIES["gpt"].model(m, decode=True),
        params,
        prompt,
        NEW,
        jax.random.PRNGKey(0),
        temperature=0.0,
        eos_id=tok.ids.eos,
    )
    model = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    with torch.no_grad():
        theirs = model.generate(**enc, max_new_tokens=NEW, do_sample=False, num_beams=1)[0].tolist()
    assert theirs == prompt + mine


@pytest.mark.parametrize("name", ["t5", "bart"])
def test_seq2seq_export_generates_from_the_tokenizers_own_output(name, tokenizer_bytes, tmp_path):
    m = CASES[name][2].copy_and_resolve_references()
    m.update(n_decoder_layers=m.n_layers)  # transformers' T5 generation cache sizes itself by the encoder's depth
    tok, m, params, hf_tok = _export(m, tokenizer_bytes, tmp_path)
    enc = hf_tok(TEXT, return_tensors="pt")
    assert sorted(enc) == ["attention_mask", "input_ids"]
    inputs = seq2seq.encode_input(tok, TEXT)
    assert enc["input_ids"][0].tolist() == inputs and inputs[-1] == tok.ids.eos
    start = getattr(tok.ids, DECODER_START_ROLES[name])
    mine = seq2seq.generate(
        FAMILIES[name].model(m, decode=True), params, inputs, NEW, jax.random.PRNGKey(0), start, eos_id=tok.ids.eos
    )
    model = transformers.AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "hf").eval()
    with torch.no_grad():
        theirs = model.generate(**enc, max_new_tokens=NEW, do_sample=False, num_beams=1)[0].tolist()
    assert theirs == [start, *mine]


def test_bert_export_keeps_token_type_ids(tokenizer_bytes, tmp_path):
    *_, hf_tok = _export(CASES["bert"][2], tokenizer_bytes, tmp_path)
    assert sorted(hf_tok(TEXT)) == ["attention_mask", "input_ids", "token_type_ids"]
