"""Collection: run every due source's tasks politely, match, decide, store. One source, one
transaction.

``collect`` is what ``noisecast collect``, the demo and the scheduler call. Each due source's
collector (``noisecast.feeds.registry``) says which tasks it needs (one feed; or one search per
active story; or one listing per subreddit). Tasks run concurrently (``collector.concurrency``, with
per-host limits in the fetcher). When all of a source's tasks are done, its mentions, story
matches, ``fetches`` rows (one per task), cursors and new schedule are written together
(:func:`noisecast.engine.jobs.record.record_harvests`), so a crash loses at most the sources in
flight, which are still due on rerun. A source that fails, whose content is malformed, or whose rows
the database refuses, records its error and the run goes on.

``collect_leased`` is the scheduler's variant (``noisecast run``): instead of reading every
due source up front, it claims due sources as fetch slots free up, each with a lease that names
the worker and expires (noisecast.engine.store._jobs), so several workers can share one PostgreSQL
database without fetching a source twice. It renews the leases of the sources it still works
on, and on a stop request it claims nothing more, gives the fetches in flight a grace period,
writes what finished and gives back the leases of what did not (those sources stay due).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from noisecast.engine.config import CollectorSettings, Secrets
from noisecast.engine.core.match import StoryMatcher
from noisecast.engine.jobs.record import SourceReport, record_harvests
from noisecast.engine.store import Store
from noisecast.feeds import registry
from noisecast.feeds.base import Cursor, Harvest, HarvestContext, SourceInfo, StoryInfo, Task
from noisecast.feeds.http import FetchResult, PoliteFetcher, Politeness
from noisecast.feeds.searchterms import search_text

__all__ = [
    "CollectReport",
    "Leasing",
    "SourceReport",
    "collect",
    "collect_leased",
    "politeness",
    "record_harvests",
    "source_info",
    "story_infos",
]

log = logging.getLogger("noisecast.collect")

# httpcore tries ``import sniffio`` on every request to learn which async library runs it;
# without sniffio installed each try is a failed import that searches sys.path (about 1 ms of
# CPU a request, a fifth of a 304's cost in bench/collect.py). Remember the failure once.
if importlib.util.find_spec("sniffio") is None:
    sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]


@dataclass(slots=True)
class CollectReport:
    """What one collection run did, source by source."""

    now: datetime
    sources: list[SourceReport] = field(default_factory=list)
    abandoned: list[str] = field(default_factory=list)  # in flight when told to stop; still due

    @property
    def items_new(self) -> int:
        return sum(r.items_new for r in self.sources)

    @property
    def failed(self) -> list[SourceReport]:
        return [r for r in self.sources if r.outcome in ("error", "disabled")]

    def as_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "fetched": len(self.sources),
            "items_new": self.items_new,
            "failed": len(self.failed),
            "sources": [
                {
                    "source": r.source,
                    "url": r.url,
                    "outcome": r.outcome,
                    "http_status": r.http_status,
                    "tasks": r.tasks,
                    "items_seen": r.items_seen,
                    "items_new": r.items_new,
                    "error": r.error,
                }
                for r in self.sources
            ],
        }


def politeness(settings: CollectorSettings) -> Politeness:
    return Politeness(
        user_agent=settings.identity,
        timeout_seconds=settings.timeout_seconds,
        connect_timeout_seconds=settings.connect_timeout_seconds,
        max_body_bytes=settings.max_body_bytes,
        per_host_concurrency=settings.per_host_concurrency,
        per_host_min_gap_seconds=settings.per_host_min_gap_seconds,
        max_redirects=settings.max_redirects,
        deadline_seconds=settings.deadline_seconds,
        allow_private_networks=settings.allow_private_networks,
    )


def story_infos(rows: Sequence[Mapping[str, Any]]) -> list[StoryInfo]:
    """Active stories as collectors see them, with their plain search terms."""
    return [
        StoryInfo(
            slug=r["slug"],
            title=r["title"],
            query=r["query"],
            search=search_text(r["query"]),
        )
        for r in rows
    ]


def source_info(row: Mapping[str, Any]) -> SourceInfo:
    cls = registry.collector_class(row["kind"])
    options = cls.Options.model_validate((row["settings"] or {}).get("options", {}))
    return SourceInfo(
        id=row["id"], kind=row["kind"], name=row["name"], url=row["url"], options=options
    )


def collect(
    store: Store,
    settings: CollectorSettings,
    *,
    now: datetime,
    names: list[str] | None = None,
    force: bool = False,
    secrets: Secrets | None = None,
    on_start: Callable[[int], None] | None = None,
    on_done: Callable[[SourceReport], None] | None = None,
) -> CollectReport:
    """Collect the due sources (or ``names``; all of them with ``force``) as of ``now``."""
    due = store.due_sources(now, names=names, force=force)
    story_rows = store.list_stories("active")
    matcher = StoryMatcher({s["slug"]: s["query"] for s in story_rows})
    if on_start:
        on_start(len(due))
    report = CollectReport(now=now)
    if due:
        run = _Run(store, settings, matcher, story_infos(story_rows), now, secrets, report, on_done)
        asyncio.run(run.all(due))
    return report


@dataclass(frozen=True, slots=True)
class Leasing:
    """How a scheduler's collector claims sources: as ``owner`` (unique per process), for
    ``lease_seconds`` at a time, reading the time from ``clock``."""

    owner: str
    lease_seconds: float
    clock: Callable[[], datetime]


def collect_leased(
    store: Store,
    settings: CollectorSettings,
    *,
    leasing: Leasing,
    run_seconds: float | None = None,
    stop: threading.Event | None = None,
    grace_seconds: float = 20.0,
    secrets: Secrets | None = None,
    on_done: Callable[[SourceReport], None] | None = None,
) -> CollectReport:
    """Claim due sources as fetch slots free up and collect them, until no source is due (or
    ``run_seconds`` have passed: then only the sources already claimed are finished).

    When ``stop`` is set: nothing more is claimed or started, the fetches in flight have
    ``grace_seconds`` to finish, what finished is written and the other sources' leases are
    given back (they stay due; ``report.abandoned`` names them).
    """
    story_rows = store.list_stories("active")
    matcher = StoryMatcher({s["slug"]: s["query"] for s in story_rows})
    report = CollectReport(now=leasing.clock())
    if stop is not None and stop.is_set():
        return report
    run = _Run(
        store,
        settings,
        matcher,
        story_infos(story_rows),
        report.now,
        secrets,
        report,
        on_done,
        leasing=leasing,
        run_seconds=run_seconds,
        stop=stop,
        grace_seconds=grace_seconds,
    )
    asyncio.run(run.all([]))
    return report


Ready = tuple[dict[str, Any], list[Harvest]]


@dataclass
class _Run:
    store: Store
    settings: CollectorSettings
    matcher: StoryMatcher
    stories: list[StoryInfo]
    now: datetime
    secrets: Secrets | None
    report: CollectReport
    on_done: Callable[[SourceReport], None] | None
    leasing: Leasing | None = None
    run_seconds: float | None = None
    stop: threading.Event | None = None
    grace_seconds: float = 0.0
    _cursors: dict[int, dict[str, Cursor]] = field(default_factory=dict)

    def _now(self) -> datetime:
        return self.leasing.clock() if self.leasing else self.now

    def _stopping(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    async def all(self, due: list[dict[str, Any]]) -> None:
        """Run every source (and, when leasing, every source claimed on the way); write
        finished ones in batches (``write_batch`` sources, or whatever finished in the last
        ``write_every_seconds``), so a slow source never holds back the others' rows and a
        crash loses only what was not yet written."""
        settings = self.settings
        slots = asyncio.Semaphore(settings.concurrency)
        tick = min(settings.write_every_seconds, 0.5)
        async with PoliteFetcher(politeness(settings)) as fetcher:
            rows: dict[asyncio.Future[Ready | None], dict[str, Any]] = {}
            pending: set[asyncio.Future[Ready | None]] = set()

            def start(batch: list[dict[str, Any]]) -> None:
                if batch:  # every task's cursor of the batch, in one query
                    found = self.store.cursors_of([r["id"] for r in batch])
                    self._cursors.update({r["id"]: found.get(r["id"], {}) for r in batch})
                for row in batch:
                    task = asyncio.ensure_future(self._source(row, fetcher, slots))
                    rows[task] = row
                    pending.add(task)

            start(due)
            ready: list[Ready] = []
            unfinished: list[dict[str, Any]] = []  # stopped before they were fetched
            oldest = 0.0
            began = time.monotonic()
            claiming = self.leasing is not None
            stop_at: float | None = None
            renewed = self._now()
            try:
                while True:
                    if claiming and (
                        self._stopping()
                        or (
                            self.run_seconds is not None
                            and time.monotonic() - began >= self.run_seconds
                        )
                    ):
                        claiming = False
                    if claiming and len(pending) < settings.concurrency:
                        fresh = self._claim(2 * settings.concurrency - len(pending))
                        claiming = bool(fresh)
                        start(fresh)
                    if not pending:
                        break
                    done, still = await asyncio.wait(
                        pending, timeout=tick, return_when=asyncio.FIRST_COMPLETED
                    )
                    pending.intersection_update(still)
                    if done and not ready:
                        oldest = time.monotonic()
                    for task in done:
                        result = task.result()
                        if result is None:
                            unfinished.append(rows[task])
                        else:
                            ready.append(result)
                        del rows[task]
                    late = time.monotonic() - oldest >= settings.write_every_seconds
                    if ready and (len(ready) >= settings.write_batch or late or not pending):
                        self._store(ready)
                        ready = []
                    if self._stopping() and stop_at is None:
                        stop_at = time.monotonic() + self.grace_seconds
                        log.info(
                            "stopping: %d sources in flight have %g s to finish",
                            len(pending),
                            self.grace_seconds,
                            extra={"job": "collect"},
                        )
                    if stop_at is not None and pending and time.monotonic() >= stop_at:
                        break
                    working = [rows[t] for t in pending] + [r for r, _ in ready]
                    renewed = self._renew(renewed, working)
                if ready:
                    self._store(ready)
            finally:
                for task in pending:
                    task.cancel()
                if pending:
                    await asyncio.gather(*pending, return_exceptions=True)
                # not written: stopped, cut at the end of the grace period, or a failed write
                self._give_back(unfinished + [rows[t] for t in pending] + [r for r, _ in ready])

    def _claim(self, limit: int) -> list[dict[str, Any]]:
        assert self.leasing is not None
        return self.store.claim_due_sources(
            self._now(), self.leasing.owner, self.leasing.lease_seconds, limit
        )

    def _renew(self, renewed: datetime, working: list[dict[str, Any]]) -> datetime:
        """Extend the leases of the sources not yet written (in flight, or finished and
        waiting for their batch's write), every third of a lease."""
        if self.leasing is None:
            return renewed
        now = self._now()
        lease = timedelta(seconds=self.leasing.lease_seconds)
        if now - renewed < lease / 3:
            return renewed
        self.store.renew_leases(self.leasing.owner, [r["id"] for r in working], now + lease)
        return now

    def _give_back(self, rows: list[dict[str, Any]]) -> None:
        """Sources claimed but not written stay due: their leases are released so that
        another worker, or the next run, takes them at once."""
        if not rows:
            return
        for row in rows:
            self.report.abandoned.append(row["name"])
            log.warning(
                "abandoned before it was written; still due",
                extra={"job": "collect", "source": row["name"]},
            )
        if self.leasing is not None:
            try:
                self.store.release_leases(self.leasing.owner, [r["id"] for r in rows])
            except Exception:  # the leases expire anyway
                log.exception("could not release leases", extra={"job": "collect"})

    async def _source(
        self, row: dict[str, Any], fetcher: PoliteFetcher, slots: asyncio.Semaphore
    ) -> Ready | None:
        """Every task of one source, concurrently; never raises. None when a stop request came
        before all of its tasks could start (the source is then left for later, whole)."""
        extra = {"job": "collect", "source": row["name"]}
        try:
            source = source_info(row)
            collector = registry.collector_for(source.kind)
            tasks = collector.tasks(source, self.stories)
            cursors = self._cursors.pop(source.id, None)
            if cursors is None:
                cursors = self.store.cursors(source.id)
        except Exception as e:  # a bad row or kind must not stop the run
            log.exception("cannot prepare source", extra=extra)
            return row, [_crashed(Task(key="", url=row["url"]), e)]

        async def one(task: Task) -> Harvest | None:
            ctx = HarvestContext(
                fetcher, source, cursors.get(task.key, Cursor()), self._now(), self.secrets
            )
            async with slots:
                if self._stopping():
                    return None
                try:
                    return await collector.harvest(task, ctx)
                except Exception as e:  # last resort: one task must never stop the run
                    log.exception("task crashed", extra={**extra, "url": task.url})
                    return _crashed(task, e)

        harvests = await asyncio.gather(*(one(t) for t in tasks))
        if any(h is None for h in harvests):
            return None
        return row, [h for h in harvests if h is not None]

    def _store(self, ready: list[tuple[dict[str, Any], list[Harvest]]]) -> None:
        for source_report in record_harvests(
            self.store, self.settings, self.matcher, ready, now=self._now()
        ):
            self.report.sources.append(source_report)
            if self.on_done:
                self.on_done(source_report)


def _crashed(task: Task, e: Exception) -> Harvest:
    return Harvest(
        task,
        FetchResult(
            url=task.url,
            status=None,
            error_kind="internal",
            error=f"internal error: {type(e).__name__}: {e}",
        ),
    )
