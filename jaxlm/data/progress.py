"""Progress of a long stage: a tqdm bar in a terminal, plain log lines on stderr without one (nohup, Slurm, CI).

Without a terminal a line `jaxlm: STAGE: N/TOTAL UNIT (P%), key value, …, R UNIT/s, ETA …` is printed every
LOG_SECONDS, and once more when such a stage ends, so a redirected log shows that work goes on (a stage shorter
than LOG_SECONDS prints nothing).
"""

from __future__ import annotations

import sys
import time

from tqdm import tqdm

LOG_SECONDS = 30.0


def duration(seconds: float) -> str:
    """'1h02m', '3m05s' or '42s'."""
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def amount(n: float, unit: str) -> str:
    """Bytes in MB/GB, other counts as integers."""
    if unit == "B":
        return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"
    return f"{n:,.0f} {unit}".rstrip()


class Progress:
    """tqdm's bar API (update, set_postfix, write, close) with a log-line fallback when stderr is not a TTY."""

    def __init__(
        self,
        stage: str,
        total: int | None = None,
        unit: str = "",
        initial: int = 0,
        enabled: bool = True,
        leave: bool = False,
    ):
        self.stage, self.total, self.unit, self.n = stage, total, unit, initial
        self._start_n, self._start = initial, time.perf_counter()
        self._last, self._postfix, self._first = self._start, {}, None
        self._log = enabled and not sys.stderr.isatty()
        self._bar = tqdm(
            total=total,
            initial=initial,
            desc=stage,
            unit=unit or "it",
            unit_scale=unit == "B",
            dynamic_ncols=True,
            leave=leave,
            disable=not enabled or self._log,
        )

    def update(self, n: int = 1) -> None:
        if self._first is None:  # the rate counts from the first update (not from start-up or compilation)
            self._first = (time.perf_counter(), self.n + n)
        self.n += n
        self._bar.update(n)
        if self._log and time.perf_counter() - self._last >= LOG_SECONDS:
            self._line()

    def set_postfix(self, **fields) -> None:
        self._postfix.update(fields)
        self._bar.set_postfix(fields, refresh=False)

    def write(self, message: str) -> None:
        """A line of output (stdout) that does not break the bar."""
        self._bar.write(message)

    def close(self) -> None:
        if self._log and self._last > self._start:  # a stage that printed lines ends with one
            self._line()
        self._bar.close()

    def line(self) -> str:
        """The log line for the progress so far."""
        now = time.perf_counter()
        if self.total and self.unit == "B":
            done = f"{amount(self.n, 'B')} of {amount(self.total, 'B')} ({100 * self.n / self.total:.0f}%)"
        elif self.total:
            done = f"{self.n:,}/{self.total:,} {self.unit} ({100 * self.n / self.total:.0f}%)"
        else:
            done = amount(self.n, self.unit)
        parts = [done, *(f"{k} {v}" for k, v in self._postfix.items())]
        t0, n0 = self._first or (now, self.n)
        rate = (self.n - n0) / (now - t0) if self.n > n0 and now > t0 else 0.0
        if rate:
            parts.append(f"{amount(rate, 'B')}/s" if self.unit == "B" else f"{rate:.3g} {self.unit}/s")
        if self.total and rate:
            parts.append(f"ETA {duration((self.total - self.n) / rate)}")
        else:
            parts.append(f"elapsed {duration(now - self._start)}")
        return f"jaxlm: {self.stage}: " + ", ".join(parts)

    def _line(self) -> None:
        self._last = time.perf_counter()
        print(self.line(), file=sys.stderr, flush=True)


def stage(message: str, enabled: bool = True) -> None:
    """One line on stderr announcing a stage that shows no bar (e.g. tokenizer training and its estimate)."""
    if enabled:
        print(f"jaxlm: {message}", file=sys.stderr, flush=True)
