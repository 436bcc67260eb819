"""Axis and colour ranges that one exploded trial cannot flatten: log where every value is positive, and the
range clipped to the bulk of the values (quartiles ± 3 interquartile ranges, Tukey's "far out" fences), with
a note saying what lies outside, for the plot to show."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FENCE_IQRS = 3.0  # Tukey's far-out fence; the GP sampler clips its outputs the same way


@dataclass(frozen=True)
class Scale:
    """A display range for some values."""

    low: float  # in data units
    high: float
    log: bool
    below: int  # values under `low`, drawn at the edge
    above: int

    @property
    def clipped(self) -> bool:
        return bool(self.below or self.above)

    def note(self, what: str = "trials") -> str:
        """`2 trials above the range (clipped at quartiles ± 3 IQR)`, or "" when nothing is clipped."""
        parts = [f"{n} {what} {side}" for n, side in ((self.above, "above"), (self.below, "below")) if n]
        return f"{' and '.join(parts)} the range (clipped at quartiles ± 3 IQR)" if parts else ""

    def padded(self, fraction: float = 0.04) -> tuple[float, float]:
        """The range with a margin, in data units (log-padded for a log axis)."""
        if self.log:
            lo, hi = math.log10(self.low), math.log10(self.high)
            pad = (hi - lo) * fraction or 0.05
            return 10 ** (lo - pad), 10 ** (hi + pad)
        pad = (self.high - self.low) * fraction or abs(self.high) * 0.05 or 0.05
        return self.low - pad, self.high + pad


def robust_scale(values: Sequence[float]) -> Scale:
    """The display range of `values` (finite ones; NaN and inf are left out and counted as outside)."""
    array = np.asarray([v for v in values if v is not None], dtype=float)
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        return Scale(0.0, 1.0, False, 0, 0)
    log = bool((finite > 0).all())
    work = np.log10(finite) if log else finite
    q1, q3 = np.percentile(work, [25, 75])
    spread = FENCE_IQRS * (q3 - q1)
    lo, hi = max(work.min(), q1 - spread), min(work.max(), q3 + spread)
    if spread == 0:  # all but a few equal: show them all
        lo, hi = work.min(), work.max()
    low, high = (10**lo, 10**hi) if log else (lo, hi)
    below = int((work < lo).sum()) + int(np.isneginf(array).sum())
    above = int((work > hi).sum()) + int(np.isposinf(array).sum())
    return Scale(float(low), float(high), log, below, above)


LOG_AXIS_DECADES = 2.0  # an objective whose positive values span this many powers of ten gets a log axis


def wants_log_axis(values: Sequence[float]) -> bool:
    """Whether an axis of `values` (a parameter count from 400 to 90,000, say) reads better in log scale: all
    finite values positive and spanning at least `LOG_AXIS_DECADES` powers of ten."""
    array = np.asarray(values, dtype=float)
    finite = array[np.isfinite(array)]
    return bool(finite.size > 1 and (finite > 0).all() and np.log10(finite.max() / finite.min()) >= LOG_AXIS_DECADES)
