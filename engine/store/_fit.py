"""What is stored of what came from outside: every value fitted to its column, so that no
number, date or text a hostile or broken source sends can make a write fail.

- **Counts** (score, comments) are clamped to ``0..COUNT_MAX``, half the BIGINT range, so that
  ``score + comments``, which readers add in SQL, still fits; a body's size to
  ``0..BIGINT_MAX``; the other numbers of a ``fetches`` row to ``0..INT_MAX``.
- **Text** loses the NUL bytes and lone surrogates that PostgreSQL (or UTF-8) cannot store;
  error text from outside goes through :func:`noisecast.feeds.text.printable` (no terminal escapes).
- **A mention's time is never in the future.** An item dated later than when it was first seen
  (beyond ``FUTURE_SKEW``, for clocks a little ahead), or before 1970, is stored at its
  first-seen time, counted in the hour it arrived, and the date its feed stated is kept in
  ``stated_published_at``. First seen stays first seen: a re-fetch compares with the stored
  ``fetched_at``, so the same item never moves forward, and a feed that corrects its date
  moves it (the change log names the old hour and the new one).
- Times outside ``EARLIEST_TIME..LATEST_TIME`` already stored (by a version that did not clamp,
  or by hand) are ignored by the hourly reads (``noisecast.engine.store._noise``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from noisecast.feeds.mention import Mention
from noisecast.feeds.text import printable

BIGINT_MAX = 2**63 - 1  # a BIGINT column's largest value (SQLite's INTEGER too)
COUNT_MAX = 2**62 - 1  # a stored score or comment count: two of them still add up in a BIGINT
INT_MAX = 2**31 - 1  # a 32-bit INTEGER column's largest value (PostgreSQL)
# The times a mention can plausibly have. One stored outside them (by a version that did not
# clamp, or by hand) is ignored when the hourly rows are computed: no hour arithmetic on it.
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(2200, 1, 1, tzinfo=UTC)
# How far after its first-seen time an item's stated date may be before it counts as from the
# future (a feed's clock a little ahead, a fetch that took a while).
FUTURE_SKEW = timedelta(minutes=10)


def clamp_count(value: Any, top: int = COUNT_MAX) -> int | None:
    """A count as it is stored: an integer in ``0..top``; None for none, or for a NaN or
    something that is not a number."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and math.isinf(value):
        return top if value > 0 else 0
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return min(max(number, 0), top)


def storable_text(value: str | None) -> str | None:
    """Text the database can hold: without NUL bytes (PostgreSQL refuses them) and with lone
    surrogates (which UTF-8 cannot encode; JSON's ``\\ud800`` makes one) replaced."""
    if value is None:
        return None
    if "\x00" in value:
        value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


@dataclass(frozen=True, slots=True)
class Stored:
    """What a known mention held before this collection, as far as the hourly rows care."""

    score: int | None
    comments: int | None
    published_at: datetime | None
    fetched_at: datetime
    outlet: str | None
    stated_published_at: datetime | None

    @property
    def when(self) -> datetime:
        return self.published_at or self.fetched_at


def fitted(m: Mention, old: Stored | None, now: datetime) -> tuple[Mention, datetime | None]:
    """The mention as it is stored, and the date its feed stated when that was clamped.

    Its time is clamped to when it was first seen (``old.fetched_at``, else ``now``) when it
    is later than that by more than ``FUTURE_SKEW``, or before 1970; an undated re-fetch keeps
    the stored time and stated date. Counts are clamped to ``0..COUNT_MAX``; text loses what
    the database cannot hold (the external id is left alone: it is the key).
    """
    first_seen = old.fetched_at if old is not None else now
    published: datetime | None
    stated: datetime | None
    if m.published_at is not None:
        published, stated = m.published_at, None
    elif old is not None:
        published, stated = old.published_at, old.stated_published_at
    else:
        published, stated = None, None
    if published is not None and not EARLIEST_TIME <= published <= first_seen + FUTURE_SKEW:
        published, stated = first_seen, stated or published
    values: dict[str, Any] = {
        "published_at": published,
        "score": clamp_count(m.score),
        "comments": clamp_count(m.comments),
        "title": storable_text(m.title) or "",
        "summary": storable_text(m.summary) or "",
        "url": storable_text(m.url),
        "canonical_url": storable_text(m.canonical_url),
        "link_url": storable_text(m.link_url),
        "author": storable_text(m.author),
        "outlet": storable_text(m.outlet),
    }
    changed = {k: v for k, v in values.items() if getattr(m, k) != v}
    return (replace(m, **changed) if changed else m), stated


def fitted_fetch(row: dict[str, Any]) -> dict[str, Any]:
    """A ``fetches`` row with its numbers fitted to their columns."""
    return {
        **row,
        "bytes": clamp_count(row["bytes"], BIGINT_MAX),
        "http_status": clamp_count(row["http_status"], INT_MAX),
        "duration_ms": clamp_count(row["duration_ms"], INT_MAX),
        "items_seen": clamp_count(row["items_seen"], INT_MAX),
        "items_new": clamp_count(row["items_new"], INT_MAX),
        "error": printable_text(row["error"]),
    }


def printable_text(text: str | None) -> str | None:
    """Text from outside (an error quoting a server) without control characters."""
    return None if text is None else storable_text(printable(text))
