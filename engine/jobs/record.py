"""Recording what a batch of sources' collections brought: match, decide, store.

``record_harvests`` is called by :mod:`noisecast.engine.jobs.collect` as sources finish. Each
source's mentions are matched against every active story (``noisecast.engine.core.match``), its
tasks' results decide its next schedule (``noisecast.engine.core.decider``, pure), and the batch is
written in one transaction in which each source is whole (``Store.record_collections``). When the
database refuses rows of a batch, its sources are written one by one and a source whose rows are
still refused is recorded as a failed fetch with the reason: one source's bad rows never keep the
others out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from noisecast.engine.config import CollectorSettings
from noisecast.engine.core.decider import Decision, SourceState, decide, task_outcome, worst
from noisecast.engine.core.match import StoryMatcher
from noisecast.engine.store import Collected, Outcome, Store
from noisecast.engine.store._base import RowsRefused
from noisecast.feeds.base import Harvest
from noisecast.feeds.mention import Mention

log = logging.getLogger("noisecast.collect")


@dataclass(frozen=True, slots=True)
class SourceReport:
    """How one source's collection went (all its tasks together)."""

    source: str
    url: str
    outcome: str
    http_status: int | None = None
    items_seen: int = 0
    items_new: int = 0
    error: str | None = None
    tasks: int = 1


def record_harvests(
    store: Store,
    settings: CollectorSettings,
    matcher: StoryMatcher,
    batch: Sequence[tuple[Mapping[str, Any], Sequence[Harvest]]],
    *,
    now: datetime,
) -> list[SourceReport]:
    """Match, decide and store what each source's tasks brought: one transaction for the
    batch, in which each source is whole (all its rows, or none of them).

    When the database refuses rows of the batch (a constraint, a value it cannot hold), the
    sources are written one by one, so that one source's bad rows never keep the others out;
    a source whose rows are still refused is recorded as a failed fetch, with the reason, and
    its items are fetched again when it is next due.
    """
    prepared = [_prepare(settings, matcher, row, harvests, now) for row, harvests in batch]
    try:
        counts = store.record_collections([collected for collected, _ in prepared], now=now)
        return [finish(n) for (_, finish), n in zip(prepared, counts, strict=True)]
    except RowsRefused as e:
        if len(batch) == 1:
            row, harvests = batch[0]
            return [_refused(store, settings, matcher, row, harvests, e, now)]
        log.warning(
            "the database refused rows of a batch of %d sources; writing them one by one: %s",
            len(batch),
            e.reason,
            extra={"job": "collect"},
        )
    reports = []
    for (row, harvests), (collected, finish) in zip(batch, prepared, strict=True):
        try:
            reports.append(finish(store.record_collections([collected], now=now)[0]))
        except RowsRefused as e:
            reports.append(_refused(store, settings, matcher, row, harvests, e, now))
    return reports


def _refused(
    store: Store,
    settings: CollectorSettings,
    matcher: StoryMatcher,
    row: Mapping[str, Any],
    harvests: Sequence[Harvest],
    e: RowsRefused,
    now: datetime,
) -> SourceReport:
    """Record a source whose rows the database refused as a failed collection (graded as a
    hard failure, so it backs off): no mentions, no new validators."""
    error = (
        f"not stored: the database refused this collection ({e.reason}); "
        "its items are fetched again when it is next due"
    )
    failed = [
        Harvest(
            h.task,
            replace(h.result, content=None, error_kind="internal", error=error),
            parser=h.parser,
        )
        for h in harvests
    ]
    collected, finish = _prepare(settings, matcher, row, failed, now)
    try:
        return finish(store.record_collections([collected], now=now)[0])
    except RowsRefused as again:  # the source itself is gone, say (removed while collected)
        log.error(
            "could not record the failure either: %s",
            again.reason,
            extra={"job": "collect", "source": row["name"], "url": row["url"]},
        )
        return SourceReport(
            source=row["name"], url=row["url"], outcome="error", error=error, tasks=len(harvests)
        )


def _prepare(
    settings: CollectorSettings,
    matcher: StoryMatcher,
    row: Mapping[str, Any],
    harvests: Sequence[Harvest],
    now: datetime,
) -> tuple[Collected, Callable[[int], SourceReport]]:
    """One source's write, and how to report it once the number of new mentions is known."""
    # An item two tasks both found (two searches, two hashtags) is one mention.
    found: list[Mention] = list({m.external_id: m for h in harvests for m in h.mentions}.values())
    matches = {m.external_id: hit for m in found if (hit := matcher.match(m.title, m.summary))}
    state = SourceState(
        id=row["id"],
        name=row["name"],
        url=row["url"],
        interval_minutes=row["interval_minutes"],
        failures=row["failures"],
        consecutive_failures=row["consecutive_failures"],
        has_succeeded=row["last_success_at"] is not None,
    )
    overall = worst([(h.result, h.parse_error, len(h.mentions)) for h in harvests])
    decisions: list[Decision] = []

    def outcome(known: set[str]) -> Outcome:
        items_new = len({m.external_id for m in found} - known)
        decision = decide(
            state,
            overall.result,
            items_seen=len(found),
            items_new=items_new,
            parse_error=overall.parse_error,
            now=now,
            settings=settings,
        )
        decisions.append(decision)
        return Outcome(
            fetch_rows=[
                _fetch_row(h, decision if i == overall.index else None, known, now)
                for i, h in enumerate(harvests)
            ],
            source_values=decision.values,
            cursors={
                h.task.key: values for h in harvests if (values := _cursor_values(h)) is not None
            },
        )

    def finish(items_new: int) -> SourceReport:
        decision = decisions[-1]
        extra = {"job": "collect", "source": row["name"], "url": row["url"]}
        if decision.error:
            log.warning("collection failed: %s", decision.error, extra=extra)
        else:
            log.info(
                "collected %s: %d tasks, %d items, %d new",
                decision.outcome,
                len(harvests),
                len(found),
                items_new,
                extra=extra,
            )
        return SourceReport(
            source=row["name"],
            url=overall.result.url or row["url"],
            outcome=decision.outcome,
            http_status=overall.result.status,
            items_seen=len(found),
            items_new=items_new,
            error=decision.error or overall.parse_error,
            tasks=len(harvests),
        )

    return Collected(row["id"], row["kind"], found, matches, outcome), finish


def _fetch_row(
    h: Harvest, decision: Decision | None, known: set[str], now: datetime
) -> dict[str, Any]:
    r = h.result
    outcome = decision.outcome if decision else task_outcome(r, h.parse_error, len(h.mentions))
    error = (decision.error if decision else r.error) or h.parse_error
    return {
        "url": r.url,
        "started_at": now,
        "finished_at": now + timedelta(milliseconds=r.duration_ms),
        "duration_ms": r.duration_ms,
        "http_status": r.status,
        "outcome": outcome,
        "bytes": r.bytes_read,
        "items_seen": len(h.mentions),
        "items_new": len({m.external_id for m in h.mentions} - known),
        "parser": h.parser,
        "error": error,
    }


def _cursor_values(h: Harvest) -> dict[str, Any] | None:
    """Validators are saved only when the content changed; collector state when given."""
    values: dict[str, Any] = {}
    if h.result.content is not None and h.result.ok:
        values.update(
            etag=h.result.etag, last_modified=h.result.last_modified, body_hash=h.result.body_hash
        )
    if h.state is not None:
        values["state"] = dict(h.state)
    return values or None
