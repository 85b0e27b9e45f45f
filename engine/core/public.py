"""The reader's view of a story, the pure parts: the **Noise Level** box (the score as a meter,
the level word, the change over 24 hours, a 72-hour sparkline and one line saying what drives
it), the **Forecast** box (the approved text, its range in words and the fixed hedge line) and
the **Timeline** (approved entries, newest first).

No I/O and no clock: ``engine/web/public.py`` reads the Store and passes everything in, so the
same data always gives the same page (the page's ETag is the hash of its bytes). Every word
here is published: plain newsroom English, no setting names or jargon
(``tests/plain_words.py``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from noisecast.engine.core.review import safe_url, sparkline
from noisecast.engine.schema import ENGAGEMENT, GROUP, KIND, LEVELS, OUTLET, SOCIAL_KINDS

__all__ = [
    "HISTORY_HOURS",
    "RECENT_HOURS",
    "Recent",
    "change_words",
    "drives_line",
    "forecast_box",
    "level_class",
    "noise_box",
    "range_words",
    "recent_activity",
    "timeline_items",
    "when_label",
]

HISTORY_HOURS = 72  # the sparkline's span
RECENT_HOURS = 6  # the window "what drives it" counts over
SPARK_WIDTH, SPARK_HEIGHT = 240.0, 40.0

# What each score component is called on the page, and what it counts.
_NAMES = {
    "volume": "volume",
    "breadth": "breadth",
    "engagement": "social engagement",
    "velocity": "pace",
}


def level_class(level: str | None) -> str:
    """The CSS class of a level word: ``level-very-high``; ``level-none`` without a score."""
    if level not in LEVELS:
        return "level-none"
    return "level-" + str(level).lower().replace(" ", "-")


def when_label(value: datetime) -> str:
    """A time as readers read it: ``26 Nov 2026, 14:05 UTC``."""
    return f"{value.day} {value:%b %Y, %H:%M} UTC"


def _plural(count: float, word: str) -> str:
    return f"{count:,.0f} {word}" + ("" if round(count) == 1 else "s")


# --- Noise Level -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recent:
    """What a story collected in its last hours: distinct mentions (a syndicated copy once),
    distinct outlets, and votes and comments on its social posts."""

    mentions: int = 0
    outlets: int = 0
    engagement: float = 0.0
    hours: int = RECENT_HOURS


def recent_activity(frame: pd.DataFrame, hours: int = RECENT_HOURS) -> Recent:
    """:class:`Recent` of one story's mention rows (the columns of ``Store.mention_frame``)
    over the window the caller selected (``hours`` long)."""
    if frame.empty:
        return Recent(hours=hours)
    outlets = {str(o) for o in frame[OUTLET] if isinstance(o, str) and o.strip()}
    social = frame[frame[KIND].isin(SOCIAL_KINDS)]
    return Recent(
        mentions=int(frame[GROUP].nunique()),
        outlets=len(outlets),
        engagement=float(social[ENGAGEMENT].sum()),
        hours=hours,
    )


def _contributions(components: Mapping[str, Any]) -> list[tuple[str, float, float]]:
    """(name, contribution, value) of the known components, largest contribution first."""
    found = []
    for name in _NAMES:
        part = components.get(name)
        if isinstance(part, Mapping):
            contribution = float(part.get("contribution") or 0.0)
            value = float(part.get("value") or 0.0)
            if math.isfinite(contribution) and math.isfinite(value):
                found.append((name, contribution, value))
    return sorted(found, key=lambda c: -c[1])


def drives_line(components: Mapping[str, Any], recent: Recent) -> str:
    """One sentence saying what drives the score, from its largest component: "Mostly
    breadth: 23 outlets in the last 6 hours." ("Led by" when it is under half the score)."""
    span = f"in the last {recent.hours} hours"
    ranked = _contributions(components)
    total = sum(c for _, c, _ in ranked)
    if not ranked or ranked[0][1] <= 0 or total <= 0:
        if recent.mentions == 0:
            return f"Nothing much: no mentions {span}."
        return f"Nothing much: {_plural(recent.mentions, 'mention')} {span}."
    name, contribution, value = ranked[0]
    lead = "Mostly" if contribution >= total / 2 else "Led by"
    if name == "volume":
        said = (
            f"{_plural(recent.mentions, 'mention')} {span}"
            if recent.mentions
            else f"no new mentions {span}, after a busy spell"
        )
    elif name == "breadth":
        said = (
            f"{_plural(recent.outlets, 'outlet')} {span}"
            if recent.outlets
            else f"no new outlets {span}, after many earlier"
        )
    elif name == "engagement":
        what = "vote or comment" if round(recent.engagement) == 1 else "votes and comments"
        said = f"{recent.engagement:,.0f} {what} on social posts {span}"
    else:  # velocity: log2 of the recent rate over the day's
        times = 2.0 ** max(value, 0.0)
        said = (
            f"mentions arriving {times:,.0f} times as fast as over the past day"
            if times >= 1.5
            else "mentions arriving faster than over the past day"
        )
    return f"{lead} {_NAMES[name]}: {said}."


def change_words(now: float | None, before: float | None) -> str:
    """The change of the (displayed, whole-number) score over 24 hours, in words."""
    if now is None or before is None:
        return "No score from 24 hours ago to compare."
    delta = math.floor(now) - math.floor(before)
    if delta == 0:
        return "No change in 24 hours."
    points = "point" if abs(delta) == 1 else "points"
    return f"{'Up' if delta > 0 else 'Down'} {abs(delta)} {points} in 24 hours."


def noise_box(
    score: Mapping[str, Any] | None,
    history: Mapping[datetime, float | None],
    recent: Recent,
) -> dict[str, Any] | None:
    """The Noise Level box. ``score`` is the story's newest score (``as_of``, ``score``,
    ``level``, ``components``; None when it has none yet); ``history`` maps scored hours to
    scores (at least the :data:`HISTORY_HOURS` hours up to ``as_of``, and the hour a day
    before it for the change)."""
    if score is None or score.get("score") is None:
        return None
    as_of: datetime = score["as_of"]
    value = float(score["score"])
    shown = max(0, min(100, math.floor(value)))  # floor: 59.6 is not yet High at 60
    level = str(score["level"])
    hours = [as_of - timedelta(hours=HISTORY_HOURS - 1 - i) for i in range(HISTORY_HOURS)]
    values = [history.get(h) for h in hours]
    values[-1] = value
    seen = [math.floor(v) for v in values if v is not None and math.isfinite(v)]
    return {
        "score": shown,
        "level": level,
        "class": level_class(level),
        "valuetext": f"{shown} out of 100, {level}",
        "change": change_words(value, history.get(as_of - timedelta(hours=24))),
        "drives": drives_line(score.get("components") or {}, recent),
        "as_of": as_of,
        "measured": when_label(as_of + timedelta(hours=1)),
        "spark": sparkline(values, width=SPARK_WIDTH, height=SPARK_HEIGHT),
        "spark_width": SPARK_WIDTH,
        "spark_height": SPARK_HEIGHT,
        "spark_text": (
            f"Noise level over the last {HISTORY_HOURS} hours: "
            f"lowest {min(seen)}, highest {max(seen)}, now {shown}."
        ),
    }


# --- Forecast ----------------------------------------------------------------------------------


def _round_count(value: float) -> int:
    """A count of mentions, whole (as the suggested text rounds it, so the two agree)."""
    return round(max(float(value), 0.0))


def range_words(
    p10: float, p90: float, horizon_hours: int, *, until: datetime | None = None
) -> str:
    """The forecast's range in words: "between 40 and 120 mentions in the next 24 hours".
    ``until``: the forecast's period has ended; say when it ended instead of "next"."""
    lo, hi = _round_count(p10), _round_count(p90)
    if until is not None:
        span = f"in the {horizon_hours} hours to {when_label(until)}"
    else:
        span = "in the next hour" if horizon_hours == 1 else f"in the next {horizon_hours} hours"
    if hi <= 0:
        return f"Few or no mentions {span}."
    if lo >= hi:
        return f"About {_plural(hi, 'mention')} {span}."
    if lo <= 0:
        return f"Up to {_plural(hi, 'mention')} {span}."
    return f"Between {lo:,} and {hi:,} mentions {span}."


def forecast_box(
    forecast: Mapping[str, Any] | None,
    *,
    lead: str,
    close: str,
    observed_until: datetime | None,
) -> dict[str, Any] | None:
    """The Forecast box from the published JSON's ``forecast`` (None: nothing approved).
    ``observed_until``: the end of the story's newest scored hour, to tell a forecast whose
    period has ended (its range then says when it ended). The box always ends with the fixed
    hedge line, so an approved text that closes with the same words shows without them (the
    JSON keeps the approved words as they are)."""
    if forecast is None:
        return None
    as_of = datetime.fromisoformat(forecast["as_of"])
    valid_until = datetime.fromisoformat(forecast["valid_until"])
    ended = observed_until is not None and observed_until >= valid_until
    return {
        "text": _without_close(forecast["text"], close),
        "range": range_words(
            forecast["p10"],
            forecast["p90"],
            int(forecast["horizon_hours"]),
            until=valid_until if ended else None,
        ),
        "hedge": hedge_line(lead, close),
        "made": when_label(as_of),
        "ended": ended,
    }


def _without_close(text: str, close: str) -> str:
    """``text`` without a last sentence equal to ``close``, unless nothing else is left."""
    body, close = text.rstrip(), close.strip()
    if close and body.endswith(close) and body[: -len(close)].strip():
        return body[: -len(close)].rstrip()
    return text


def hedge_line(lead: str, close: str) -> str:
    """The fixed line under every forecast: "Based on current signals. Events may develop
    differently." (the lead and close of ``[review]``)."""
    lead = lead.strip().rstrip(".,;:")
    return " ".join(p for p in (f"{lead}." if lead else "", close.strip()) if p)


# --- Timeline ----------------------------------------------------------------------------------


def timeline_items(entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The published entries (``Store.published_timeline``: ``at``, ``title``, ``text``,
    ``link``, ``kind``), newest first, each with its time as readers read it and its link
    only if it is http(s) (and the link's host, to name it)."""
    items = []
    for e in sorted(entries, key=lambda e: e["at"], reverse=True):
        link = safe_url(e.get("link"))
        host = (urlsplit(link).hostname or "") if link else ""
        items.append(
            {
                "at": e["at"],
                "iso": e["at"].isoformat(),
                "when": when_label(e["at"]),
                "title": str(e["title"]),
                "text": str(e["text"]),
                "link": link,
                "host": host.removeprefix("www."),
                "kind": str(e.get("kind") or ""),
            }
        )
    return items
