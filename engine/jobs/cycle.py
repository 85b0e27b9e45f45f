"""The hourly update cycle: which hours to run, whether the data behind them can be trusted, and
running them (aggregate -> score -> forecast -> suggestions -> the Timeline's proposals).

**Which hours.** Hour ``h`` (``[h, h+1h)``) is *ready* at ``h + 1h + cycle_minute``: the
minutes after the hour let the collections that started before it finish. A cycle runs every
ready hour after the last one it completed, oldest first, each once: after five hours of
downtime the next cycle scores the five missed hours in order (at most
``schedule.catch_up_max_hours``; older ones are left out and the run says so). The first
cycle of a new database runs only the newest ready hour. Completed hours are ``job_runs``
rows (``job = "cycle"``, ``status = "ok"``, ``hour``), read and written under the cycle lock
(``Store.cycle_lock``: a PostgreSQL advisory lock), so however many scorers run, an hour is
scored by one of them, once. Scoring an hour again would replace its rows with the same ones
(noisecast.engine.jobs.noise), so a cycle killed between scoring an hour and recording it is
simply redone.

**Data health.** Each hour's cycle looks at the ``unhealthy_window_hours`` before the hour's
end: of the sources that should have been fetched in that window (fetched in it, or created
before it with an interval that fits in it), the share whose last fetch failed or that were
not fetched at all. Above ``unhealthy_share`` the hour's scores are stored as low-confidence
with a note that says why, and so is the forecast made from it. This is on top of the noise
stage's own per-hour flag (``noise_scores.unhealthy``,
noisecast.engine.core.aggregate.collection_health).

Only the newest hour of a catch-up is forecast: a forecast is for the hours ahead, and the
forecasts older hours would have made are of no use once those hours have passed. The newest
hour also updates the Timeline (noisecast.engine.jobs.timeline: its rules read every stored
hour, so one update covers a catch-up); a Timeline failure is logged and recorded in the hour's
detail, and never stops the scores or the forecast; so do the emerging-story proposals
(noisecast.engine.jobs.emerging; the mentions stored since the last run are clustered when the
cycle starts). Then the newest hour's alerts are evaluated
(noisecast.engine.jobs.alerts: events and deliveries written to the outbox in one transaction;
a failure is logged and recorded like the Timeline's), and after the hours, outside the lock,
one delivery pass sends what is due.

The decisions (:func:`ready_hour`, :func:`next_cycle_time`, :func:`hours_to_run`,
:func:`assess_health`) are pure and live in :mod:`noisecast.engine.core.cycle_rules` (times
are arguments); :func:`run_cycle` here does the I/O.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from noisecast.engine.config import Secrets, Settings
from noisecast.engine.core.cycle_rules import (
    CYCLE_JOB,
    HOUR,
    DataHealth,
    assess_health,
    hours_to_run,
)
from noisecast.engine.errors import NoisecastError
from noisecast.engine.jobs.alerts import deliver_alerts, evaluate_alerts
from noisecast.engine.jobs.noise import update_noise
from noisecast.engine.jobs.timeline import update_timeline
from noisecast.engine.store import Store

log = logging.getLogger("noisecast.cycle")


# --- the cycle ----------------------------------------------------------------------------------


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
    secrets: Secrets | None = None,
) -> CycleReport:
    """Run every ready hour not yet run (see the module's docstring), under the cycle lock,
    then, with ``secrets`` (the destinations' URLs), one alert delivery pass.

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
        if plan.hours and settings.emerging.enabled:
            _cluster(store, settings, now)
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
    if report.hours and secrets is not None and settings.alerts.enabled:
        _deliver(store, settings, secrets, clock())
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
            detail["timeline"] = _timeline(store, settings, clock(), extra)
            if settings.emerging.enabled:
                detail["emerging"] = _emerging(store, settings, hour, clock(), extra)
            detail["alerts"] = _alerts(store, settings, hour, clock(), extra)
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


def _timeline(
    store: Store, settings: Settings, now: datetime, extra: dict[str, str]
) -> dict[str, Any]:
    """The Timeline from what is stored now (after the forecast, so that a failure here never
    holds the forecasts back; it is logged and recorded in the hour's detail, and the next
    hour's update catches up)."""
    try:
        return {"status": "ok", **update_timeline(store, settings, now=now)}
    except Exception as e:
        log.warning("timeline update failed: %s: %s", type(e).__name__, e, extra=extra)
        return {"status": "error", "error": f"{type(e).__name__}: {e}"}


def _cluster(store: Store, settings: Settings, now: datetime) -> None:
    """Cluster what collections stored since the last run (the collectors do after each run;
    this catches what a collector that died left), before the hours read the clusters."""
    from noisecast.engine.jobs.emerging import cluster_new_mentions  # late: scikit-learn

    try:
        cluster_new_mentions(store, settings, now=now, flush=True)
    except Exception as e:
        log.warning("clustering failed: %s: %s", type(e).__name__, e, extra={"job": "cluster"})


def _emerging(
    store: Store, settings: Settings, hour: datetime, now: datetime, extra: dict[str, str]
) -> dict[str, Any]:
    """The newest hour's emerging-story proposals and query suggestions (after the scores,
    whose pool they are measured against; a failure is logged and recorded in the hour's
    detail, never stops the cycle)."""
    from noisecast.engine.jobs.emerging import update_emerging  # late: scikit-learn

    try:
        return {"status": "ok", **update_emerging(store, settings, hour, now=now).as_dict()}
    except Exception as e:
        log.warning("emerging update failed: %s: %s", type(e).__name__, e, extra=extra)
        return {"status": "error", "error": f"{type(e).__name__}: {e}"}


def _alerts(
    store: Store, settings: Settings, hour: datetime, now: datetime, extra: dict[str, str]
) -> dict[str, Any]:
    """The newest hour's alerts into the outbox (after the forecast and the Timeline, which
    they read; a failure is logged and recorded in the hour's detail, never stops the cycle)."""
    try:
        return {"status": "ok", **evaluate_alerts(store, settings, hour=hour, now=now)}
    except Exception as e:
        log.warning("alert evaluation failed: %s: %s", type(e).__name__, e, extra=extra)
        return {"status": "error", "error": f"{type(e).__name__}: {e}"}


def _deliver(store: Store, settings: Settings, secrets: Secrets, now: datetime) -> None:
    """One delivery pass after the cycle's alerts were written; what it cannot send now the
    delivery job (or the next cycle) sends later."""
    try:
        counts = deliver_alerts(store, settings, secrets, now=now)
    except Exception as e:
        log.warning("alert delivery failed: %s: %s", type(e).__name__, e, extra={"job": "alerts"})
        return
    if any(counts.values()):
        log.info("alert delivery pass", extra={"job": "alerts", **counts})


def _forecast(
    store: Store, settings: Settings, hour: datetime, health: DataHealth
) -> dict[str, Any]:
    from noisecast.engine.jobs.forecasting import (
        update_forecasts,  # late: scikit-learn is slow to import
    )

    made = update_forecasts(store, settings, now=hour + HOUR, health_note=health.note)
    return {
        "status": "ok",
        "as_of": made.as_of.isoformat(),
        "model_version": made.model_version,
        "refitted": made.refitted,
        "forecasts": made.forecasts,
        "queued": made.queued,
        "low_confidence": made.low_confidence,
    }
