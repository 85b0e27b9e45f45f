"""How loud each story is, hour by hour: a score from 0 to 100 and a level word.

This docstring is the definition (it becomes ``docs/scoring.md``). Everything here is pure:
frames in, a frame out; no I/O, no clock, no config reads (:class:`ScoreParams` is built by the
caller, e.g. ``ScoreParams.from_settings(settings.scoring)``).

Input
    ``hourly``: one row per story and hour (``story, hour, mentions, outlets, engagement``);
    story-hours that are absent count as zeros (:func:`complete_hours` writes them out).
    ``health``: one row per hour (``hour, collected, unhealthy``); hours it lacks count as
    healthy.

1. Collection health. An hour is *unhealthy* when the store flagged it (failed share of due
   fetches, ``scoring.unhealthy_failed_share``) or when ``collected`` (all stories together)
   is below ``collapse_share`` (0.25) of its median over the previous ``window_hours``. In an
   unhealthy hour each story's inputs are ``max(observed, last healthy hour's)`` when that
   healthy hour is at most ``max_carry_hours`` (12) back: a dead collector is not read as a
   quiet story, and ``max`` keeps "more mentions never lowers the score". Longer outages are
   not invented; the rows stay flagged ``unhealthy`` so readers can tell.

2. Smoothing. Each story's series ``x`` is read through a tapered exponential kernel,
   ``w(k) = a**k - a**K`` for lags ``k < K`` (``a = 2**(-1/half_life)``, ``K = memory_hours``
   = 48), divided by ``sum(w)`` so the result is a *rate per hour* (a steady 5/h reads 5).
   Why: a burst counts in full at once (lag 0 has the largest weight) and fades by the same
   factor every hour; the taper makes the last weight reach 0 continuously (no jump when a
   burst leaves the memory); and the finite support means 48 silent hours give exactly 0,
   so a story with no mentions for 48 h is Quiet whatever came before.

3. Components, per story and hour ``t``:

   - volume = decayed mentions (half-life ``half_life_hours`` = 6);
   - breadth = decayed distinct outlets (same half-life);
   - engagement = decayed social engagement (same half-life);
   - velocity = ``log2((fast + c) / (slow + c))``: the recent rate (half-life 3 h) against
     the longer rate it rises from (half-life 24 h), in doublings. Two smoothed rates
     rather than "last 6 h / previous 24 h" boxes, which jump when a burst crosses a box
     edge. ``c = velocity_prior * reference volume`` is a pseudo-count relative to the
     pool, so 1 mention after 0 does not read as infinite acceleration, and a uniformly
     busier day leaves velocity unchanged.

4. Reference pool. For each hour ``t`` and each of mentions, outlets and engagement: every
   tracked story's mean hourly value over the previous ``window_hours`` (168; hour ``t``
   itself excluded, and fewer hours at the start of the data), and of those the
   ``reference_quantile`` (0.95) across stories, never below ``reference_floor`` (1 mention,
   1 outlet, 10 engagement per hour, so a lone mention in an empty pool is not Very high).
   Why: scores are relative to what loud stories have looked like lately, so doubling every
   story's volume together changes nothing, while doubling one story's does; the current
   hour is excluded so a story's own burst cannot raise the bar it is measured against that
   hour; a high quantile of means is robust to one viral story in a large pool and costs one
   quantile per hour (cheap to update for the latest hour).

5. Normalisation, saturation, combination::

       volume_norm     = volume / ref_mentions
       breadth_norm    = breadth / ref_outlets
       engagement_norm = log2(1 + engagement / ref_engagement)   # engagement is heavy-tailed
       velocity_norm   = max(0, velocity)                        # only rising counts
       contribution    = 100 * weight * (1 - exp(-norm))
       score           = sum of the four contributions            # weights sum to 1

   ``norm = 1`` (as loud as the reference) gives 63 % of a component's weight; the curve
   saturates, so no single component can exceed its weight and the score stays in [0, 100].
   Weights are normalised to sum to 1.

6. Level: ``Quiet < t1 <= Low < t2 <= Moderate < t3 <= High < t4 <= Very high`` with
   ``thresholds = (t1, t2, t3, t4)`` = (20, 40, 60, 80).

Guarantees (tested in ``tests/test_score.py``): the score is in [0, 100]; more mentions in the
scored hour never lower it; doubling every story's mentions leaves scores unchanged (up to the
floors) while doubling one story's raises it; a burst raises the score in its own hour and the
score then falls every hour by at most a fraction of the rise; 48 healthy hours without
mentions give 0 (Quiet).

Incremental use: the score at hour ``t`` reads hourly rows back to ``t - lookback_hours``
(:attr:`ScoreParams.lookback_hours`, 180 by default) and health back to ``t - lookback_hours -
window_hours``; given those, ``noise_level(..., hours=[t])`` equals the same hour of a full
rebuild (to ~1e-12; the full rebuild smooths recursively, one hour directly).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from noisecast.engine.core._score_grid import OUTPUT_FLOATS, score_hours, utc_hour
from noisecast.engine.schema import (
    COMPONENTS,
    ENGAGEMENT,
    HOUR,
    LEVEL_DTYPE,
    LEVELS,
    MENTIONS,
    OUTLETS,
    STORY,
    require_columns,
)

__all__ = [
    "COMPONENTS",
    "LEVELS",
    "LEVEL_DTYPE",
    "OUTPUT_FLOATS",
    "ScoreParams",
    "complete_hours",
    "level_of",
    "noise_level",
]

Array = npt.NDArray[np.float64]


class _ScoringSettingsLike(Protocol):
    window_hours: int
    thresholds: tuple[float, float, float, float]
    weights: dict[str, float]


@dataclass(frozen=True, slots=True)
class ScoreParams:
    """Everything the score depends on. Defaults are the documented definition."""

    window_hours: int = 168
    thresholds: tuple[float, float, float, float] = (20.0, 40.0, 60.0, 80.0)
    weights: Mapping[str, float] = field(
        default_factory=lambda: {
            "volume": 0.4,
            "velocity": 0.2,
            "breadth": 0.25,
            "engagement": 0.15,
        }
    )
    half_life_hours: float = 6.0
    fast_half_life_hours: float = 3.0
    slow_half_life_hours: float = 24.0
    memory_hours: int = 48
    reference_quantile: float = 0.95
    reference_floor: tuple[float, float, float] = (1.0, 1.0, 10.0)  # mentions, outlets, engagement
    velocity_prior: float = 0.5
    collapse_share: float = 0.25
    max_carry_hours: int = 12

    def __post_init__(self) -> None:
        problems: list[str] = []
        if self.window_hours < 1:
            problems.append(f"window_hours: expected at least 1, got {self.window_hours}")
        if self.memory_hours < 1:
            problems.append(f"memory_hours: expected at least 1, got {self.memory_hours}")
        if self.max_carry_hours < 0:
            problems.append(f"max_carry_hours: expected at least 0, got {self.max_carry_hours}")
        t = self.thresholds
        if len(t) != 4 or any(b <= a for a, b in pairwise(t)):
            problems.append(f"thresholds: expected 4 increasing numbers, got {t!r}")
        unknown = sorted(set(self.weights) - set(COMPONENTS))
        if unknown:
            problems.append(f"weights: unknown component(s) {', '.join(unknown)}")
        if any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            problems.append("weights: expected non-negative numbers with a positive sum")
        for name in ("half_life_hours", "fast_half_life_hours", "slow_half_life_hours"):
            if getattr(self, name) <= 0:
                problems.append(f"{name}: expected a positive number")
        if not 0 < self.reference_quantile <= 1:
            problems.append("reference_quantile: expected a number in (0, 1]")
        if len(self.reference_floor) != 3 or min(self.reference_floor) <= 0:
            problems.append("reference_floor: expected 3 positive numbers")
        if self.velocity_prior <= 0:
            problems.append("velocity_prior: expected a positive number")
        if not 0 <= self.collapse_share <= 1:
            problems.append("collapse_share: expected a number in [0, 1]")
        if problems:
            raise ValueError("ScoreParams: " + "; ".join(problems))

    @classmethod
    def from_settings(cls, settings: _ScoringSettingsLike, **overrides: Any) -> ScoreParams:
        """From ``Settings.scoring`` (window, thresholds, weights); the rest from ``overrides``."""
        return cls(
            window_hours=settings.window_hours,
            thresholds=tuple(settings.thresholds),  # type: ignore[arg-type]
            weights=dict(settings.weights),
            **overrides,
        )

    @property
    def lookback_hours(self) -> int:
        """Hours of hourly rows before ``t`` that the score at ``t`` reads."""
        return max(self.window_hours, self.memory_hours) + self.max_carry_hours

    def weight_vector(self) -> Array:
        raw = np.array([float(self.weights.get(c, 0.0)) for c in COMPONENTS])
        return raw / raw.sum()


def level_of(scores: npt.ArrayLike, thresholds: Sequence[float]) -> pd.Categorical:
    """The level word of each score (an ordered categorical of :data:`LEVELS`)."""
    codes = np.searchsorted(np.asarray(thresholds, dtype=float), np.asarray(scores), "right")
    return pd.Categorical.from_codes(codes, dtype=LEVEL_DTYPE)


def complete_hours(frame: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Every story of ``frame`` at every hour from ``start`` to ``end`` inclusive, zeros filled.

    Rows outside [start, end] are dropped. Story-hours already present keep their values.
    """
    require_columns(frame, (STORY, HOUR, MENTIONS, OUTLETS, ENGAGEMENT), "hourly frame")
    hours = pd.date_range(utc_hour(start, "start"), utc_hour(end, "end"), freq="h")
    stories = pd.Index(frame[STORY].unique()).sort_values()
    full = pd.MultiIndex.from_product([stories, hours], names=[STORY, HOUR])
    values = frame.set_index([STORY, HOUR])[[MENTIONS, OUTLETS, ENGAGEMENT]]
    if values.index.has_duplicates:
        raise ValueError("hourly frame: duplicate (story, hour) rows; aggregate them first")
    out = values.reindex(full, fill_value=0).reset_index()
    return out


def noise_level(
    hourly: pd.DataFrame,
    health: pd.DataFrame,
    params: ScoreParams,
    hours: Iterable[pd.Timestamp] | None = None,
    *,
    reference_stories: Collection[str] | None = None,
) -> pd.DataFrame:
    """Score every story at each of ``hours`` (default: every hour of ``hourly``).

    Returns one row per story and hour, ordered by (as_of, story): ``story, as_of, score,
    level, unhealthy`` and ``<component>_value``, ``_norm``, ``_contribution`` for volume,
    velocity, breadth and engagement. Contributions sum to the score.

    ``reference_stories``: when given, the reference pool (step 4) is taken from those
    stories' rows only, and every other story of ``hourly`` is scored against it without
    moving it (emerging clusters are scored against the tracked stories' pool, so a cluster's
    60 means what a story's 60 means however many small clusters there are). Names absent
    from ``hourly`` are ignored; none present gives the floors. None (the default): every
    story of ``hourly`` is in the pool.
    """
    return score_hours(hourly, health, params, hours, reference_stories=reference_stories)
