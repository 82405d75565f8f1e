"""A study's claims as decision rules, declared in its ablation module (`config.sweep.claims`), and their verdicts
computed from the sweep's final metrics (jaxlm/sweep/statistics.py): never written by hand.

    c.sweep.claims = (expect("post_no_warmup", ">", "post_warmup", metric="val_loss"),
                      expect_equivalent("pre_no_warmup", "pre_warmup", metric="val_loss", margin=0.02))

`expect(a, op, b)`: the mean paired difference a − b over seeds has its 95% CI above `margin` (op ">") or below
−`margin` (op "<"): *agrees*; entirely on the other side of zero: *disagrees*; otherwise *not resolved*.
`expect_equivalent(a, b, margin)`: the CI inside ±margin: *equivalent within ±margin*; entirely outside it:
*not equivalent*; otherwise *not resolved*. Each verdict line also gives the CI's half-width: the smallest
difference this design could have resolved.

`failure(metric, above=x)` (or `below=x`), as `config.sweep.failure`: the rule under which a run counts as failed
(diverged or stuck on a plateau; a non-finite value always fails); the report gives each variant's failure rate.
"""

import math

from jaxlm.errors import UserError
from jaxlm.sweep.statistics import Interval, paired_difference

OPS = (">", "<")
AGREES, DISAGREES, UNRESOLVED = "agrees", "disagrees", "not resolved"
EQUIVALENT, NOT_EQUIVALENT = "equivalent", "not equivalent"


def expect(a: str, op: str, b: str, *, metric: str, margin: float = 0.0) -> dict:
    """The claim that variant `a`'s `metric` is greater (">") or smaller ("<") than `b`'s, by more than `margin`."""
    return {"kind": "order", "a": a, "op": op, "b": b, "metric": metric, "margin": float(margin)}


def expect_equivalent(a: str, b: str, *, metric: str, margin: float) -> dict:
    """The claim that variants `a` and `b` differ in `metric` by less than ±`margin` (an equivalence claim)."""
    return {"kind": "equivalent", "a": a, "b": b, "metric": metric, "margin": float(margin)}


def failure(metric: str, *, above: float | None = None, below: float | None = None) -> dict:
    """The rule that a run failed: its final `metric` is above `above` (or below `below`), or not finite."""
    return {"metric": metric, "above": above, "below": below}


def check_failure(rule: object, metrics: tuple[str, ...], path: str) -> dict:
    """config.sweep.failure checked: {} (no rule) or failure(...) on a reported metric with exactly one bound."""
    if rule in ({}, None):
        return {}
    where = f"'{path}': config.sweep.failure"
    if not isinstance(rule, dict) or set(rule) != {"metric", "above", "below"}:
        raise UserError(f"{where} must be failure(metric, above=...) or failure(metric, below=...)")
    if rule["metric"] not in metrics:
        raise UserError(f"{where} is about '{rule['metric']}', which is not in config.sweep.metrics: add it there")
    bounds = [b for b in (rule["above"], rule["below"]) if b is not None]
    if len(bounds) != 1 or not isinstance(bounds[0], (int, float)) or not math.isfinite(bounds[0]):
        raise UserError(f"{where} needs exactly one finite bound: above=... or below=...")
    return dict(rule)


def failed(rule: dict, value: float) -> bool:
    """Whether a run's final value fails `rule` (non-finite values always do)."""
    if not math.isfinite(value):
        return True
    return value > rule["above"] if rule["above"] is not None else value < rule["below"]


def failure_lines(rule: dict, records: list[dict]) -> list[str]:
    """Markdown lines: the rule, then per variant the failed runs out of its finished runs, with their seeds."""
    bound = f"above {rule['above']:g}" if rule["above"] is not None else f"below {rule['below']:g}"
    lines = [f"A run fails when its final {rule['metric']} is {bound} or not finite.", ""]
    lines += ["| variant | failed runs | failed seeds |", "|---|---:|---|"]
    for variant in dict.fromkeys(r["variant"] for r in records):
        runs = [r for r in records if r["variant"] == variant and rule["metric"] in r["metrics"]]
        bad = [r["seed"] for r in runs if failed(rule, r["metrics"][rule["metric"]])]
        lines.append(f"| {variant} | {len(bad)} / {len(runs)} | {', '.join(map(str, bad)) or '–'} |")
    return lines


def check_claims(claims: object, variants: list[str], metrics: tuple[str, ...], path: str) -> list[dict]:
    """config.sweep.claims checked against the sweep's variants and metrics (one-line errors naming the claim)."""
    if not isinstance(claims, (list, tuple)):
        raise UserError(f"'{path}': config.sweep.claims must be a tuple of expect(...) / expect_equivalent(...)")
    out = []
    for i, c in enumerate(claims):
        where = f"'{path}': config.sweep.claims[{i}]"
        if not isinstance(c, dict) or c.get("kind") not in ("order", "equivalent"):
            raise UserError(f"{where} is not an expect(...) or expect_equivalent(...) claim")
        for key in ("a", "b"):
            if c[key] not in variants:
                raise UserError(f"{where} names variant '{c[key]}': choose from {', '.join(variants)}")
        if c["metric"] not in metrics:
            raise UserError(f"{where} is about '{c['metric']}', which is not in config.sweep.metrics: add it there")
        if c["kind"] == "order" and c["op"] not in OPS:
            raise UserError(f"{where} compares with '{c['op']}': use '>' or '<'")
        if not math.isfinite(c["margin"]) or c["margin"] < 0 or (c["kind"] == "equivalent" and c["margin"] == 0):
            raise UserError(f"{where} has margin {c['margin']}: use a finite margin ≥ 0 (> 0 for equivalence)")
        out.append(dict(c))
    return out


def decide(claim: dict, diff: Interval) -> str:
    """The verdict of one claim on the CI of its paired difference a − b."""
    if diff.n < 2 or math.isnan(diff.low):
        return UNRESOLVED
    m = claim["margin"]
    if claim["kind"] == "equivalent":
        return (
            EQUIVALENT
            if -m < diff.low and diff.high < m
            else NOT_EQUIVALENT
            if diff.low > m or diff.high < -m
            else UNRESOLVED
        )
    sign = 1.0 if claim["op"] == ">" else -1.0
    low, high = sorted((sign * diff.low, sign * diff.high))
    return AGREES if low > m else DISAGREES if high < 0 else UNRESOLVED


def claim_text(claim: dict) -> str:
    """'val_loss: post_no_warmup > post_warmup' / 'val_loss: a ≈ b within ±0.02'."""
    if claim["kind"] == "equivalent":
        return f"{claim['metric']}: {claim['a']} ≈ {claim['b']} within ±{claim['margin']:g}"
    margin = f" by more than {claim['margin']:g}" if claim["margin"] else ""
    return f"{claim['metric']}: {claim['a']} {claim['op']} {claim['b']}{margin}"


def verdict_line(claim: dict, records: list[dict]) -> str:
    """One markdown line: the claim, its verdict, the paired difference with its 95% CI and the resolvable size."""
    diff = paired_difference(records, claim["metric"], claim["a"], claim["b"])
    verdict = decide(claim, diff)
    if verdict == EQUIVALENT:
        verdict = f"equivalent within ±{claim['margin']:g}"
    if diff.n < 2:
        return (
            f"- {claim_text(claim)}: **{verdict}** ({diff.n} paired seed{'s' * (diff.n != 1)}; a confidence "
            "interval needs at least 2)"
        )
    return (
        f"- {claim_text(claim)}: **{verdict}** (paired difference {claim['a']} − {claim['b']} = {diff.mean:+.4g}, "
        f"95% CI [{diff.low:+.4g}, {diff.high:+.4g}] over {diff.n} seeds; this design resolves differences "
        f"beyond ±{diff.half_width:.2g})"
    )
