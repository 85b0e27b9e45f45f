"""DataFrames for analysts: the stored mentions, hourly aggregates, scores and collection
health, filtered by story, time range and source kind. Read-only.

    >>> from noisecast.engine import analysis
    >>> store = analysis.open_store("sqlite:///var/demo.db")
    >>> analysis.scores(store, stories=["port-strike"]).plot(x="as_of", y="score")

Every time column is timezone-aware UTC; ranges are ``[since, until)``; a filter left as None
means "all". ``since`` and ``until`` take anything ``pd.Timestamp`` reads: a datetime, a
``pd.Timestamp``, a string such as ``"2026-11-24"`` or ``"2026-11-24T10:00+01:00"``; a time
without a zone is read as UTC, one with a zone is converted. Column lists are in each
function's docstring.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import TypeAlias

import pandas as pd
from sqlalchemy import func, select

from noisecast.engine.config import load_settings
from noisecast.engine.core.score import COMPONENTS
from noisecast.engine.errors import ConfigError
from noisecast.engine.store import Store
from noisecast.engine.store.tables import mention_time, sources, story_mentions
from noisecast.engine.store.tables import mentions as mentions_table
from noisecast.engine.store.tables import stories as stories_table

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FAR = datetime(9999, 1, 1, tzinfo=UTC)
KINDS = ("rss", "atom", "reddit", "hackernews", "mastodon")

When: TypeAlias = datetime | date | pd.Timestamp | str  # what since/until accept


def open_store(database_url: str | None = None, *, config: str | None = None) -> Store:
    """The store of ``database_url``, else of the config file's ``[database] url``."""
    if database_url:
        return Store.from_url(database_url)
    return Store.open(load_settings(config).database)


def utc_time(value: When | None, name: str = "time") -> datetime | None:
    """``value`` as an aware UTC datetime: anything ``pd.Timestamp`` reads; naive is UTC."""
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{name}: cannot read {value!r} as a time: {e}") from None
    if pd.isna(stamp):
        raise ConfigError(f"{name}: {value!r} is not a time")
    stamp = stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)
    return stamp.to_pydatetime()


def _range(since: When | None, until: When | None) -> tuple[datetime, datetime]:
    return utc_time(since, "since") or _EPOCH, utc_time(until, "until") or _FAR


def _only(frame: pd.DataFrame, column: str, values: Sequence[str] | None) -> pd.DataFrame:
    if values is None:
        return frame
    return frame[frame[column].isin(list(values))].reset_index(drop=True)


def mentions(
    store: Store,
    *,
    stories: Sequence[str] | None = None,
    since: When | None = None,
    until: When | None = None,
    kinds: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per (story, mention): ``story, mention_id, group_id, kind, source, outlet, when,
    title, url, score, comments`` (``when`` is the publication time, else first seen;
    ``group_id`` is shared by syndicated copies)."""
    start, end = _range(since, until)
    when = mention_time()
    query = (
        select(
            stories_table.c.slug.label("story"),
            mentions_table.c.id.label("mention_id"),
            func.coalesce(mentions_table.c.group_id, mentions_table.c.id).label("group_id"),
            mentions_table.c.kind,
            sources.c.name.label("source"),
            mentions_table.c.outlet,
            when.label("when"),
            mentions_table.c.title,
            mentions_table.c.url,
            mentions_table.c.score,
            mentions_table.c.comments,
        )
        .select_from(
            story_mentions.join(stories_table)
            .join(mentions_table)
            .join(sources, sources.c.id == mentions_table.c.source_id)
        )
        .where(when >= start, when < end)
        .order_by(when, mentions_table.c.id)
    )
    with store.reading() as conn:
        rows = conn.execute(query).all()
    columns = ["story", "mention_id", "group_id", "kind", "source", "outlet", "when", "title"]
    frame = pd.DataFrame.from_records(
        [tuple(r) for r in rows], columns=[*columns, "url", "score", "comments"]
    )
    frame["when"] = pd.to_datetime(frame["when"], utc=True)
    return _only(_only(frame, "story", stories), "kind", kinds)


def hourly(
    store: Store,
    *,
    stories: Sequence[str] | None = None,
    since: When | None = None,
    until: When | None = None,
    kinds: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per story and hour: ``story, hour, mentions`` (distinct, syndicated copies
    once), ``outlets`` (distinct outlets and communities), ``engagement``, and
    ``mentions_<kind>`` per source kind. With ``kinds``, ``mentions`` is the sum over those
    kinds only and the other kinds' columns are dropped.

    Every story asked for (default: every story) has a row for every hour of the range, zeros
    where nothing happened (the store keeps only hours with something). An open end of the
    range is taken from the first or last stored hour."""
    start, end = utc_time(since, "since"), utc_time(until, "until")
    stored = store.hourly_frame(*_range(start, end))
    frame = _with_zeros(stored, stories or [s["slug"] for s in store.list_stories()], start, end)
    if kinds is not None:
        keep = [f"mentions_{k}" for k in kinds]
        frame = frame.drop(columns=[f"mentions_{k}" for k in KINDS if k not in kinds])
        frame["mentions"] = frame[keep].sum(axis=1)
    return frame


def _with_zeros(
    stored: pd.DataFrame, stories: Sequence[str], since: datetime | None, until: datetime | None
) -> pd.DataFrame:
    stored = stored[stored["story"].isin(list(stories))]
    if stored.empty and (since is None or until is None):
        return stored.reset_index(drop=True)
    first = pd.Timestamp(since).ceil("h") if since else stored["hour"].min()
    stop = pd.Timestamp(until) if until else stored["hour"].max() + pd.Timedelta(hours=1)
    hours = pd.date_range(first, stop, freq="h", inclusive="left")
    keys = pd.MultiIndex.from_product(
        [sorted(stories), hours.astype(stored["hour"].dtype)], names=["story", "hour"]
    )
    full = stored.set_index(["story", "hour"]).reindex(keys, fill_value=0).reset_index()
    return full.sort_values(["hour", "story"], kind="stable").reset_index(drop=True)


def scores(
    store: Store,
    *,
    stories: Sequence[str] | None = None,
    since: When | None = None,
    until: When | None = None,
) -> pd.DataFrame:
    """One row per story and hour scored: ``story, as_of, score`` (0-100), ``level``,
    ``unhealthy`` (collection was unhealthy that hour), ``<component>_value``,
    ``<component>_norm``, ``<component>_contribution`` for volume, velocity, breadth and
    engagement (contributions sum to the score), and ``mention_ids`` (what drove it)."""
    frame = _only(store.scores_frame(*_range(since, until)), "story", stories)
    for component in COMPONENTS:
        for key, suffix in (
            ("value", "value"),
            ("normalised", "norm"),
            ("contribution", "contribution"),
        ):
            frame[f"{component}_{suffix}"] = [c[component][key] for c in frame["components"]]
    return frame.drop(columns=["components"])


def sources_health(
    store: Store, *, since: When | None = None, until: When | None = None
) -> pd.DataFrame:
    """One row per hour: ``hour, due, fetched, failed`` (sources), ``collected`` (mentions
    first fetched that hour, all stories), ``unhealthy`` (failed share above
    ``scoring.unhealthy_failed_share``, or nothing fetched while something was due)."""
    return store.health_frame(*_range(since, until))
