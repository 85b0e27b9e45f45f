"""The long-format column names, written down once (like statsforecast's unique_id/ds/y).

Frames cross module boundaries with these columns; :func:`require_columns` checks them at the
edges. Every timestamp column is timezone-aware UTC; ``hour`` values are whole hours.
"""

from __future__ import annotations

from collections.abc import Iterable

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
