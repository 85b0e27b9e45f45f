"""The hourly cycle's decisions, pure (times are arguments): which hours are ready and which to
run after downtime (:func:`ready_hour`, :func:`next_cycle_time`, :func:`hours_to_run`), and
whether the data behind an hour can be trusted (:func:`assess_health`).
:mod:`noisecast.engine.jobs.cycle` explains both and runs them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from noisecast.engine.core.aggregate import FAILED_OUTCOMES
from noisecast.engine.schema import floor_hour

HOUR = timedelta(hours=1)
CYCLE_JOB = "cycle"
# A source is expected in a window when its interval, with this much slack for jitter and
# adaptation, fits in it.
INTERVAL_SLACK = 1.5
_NAMES_SHOWN = 5


def ready_hour(now: datetime, cycle_minute: int) -> datetime:
    """The newest hour the cycle may score at ``now``: hour ``h`` is ready at
    ``h + 1h + cycle_minute``."""
    return floor_hour(now - timedelta(minutes=cycle_minute)) - HOUR


def next_cycle_time(now: datetime, cycle_minute: int) -> datetime:
    """The first ``HH:cycle_minute`` (UTC) after ``now``."""
    at = floor_hour(now) + timedelta(minutes=cycle_minute)
    return at if at > now else at + HOUR


@dataclass(frozen=True, slots=True)
class CatchUp:
    """The hours a cycle runs, oldest first, and the missed ones it leaves out (too old)."""

    hours: list[datetime]
    left_out: tuple[datetime, datetime] | None = None  # first and last hour not run

    @property
    def missed(self) -> int:
        """Hours that were due before the newest one (hours of downtime, for a restart)."""
        return max(0, len(self.hours) - 1)


def hours_to_run(
    last_done: datetime | None, now: datetime, *, cycle_minute: int, max_hours: int
) -> CatchUp:
    """Every ready hour after ``last_done`` up to the newest ready one, oldest first, at most
    ``max_hours`` of them (the newest). Without ``last_done``: the newest ready hour."""
    if max_hours < 1:
        raise ValueError(f"max_hours must be at least 1, got {max_hours}")
    newest = ready_hour(now, cycle_minute)
    first = newest if last_done is None else floor_hour(last_done) + HOUR
    if first > newest:
        return CatchUp([])
    count = (newest - first) // HOUR + 1
    left_out = None
    if count > max_hours:
        kept_from = newest - (max_hours - 1) * HOUR
        left_out = (first, kept_from - HOUR)
        first, count = kept_from, max_hours
    return CatchUp([first + i * HOUR for i in range(count)], left_out)


@dataclass(frozen=True, slots=True)
class DataHealth:
    """How collection went in ``[start, end)``: of the ``expected`` sources, ``failing`` ones
    failed their last fetch or were not fetched at all."""

    start: datetime
    end: datetime
    expected: int
    failing: int
    threshold: float
    failing_names: tuple[str, ...] = ()
    not_fetched: int = 0

    @property
    def share(self) -> float:
        return self.failing / self.expected if self.expected else 0.0

    @property
    def low_confidence(self) -> bool:
        return self.expected > 0 and self.share > self.threshold

    @property
    def note(self) -> str | None:
        """Why confidence is low, in a sentence an editor can read; None when it is not."""
        if not self.low_confidence:
            return None
        hours = round((self.end - self.start) / HOUR)
        names = ", ".join(self.failing_names[:_NAMES_SHOWN])
        more = self.failing - min(self.failing, _NAMES_SHOWN)
        if more:
            names += f" and {more} more"
        unfetched = f", {self.not_fetched} of them not fetched at all" if self.not_fetched else ""
        return (
            f"collection was unhealthy: {self.failing} of {self.expected} sources failed in the "
            f"{hours} hours before {self.end:%Y-%m-%d %H:%M} UTC{unfetched} "
            f"({self.share:.0%}, above {self.threshold:.0%}): {names}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "expected": self.expected,
            "failing": self.failing,
            "not_fetched": self.not_fetched,
            "share": round(self.share, 4),
            "low_confidence": self.low_confidence,
            "note": self.note,
        }


def assess_health(
    sources: Sequence[Mapping[str, Any]],
    fetches: Sequence[tuple[int, datetime, str]],
    *,
    start: datetime,
    end: datetime,
    threshold: float,
) -> DataHealth:
    """Data health of ``[start, end)``.

    ``sources``: every source (``id``, ``name``, ``created_at``, ``interval_minutes``,
    ``disabled_at``). ``fetches``: (source id, started at, outcome) rows; those outside the
    window are ignored. A source is *expected* if it was fetched in the window, or if it was
    enabled throughout, existed before the window and its interval (times
    :data:`INTERVAL_SLACK`) fits in it. It is *failing* if its last fetch in the window failed
    (``noisecast.engine.core.aggregate.FAILED_OUTCOMES``), or if it was expected and not fetched.
    """
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
    if end <= start:
        raise ValueError(f"empty window: start {start} is not before end {end}")
    window_minutes = (end - start).total_seconds() / 60
    last: dict[int, tuple[datetime, str]] = {}
    for source_id, at, outcome in fetches:
        if start <= at < end and (source_id not in last or at >= last[source_id][0]):
            last[source_id] = (at, outcome)
    expected = failing = not_fetched = 0
    names: list[str] = []
    for s in sorted(sources, key=lambda s: str(s["name"])):
        fetched = last.get(int(s["id"]))
        if fetched is not None:
            expected += 1
            if fetched[1] in FAILED_OUTCOMES:
                failing += 1
                names.append(str(s["name"]))
            continue
        disabled = s.get("disabled_at")
        if disabled is not None and disabled < end:
            continue
        if s["created_at"] > start or s["interval_minutes"] * INTERVAL_SLACK > window_minutes:
            continue
        expected += 1
        failing += 1
        not_fetched += 1
        names.append(str(s["name"]))
    return DataHealth(start, end, expected, failing, threshold, tuple(names), not_fetched)
