"""Objectives are records: every field required, the registry's tables derived from them, and docs/ARCHITECTURE.md's
"How to add an objective" run as written: its module, saved on the Python path and named by module path in
`config.data.objective`, trains (with its evaluations) and checkpoints through the CLI; a path that names no record is one line,
exit status 2, with nothing written."""

import dataclasses
import json
import os
import re

import numpy as np
import pytest
from conftest import ROOT, fails, jaxlm_cli

from jaxlm import registry
from jaxlm.config.loading import load_config_file
from jaxlm.config.validate import validate
from jaxlm.errors import UserError
from jaxlm.losses.causal_lm import causal_lm_loss
from jaxlm.objectives import OBJECTIVES, objective
from jaxlm.objectives.base import Objective
from jaxlm.pipeline.dataset import load_corpus, prepare
from jaxlm.projects.genre.objectives import GENRE_OBJECTIVES
from jaxlm.registry import FAMILIES, trained_objectives

TINY = os.path.join(ROOT, "experiments", "gpt_tiny.py")
QUICK = [
    "--config.train.steps=2",
    "--config.train.eval_every=2",
    "--config.train.eval_batches=1",
    "--config.train.checkpoint_every=2",
    "--config.train.progress=False",
    "--config.train.sample_tokens=0",
]
SEQ2SEQ = [
    "t5_span_corruption",
    "t5_prefix_lm",
    "t5_iid_replace_spans",
    "t5_iid_drop_tokens",
    "t5_bert_style",
    "bart_denoise",
]


def test_every_field_of_a_record_is_required():
    fields = dataclasses.fields(Objective)
    assert [f.name for f in fields] == ["prepare", "needs", "sentences", "loss", "classifies", "check"]
    assert all(f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING for f in fields)
    full = dict(prepare=len, needs=("eos",), sentences=False, loss=causal_lm_loss, classifies=False, check=None)
    for name in full:
        with pytest.raises(TypeError, match=name):
            Objective(**{k: v for k, v in full.items() if k != name})


@pytest.mark.parametrize("name", [*OBJECTIVES, *GENRE_OBJECTIVES])
def test_every_record_is_complete_and_trains_a_family(name):
    o = objective(name)
    assert callable(o.prepare) and callable(o.loss) and (o.check is None or callable(o.check))
    assert isinstance(o.needs, tuple) and "eos" in o.needs and isinstance(o.sentences, bool)
    assert any(o.loss in f.losses for f in FAMILIES.values())


def test_the_families_tables_are_derived_from_the_records():
    assert trained_objectives(FAMILIES["gpt"]) == ["causal_lm"]
    assert trained_objectives(FAMILIES["bert"]) == ["bert_mlm_nsp", "roberta_mlm"]
    assert trained_objectives(FAMILIES["t5"]) == trained_objectives(FAMILIES["bart"]) == SEQ2SEQ
    trains = {
        path.rsplit(":")[1]: [n for n, f in FAMILIES.items() if o.loss in f.losses]
        for path, o in GENRE_OBJECTIVES.items()
    }
    assert trains == {"classification": ["bert"], "text_to_text": ["t5", "bart"], "continuation": ["gpt"]}
    assert [n for n, o in OBJECTIVES.items() if o.sentences] == ["bert_mlm_nsp", "roberta_mlm"]
    assert [o.classifies for o in GENRE_OBJECTIVES.values()] == [True, False, False]


def _recipe_module() -> str:
    """The python block of docs/ARCHITECTURE.md's "How to add an objective"."""
    with open(os.path.join(ROOT, "docs", "ARCHITECTURE.md"), encoding="utf-8") as f:
        doc = f.read()
    section = doc[doc.index("## How to add an objective") : doc.index("## How to add an optimizer")]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_recipe_objective_trains_by_module_path(tmp_path, monkeypatch):
    from jaxlm.cli.main import main

    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "backward_lm.py").write_text(_recipe_module())
    monkeypatch.syspath_prepend(str(tmp_path / "mods"))
    monkeypatch.delitem(__import__("sys").modules, "backward_lm", raising=False)
    monkeypatch.setattr(registry, "_CHECKED", set())
    validated = []
    monkeypatch.setattr(registry, "validate", lambda cfg: validated.append(cfg.data.objective) or validate(cfg))
    wd = tmp_path / "run"
    assert (
        main(["train", "--config", TINY, "--workdir", str(wd), "--config.data.objective=backward_lm:OBJECTIVE", *QUICK])
        == 0
    )
    assert validated == ["backward_lm:OBJECTIVE"]  # once, at the entry point; the validated config is passed down
    assert json.load(open(wd / "config.json"))["data"]["objective"] == "backward_lm:OBJECTIVE"
    assert os.path.isdir(wd / "checkpoints" / "2")
    cfg = load_config_file(TINY)
    cfg.data.objective = "backward_lm:OBJECTIVE"
    corpus = load_corpus(cfg, progress=False)
    tokens, t = np.asarray(corpus.splits["train"].stream.tokens), cfg.data.seq_len
    ex = prepare(corpus, cfg, "train", train=True).example(3, np.random.default_rng(0))
    np.testing.assert_array_equal(ex["inputs"], tokens[3 * t + 1 : 4 * t + 1][::-1])
    np.testing.assert_array_equal(ex["targets"], tokens[3 * t : 4 * t][::-1])


@pytest.mark.parametrize(
    "path", ["jaxlm.objectives.causal_lm:prepare", "jaxlm.objectives.causal_lm:NOTHING", ":OBJECTIVE"]
)
def test_a_path_to_no_record_is_one_line(capsys, tmp_path, path):
    err = fails(capsys, "train", "--config", TINY, "--workdir", str(tmp_path / "w"), f"--config.data.objective={path}")
    assert "names no Objective record" in err and path in err and not os.path.exists(tmp_path / "w")


def test_train_from_python_validates_its_raw_config(tmp_path):
    from jaxlm.train.loop import train

    cfg = load_config_file(TINY)
    cfg.data.objective = "jaxlm.objectives.causal_lm:prepare"
    with pytest.raises(UserError, match="names no Objective record"):
        train(cfg, str(tmp_path / "w"))
    assert not os.path.exists(tmp_path / "w")


def test_a_missing_module_is_one_line_from_the_command(tmp_path):
    done = jaxlm_cli(
        "train",
        "--config",
        TINY,
        "--workdir",
        str(tmp_path / "w"),
        "--config.data.objective=no_such_package.objectives:classification",
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "no_such_package.objectives" in done.stderr and not os.path.exists(tmp_path / "w")
