"""Reading the Timeline's input frames without raising (:mod:`noisecast.engine.core.timeline`):
rows that cannot be read are left out, feed text loses control characters and is cut to size,
duplicates count once, and the result is sorted so that row order never matters. Pure."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pandas as pd

from noisecast.engine.core.review import safe_url
from noisecast.engine.schema import LEVELS

HEADLINE_MAX = 160
NAME_MAX = 80


class Mention(NamedTuple):
    when: datetime
    id: int | None
    kind: str
    outlet: str
    title: str
    url: str | None
    engagement: float

    def key(self) -> tuple[Any, ...]:
        return (
            self.when,
            self.id is None,
            self.id or 0,
            self.kind,
            self.outlet,
            self.title,
            self.url or "",
            self.engagement,
        )


class Score(NamedTuple):
    hour: datetime
    score: float
    rank: int  # index in LEVELS
    outlets: int | None  # given by the caller, else counted from the mentions


# --- reading odd frames without raising -------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean_text(value: Any, limit: int) -> str:
    """Feed text as one line: control and direction characters dropped, whitespace collapsed,
    cut to ``limit`` characters with an ellipsis."""
    if not isinstance(value, str):
        return ""
    text = " ".join(_CONTROL.sub(" ", value).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def utc(value: Any) -> datetime | None:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if pd.isna(stamp):
        return None
    stamp = stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)
    return stamp.floor("us").to_pydatetime()


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _column(frame: Any, name: str, size: int) -> list[Any]:
    try:
        return list(frame[name]) if name in frame.columns else [None] * size
    except (AttributeError, KeyError, TypeError):
        return [None] * size


def _rows(frame: Any) -> int:
    try:
        return len(frame) if isinstance(frame, pd.DataFrame) else 0
    except TypeError:
        return 0


def read_mentions(frame: Any) -> list[Mention]:
    size = _rows(frame)
    columns = ("mention_id", "when", "kind", "outlet", "title", "url", "engagement")
    out: list[Mention] = []
    for mid, when, kind, outlet, title, url, engagement in zip(
        *(_column(frame, c, size) for c in columns), strict=True
    ):
        at = utc(when)
        if at is None:
            continue
        number = _number(mid)
        out.append(
            Mention(
                when=at,
                id=int(number) if number is not None and number.is_integer() else None,
                kind=kind.strip().lower() if isinstance(kind, str) else "",
                outlet=clean_text(outlet, NAME_MAX),
                title=clean_text(title, HEADLINE_MAX),
                url=safe_url(url),
                engagement=max(0.0, _number(engagement) or 0.0),
            )
        )
    out.sort(key=Mention.key)
    seen: set[int] = set()
    unique = []
    for m in out:  # a mention listed twice counts once (the first of the sorted rows)
        if m.id is not None:
            if m.id in seen:
                continue
            seen.add(m.id)
        unique.append(m)
    return unique


def read_scores(frame: Any) -> list[Score]:
    size = _rows(frame)
    by_hour: dict[datetime, Score] = {}
    for as_of, score, level, outlets in zip(
        *(_column(frame, c, size) for c in ("as_of", "score", "level", "outlets")), strict=True
    ):
        hour, value = utc(as_of), _number(score)
        if hour is None or value is None or not isinstance(level, str) or level not in LEVELS:
            continue
        count = _number(outlets)
        row = Score(hour, value, LEVELS.index(level), None if count is None else int(count))
        old = by_hour.get(hour)  # an hour listed twice: the louder row, whatever the order
        if old is None or (row.score, row.rank, row.outlets or -1) > (
            old.score,
            old.rank,
            old.outlets or -1,
        ):
            by_hour[hour] = row
    return [by_hour[h] for h in sorted(by_hour)]
