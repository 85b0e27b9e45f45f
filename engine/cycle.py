"""The hourly update cycle: which hours to run, whether the data behind them can be trusted, and
running them (aggregate -> score -> forecast -> suggestions).

**Which hours.** Hour ``h`` (``[h, h+1h)``) is *ready* at ``h + 1h + cycle_minute``: the
minutes after the hour let the collections that started before it finish. A cycle runs every
ready hour after the last one it completed, oldest first, each once: after five hours of
downtime the next cycle scores the five missed hours in order (at most
``schedule.catch_up_max_hours``; older ones are left out and the run says so). The first
cycle of a new database runs only the newest ready hour. Completed hours are ``job_runs``
rows (``job = "cycle"``, ``status = "ok"``, ``hour``), read and written under the cycle lock
(``Store.cycle_lock``: a PostgreSQL advisory lock), so however many scorers run, an hour is
scored by one of them, once. Scoring an hour again would replace its rows with the same ones
(engine.noise), so a cycle killed between scoring an hour and recording it is simply redone.

**Data health.** Each hour's cycle looks at the ``unhealthy_window_hours`` before the hour's
end: of the sources that should have been fetched in that window (fetched in it, or created
before it with an interval that fits in it), the share whose last fetch failed or that were
not fetched at all. Above ``unhealthy_share`` the hour's scores are stored as low-confidence
with a note that says why, and so is the forecast made from it. This is on top of the noise
stage's own per-hour flag (``noise_scores.unhealthy``, engine.aggregate.collection_health).

Only the newest hour of a catch-up is forecast: a forecast is for the hours ahead, and the
forecasts older hours would have made are of no use once those hours have passed.

:func:`ready_hour`, :func:`next_cycle_time`, :func:`hours_to_run` and :func:`assess_health`
are pure (times are arguments); :func:`run_cycle` does the I/O.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from engine.aggregate import FAILED_OUTCOMES
from engine.config import Settings
from engine.errors import NoisecastError
from engine.noise import floor_hour, update_noise
from engine.store import Store

log = logging.getLogger("noisecast.cycle")

HOUR = timedelta(hours=1)
CYCLE_JOB = "cycle"
# A source is expected in a window when its interval, with this much slack for jitter and
# adaptation, fits in it.
INTERVAL_SLACK = 1.5
_NAMES_SHOWN = 5


# --- pure decisions -----------------------------------------------------------------------------


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
    (``engine.aggregate.FAILED_OUTCOMES``), or if it was expected and not fetched.
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


# --- the cycle ----------------------------------------------------------------------------------


@cache
def forecasts_take_health() -> bool:
    """Whether update_forecasts takes the data-health note (engine/forecasting.py); until it
    does, forecasts are not marked for data health (their own low-confidence rules apply)."""
    from engine.forecasting import update_forecasts  # late: scikit-learn is slow to import

    return "health_note" in inspect.signature(update_forecasts).parameters


@dataclass(frozen=True, slots=True)
class HourResult:
    hour: datetime
    scores: int
    health: DataHealth
    forecast: dict[str, Any] | None = None


@dataclass
class CycleReport:
    """What one cycle did: ``status`` is ``ran``, ``idle`` (nothing ready), ``locked``
    (another scorer held the lock), ``busy`` (this process was running it already) or
    ``stopped`` (a stop request came between hours)."""

    status: str
    hours: list[HourResult] = field(default_factory=list)
    left_out: tuple[datetime, datetime] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "hours": [h.hour.isoformat() for h in self.hours],
            "low_confidence": [h.hour.isoformat() for h in self.hours if h.health.low_confidence],
            "left_out": [t.isoformat() for t in self.left_out] if self.left_out else None,
        }


def run_cycle(
    store: Store,
    settings: Settings,
    *,
    clock: Callable[[], datetime],
    worker: str | None = None,
    stop: threading.Event | None = None,
) -> CycleReport:
    """Run every ready hour not yet run (see the module's docstring), under the cycle lock.

    Raises what scoring raised (that hour is recorded as an ``error`` and is the first of the
    next cycle), or a NoisecastError after recording the hour when only its forecast failed.
    """
    schedule = settings.schedule
    with store.cycle_lock() as lock:
        if not lock.held:
            log.info("another scorer holds the cycle lock: skipped", extra={"job": CYCLE_JOB})
            return CycleReport("locked")
        now = clock()
        store.abandon_jobs(CYCLE_JOB, now=now)  # runs of a scorer that died holding the lock
        plan = hours_to_run(
            store.last_cycle_hour(),
            now,
            cycle_minute=schedule.cycle_minute,
            max_hours=schedule.catch_up_max_hours,
        )
        report = CycleReport("ran" if plan.hours else "idle", left_out=plan.left_out)
        if plan.left_out:
            first, last = plan.left_out
            reason = (
                f"down too long: hours {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC are "
                f"more than schedule.catch_up_max_hours = {schedule.catch_up_max_hours} old; "
                "score them with `noisecast score --as-of HOUR` if they are needed"
            )
            log.warning(reason, extra={"job": CYCLE_JOB})
            store.record_job(
                CYCLE_JOB,
                started_at=now,
                finished_at=now,
                status="skipped",
                worker=worker,
                detail={"from": first.isoformat(), "to": last.isoformat(), "reason": reason},
            )
        if plan.missed:
            log.info(
                "catching up %d missed hours from %s",
                plan.missed,
                plan.hours[0].isoformat(),
                extra={"job": CYCLE_JOB},
            )
        for i, hour in enumerate(plan.hours):
            if stop is not None and stop.is_set():
                report.status = "stopped"
                break
            last_one = i == len(plan.hours) - 1
            result = _run_hour(
                store,
                settings,
                hour,
                forecast=last_one,
                check=lock.check,
                clock=clock,
                worker=worker,
            )
            report.hours.append(result)
        if report.hours:
            store.prune_job_runs(now - timedelta(days=schedule.job_runs_keep_days))
    return report


def _run_hour(
    store: Store,
    settings: Settings,
    hour: datetime,
    *,
    forecast: bool,
    check: Callable[[], None],
    clock: Callable[[], datetime],
    worker: str | None,
) -> HourResult:
    """Score one hour (and forecast from it), mark it for data health, record it."""
    extra = {"job": CYCLE_JOB, "hour": hour.isoformat()}
    detail: dict[str, Any] = {"hour": hour.isoformat()}
    run_id = store.start_job(CYCLE_JOB, now=clock(), worker=worker, hour=hour, detail=detail)
    forecast_error: Exception | None = None
    try:
        noise = update_noise(store, settings, start=hour, end=hour + HOUR)
        window = timedelta(hours=settings.schedule.unhealthy_window_hours)
        source_rows, fetch_rows = store.health_window(hour + HOUR - window, hour + HOUR)
        health = assess_health(
            source_rows,
            fetch_rows,
            start=hour + HOUR - window,
            end=hour + HOUR,
            threshold=settings.schedule.unhealthy_share,
        )
        if health.note:
            store.mark_scores_low_confidence(hour, health.note)
            log.warning("scores marked low-confidence: %s", health.note, extra=extra)
        detail.update(scores=noise.scores, health=health.as_dict())
        outlook: dict[str, Any] | None = None
        if forecast:
            try:
                outlook = _forecast(store, settings, hour, health)
            except Exception as e:  # the scores stand; the forecast waits for the next hour
                forecast_error = e
                outlook = {"status": "error", "error": f"{type(e).__name__}: {e}"}
                log.warning("forecast failed: %s: %s", type(e).__name__, e, extra=extra)
            detail["forecast"] = outlook
        check()  # still the only scorer: then this hour is done
        store.finish_job(run_id, now=clock(), status="ok", detail=detail)
    except BaseException as e:
        detail["error"] = f"{type(e).__name__}: {e}"
        try:
            store.finish_job(run_id, now=clock(), status="error", detail=detail)
        except Exception:  # the database may be what failed; the row stays "running"
            log.exception("could not record the failed hour", extra=extra)
        raise
    log.info(
        "hour done: %d scores%s",
        noise.scores,
        ", low confidence" if health.low_confidence else "",
        extra=extra,
    )
    if forecast_error is not None:
        raise NoisecastError(
            f"hour {hour:%Y-%m-%d %H:%M} UTC was scored, but its forecast failed: {forecast_error}"
        ) from forecast_error
    return HourResult(hour, noise.scores, health, outlook)


def _forecast(
    store: Store, settings: Settings, hour: datetime, health: DataHealth
) -> dict[str, Any]:
    from engine.forecasting import update_forecasts  # late: scikit-learn is slow to import

    kwargs: dict[str, Any] = {"health_note": health.note} if forecasts_take_health() else {}
    made = update_forecasts(store, settings, now=hour + HOUR, **kwargs)
    return {
        "status": "ok",
        "as_of": made.as_of.isoformat(),
        "model_version": made.model_version,
        "refitted": made.refitted,
        "forecasts": made.forecasts,
        "queued": made.queued,
        "low_confidence": made.low_confidence,
    }
