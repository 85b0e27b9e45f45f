"""What ``noisecast status`` shows of the scheduler: next run times, the last run of each job
and its outcome, the processes seen, the leases, and the data health now."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from noisecast.engine.config import Settings
from noisecast.engine.core.cycle_rules import (
    CYCLE_JOB,
    assess_health,
    hours_to_run,
    next_cycle_time,
)
from noisecast.engine.jobs.scheduler import COLLECT_JOB, WORKER_JOB
from noisecast.engine.store import Store
from noisecast.engine.store.tables import sources


def schedule_status(store: Store, settings: Settings, now: datetime) -> dict[str, Any]:
    """What ``noisecast status`` shows of the scheduler: next run times, the last run of each
    job and its outcome, the processes seen, the leases, and the data health now."""
    schedule = settings.schedule
    zone = ZoneInfo(schedule.timezone)
    last_hour = store.last_cycle_hour()
    plan = hours_to_run(
        last_hour, now, cycle_minute=schedule.cycle_minute, max_hours=schedule.catch_up_max_hours
    )
    with store.reading() as conn:
        next_due = conn.execute(
            select(func.min(sources.c.next_due_at)).where(sources.c.disabled_at.is_(None))
        ).scalar_one()
    window = timedelta(hours=schedule.unhealthy_window_hours)
    source_rows, fetch_rows = store.health_window(now - window, now)
    health = assess_health(
        source_rows, fetch_rows, start=now - window, end=now, threshold=schedule.unhealthy_share
    )
    stale = timedelta(seconds=3 * schedule.heartbeat_seconds)
    workers = []
    for r in store.job_runs(WORKER_JOB, limit=50, since=now - timedelta(days=1)):
        seen = r["finished_at"] or r["started_at"]
        state = r["status"]
        if state == "running":
            state = "alive" if now - seen <= stale else "lost"
        workers.append(
            {
                "worker": r["worker"],
                "state": state,
                "started_at": _iso(r["started_at"]),
                "last_seen": _iso(seen),
                **(r["detail"] or {}),
            }
        )
    next_cycle = next_cycle_time(now, schedule.cycle_minute)
    return {
        "now": now.isoformat(),
        "timezone": schedule.timezone,
        "next_runs": {
            CYCLE_JOB: next_cycle.isoformat() if not plan.hours else now.isoformat(),
            COLLECT_JOB: _iso(max(next_due, now) if next_due else None),
        },
        "next_runs_local": {
            CYCLE_JOB: next_cycle.astimezone(zone).isoformat(),
            COLLECT_JOB: _iso(next_due.astimezone(zone) if next_due else None),
        },
        "cycle": {
            "last_hour": _iso(last_hour),
            "hours_waiting": len(plan.hours),
            "cycle_minute": schedule.cycle_minute,
        },
        "jobs": {
            job: {
                "status": r["status"],
                "started_at": _iso(r["started_at"]),
                "finished_at": _iso(r["finished_at"]),
                "hour": _iso(r["hour"]),
                "worker": r["worker"],
                "detail": r["detail"],
            }
            for job, r in sorted(store.last_job_runs().items())
        },
        "workers": workers,
        "leases": store.leases(now),
        "data_health": health.as_dict(),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def print_schedule(console: Any, data: dict[str, Any]) -> None:
    """The text form of :func:`schedule_status` (``console``: a rich Console)."""
    from rich.markup import escape  # only the text output needs them
    from rich.table import Table

    from noisecast.feeds.text import printable

    def safe(value: object) -> str:
        return escape(printable("" if value is None else value))

    zone = data["timezone"]
    local = data["next_runs_local"]
    waiting = data["cycle"]["hours_waiting"]
    console.print(
        f"Next cycle: {data['next_runs'][CYCLE_JOB]} ({local[CYCLE_JOB]} {zone}); "
        f"last hour scored: {data['cycle']['last_hour'] or '-'}"
        f"{f'; hours waiting: {waiting}' if waiting else ''}. "
        f"Next source due: {data['next_runs'][COLLECT_JOB] or '-'}."
    )
    health = data["data_health"]
    if health["low_confidence"]:
        console.print(f"[red]Data health: {safe(health['note'])}[/]")
    if data["jobs"]:
        t = Table("job", "last run", "finished", "outcome", "detail", title="Jobs")
        for job, r in data["jobs"].items():
            detail = r["detail"] or {}
            summary = detail.get("error") or (
                f"hour {r['hour']}"
                if r["hour"]
                else ", ".join(f"{k} {v}" for k, v in detail.items() if isinstance(v, int | float))
            )
            t.add_row(
                safe(job), r["started_at"], r["finished_at"] or "-", r["status"], safe(summary)
            )
        console.print(t)
    if data["workers"]:
        t = Table("process", "role", "state", "last seen", "next runs", title="Processes")
        for w in data["workers"]:
            runs = ", ".join(f"{k} {v}" for k, v in (w.get("next_runs") or {}).items())
            t.add_row(
                safe(w["worker"]), safe(w.get("role", "-")), w["state"], w["last_seen"], safe(runs)
            )
        console.print(t)
