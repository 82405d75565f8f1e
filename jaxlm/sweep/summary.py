"""Per-variant summaries of a sweep's final metrics (mean ± std and 95% CI over seeds), read by the report and its
plots."""

import collections
import dataclasses

from jaxlm.errors import UserError
from jaxlm.sweep.statistics import mean_interval

HIGHER_IS_BETTER = ("accuracy", "f1", "auc", "precision", "recall", "per_s")


@dataclasses.dataclass
class Summary:
    """One variant's value of one metric over its seeds."""

    variant: str
    mean: float
    std: float  # sample standard deviation; nan with a single seed
    n: int
    values: list[float]
    low: float  # the 95% t-interval of the mean (nan with a single seed)
    high: float


def higher_is_better(metric: str) -> bool:
    """Accuracy-like metrics and throughputs (per_s) are maximized; losses, bits, perplexities, bytes are minimized."""
    return any(word in metric for word in HIGHER_IS_BETTER)


def summarize(records: list[dict], metric: str) -> list[Summary]:
    """Mean ± std and 95% CI over seeds per variant; a UserError names the runs that lack the metric."""
    missing = [f"{r['variant']}/seed_{r['seed']}" for r in records if metric not in r["metrics"]]
    if missing:
        have = sorted(set().union(*(r["metrics"] for r in records)))
        raise UserError(
            f"metric '{metric}' is missing from run(s) {', '.join(missing)} (they report "
            f"{', '.join(have)}): fix config.sweep.metrics and re-run the sweep command"
        )
    by_variant = collections.defaultdict(list)
    for r in records:
        by_variant[r["variant"]].append(r["metrics"][metric])
    return [
        Summary(v, i.mean, i.std, i.n, xs, i.low, i.high) for v, xs in by_variant.items() for i in [mean_interval(xs)]
    ]


def best(rows: list[Summary], metric: str) -> str:
    """The variant with the best mean."""
    pick = max if higher_is_better(metric) else min
    return pick(rows, key=lambda r: r.mean).variant
