"""Statistics over a sweep's seeds: mean, standard deviation and the Student-t 95% confidence interval of a
variant's metric, and of the paired difference between two variants run with the same seeds (the same data
order and, where their shapes agree, the same initialisation), which cancels what the seeds share."""

import dataclasses
import math
import statistics

from scipy import stats

LEVEL = 0.95


@dataclasses.dataclass(frozen=True)
class Interval:
    """Mean, sample standard deviation and the two-sided `LEVEL` t-interval of the mean of n values (nan below 2)."""

    mean: float
    std: float
    n: int
    low: float
    high: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def mean_interval(values: list[float], level: float = LEVEL) -> Interval:
    """The t-interval of the mean: mean ± t(n−1, (1+level)/2) · std / √n."""
    n = len(values)
    if n == 0:
        return Interval(math.nan, math.nan, 0, math.nan, math.nan)
    mean = statistics.fmean(values)
    if n < 2:
        return Interval(mean, math.nan, n, math.nan, math.nan)
    std = statistics.stdev(values)
    half = float(stats.t.ppf((1 + level) / 2, n - 1)) * std / math.sqrt(n)
    return Interval(mean, std, n, mean - half, mean + half)


def paired_difference(records: list[dict], metric: str, a: str, b: str) -> Interval:
    """The interval of `metric`(a) − `metric`(b) over the seeds both variants finished."""
    by_seed = {(r["variant"], r["seed"]): r["metrics"][metric] for r in records if metric in r["metrics"]}
    seeds = sorted({s for v, s in by_seed if v == a} & {s for v, s in by_seed if v == b})
    return mean_interval([by_seed[a, s] - by_seed[b, s] for s in seeds])
