"""Alert messages and their delivery timing: grouping, quiet hours, retry backoff. Pure.

Re-exported by :mod:`noisecast.engine.core.alerts`; import them from there.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from noisecast.engine.core import _alert_words as words
from noisecast.engine.errors import AlertRuleError

if TYPE_CHECKING:
    from noisecast.engine.core.alerts import AlertEvent

__all__ = ["Message", "backoff", "group_messages", "parse_quiet_hours", "quiet_until"]


@dataclass(frozen=True, slots=True)
class Message:
    """What one destination receives for a batch of events (one send)."""

    destination: str
    title: str
    body: str
    keys: tuple[str, ...]  # the events' keys, sorted
    idempotency_key: str  # sha256 of the sorted keys, first 16 hex digits


def group_messages(destination: str, events: Sequence[AlertEvent]) -> Message:
    """One message for ``events``: one event's own words, or "noisecast: 3 alerts" and one line
    each. The same events in any order give the same message; the body ends "ref: <key>"."""
    if not events:
        raise ValueError(f"group_messages: no events for destination {destination!r}")
    ordered = sorted(events, key=lambda e: (_utc(e.hour), e.rule, e.slug, e.kind, e.key))
    keys = tuple(sorted({e.key for e in ordered}))
    ref = hashlib.sha256("\n".join(keys).encode("utf-8")).hexdigest()[:16]
    if len(ordered) == 1:
        only = ordered[0]
        return Message(destination, only.title, words.single(only.text, only.link, ref), keys, ref)
    body = words.several([(e.text, e.link) for e in ordered], ref)
    return Message(destination, words.group([e.title for e in ordered]), body, keys, ref)


_CLOCK = re.compile(r"\s*([01]?\d|2[0-3]):([0-5]\d)\s*")


def parse_quiet_hours(text: str) -> tuple[time, time]:
    """``"22:00-07:00"`` -> (22:00, 07:00): local start and end; may cross midnight."""
    start, sep, end = text.replace("–", "-").partition("-")
    times = []
    for part, pos in ((start, 0), (end, len(start) + 1)):
        m = _CLOCK.fullmatch(part)
        if not sep or m is None:
            raise AlertRuleError(
                f"{text!r} is not a quiet period: expected HH:MM-HH:MM in 24-hour local time, "
                "such as '22:00-07:00'",
                position=pos if sep else len(text),
            )
        times.append(time(int(m.group(1)), int(m.group(2))))
    if times[0] == times[1]:
        raise AlertRuleError(
            f"{text!r}: the quiet period starts and ends at the same time", position=0
        )
    return times[0], times[1]


def quiet_until(quiet_hours: str, timezone: str, at: datetime) -> datetime | None:
    """When the quiet period around ``at`` ends (UTC), or None when ``at`` is outside one.

    The period is local wall-clock time in ``timezone``, so it follows daylight saving time; a
    period ending at a time the clocks skip ends when the clock passes it."""
    if not quiet_hours.strip():
        return None
    start, end = parse_quiet_hours(quiet_hours)
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise AlertRuleError(f"unknown time zone {timezone!r}") from None
    local = _utc(at).astimezone(zone)
    now = local.time().replace(tzinfo=None)
    if start < end:
        inside, day = start <= now < end, local.date()
    else:  # crosses midnight: 22:00-07:00
        inside = now >= start or now < end
        day = local.date() if now < end else local.date() + timedelta(days=1)
    if not inside:
        return None
    ends = _first_instant(datetime.combine(day, end), zone)
    return ends if ends > _utc(at) else _utc(at)


def _first_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first UTC instant at which the local clock in ``zone`` shows ``wall`` or later: the
    earlier one when the clocks go back and show it twice, the moment they jump when they skip
    it (spring forward)."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)  # in a gap: low < jump <= first
    high = first
    while high - low > timedelta(seconds=1):
        mid = low + (high - low) / 2
        if mid.astimezone(zone).replace(tzinfo=None) >= wall:
            high = mid
        else:
            low = mid
    return high.replace(microsecond=0)


def backoff(attempt: int, *, base: float, cap: float) -> timedelta:
    """The wait before retry ``attempt`` (1 = after the first failure): base * 2**(attempt-1),
    at most ``cap`` seconds."""
    if attempt < 1:
        raise ValueError(f"attempt: expected 1 or more, got {attempt}")
    seconds = cap if attempt > 60 else min(cap, base * 2 ** (attempt - 1))
    return timedelta(seconds=max(0.0, seconds))


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
