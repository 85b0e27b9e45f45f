"""Dates from outside, read without guessing: a date is what the text says, or None.

feedparser's date handlers fill what a text leaves out from the wall clock: its ISO 8601 handler
reads ``2020/1/10 14:33:00`` as the year 2020 alone and takes the month (and, for year-less
forms, the year, and for two-digit years the century) from today, so the same feed gave
2020-11-01 in November and 2020-12-01 in December. Three rules here keep that out:

1. Numeric year-first dates (``2020/1/10 14:33:00``, ``2020.01.10``, ``2020-1-10T14:33Z``) are
   read by our own pattern: year, month and day as written, an optional time and zone (none
   means UTC).
2. A text that starts with numbers that are not a whole year-month-day (``2020``, ``2020-05``,
   ``2020-123``, ``--05-10``, ``1/10/2020``) is refused before any handler sees it: the
   handlers would invent the missing day or month (W3C-DTF and ISO 8601 take the 1st, or read
   a prefix and drop the rest), or guess which number is the month.
3. Every other text goes through feedparser's handlers in feedparser's order, each run twice
   under two frozen clocks that differ in century, year, month and day (each run a copy of
   the handler whose ``time`` is a fixed stand-in, so no global is patched and threads are
   safe; ``mktime``/``localtime`` are UTC there, so the machine's time zone cannot leak in
   either). A handler whose two results differ took something from the clock: its reading is
   refused and the next handler is tried. This catches any handler, today's and future ones,
   that reads the clock, without knowing which fields it fills.

Any result outside [1990-01-01, 2100-01-01) is refused too (:func:`plausible`): a 9999-12-31
date is junk, and one that far out breaks hour arithmetic downstream.
"""

from __future__ import annotations

import calendar
import re
import time
import types
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from time import struct_time
from typing import Any

import feedparser.datetimes

EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)  # exclusive
MAX_DATE_TEXT = 200  # longer "dates" are not dates; no handler needs to see them

Handler = Callable[[str], Any]


def plausible(value: datetime | None) -> datetime | None:
    """``value`` if it lies in [1990-01-01, 2100-01-01) UTC, else None. Naive means UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value if EARLIEST <= value < LATEST else None


def from_timestamp(value: object) -> datetime | None:
    """Epoch seconds (an int or a finite float, not a bool) as aware UTC, if plausible."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return plausible(datetime.fromtimestamp(value, UTC).replace(microsecond=0))
    except (OverflowError, OSError, ValueError):  # NaN, infinity, out of range
        return None


def from_struct(value: Any) -> datetime | None:
    """A UTC ``struct_time`` (or 9-tuple, feedparser's ``*_parsed``) as aware UTC, if plausible."""
    try:
        year, month, day, hour, minute, second = value[:6]
        return plausible(datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC))
    except (TypeError, ValueError, OverflowError):
        return None


def from_iso(value: object) -> datetime | None:
    """An ISO 8601 text as aware UTC (naive means UTC), whole seconds, if plausible."""
    if not isinstance(value, str) or not value or len(value) > MAX_DATE_TEXT:
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, OverflowError):
        return None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return plausible(when.replace(microsecond=0))


# --- rule 1: numeric year-first dates -----------------------------------------------------------

_RE_YMD = re.compile(
    r"(?P<y>\d{4})(?P<sep>[/.-])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})"
    r"(?:(?:T|\s+)(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?)?"
    r"\s*(?P<tz>Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?",
    re.I,
)


def _numeric_date(text: str) -> datetime | None:
    match = _RE_YMD.fullmatch(text)
    if match is None:
        return None
    g = match.groupdict()
    offset = timedelta(0)
    zone = (g["tz"] or "").upper()
    if zone[:1] in ("+", "-"):
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        offset = -offset if zone[0] == "-" else offset
    try:
        local = datetime(
            int(g["y"]), int(g["m"]), int(g["d"]),
            int(g["H"] or 0), int(g["M"] or 0), int(g["S"] or 0),
            tzinfo=timezone(offset),
        )  # fmt: skip
    except ValueError:  # 2020/13/45, 25:00, an offset of a day or more
        return None
    return plausible(local.astimezone(UTC))


# --- rule 2: numeric dates that leave out the day or the month ----------------------------------

_RE_LEAD = re.compile(r"[+-]*[\d/.-]+")  # the numeric run a text starts with
_RE_FULL_DATE = re.compile(r"\d{4}([-/.]?)\d{2}\1\d{2}")  # 2020-01-10, 20200110
_RE_DAY_NUMBER = re.compile(r"\d{1,2}")  # "06" of "06 Sep 2010", "14" of "14:33" (rule 3)
_RE_YEAR_BEFORE_NAME = re.compile(r"\d{4}[-/.]?")  # "2004-" of "2004-július-13"


def _leaves_out_day_or_month(text: str) -> bool:
    """True when ``text`` starts with numbers that are not a whole year-month-day: ``2020``,
    ``2020-05``, ``2020-123``, ``--05-10``, ``1/10/2020`` (which order?), ``03-12-25``."""
    lead = _RE_LEAD.match(text)
    if lead is None:
        return False
    token, rest = lead.group(), text[lead.end() :]
    if _RE_FULL_DATE.fullmatch(token) or _RE_DAY_NUMBER.fullmatch(token):
        return False
    return not (_RE_YEAR_BEFORE_NAME.fullmatch(token) and rest[:1].isalpha())


# --- rule 3: feedparser's handlers under two frozen clocks --------------------------------------


class _FrozenClock:
    """Stands in for the ``time`` module inside a copy of a date handler: ``gmtime()`` is a
    fixed instant and local time is UTC. Anything else is the real module's."""

    def __init__(self, instant: datetime) -> None:
        self._now = instant.timestamp()

    def time(self) -> float:
        return self._now

    def gmtime(self, secs: float | None = None) -> struct_time:
        return time.gmtime(self._now if secs is None else secs)

    localtime = gmtime

    def mktime(self, value: Sequence[int]) -> float:
        return float(calendar.timegm(tuple(value)))  # out-of-range months raise ValueError

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


# Different century, year, month, day and time of day: a field read from either shows.
_CLOCKS = (
    _FrozenClock(datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)),
    _FrozenClock(datetime(2102, 11, 27, 21, 42, 53, tzinfo=UTC)),
)


def _under(handler: Handler, clock: _FrozenClock) -> Handler:
    """A copy of ``handler`` that sees ``clock`` as its module's ``time``. A handler whose
    module does not import ``time`` reads no clock and is returned as it is (handlers that
    delegate to another module's handler, as the Greek one does to RFC 822's, delegate to
    clock-free ones)."""
    module_globals = getattr(handler, "__globals__", None)
    code = getattr(handler, "__code__", None)
    if not isinstance(module_globals, dict) or code is None or "time" not in module_globals:
        return handler
    return types.FunctionType(
        code,
        {**module_globals, "time": clock},
        handler.__name__,
        handler.__defaults__,  # type: ignore[attr-defined]
        handler.__closure__,  # type: ignore[attr-defined]
    )


@lru_cache(maxsize=1)
def _handler_pairs() -> tuple[tuple[Handler, Handler], ...]:
    handlers: list[Handler] = list(feedparser.datetimes._date_handlers)
    return tuple((_under(h, _CLOCKS[0]), _under(h, _CLOCKS[1])) for h in handlers)


def _run(handler: Handler, text: str) -> tuple[int, ...] | None:
    try:
        result = handler(text)
    except Exception:  # the handlers raise on odd input; feedparser swallows the same
        return None
    if not result or len(result) != 9:
        return None
    return tuple(result[:6])


def parse_date(text: object) -> datetime | None:
    """A date text as aware UTC, read as feedparser reads it (its many formats and
    languages) but never with a field taken from the clock, and only if plausible."""
    if not isinstance(text, str):
        return None
    text = text.strip()
    if not text or len(text) > MAX_DATE_TEXT:
        return None
    if _RE_YMD.fullmatch(text):
        return _numeric_date(text)
    if _leaves_out_day_or_month(text):
        return None
    for first, second in _handler_pairs():
        reading = _run(first, text)
        if reading is None:
            continue
        if _run(second, text) != reading:
            continue  # the clock filled a field: not what the text says
        return from_struct(reading)
    return None
