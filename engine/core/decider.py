"""What one fetch means for its source's schedule. Pure: no I/O, ``now`` is an argument.

After Media Cloud's rss-fetcher, Miniflux and reader's update ``Decider``:

- Failures are graded: **hard** 1.0 (other 4xx, an oversized body, a document with no
  entries that no parser can read), **soft** 0.5 (404, 429, 5xx), **temporary** 0.25
  (timeouts, DNS and connection errors). The grades add up; a success resets them. A source
  whose sum reaches ``disable_after_failures`` is disabled, with the reason stored. 410 Gone
  disables at once, unless a temporary redirect (302/303/307) led there: then it is soft, as
  only a permanent move speaks for the source's URL.
- Backoff doubles with consecutive failures from ``backoff_base_minutes`` up to
  ``backoff_max_minutes``. ``Retry-After`` is honoured, capped at ``retry_after_max_minutes``;
  the later of the two wins.
- The interval adapts: ×1.25 when nothing was new, ×0.5 when most of what the feed shows was
  new (we are probably missing items), kept otherwise; always within the configured bounds.
- A source with several tasks (per-story searches, several listings) is judged by its most
  severe task result (:func:`worst`); each task still gets its own ``fetches`` row.
- A little jitter spreads sources out; it is derived from the source id and ``now``, so the same
  inputs always give the same schedule.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from noisecast.engine.config import CollectorSettings
from noisecast.feeds.result import FetchResult
from noisecast.feeds.text import printable

HARD, SOFT, TEMPORARY = 1.0, 0.5, 0.25


@dataclass(frozen=True, slots=True)
class SourceState:
    """The part of a ``sources`` row the decision needs."""

    id: int
    name: str
    url: str
    interval_minutes: int
    failures: float = 0.0
    consecutive_failures: int = 0
    has_succeeded: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    """The new values for the source row, and the outcome word for the ``fetches`` row."""

    outcome: str
    values: dict[str, Any]
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Overall:
    """The task result that speaks for a source; ``index`` is its task's (-1: no task ran)."""

    index: int
    result: FetchResult
    parse_error: str | None


def _parse_failed(result: FetchResult, parse_error: str | None, items: int) -> bool:
    return parse_error is not None and items == 0 and result.content is not None


def task_outcome(result: FetchResult, parse_error: str | None, items: int) -> str:
    """The outcome word of one task's ``fetches`` row."""
    if failure_grade(result, _parse_failed(result, parse_error, items)):
        return "error"
    if result.not_modified:
        return "not_modified"
    return "unchanged" if result.unchanged else "ok"


def worst(tasks: Sequence[tuple[FetchResult, str | None, int]]) -> Overall:
    """Of (result, parse error, items) per task: the most severe failure (the longest
    Retry-After among equals), else a task that brought content, else the first one."""
    if not tasks:
        return Overall(-1, FetchResult(url="", status=None, not_modified=True), None)

    def severity(i: int) -> tuple[float, float, int, int]:
        result, parse_error, items = tasks[i]
        grade = failure_grade(result, _parse_failed(result, parse_error, items))
        return (grade, result.retry_after_seconds or 0.0, result.content is not None, -i)

    index = max(range(len(tasks)), key=severity)
    return Overall(index, tasks[index][0], tasks[index][1])


def failure_grade(result: FetchResult, parse_failed: bool) -> float:
    """How much this attempt counts against the source (0 for a success)."""
    if result.error_kind in ("timeout", "network"):
        return TEMPORARY
    if result.error_kind == "http":
        status = result.status or 0
        if status in (404, 408, 429) or status >= 500:
            return SOFT
        # Gone, but at a URL a temporary redirect pointed to: the source's own URL may be back.
        return SOFT if status == 410 and result.temporary_redirect else HARD
    if result.error_kind is not None or parse_failed:
        return HARD
    return 0.0


def decide(
    state: SourceState,
    result: FetchResult,
    *,
    items_seen: int,
    items_new: int,
    parse_error: str | None,
    now: datetime,
    settings: CollectorSettings,
) -> Decision:
    """Turn one fetch into the source's next state and the outcome recorded for it."""
    parse_failed = _parse_failed(result, parse_error, items_seen)
    values: dict[str, Any] = {
        "last_fetched_at": now,
        "last_status": result.status,
        "updated_at": now,
    }
    if result.status == 410 and not result.temporary_redirect:
        values.update(
            disabled_at=now,
            disabled_reason="410 Gone: the server says this feed was removed",
            last_error="HTTP 410 Gone",
            failures=state.failures + HARD,
            consecutive_failures=state.consecutive_failures + 1,
            next_due_at=now + timedelta(minutes=settings.max_interval_minutes),
        )
        return Decision("disabled", values, "HTTP 410 Gone")

    grade = failure_grade(result, parse_failed)
    if grade:
        error = printable(result.error or f"unparseable feed: {parse_error}")
        failures = state.failures + grade
        consecutive = state.consecutive_failures + 1
        backoff = min(
            settings.backoff_base_minutes * 2 ** (consecutive - 1), settings.backoff_max_minutes
        )
        wait = float(backoff)
        if result.retry_after_seconds is not None:
            asked = min(result.retry_after_seconds / 60, settings.retry_after_max_minutes)
            wait = max(wait, asked)
        values.update(
            failures=failures,
            consecutive_failures=consecutive,
            last_error=error,
            next_due_at=now + _jittered(wait, state.id, now, settings.jitter_fraction, up=True),
        )
        if failures >= settings.disable_after_failures:
            values.update(
                disabled_at=now,
                disabled_reason=(
                    f"disabled after repeated failures (score {failures:g} >= "
                    f"{settings.disable_after_failures:g}); last error: {error}"
                ),
            )
            return Decision("disabled", values, error)
        return Decision("error", values, error)

    if result.permanent_url and result.permanent_url != state.url:
        values["url"] = result.permanent_url  # only once the new location has worked
    interval = _adapt_interval(state, items_seen, items_new, result, settings)
    values.update(
        failures=0.0,
        consecutive_failures=0,
        interval_minutes=interval,
        last_success_at=now,
        last_error=(
            printable(f"malformed feed (entries recovered): {parse_error}") if parse_error else None
        ),
        next_due_at=now + _jittered(interval, state.id, now, settings.jitter_fraction),
    )
    if result.not_modified:
        return Decision("not_modified", values)
    if result.unchanged:
        return Decision("unchanged", values)
    return Decision("ok", values)


def _adapt_interval(
    state: SourceState,
    items_seen: int,
    items_new: int,
    result: FetchResult,
    settings: CollectorSettings,
) -> int:
    interval = float(state.interval_minutes)
    if items_new == 0 or result.not_modified or result.unchanged:
        interval *= 1.25
    elif state.has_succeeded and items_new > 0.5 * max(items_seen, 1):
        interval *= 0.5
    return int(
        min(max(round(interval), settings.min_interval_minutes), settings.max_interval_minutes)
    )


def _jittered(
    minutes: float, source_id: int, now: datetime, fraction: float, *, up: bool = False
) -> timedelta:
    if fraction <= 0:
        return timedelta(minutes=minutes)
    rng = random.Random(f"{source_id}:{now.isoformat()}")
    factor = rng.uniform(0, fraction) if up else rng.uniform(-fraction, fraction)
    return timedelta(minutes=minutes * (1 + factor))
