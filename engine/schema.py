"""The long-format column names, written down once (like statsforecast's unique_id/ds/y).

Frames cross module boundaries with these columns; :func:`require_columns` checks them at the
edges. Every timestamp column is timezone-aware UTC; ``hour`` values are whole hours.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import pandas as pd

# A mention as the pure stages see it (one row per story it matched).
STORY = "story"  # the story's slug
MENTION = "mention_id"
GROUP = "group_id"  # syndicated copies share it; count distinct groups, not rows
KIND = "kind"  # rss | atom | reddit | hackernews | mastodon
OUTLET = "outlet"  # publisher host, or community (r/worldnews, news.ycombinator.com, instance)
WHEN = "when"  # published, else first seen
ENGAGEMENT = "engagement"  # score + comments (social); 0 for web mentions

# Hourly aggregates per story (``story_hourly``).
HOUR = "hour"
MENTIONS = "mentions"  # distinct groups that hour
OUTLETS = "outlets"  # distinct outlets and communities that hour

# Collection health per hour.
DUE = "due"
FETCHED = "fetched"
FAILED = "failed"
COLLECTED = "collected"  # distinct mentions collected that hour, all stories together
UNHEALTHY = "unhealthy"

# Scores.
AS_OF = "as_of"
SCORE = "score"
LEVEL = "level"
COMPONENTS = (
    "volume",
    "velocity",
    "breadth",
    "engagement",
)  # each has _value, _norm, _contribution
LEVELS = ("Quiet", "Low", "Moderate", "High", "Very high")
LEVEL_DTYPE = pd.CategoricalDtype(list(LEVELS), ordered=True)

MENTION_COLUMNS = (STORY, MENTION, GROUP, KIND, OUTLET, WHEN, ENGAGEMENT)
HOURLY_COLUMNS = (STORY, HOUR, MENTIONS, OUTLETS, ENGAGEMENT)
HEALTH_COLUMNS = (HOUR, DUE, FETCHED, FAILED, COLLECTED, UNHEALTHY)

WEB_KINDS = ("rss", "atom")
SOCIAL_KINDS = ("reddit", "hackernews", "mastodon")


def require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise ValueError naming the frame and the missing columns."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {', '.join(missing)}")


# Attention series for forecasting, in statsforecast's long format (``unique_id, ds, y``):
# one row per series and hour, ``value`` = NEW attention that hour (a whole number); an empty
# value means the hour was not observed, never zero. Optional covariates: ``outlets``,
# ``engagement`` (:data:`COVARIATES`), used as features when present.
SERIES = "series"
TS = "ts"  # start of the hour, tz-aware UTC
VALUE = "value"
SERIES_COLUMNS = (SERIES, TS, VALUE)
COVARIATES = (OUTLETS, ENGAGEMENT)

# Forecasts: one row per series and origin.
ORIGIN = "origin"  # hours since the series' first row; the forecast saw rows with ts < cutoff
CUTOFF = "cutoff"  # first ts + origin hours
P10 = "p10"
P50 = "p50"
P90 = "p90"
P_RISING = "p_rising"  # P(next-horizon total > current rate x horizon)
MODEL = "model"
LOW_CONFIDENCE = "low_confidence"
REASON = "reason"
FORECAST_COLUMNS = (SERIES, ORIGIN, CUTOFF, P10, P50, P90, P_RISING, LOW_CONFIDENCE, REASON, MODEL)


def floor_hour(when: datetime) -> datetime:
    """The start of ``when``'s hour, in UTC (``when`` must be timezone-aware)."""
    return when.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
