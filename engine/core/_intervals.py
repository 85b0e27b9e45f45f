"""The conformal shifts of the forecasters' p10/p90 (pure): one helper for every model.

The quantile boosters' bounds (log1p scale) are widened by a shift per origin-age bucket
(:data:`AGE_BUCKETS`), measured on held-out outcomes on the *rounded* interval actually shown
(``p10 = floor(expm1(lower))``, ``p90 = ceil(expm1(upper))``):

- covered below iff ``floor(expm1(lower - s)) <= y`` iff ``s > lower - log1p(y + 1)``;
- covered above iff ``ceil(expm1(upper + s)) >= y`` iff ``s > log1p(y - 1) - upper``.

**Zero-heavy counts** (``mondrian=True``). Where 40 % of outcomes are exactly 0, shifts measured
on all outcomes make the interval read wider than it says: every zero is covered as soon as the
shown p10 is 0, and the positive outcomes pay for it (UCI: 0.84 overall but 0.67-0.85 on targets
>= 1). Mondrian (label-conditional) split conformal measures the shifts on outcomes >= 1 only,
which is valid coverage on them; a zero is then covered whenever p10 is 0. So that the zeros do
not push the overall coverage far above the level, each bucket takes the highest level of
``levels`` (0.80 down to 0.76) whose coverage over *all* its held-out outcomes is at most
``cap``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["AGE_BUCKETS", "IntervalShifts", "bucket", "conformal", "interval_shifts"]

Array = npt.NDArray[np.float64]
AGE_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 36, 48, 72, 96, 144)  # lower edges, hours
LEVELS = (0.80, 0.79, 0.78, 0.77, 0.76, 0.75, 0.74, 0.73, 0.72)
CAP = 0.85


@dataclass(frozen=True, slots=True)
class IntervalShifts:
    lower: Array  # per bucket of AGE_BUCKETS, subtracted from the lower bound
    upper: Array  # added to the upper bound
    levels: dict[int, float]  # the level each bucket calibrated at (its lower edge: level)


def bucket(ages: npt.ArrayLike) -> npt.NDArray[np.intp]:
    """The index in :data:`AGE_BUCKETS` of each age."""
    at = np.searchsorted(np.asarray(AGE_BUCKETS), np.asarray(ages), side="right") - 1
    return np.clip(at, 0, len(AGE_BUCKETS) - 1)


def conformal(scores: Array, tail: float) -> float:
    """The shift ``s`` that ``1 - tail`` of new scores fall below (split conformal).

    A new score ranks uniformly among the ``n`` calibration scores, so the order statistic of
    rank ``r`` is not exceeded with probability ``r / (n + 1)``: ``r = (1 - tail)(n + 1)``,
    interpolated between neighbours, aims at ``1 - tail`` itself, not a bound above it (the
    interval should cover 80 %, not at least 80 %).
    """
    ordered = np.sort(scores)
    n = len(ordered)
    if n == 0:
        return 0.0
    rank = min(max((1 - tail) * (n + 1), 1.0), float(n)) - 1  # 0-based, fractional
    below, above = ordered[int(np.floor(rank))], ordered[int(np.ceil(rank))]
    if not np.isfinite(above):  # that tail is never crossed (all zeros): keep the bound
        return 0.0
    if not np.isfinite(below):
        return float(above) + 1e-9
    # + 1e-9: a new score equal to the shift is covered (scores tie often: counts are whole).
    return float(below + (above - below) * (rank - np.floor(rank))) + 1e-9


def interval_shifts(
    lower: Array,
    upper: Array,
    actual: Array,
    ages: npt.ArrayLike,
    *,
    coverage: float = 0.8,
    min_bucket_samples: int = 100,
    mondrian: bool = True,
    levels: tuple[float, ...] = LEVELS,
    cap: float = CAP,
) -> IntervalShifts:
    """Per-bucket shifts of held-out bounds ``lower``/``upper`` (log1p) against ``actual``.

    ``mondrian=False`` is plain CQR at ``coverage`` on all outcomes. With ``mondrian=True`` the
    shifts come from outcomes >= 1 and each bucket takes the highest of ``levels`` (the first
    is ``coverage``'s place) whose coverage over all its outcomes is at most ``cap``. A bucket
    with fewer than ``min_bucket_samples`` usable outcomes takes the shifts of all ages.
    """
    low = lower - np.log1p(actual + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        high = np.log1p(actual - 1) - upper  # -inf when the outcome is 0
    buckets = bucket(ages)
    usable = actual >= 1 if mondrian else np.ones(len(actual), bool)
    tries = tuple(levels) if mondrian else (coverage,)

    def pick(mask: npt.NDArray[np.bool_]) -> tuple[float, float, float]:
        s_lo = s_hi = 0.0
        level = tries[0]
        for level in tries:
            tail = (1 - level) / 2
            s_lo = conformal(low[mask & usable], tail)
            s_hi = conformal(high[mask & usable], tail)
            covered = (low[mask] < s_lo) & (high[mask] < s_hi)
            if not mondrian or not mask.any() or covered.mean() <= cap:
                break
        return s_lo, s_hi, level

    o_lo, o_hi, o_level = pick(np.ones(len(actual), bool))
    lo = np.full(len(AGE_BUCKETS), o_lo)
    hi = np.full(len(AGE_BUCKETS), o_hi)
    chosen = {}
    for b, edge in enumerate(AGE_BUCKETS):
        mine = buckets == b
        if (mine & usable).sum() >= min_bucket_samples:
            lo[b], hi[b], chosen[edge] = pick(mine)
        else:
            chosen[edge] = o_level
    return IntervalShifts(lo, hi, chosen)
