"""The hourly noise update: aggregate -> collection health -> score, stored. Thin I/O around
the pure stages (noisecast.engine.core.aggregate, noisecast.engine.core.score).

**Hourly rows, incrementally.** Every write that can alter a story's hourly row (a new match,
a match dropped by rematching, a mention whose time, outlet or engagement changed) logs the
(story, mention, time) in ``noise_changes``, in the transaction that makes the change.
:func:`refresh_hourly` turns the log into the (story, hour) keys it touches
(:func:`noisecast.engine.core.aggregate.touched_hours`, which adds each syndicated group's first
hour), recomputes only those from the stored mentions, and replaces their rows while deleting the
log rows it applied, in one transaction: a crash leaves the log to be applied again, never a gap.
Stored hourly rows are sparse: a (story, hour) without a row counts zero (the analysis API fills
them). ``update_noise(..., rebuild=True)`` recomputes the whole window from the mentions instead;
the two give identical rows (``tests/test_noise_incremental.py``).

**Scores.** ``update_noise(store, settings, start=..., end=...)`` scores every active story at
every completed hour of ``[start, end)`` from the stored hourly rows of the ``lookback_hours``
before, and replaces the scores of those hours: running it again, or after a crash, gives the
same rows. A score records what was known at the time it was computed: mentions that turn up
later for an already scored hour change its hourly row, not its score, unless that hour is
scored again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pandas as pd

from noisecast.engine.config import Settings
from noisecast.engine.core.aggregate import (
    aggregate_hourly,
    collection_health,
    overdue_sources,
    rows_for_update,
    touched_hours,
    update_hourly,
)
from noisecast.engine.core.score import COMPONENTS, ScoreParams, noise_level
from noisecast.engine.schema import GROUP, HOUR, MENTION, MENTION_COLUMNS, STORY, WHEN, floor_hour
from noisecast.engine.store import Store

log = logging.getLogger("noisecast.noise")

DRIVER_HOURS = 6  # the mentions of the last hours that explain a score
DRIVERS_MAX = 20
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class NoiseReport:
    start: datetime
    end: datetime
    stories: int
    hours: int
    scores: int
    unhealthy_hours: int


def refresh_hourly(store: Store) -> int:
    """Apply the change log to the stored hourly rows; returns how many keys were recomputed."""
    changed, applied = store.pending_changes()
    if not applied:
        return 0
    if (
        changed.empty
    ):  # only rows at implausible times (see noisecast.engine.store._noise): drop them
        store.replace_hourly_keys(_no_rows(), _no_rows()[[STORY, HOUR]], applied)
        return 0
    group_rows = store.group_frame(changed[[STORY, GROUP]].drop_duplicates())
    touched = touched_hours(changed, group_rows)
    first, last = touched[HOUR].min(), touched[HOUR].max()
    in_hours = store.mention_frame(
        first.to_pydatetime(),
        (last + pd.Timedelta(hours=1)).to_pydatetime(),
        stories_only=sorted(set(touched[STORY])),
    )
    candidates = pd.concat([in_hours, group_rows], ignore_index=True)
    rows = rows_for_update(candidates, touched)
    rows = pd.concat([rows, store.group_frame(rows[[STORY, GROUP]].drop_duplicates())])
    fresh = update_hourly(_no_rows(), rows, touched)
    store.replace_hourly_keys(fresh, touched, applied)
    log.info(
        "recomputed %d story-hours from %d logged changes",
        len(touched),
        len(applied),
        extra={"job": "aggregate"},
    )
    return len(touched)


def rebuild_hourly(store: Store, since: datetime, end: datetime) -> int:
    """Recompute every story's hourly rows of ``[since, end)`` from the stored mentions."""
    slugs = [s["slug"] for s in store.list_stories()]
    # A day more of mentions places syndicated groups that began before ``since``.
    mention_rows = store.mention_frame(since - timedelta(days=1), end)
    hourly = aggregate_hourly(mention_rows, since, end, slugs)
    return store.write_hourly(hourly, since, end)


def update_noise(
    store: Store, settings: Settings, *, start: datetime, end: datetime, rebuild: bool = False
) -> NoiseReport:
    """Score every active story at each whole hour of ``[start, end)`` and store the scores,
    with the hourly aggregates and collection health they rest on."""
    start, end = floor_hour(start), floor_hour(end)
    params = ScoreParams.from_settings(cast(Any, settings.scoring))  # frozen pydantic model
    since = start - timedelta(hours=params.lookback_hours)
    refresh_hourly(store)
    if rebuild:
        rebuild_hourly(store, since, end)
    hourly, health, slugs = scoring_frames(store, settings, since, end)
    targets = list(pd.date_range(start, end, freq="h", inclusive="left"))
    scores = noise_level(hourly, health, params, hours=targets) if slugs and targets else None
    store.write_health(health, since, end)
    recent = store.mention_frame(start - timedelta(hours=DRIVER_HOURS), end, stories_only=slugs)
    rows = _score_rows(scores, recent) if scores is not None else []
    store.write_scores(rows, [t.to_pydatetime() for t in targets])
    report = NoiseReport(
        start, end, len(slugs), len(targets), len(rows), int(health["unhealthy"].sum())
    )
    log.info(
        "scored %d stories over %d hours (%d unhealthy hours in the window)",
        report.stories,
        report.hours,
        report.unhealthy_hours,
        extra={"job": "score"},
    )
    return report


def scoring_frames(
    store: Store, settings: Settings, since: datetime, end: datetime
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """What scores rest on over ``[since, end)``: the active stories' hourly frame (each story
    from ``since``), the collection health of each hour, and the active stories' slugs."""
    slugs = [s["slug"] for s in store.list_stories("active")]
    hourly = _with_every_story(store.hourly_frame(since, end), slugs, since)
    fetch_rows, collected, source_rows = store.health_inputs(since, end)
    health = collection_health(
        fetch_rows,
        overdue_sources(source_rows, end, since=since),
        collected,
        since,
        end,
        settings.scoring.unhealthy_failed_share,
    )
    return hourly, health, slugs


def _no_mentions() -> pd.DataFrame:
    return pd.DataFrame(columns=list(MENTION_COLUMNS))


def _no_rows() -> pd.DataFrame:
    return aggregate_hourly(_no_mentions(), _EPOCH, _EPOCH, [])


def _with_every_story(hourly: pd.DataFrame, slugs: list[str], since: datetime) -> pd.DataFrame:
    """The active stories' stored (sparse) hourly rows, plus a row of zeros at ``since`` for
    each active story without one: every active story is scored, and every score reads the
    same window whatever rows happen to be stored (a missing row counts zero)."""
    hourly = hourly[hourly[STORY].isin(slugs)]
    first = pd.Timestamp(since)
    have = set(hourly.loc[hourly[HOUR] == first, STORY])
    quiet = sorted(set(slugs) - have)
    if not quiet:
        return hourly.reset_index(drop=True)
    zeros = aggregate_hourly(_no_mentions(), since, since + timedelta(hours=1), quiet)
    return pd.concat([hourly, zeros.astype(hourly.dtypes.to_dict())], ignore_index=True)


def _score_rows(scores: pd.DataFrame, mention_rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Score rows for the store: components as JSON, and the mentions that drove each."""
    drivers = _drivers(scores, mention_rows)
    rows = []
    for r in scores.to_dict("records"):
        as_of = r["as_of"]
        rows.append(
            {
                "story": str(r[STORY]),
                "as_of": as_of.to_pydatetime(),
                "score": float(r["score"]),
                "level": str(r["level"]),
                "unhealthy": bool(r["unhealthy"]),
                "components": {
                    c: {
                        "value": float(r[f"{c}_value"]),
                        "normalised": float(r[f"{c}_norm"]),
                        "contribution": float(r[f"{c}_contribution"]),
                    }
                    for c in COMPONENTS
                },
                "mention_ids": drivers.get((str(r[STORY]), as_of), []),
            }
        )
    return rows


def _drivers(
    scores: pd.DataFrame, mention_rows: pd.DataFrame
) -> dict[tuple[str, pd.Timestamp], list[int]]:
    """Per (story, hour): the newest mentions (one per syndicated group) of the last
    ``DRIVER_HOURS`` hours up to the end of that hour."""
    out: dict[tuple[str, pd.Timestamp], list[int]] = {}
    if mention_rows.empty:
        return out
    rows = mention_rows.sort_values([WHEN, MENTION], ascending=False, kind="stable")
    rows = rows.drop_duplicates([STORY, GROUP])
    by_story = {story: frame for story, frame in rows.groupby(STORY, sort=False)}
    for story, as_of in scores[[STORY, "as_of"]].itertuples(index=False):
        frame = by_story.get(str(story))
        if frame is None:
            continue
        end = as_of + pd.Timedelta(hours=1)
        recent = frame[
            (frame[WHEN] < end) & (frame[WHEN] >= end - pd.Timedelta(hours=DRIVER_HOURS))
        ]
        out[(str(story), as_of)] = [int(i) for i in recent[MENTION].head(DRIVERS_MAX)]
    return out


def score_table(store: Store, as_of: datetime, *, slug: str | None = None) -> list[dict[str, Any]]:
    """The stored scores at ``as_of`` (loudest first), with the change over 24 hours, the
    component that contributes most, and the hour's collection health."""
    day_before = as_of - timedelta(hours=24)
    now = store.scores_frame(as_of, as_of + timedelta(hours=1))
    before = store.scores_frame(day_before, day_before + timedelta(hours=1))
    earlier = {r.story: float(r.score) for r in before.itertuples()}
    health = store.health_frame(as_of, as_of + timedelta(hours=1))
    hour_health = (
        {
            k: (bool(v) if k == "unhealthy" else int(v))
            for k, v in health.iloc[0].items()
            if k != "hour"
        }
        if len(health)
        else {"unhealthy": False}
    )
    rows = []
    for r in now.sort_values("score", ascending=False).itertuples():
        if slug and r.story != slug:
            continue
        components = r.components or {}
        top = max(components, key=lambda c: components[c]["contribution"], default=None)
        rows.append(
            {
                "story": r.story,
                "as_of": as_of.isoformat(),
                "score": round(float(r.score), 2),
                "level": r.level,
                "change_24h": None
                if r.story not in earlier
                else round(float(r.score) - earlier[r.story], 2),
                "top_component": top if top and components[top]["contribution"] > 0 else None,
                "components": components,
                "mention_ids": list(r.mention_ids or []),
                "health": {**hour_health, "unhealthy": bool(r.unhealthy)},
            }
        )
    return rows
