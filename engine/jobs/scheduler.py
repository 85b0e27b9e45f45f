"""``noisecast run``: the production main job. APScheduler 3 wiring, roles, signals, status.

Each process runs its own APScheduler (a job store cannot be shared between processes); they
coordinate through the database (noisecast.engine.store._jobs): collectors lease due sources,
scorers run the hourly cycle under an advisory lock. Roles:

- ``collector``: every ``collect_every_seconds``, claim due sources and collect them
  (noisecast.engine.jobs.collect.collect_leased), each at its own adaptive interval;
- ``scorer``: at ``cycle_minute`` past every hour (and at start, to catch up), the update
  cycle (noisecast.engine.jobs.cycle.run_cycle); a scorer that found the cycle locked, or whose
  cycle failed, tries again after ``cycle_retry_seconds``;
  the scorers also send the alerts' outbox every ``alerts.deliver_every_seconds``
  (noisecast.engine.jobs.alerts.deliver_alerts; claims keep two scorers from sending one twice);
- ``all`` (default): both. On SQLite exactly one ``noisecast run`` process may use a database
  (an exclusive ``flock`` on ``<database>.lock``).

Job defaults as DESIGN.md says: ``coalesce=True``, ``max_instances=1`` and a misfire grace of
minutes, given through ``job_defaults`` (APScheduler ignores them as top-level keywords).
Listeners record missed and failed jobs in ``job_runs`` and the log. Every network call has a
timeout (``collector.timeout_seconds``, ``deadline_seconds``), so no job hangs forever.

SIGTERM, SIGINT or SIGHUP (a closed terminal or ssh session): no new job starts, fetches in
flight get ``shutdown_grace_seconds`` to finish (the rest are abandoned and stay due), the
cycle stops between hours, exit code 0. A second signal exits at once (code 128 + signal
number); every write is a transaction, so the database stays consistent either way.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
    JobExecutionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from noisecast.engine.config import ScheduleSettings, Secrets, Settings
from noisecast.engine.errors import ConfigError
from noisecast.engine.jobs.alerts import deliver_alerts
from noisecast.engine.jobs.collect import CollectReport, Leasing, collect_leased
from noisecast.engine.jobs.cycle import (
    CYCLE_JOB,
    CycleReport,
    run_cycle,
)
from noisecast.engine.jobs.process import (
    make_clock,
    owner_id,
    process_lock,
    stop_signals,
    worker_log_context,
)
from noisecast.engine.store import Store

log = logging.getLogger("noisecast.scheduler")

ROLES = ("all", "collector", "scorer")
COLLECT_JOB = "collect"
DELIVER_JOB = "deliver"
WORKER_JOB = "worker"  # a process's own job_runs row: started, last seen (heartbeat), stopped
RETRY_SUFFIX = "-retry"
STOP_MARGIN_SECONDS = 10.0  # after the grace period, time left for the last writes


def job_defaults(schedule: ScheduleSettings) -> dict[str, Any]:
    """APScheduler's ``job_defaults``: one instance of each job, missed runs merged into one,
    and a misfire grace of minutes rather than APScheduler's default of one second."""
    return {
        "coalesce": True,
        "max_instances": 1,
        "misfire_grace_time": schedule.misfire_grace_minutes * 60,
    }


# --- the jobs -----------------------------------------------------------------------------------


@dataclass
class Worker:
    """One ``noisecast run`` process's jobs and the state they share."""

    store: Store
    settings: Settings
    role: str
    clock: Callable[[], datetime]
    owner: str
    stop: threading.Event
    secrets: Secrets | None = None
    scheduler: BackgroundScheduler | None = None
    run_id: int | None = None  # this process's WORKER_JOB row
    _cycle_busy: threading.Lock = field(default_factory=threading.Lock)
    _running: int = 0
    _idle: threading.Condition = field(default_factory=threading.Condition)

    @property
    def collects(self) -> bool:
        return self.role in ("all", "collector")

    @property
    def scores(self) -> bool:
        return self.role in ("all", "scorer")

    def collect(self, *, run_seconds: float | None) -> CollectReport:
        """Claim and collect due sources (noisecast.engine.jobs.collect.collect_leased); record the
        run when it claimed anything."""
        started = self.clock()
        schedule = self.settings.schedule
        report = collect_leased(
            self.store,
            self.settings.collector,
            leasing=Leasing(self.owner, schedule.lease_seconds, self.clock),
            run_seconds=run_seconds,
            stop=self.stop,
            grace_seconds=schedule.shutdown_grace_seconds,
            secrets=self.secrets,
        )
        if report.items_new:  # every stored mention joins an event cluster (issue 14)
            from noisecast.engine.jobs.emerging import cluster_after_collection

            cluster_after_collection(self.store, self.settings, now=self.clock())
        if report.sources or report.abandoned:
            self.store.record_job(
                COLLECT_JOB,
                started_at=started,
                finished_at=self.clock(),
                status="ok",
                worker=self.owner,
                detail={
                    "fetched": len(report.sources),
                    "items_new": report.items_new,
                    "failed": len(report.failed),
                    "abandoned": report.abandoned,
                },
            )
            log.info(
                "collected %d sources (%d new mentions, %d failed, %d left for later)",
                len(report.sources),
                report.items_new,
                len(report.failed),
                len(report.abandoned),
                extra={"job": COLLECT_JOB},
            )
        return report

    def cycle(self) -> CycleReport:
        """The hourly cycle (noisecast.engine.jobs.cycle.run_cycle), once at a time in this process;
        a retry is scheduled when another scorer held the lock."""
        if not self._cycle_busy.acquire(blocking=False):
            return CycleReport("busy")
        try:
            report = run_cycle(
                self.store,
                self.settings,
                clock=self.clock,
                worker=self.owner,
                stop=self.stop,
                secrets=self.secrets,
            )
        finally:
            self._cycle_busy.release()
        if report.status == "locked":
            self.retry_cycle()
        return report

    @property
    def delivers(self) -> bool:
        """Whether this process sends the alerts' outbox: a scorer, with alerts enabled and the
        secrets that hold the destinations' URLs."""
        return self.scores and self.settings.alerts.enabled and self.secrets is not None

    def deliver(self) -> dict[str, int]:
        """One pass of the alerts' delivery (noisecast.engine.jobs.alerts.deliver_alerts)."""
        if self.secrets is None or self.stop.is_set():
            return {}
        counts = deliver_alerts(self.store, self.settings, self.secrets, now=self.clock())
        if any(counts.values()):
            log.info("alert delivery pass", extra={"job": DELIVER_JOB, **counts})
        return counts

    def retry_cycle(self) -> None:
        if self.scheduler is None or self.stop.is_set():
            return
        delay = timedelta(seconds=self.settings.schedule.cycle_retry_seconds)
        with suppress(Exception):  # the scheduler may be shutting down
            self.scheduler.add_job(
                self._job(CYCLE_JOB, self.cycle),
                "date",
                run_date=datetime.now(UTC) + delay,
                id=CYCLE_JOB + RETRY_SUFFIX,
                name=CYCLE_JOB,
                replace_existing=True,
            )

    def heartbeat(self) -> None:
        if self.run_id is not None:
            self.store.touch_job(self.run_id, now=self.clock(), detail=self.describe())

    def describe(self) -> dict[str, Any]:
        """What ``noisecast status`` shows of this process."""
        jobs = self.scheduler.get_jobs() if self.scheduler and self.scheduler.running else []
        return {
            "role": self.role,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "next_runs": {
                j.id: j.next_run_time.astimezone(UTC).isoformat()
                for j in jobs
                if j.next_run_time is not None
            },
        }

    # --- running jobs and knowing when none is left ---

    def _job(self, name: str, fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            with self._idle:
                self._running += 1
            try:
                return fn()
            finally:
                with self._idle:
                    self._running -= 1
                    self._idle.notify_all()

        run.__name__ = name
        return run

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no job runs; False if some still did after ``timeout`` seconds."""
        with self._idle:
            return self._idle.wait_for(lambda: self._running == 0, timeout)

    def on_event(self, event: JobEvent) -> None:
        """APScheduler listener: failed and missed runs go to ``job_runs`` and the log."""
        job = event.job_id.removesuffix(RETRY_SUFFIX)
        extra = {"job": job}
        try:
            if event.code == EVENT_JOB_MAX_INSTANCES:
                log.info("not started: the previous run is still going", extra=extra)
                return
            assert isinstance(event, JobExecutionEvent)
            scheduled = event.scheduled_run_time.astimezone(UTC).isoformat()
            now = self.clock()
            if event.code == EVENT_JOB_ERROR:
                error = f"{type(event.exception).__name__}: {event.exception}"
                log.error(
                    "failed: %s",
                    error,
                    exc_info=(
                        type(event.exception),
                        event.exception,
                        event.exception.__traceback__,
                    ),
                    extra=extra,
                )
                self.store.record_job(
                    job,
                    started_at=now,
                    finished_at=now,
                    status="error",
                    worker=self.owner,
                    detail={"error": error, "scheduled": scheduled},
                )
                if job == CYCLE_JOB:
                    self.retry_cycle()
            elif event.code == EVENT_JOB_MISSED:
                log.warning(
                    "missed its run time %s by more than misfire_grace_minutes",
                    scheduled,
                    extra=extra,
                )
                self.store.record_job(
                    job,
                    started_at=now,
                    finished_at=None,
                    status="missed",
                    worker=self.owner,
                    detail={"scheduled": scheduled},
                )
        except Exception:  # a listener must never take the scheduler down
            log.exception("could not record the job's outcome", extra=extra)


def build_scheduler(worker: Worker, *, cycle_every: float | None = None) -> BackgroundScheduler:
    """The APScheduler of one process: its role's jobs, the job defaults, the listener.

    ``cycle_every`` (seconds) replaces the hourly cron trigger by an interval: compressed
    schedules for tests and demos (the cycle itself decides from the clock which hours are
    ready, so checking more often only runs them sooner).
    """
    schedule = worker.settings.schedule
    scheduler = BackgroundScheduler(
        timezone=UTC,
        job_defaults=job_defaults(schedule),
        executors={"default": ThreadPoolExecutor(max_workers=4)},
    )
    start = datetime.now(UTC)
    if worker.collects:
        scheduler.add_job(
            worker._job(
                COLLECT_JOB, lambda: worker.collect(run_seconds=schedule.collect_every_seconds)
            ),
            IntervalTrigger(seconds=schedule.collect_every_seconds, timezone=UTC),
            id=COLLECT_JOB,
            name=COLLECT_JOB,
            next_run_time=start,
        )
    if worker.scores:
        trigger = (
            IntervalTrigger(seconds=cycle_every, timezone=UTC)
            if cycle_every
            else CronTrigger(minute=schedule.cycle_minute, second=0, timezone=UTC)
        )
        scheduler.add_job(
            worker._job(CYCLE_JOB, worker.cycle),
            trigger,
            id=CYCLE_JOB,
            name=CYCLE_JOB,
            next_run_time=start,  # catch up at once
        )
    if worker.delivers:
        every = worker.settings.alerts.deliver_every_seconds
        scheduler.add_job(
            worker._job(DELIVER_JOB, worker.deliver),
            IntervalTrigger(seconds=every, timezone=UTC),
            id=DELIVER_JOB,
            name=DELIVER_JOB,
        )
    scheduler.add_job(
        worker._job(WORKER_JOB, worker.heartbeat),
        IntervalTrigger(seconds=schedule.heartbeat_seconds, timezone=UTC),
        id=WORKER_JOB,
        name=WORKER_JOB,
    )
    scheduler.add_listener(
        worker.on_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES
    )
    worker.scheduler = scheduler
    return scheduler


# --- running ------------------------------------------------------------------------------------


def run_scheduler(
    store: Store,
    settings: Settings,
    *,
    role: str = "all",
    once: bool = False,
    clock: Callable[[], datetime] | None = None,
    stop: threading.Event | None = None,
    owner: str | None = None,
    cycle_every: float | None = None,
    secrets: Secrets | None = None,
    handle_signals: bool | None = None,
    hard_exit: bool = False,
) -> int:
    """Run ``role``'s jobs until ``stop`` is set (or SIGTERM/SIGINT/SIGHUP), or with ``once``
    one collection of everything due then one cycle. Returns the exit code: 0, or 1 when a
    ``once`` run failed.

    ``handle_signals`` (default: when called from the main thread) installs the SIGTERM,
    SIGINT and SIGHUP handlers. ``hard_exit`` (the CLI) ends the process with ``os._exit``
    when a job is still running after the grace period, rather than wait for its thread.
    """
    if role not in ROLES:
        raise ConfigError(f"--role: expected one of {', '.join(ROLES)}, got {role!r}")
    clock = clock or make_clock()
    stop = stop or threading.Event()
    owner = owner or owner_id()
    if handle_signals is None:
        handle_signals = threading.current_thread() is threading.main_thread()
    guard = process_lock(store)
    if guard is not None:
        guard.acquire(owner)
    worker = Worker(store, settings, role, clock, owner, stop, secrets)
    try:
        with (
            worker_log_context(owner, settings.schedule.timezone),
            stop_signals(stop, enabled=handle_signals),
        ):
            if guard is not None:
                cleared = store.clear_leases()  # the only process: leases are a dead run's
                if cleared:
                    log.info("cleared %d leases of an earlier run", cleared, extra={"job": "run"})
            if once:
                return _run_once(worker)
            return _serve(worker, cycle_every=cycle_every, hard_exit=hard_exit)
    finally:
        if guard is not None:
            guard.release()


def _run_once(worker: Worker) -> int:
    code = 0
    if worker.collects:
        worker.collect(run_seconds=None)
    if worker.scores and not worker.stop.is_set():
        try:
            report = worker.cycle()
        except Exception as e:
            log.exception("cycle failed", extra={"job": CYCLE_JOB})
            now = worker.clock()
            worker.store.record_job(
                CYCLE_JOB,
                started_at=now,
                finished_at=now,
                status="error",
                worker=worker.owner,
                detail={"error": f"{type(e).__name__}: {e}"},
            )
            return 1
        log.info("cycle %s", report.status, extra={"job": CYCLE_JOB, **report.as_dict()})
    return code


def _serve(worker: Worker, *, cycle_every: float | None, hard_exit: bool) -> int:
    store, schedule = worker.store, worker.settings.schedule
    scheduler = build_scheduler(worker, cycle_every=cycle_every)
    worker.run_id = store.start_job(
        WORKER_JOB, now=worker.clock(), worker=worker.owner, detail=worker.describe()
    )
    scheduler.start()
    try:
        worker.heartbeat()
        runs = worker.describe()["next_runs"]
        log.info(
            "started as %s; next runs: %s",
            worker.role,
            ", ".join(f"{job} {at}" for job, at in runs.items()),
            extra={"job": "run"},
        )
        while not worker.stop.wait(0.2):
            pass
        log.info("stopping: no new job starts", extra={"job": "run"})
    finally:
        worker.stop.set()  # also when the loop above failed: the jobs wind down
        scheduler.shutdown(wait=False)
    idle = worker.wait_idle(schedule.shutdown_grace_seconds + STOP_MARGIN_SECONDS)
    status = "stopped" if idle else "abandoned"
    try:
        store.release_leases(worker.owner)
        if worker.run_id is not None:
            store.finish_job(
                worker.run_id, now=worker.clock(), status=status, detail=worker.describe()
            )
    except Exception:  # stopping cleanly matters more than the record of it
        log.exception("could not record the stop", extra={"job": "run"})
    if idle:
        log.info("stopped", extra={"job": "run"})
        return 0
    log.warning(
        "a job was still running %g s after the stop request: abandoned (its writes are "
        "transactions: what it had not committed is redone by the next run)",
        schedule.shutdown_grace_seconds + STOP_MARGIN_SECONDS,
        extra={"job": "run"},
    )
    if hard_exit:
        logging.shutdown()
        os._exit(0)
    return 0
