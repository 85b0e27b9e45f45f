"""Collection: fetch every due source politely, parse, match, store. One source, one transaction.

``collect`` is what ``noisecast collect``, the demo and (later) the scheduler call. Fetches run
concurrently (``collector.concurrency``, with per-host limits in the fetcher); each source's
mentions, story matches, ``fetches`` row and new schedule are written together as soon as its
fetch is done, so a crash loses at most the sources in flight, which are still due on rerun.
A source that fails, or whose feed is malformed, records its error and the run goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from engine.config import CollectorSettings
from engine.decider import Decision, SourceState, decide
from engine.match import StoryMatcher
from engine.store import Store
from feeds.http import FetchRequest, FetchResult, PoliteFetcher, Politeness
from feeds.mention import Mention
from feeds.rss import KINDS as FEED_KINDS
from feeds.rss import read_feed

log = logging.getLogger("noisecast.collect")


@dataclass(frozen=True, slots=True)
class SourceReport:
    """How one source's fetch went."""

    source: str
    url: str
    outcome: str
    http_status: int | None = None
    items_seen: int = 0
    items_new: int = 0
    error: str | None = None


@dataclass(slots=True)
class CollectReport:
    """What one collection run did, source by source."""

    now: datetime
    sources: list[SourceReport] = field(default_factory=list)

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
    )


def collect(
    store: Store,
    settings: CollectorSettings,
    *,
    now: datetime,
    names: list[str] | None = None,
    force: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_done: Callable[[SourceReport], None] | None = None,
) -> CollectReport:
    """Fetch the due sources (or ``names``; all of them with ``force``) as of ``now``."""
    due = store.due_sources(now, names=names, force=force)
    matcher = StoryMatcher({s["slug"]: s["query"] for s in store.list_stories("active")})
    if on_start:
        on_start(len(due))
    report = CollectReport(now=now)
    if due:
        asyncio.run(_collect(store, settings, due, matcher, now, report, on_done))
    return report


async def _collect(
    store: Store,
    settings: CollectorSettings,
    due: list[dict[str, Any]],
    matcher: StoryMatcher,
    now: datetime,
    report: CollectReport,
    on_done: Callable[[SourceReport], None] | None,
) -> None:
    slots = asyncio.Semaphore(settings.concurrency)

    async def fetch(row: Mapping[str, Any]) -> tuple[Mapping[str, Any], FetchResult]:
        async with slots:
            request = FetchRequest(
                url=row["url"],
                etag=row["etag"],
                last_modified=row["last_modified"],
                body_hash=row["body_hash"],
            )
            try:
                return row, await fetcher.fetch(request)
            except Exception as e:  # last resort: one source must never stop the run
                log.exception("fetch crashed", extra={"job": "collect", "source": row["name"]})
                return row, FetchResult(
                    url=row["url"],
                    status=None,
                    error_kind="internal",
                    error=f"internal error while fetching: {type(e).__name__}: {e}",
                )

    async with PoliteFetcher(politeness(settings)) as fetcher:
        pending = [asyncio.ensure_future(fetch(row)) for row in due if row["kind"] in FEED_KINDS]
        for skipped in due:
            if skipped["kind"] not in FEED_KINDS:
                log.warning(
                    "skipped: no collector for kind %r",
                    skipped["kind"],
                    extra={"job": "collect", "source": skipped["name"]},
                )
        try:
            for done in asyncio.as_completed(pending):
                source, result = await done
                source_report = _store_result(store, settings, source, result, matcher, now)
                report.sources.append(source_report)
                if on_done:
                    on_done(source_report)
        finally:
            for task in pending:
                task.cancel()


def _store_result(
    store: Store,
    settings: CollectorSettings,
    row: Mapping[str, Any],
    result: FetchResult,
    matcher: StoryMatcher,
    now: datetime,
) -> SourceReport:
    found: list[Mention] = []
    parse_error: str | None = None
    parser: str | None = None
    if result.content is not None:
        found, parsed = read_feed(result.content, url=result.url, content_type=result.content_type)
        parser = parsed.parser
        if parsed.malformed:
            parse_error = parsed.error or "malformed feed"
    state = SourceState(
        id=row["id"],
        name=row["name"],
        url=row["url"],
        interval_minutes=row["interval_minutes"],
        failures=row["failures"],
        consecutive_failures=row["consecutive_failures"],
        has_succeeded=row["last_success_at"] is not None,
    )
    matches = {m.external_id: hit for m in found if (hit := matcher.match(m.title, m.summary))}

    decisions: list[Decision] = []

    def outcome(items_new: int) -> tuple[dict[str, Any], dict[str, Any]]:
        decision = decide(
            state,
            result,
            items_seen=len(found),
            items_new=items_new,
            parse_error=parse_error,
            now=now,
            settings=settings,
        )
        fetch_row = {
            "url": result.url,
            "started_at": now,
            "finished_at": now + timedelta(milliseconds=result.duration_ms),
            "duration_ms": result.duration_ms,
            "http_status": result.status,
            "outcome": decision.outcome,
            "bytes": result.bytes_read,
            "parser": parser,
            "error": decision.error or parse_error,
        }
        decisions.append(decision)
        return fetch_row, decision.values

    items_new = store.record_fetch(
        source_id=row["id"], found=found, matches=matches, outcome=outcome, now=now
    )
    decision = decisions[-1]
    extra = {"job": "collect", "source": row["name"], "url": result.url}
    if decision.error:
        log.warning("fetch failed: %s", decision.error, extra=extra)
    else:
        log.info(
            "fetched %s: %d items, %d new", decision.outcome, len(found), items_new, extra=extra
        )
    return SourceReport(
        source=row["name"],
        url=result.url,
        outcome=decision.outcome,
        http_status=result.status,
        items_seen=len(found),
        items_new=items_new,
        error=decision.error or parse_error,
    )
