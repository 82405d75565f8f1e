"""The sweep's statistics on made-up results with known answers: the t-interval and its coverage, paired
differences by seed, each verdict (agrees, disagrees, not resolved, equivalent, not equivalent) and the claims'
checks."""

import math
import re

import numpy as np
import pytest

from jaxlm.errors import UserError
from jaxlm.sweep.claims import (
    AGREES,
    DISAGREES,
    EQUIVALENT,
    NOT_EQUIVALENT,
    UNRESOLVED,
    check_claims,
    check_failure,
    decide,
    expect,
    expect_equivalent,
    failed,
    failure,
    failure_lines,
    verdict_line,
)
from jaxlm.sweep.statistics import Interval, mean_interval, paired_difference


def _records(values: dict[str, list[float]], metric: str = "val_loss") -> list[dict]:
    return [{"variant": v, "seed": s, "metrics": {metric: x}} for v, xs in values.items() for s, x in enumerate(xs)]


def test_t_interval_of_known_values():
    i = mean_interval([1.0, 2.0, 3.0])
    half = 4.302652729749464 / math.sqrt(3)  # t(2 degrees of freedom, 0.975) · std 1 / √3
    assert (i.mean, i.std, i.n) == (2.0, 1.0, 3)
    assert i.low == pytest.approx(2.0 - half, abs=1e-9) and i.high == pytest.approx(2.0 + half, abs=1e-9)
    one = mean_interval([5.0])
    assert one.mean == 5.0 and one.n == 1 and math.isnan(one.low) and math.isnan(one.std)


def test_t_interval_covers_the_true_mean_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    hits = sum(i.low < 3.0 < i.high for i in (mean_interval(list(rng.normal(3.0, 2.0, 4))) for _ in range(4000)))
    assert 0.935 < hits / 4000 < 0.965  # binomial sd 0.0034 at 4000 trials


def test_paired_differences_cancel_what_seeds_share_and_skip_unpaired_seeds():
    seed_effect = [0.0, 1.0, -1.0, 0.5]  # large shared noise, a constant 0.1 difference
    records = _records({"a": [5.1 + e for e in seed_effect], "b": [5.0 + e for e in seed_effect[:3]]})
    d = paired_difference(records, "val_loss", "a", "b")
    assert d.n == 3 and d.mean == pytest.approx(0.1) and d.std == pytest.approx(0.0, abs=1e-12)
    unpaired = mean_interval([5.1 + e for e in seed_effect[:3]])
    assert unpaired.low < mean_interval([5.0 + e for e in seed_effect[:3]]).mean  # unpaired, the CIs overlap


@pytest.mark.parametrize(
    "low,high,op,verdict",
    [
        (0.1, 0.3, ">", AGREES),
        (-0.3, -0.1, ">", DISAGREES),
        (-0.1, 0.3, ">", UNRESOLVED),
        (-0.3, -0.1, "<", AGREES),
        (0.1, 0.3, "<", DISAGREES),
        (-0.3, 0.05, "<", UNRESOLVED),
    ],
)
def test_order_verdicts(low, high, op, verdict):
    assert decide(expect("a", op, "b", metric="m"), Interval((low + high) / 2, 0.1, 3, low, high)) == verdict


def test_order_verdict_with_a_margin_needs_the_whole_interval_beyond_it():
    claim = expect("a", ">", "b", metric="m", margin=0.2)
    assert decide(claim, Interval(0.25, 0.1, 3, 0.21, 0.29)) == AGREES
    assert decide(claim, Interval(0.2, 0.1, 3, 0.1, 0.3)) == UNRESOLVED


@pytest.mark.parametrize(
    "low,high,verdict",
    [
        (-0.01, 0.015, EQUIVALENT),
        (0.03, 0.05, NOT_EQUIVALENT),
        (-0.06, -0.03, NOT_EQUIVALENT),
        (-0.01, 0.03, UNRESOLVED),
    ],
)
def test_equivalence_verdicts(low, high, verdict):
    claim = expect_equivalent("a", "b", metric="m", margin=0.02)
    assert decide(claim, Interval((low + high) / 2, 0.01, 4, low, high)) == verdict


def test_verdict_lines_from_results():
    records = _records({"post": [6.30, 6.35, 6.28], "pre": [6.20, 6.22, 6.19]})
    line = verdict_line(expect("post", ">", "pre", metric="val_loss"), records)
    d = mean_interval([0.10, 0.13, 0.09])
    assert line == (
        f"- val_loss: post > pre: **agrees** (paired difference post − pre = {d.mean:+.4g}, 95% CI "
        f"[{d.low:+.4g}, {d.high:+.4g}] over 3 seeds; this design resolves differences beyond "
        f"±{d.half_width:.2g})"
    )
    single = verdict_line(expect("post", ">", "pre", metric="val_loss"), _records({"post": [6.3], "pre": [6.2]}))
    assert single.startswith("- val_loss: post > pre: **not resolved** (1 paired seed;")
    eq = verdict_line(expect_equivalent("post", "pre", metric="val_loss", margin=0.5), records)
    assert "**equivalent within ±0.5**" in eq


@pytest.mark.parametrize(
    "claim,words",
    [
        (expect("x", ">", "b", metric="val_loss"), "names variant 'x'"),
        (expect("a", ">", "b", metric="test_loss"), "not in config.sweep.metrics"),
        (expect("a", ">=", "b", metric="val_loss"), "use '>' or '<'"),
        (expect_equivalent("a", "b", metric="val_loss", margin=0.0), "> 0 for equivalence"),
        ("a > b", "is not an expect"),
    ],
)
def test_bad_claims_are_one_line_errors(claim, words):
    with pytest.raises(UserError, match=words):
        check_claims([claim], ["a", "b"], ("val_loss",), "m.py")


def test_failure_rule_counts_failed_runs_per_variant():
    rule = check_failure(failure("val_loss", above=6.1), ("val_loss",), "m.py")
    assert [failed(rule, x) for x in (6.2, 6.1, 5.0, math.nan, math.inf)] == [True, False, False, True, True]
    assert failed(failure("val_accuracy", below=0.1), 0.05) and not failed(failure("val_accuracy", below=0.1), 0.2)
    lines = failure_lines(rule, _records({"post": [6.18, 5.9, math.nan], "pre": [5.8, 5.7, 5.9]}))
    assert lines[0] == "A run fails when its final val_loss is above 6.1 or not finite."
    assert lines[-2:] == ["| post | 2 / 3 | 0, 2 |", "| pre | 0 / 3 | – |"]
    assert check_failure({}, ("val_loss",), "m.py") == {}


@pytest.mark.parametrize(
    "rule,words",
    [
        (failure("test_loss", above=1.0), "not in config.sweep.metrics"),
        (failure("val_loss"), "exactly one finite bound"),
        (failure("val_loss", above=1.0, below=0.0), "exactly one finite bound"),
        (failure("val_loss", above=math.inf), "exactly one finite bound"),
        ("val_loss > 6", "must be failure(metric"),
    ],
)
def test_bad_failure_rules_are_one_line_errors(rule, words):
    with pytest.raises(UserError, match=re.escape(words)):
        check_failure(rule, ("val_loss",), "m.py")
