"""Editor review, the pure parts: what an edit may change, what a conflict says, what a
forecast turned out to be, the published JSON of a story, and the geometry of the charts.

No I/O and no clock: the Store (``engine/store/_review.py``) reads and writes, the web app
(``engine/web``) shows, and both pass times in.

**The hedge.** Every suggestion opens with ``review.hedge_lead`` ("Based on current signals")
and ends with ``review.hedge_close`` ("Events may develop differently."). An editor may rewrite
what lies between; only an admin may remove either (:func:`check_edit`). The lead must be a
whole phrase (followed by a space or punctuation) and the close a sentence of its own.

**Conflicts.** An action names the status the editor saw; the Store changes a forecast only
while it is still ``pending`` and says who got there first otherwise (:func:`conflict_message`).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from noisecast.engine.errors import NoisecastError

__all__ = [
    "ACTIONS",
    "ROLES",
    "ReviewConflict",
    "ReviewInputError",
    "check_edit",
    "check_reason",
    "conflict_message",
    "ends_with",
    "history_chart",
    "opens_with",
    "outcome",
    "published_entry",
    "published_story",
    "published_text",
    "safe_url",
    "sparkline",
    "story_view",
    "tick_labels",
]

ACTIONS = ("approve", "edit", "reject")
ROLES = ("editor", "admin")
STATUSES = ("pending", "approved", "rejected", "superseded", "unchanged")
MAX_TEXT = 2000
MAX_REASON = 500


class ReviewConflict(NoisecastError):
    """The suggestion is no longer pending: someone else reviewed it, or a newer hourly run
    replaced it. Nothing was changed."""


class ReviewInputError(NoisecastError, ValueError):
    """An edit or a rejection that cannot be accepted as written; the message says why."""


# What may end the sentence before the close: a stop, then any closing quotes or brackets.
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*$")


def _punctuation_or_space(char: str) -> bool:
    """A space or a punctuation mark, not a connector such as "_" (that joins words)."""
    return char.isspace() or unicodedata.category(char) in ("Pd", "Ps", "Pe", "Pi", "Pf", "Po")


def opens_with(text: str, lead: str) -> bool:
    """Whether ``text`` opens with ``lead`` as a whole phrase: the lead, then a space or a
    punctuation mark ("Based on current signals, ..."; not "Based on current signalsXYZ")."""
    if not text.startswith(lead):
        return False
    rest = text[len(lead) :]
    return not lead or not rest or _punctuation_or_space(rest[0])


def ends_with(text: str, close: str) -> bool:
    """Whether ``text`` ends with ``close`` as a sentence of its own: the exact close, after a
    space that follows the end of the previous sentence ("... Friday. Events may develop
    differently."; not "...XYZEvents may ..." nor "... grow Events may ...")."""
    if not close:
        return True
    if not text.endswith(close):
        return False
    before = text[: len(text) - len(close)]
    if not before:
        return True
    if not _punctuation_or_space(before[-1]) and not _punctuation_or_space(close[0]):
        return False
    if close[0].isupper():  # a sentence: the one before it has ended
        return before[-1].isspace() and bool(_SENTENCE_END.search(before.rstrip()))
    return True


def check_edit(text: str, *, lead: str, close: str, role: str) -> str:
    """The editor's text, trimmed, if it may be published: not empty, not too long, and still
    hedged unless ``role`` is admin: opening with ``lead`` as a whole phrase followed by a space
    or punctuation (:func:`opens_with`), and ending with the exact ``close`` sentence
    (:func:`ends_with`)."""
    text = " ".join(text.split())
    if not text:
        raise ReviewInputError("The edited text is empty: write the forecast, or reject it.")
    if len(text) > MAX_TEXT:
        raise ReviewInputError(
            f"The edited text is {len(text):,} characters long; keep it under {MAX_TEXT:,}."
        )
    if role != "admin":
        missing = [
            f"open with “{lead}” followed by a space or punctuation"
            if not opens_with(text, lead)
            else "",
            f"end with the sentence “{close}”" if not ends_with(text, close) else "",
        ]
        missing = [m for m in missing if m]
        if missing:
            raise ReviewInputError(
                f"The edited text must still {' and '.join(missing)}: "
                "only an admin may remove the hedge."
            )
    return text


def check_reason(reason: str) -> str:
    """A rejection's reason, trimmed: required, and short."""
    reason = " ".join(reason.split())
    if not reason:
        raise ReviewInputError("Say why you reject the suggestion: the reason is required.")
    if len(reason) > MAX_REASON:
        raise ReviewInputError(f"Keep the reason under {MAX_REASON} characters.")
    return reason


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "an unknown time"


def conflict_message(current: Mapping[str, Any] | None, *, seen_status: str) -> str:
    """Why an action on a suggestion was refused. ``current`` is the forecast row as it is now
    (None: it no longer exists), with ``newer_id``/``newer_as_of`` of the story's pending
    suggestion if another one is pending."""
    if current is None:
        return (
            "This suggestion no longer exists: a rerun of its hourly forecast replaced it. "
            "Nothing was changed; open the queue for the current suggestion."
        )
    status = current["status"]
    if status in ("approved", "rejected"):
        return (
            f"This suggestion was already {status} by {current.get('reviewer') or 'someone'} "
            f"at {_when(current.get('reviewed_at'))}. Nothing was changed."
        )
    if status == "superseded":
        newer = current.get("newer_as_of")
        where = f" (the forecast of {_when(newer)})" if newer else ""
        return (
            f"A newer hourly forecast replaced this suggestion{where} while you were "
            "reviewing it. Nothing was changed; review the newer suggestion instead."
        )
    if status == "pending":  # the form said otherwise: a stale page
        return (
            f"You saw this suggestion as {seen_status!r}, but it is pending: reload the page "
            "and review it again. Nothing was changed."
        )
    return f"This suggestion is {status} and cannot be reviewed. Nothing was changed."


def safe_url(url: object) -> str | None:
    """The URL if it may be rendered as a link: http(s) with a host, nothing else."""
    if not isinstance(url, str):
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if any(c in url for c in "\x00\r\n\t"):
        return None
    return url


# --- what happened after a forecast ------------------------------------------------------------


def outcome(
    forecast: Mapping[str, Any],
    counts: Mapping[datetime, int],
    observed_until: datetime | None,
) -> dict[str, Any]:
    """What actually happened over a forecast's horizon: the sum of the story's hourly mentions
    in ``[as_of, as_of + horizon)``, counted up to ``observed_until`` (the end of the last
    scored hour). ``counts`` maps hours to mentions (a missing hour counts zero).

    Returns ``actual``, ``hours_observed``, ``complete`` and, once complete, ``within`` (inside
    p10-p90) and ``rose`` (above the current rate times the horizon, what "rising" means)."""
    start = forecast["as_of"]
    horizon = int(forecast["horizon_hours"])
    end = start + timedelta(hours=horizon)
    stop = end if observed_until is None else min(end, observed_until)
    seen = max(0, int((stop - start).total_seconds() // 3600))
    actual = sum(int(counts.get(start + timedelta(hours=h), 0)) for h in range(seen))
    complete = seen >= horizon
    result: dict[str, Any] = {
        "actual": actual if seen else None,
        "hours_observed": seen,
        "complete": complete,
        "within": None,
        "rose": None,
    }
    if complete:
        result["within"] = bool(forecast["p10"] <= actual <= forecast["p90"])
        rate = forecast.get("current_rate")
        if rate is not None and not math.isnan(float(rate)):
            result["rose"] = bool(actual > float(rate) * horizon)
    return result


# --- the published JSON ------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# A suggestion written before issue 11 carried the editor's reason into its text ("Confidence
# in this forecast is low: ... forecast.min_training_series)."): published as the plain sentence.
_OLD_LOW_CONFIDENCE = re.compile(r" Confidence in this forecast is low(?::.*?)?\.(?= |$)")


def published_text(row: Mapping[str, Any]) -> str:
    """The text a story page shows: the editor's own words, or the suggestion as made (one
    made before issue 11 with its low-confidence reason replaced by the plain sentence)."""
    if row["forecast_final_text"] is not None:
        return str(row["forecast_final_text"])
    text = str(row["forecast_suggested_text"])
    return _OLD_LOW_CONFIDENCE.sub(" Confidence is low.", text, count=1)


def published_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A published Timeline entry as the JSON carries it: ``at`` (ISO), ``title``, ``text``,
    ``link`` (only an http(s) URL, else null) and ``kind``."""
    return {
        "at": _iso(entry["at"]),
        "title": str(entry["title"]),
        "text": str(entry["text"]),
        "link": safe_url(entry.get("link")),
        "kind": str(entry["kind"]),
    }


def published_story(
    row: Mapping[str, Any], *, hedge: str, timeline: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """The JSON a story page reads: its current noise level, its latest approved forecast and
    its published Timeline.

    ``row`` is one of :meth:`Store.published_rows`: the story, its latest score
    (``score``, ``level``, ``score_as_of``) and its latest approved forecast (``forecast_*``
    keys, None when nothing is approved). ``timeline`` is the story's
    :meth:`Store.published_timeline` (approved entries only), shown newest first. ``updated``
    is the later of the score's hour end and the approval."""
    score_end = row["score_as_of"] + timedelta(hours=1) if row.get("score_as_of") else None
    forecast = None
    if row.get("forecast_id") is not None:
        as_of = row["forecast_as_of"]
        horizon = int(row["forecast_horizon_hours"])
        forecast = {
            "text": published_text(row),
            "edited": row["forecast_final_text"] is not None,
            "p10": float(row["forecast_p10"]),
            "p50": round(float(row["forecast_p50"]), 2),
            "p90": float(row["forecast_p90"]),
            "prob_rising": None
            if row["forecast_prob_rising"] is None
            else round(float(row["forecast_prob_rising"]), 4),
            "says": row["forecast_hedge_word"],
            "low_confidence": bool(row["forecast_low_confidence"]),
            "horizon_hours": horizon,
            "as_of": _iso(as_of),
            "valid_until": _iso(as_of + timedelta(hours=horizon)),
            "approved_at": _iso(row["forecast_reviewed_at"]),
        }
    times = [t for t in (score_end, row.get("forecast_reviewed_at")) if t is not None]
    return {
        "slug": row["slug"],
        "title": row["title"],
        "level": row.get("level"),
        "score": None if row.get("score") is None else round(float(row["score"]), 1),
        "score_as_of": _iso(row.get("score_as_of")),
        "updated": _iso(max(times)) if times else None,
        "hedge": hedge,
        "forecast": forecast,
        "timeline": [
            published_entry(e) for e in sorted(timeline, key=lambda e: e["at"], reverse=True)
        ],
    }


# --- charts (inline SVG, drawn by the templates) -----------------------------------------------


def _segments(points: Sequence[tuple[float, float] | None]) -> list[str]:
    """SVG polyline ``points`` strings, one per run of points without a gap."""
    runs: list[list[tuple[float, float]]] = [[]]
    for p in points:
        if p is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(p)
    return [" ".join(f"{x:.1f},{y:.1f}" for x, y in run) for run in runs if run]


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def sparkline(
    values: Sequence[float | None], *, width: float = 120, height: float = 28, top: float = 100
) -> list[str]:
    """Polyline point strings for a small line of ``values`` (0..``top``), oldest first; a
    missing value leaves a gap."""
    n = len(values)
    if n == 0:
        return []
    step = width / max(n - 1, 1)
    pad = 1.5
    points = [
        None
        if _missing(v)
        else (
            i * step,
            pad + (height - 2 * pad) * (1 - min(max(float(v or 0) / top, 0.0), 1.0)),
        )
        for i, v in enumerate(values)
    ]
    return _segments(points)


@dataclass(frozen=True, slots=True)
class Box:
    x: float
    y: float
    w: float
    h: float
    label: str = ""


def _nice_top(value: float) -> float:
    """A round axis maximum at or above ``value``: 1, 2, 2.5 or 5 times a power of ten, and
    at least 0.01 (a rate of mentions per hour)."""
    if value <= 0:
        return 1.0
    value = max(value, 0.01)
    k = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        # divide by 10**-k rather than multiply by 10**k: 2.5 * 0.1 is not 0.25 in floats
        top = step * 10**k if k >= 0 else step / 10**-k
        if top >= value:
            return float(top)
    return float(10 ** (k + 1))


def tick_labels(values: Sequence[float], step: float) -> list[str]:
    """Axis labels of ``values`` spaced ``step`` apart, all with the decimals the step needs
    (a step of 1.25 prints 0.00, 1.25, 2.50; of 50, 0, 50, 100), thousands separated."""
    decimals = 0
    while decimals < 12:
        scaled = abs(step) * 10**decimals
        if abs(scaled - round(scaled)) <= 1e-9 * max(scaled, 1.0):
            break
        decimals += 1
    return [f"{v:,.{decimals}f}" for v in values]


def history_chart(
    hours: Sequence[datetime],
    mentions: Sequence[int],
    scores: Sequence[float | None],
    forecast: Mapping[str, Any] | None = None,
    *,
    width: float = 720,
    height: float = 220,
) -> dict[str, Any]:
    """The story view's chart: mentions per hour as bars (left axis), the score as a line
    (right axis, 0-100), and the forecast ahead as a band of p10..p90 spread evenly over its
    horizon (hourly rates) with the median as a line. Coordinates are SVG user units."""
    left, right, top_pad, bottom = 44.0, 40.0, 10.0, 26.0
    horizon = int(forecast["horizon_hours"]) if forecast else 0
    slots = len(hours) + horizon
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    slot = plot_w / max(slots, 1)
    peak = float(max([*mentions, 0]))
    if forecast:  # the median shows; a wide interval is cut at the top rather than flatten all
        peak = max(peak, float(forecast["p50"]) / max(horizon, 1))
    ymax = _nice_top(peak * 1.15)

    def y_of(count: float) -> float:
        return top_pad + plot_h * (1 - min(count / ymax, 1.0))

    def y_score(score: float) -> float:
        return top_pad + plot_h * (1 - min(max(score / 100.0, 0.0), 1.0))

    bars = [
        Box(
            left + i * slot + slot * 0.1,
            y_of(m),
            slot * 0.8,
            top_pad + plot_h - y_of(m),
            f"{h:%a %H:00} UTC: {m} mentions",
        )
        for i, (h, m) in enumerate(zip(hours, mentions, strict=True))
        if m > 0
    ]
    score_points = [
        None if _missing(s) else (left + (i + 0.5) * slot, y_score(float(s or 0)))
        for i, s in enumerate(scores)
    ]
    band = median = None
    clipped = ""
    if forecast and horizon:
        x0 = left + len(hours) * slot
        lo, hi = float(forecast["p10"]) / horizon, float(forecast["p90"]) / horizon
        band = Box(
            x0,
            y_of(hi),
            horizon * slot,
            y_of(lo) - y_of(hi),
            f"forecast, next {horizon} h: {forecast['p10']:,.0f}-{forecast['p90']:,.0f} mentions "
            f"(about {lo:,.1f}-{hi:,.1f} an hour)",
        )
        if hi > ymax:
            clipped = f"{hi:,.0f}"
        mid = float(forecast["p50"]) / horizon
        median = (x0, y_of(mid), x0 + horizon * slot)
    y_values = [0.0, ymax / 2, ymax]
    days = [
        (left + i * slot, f"{h:%a %d %b}")
        for i, h in enumerate(hours)
        if h.hour == 0 and i < len(hours)
    ]
    return {
        "width": width,
        "height": height,
        "plot": Box(left, top_pad, plot_w, plot_h),
        "bars": bars,
        "score": _segments(score_points),
        "band": band,
        "band_clipped": clipped,
        "median": median,
        "now_x": left + len(hours) * slot,
        "y_ticks": [
            (y_of(v), label)
            for v, label in zip(y_values, tick_labels(y_values, ymax / 2), strict=True)
        ],
        "score_ticks": [(y_score(v), f"{v:.0f}") for v in (0, 50, 100)],
        "days": days,
    }


# --- the story view ----------------------------------------------------------------------------


def story_view(data: Mapping[str, Any]) -> dict[str, Any]:
    """The story page from :meth:`Store.story_review`: the chart (the newest forecast that
    is not rejected drawn ahead of the last scored hour), each forecast with what happened
    after it (:func:`outcome`), the newest approved one (what is published, if it is among
    them), and the components of the newest score, largest first."""
    until = data["observed_until"]
    made = list(data["forecasts"])
    ahead = next((f for f in made if f["status"] not in ("rejected", "superseded")), None)
    chart = history_chart(data["hours"], data["mentions"], data["scores"], ahead)
    current = data["current"]
    components = []
    if current:
        components = sorted(
            (
                {"name": name, **values}
                for name, values in (current["components"] or {}).items()
                if isinstance(values, Mapping)
            ),
            key=lambda c: -float(c.get("contribution", 0.0)),
        )
    return {
        **data,
        "chart": chart,
        "ahead": ahead,
        "components": components,
        "forecasts": [{**f, "outcome": outcome(f, data["counts"], until)} for f in made],
        "pending": [f for f in made if f["status"] == "pending"],
        "published": next((f for f in made if f["status"] == "approved"), None),
    }
