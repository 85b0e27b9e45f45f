"""The hourly noise update: aggregate -> collection health -> score, stored. Thin I/O around
the pure stages (engine.aggregate, engine.score).

``update_noise(store, settings, start=..., end=...)`` scores every story at every completed
hour of ``[start, end)``. It recomputes the hourly aggregates and health of the hours the
scores need (``lookback_hours`` before ``start``) from the stored mentions, so running it again,
or after a crash, gives the same rows: it replaces, never adds. (The incremental path of
engine.aggregate, recomputing only the hours new mentions touched, is not wired yet.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pandas as pd

from engine.aggregate import aggregate_hourly, collection_health, overdue_sources
from engine.config import Settings
from engine.schema import GROUP, MENTION, STORY, WHEN
from engine.score import COMPONENTS, ScoreParams, noise_level
from engine.store import Store

log = logging.getLogger("noisecast.noise")

DRIVER_HOURS = 6  # the mentions of the last hours that explain a score
DRIVERS_MAX = 20


@dataclass(frozen=True, slots=True)
class NoiseReport:
    start: datetime
    end: datetime
    stories: int
    hours: int
    scores: int
    unhealthy_hours: int


def floor_hour(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def update_noise(
    store: Store, settings: Settings, *, start: datetime, end: datetime
) -> NoiseReport:
    """Score every active story at each whole hour of ``[start, end)`` and store the scores,
    with the hourly aggregates and collection health they rest on."""
    start, end = floor_hour(start), floor_hour(end)
    params = ScoreParams.from_settings(cast(Any, settings.scoring))  # frozen pydantic model
    since = start - timedelta(hours=params.lookback_hours)
    slugs = [s["slug"] for s in store.list_stories("active")]
    # A day more of mentions places syndicated groups that began before ``since``.
    mention_rows = store.mention_frame(since - timedelta(days=1), end)
    hourly = aggregate_hourly(mention_rows, since, end, slugs)
    fetch_rows, collected, source_rows = store.health_inputs(since, end)
    health = collection_health(
        fetch_rows,
        overdue_sources(source_rows, end),
        collected,
        since,
        end,
        settings.scoring.unhealthy_failed_share,
    )
    targets = list(pd.date_range(start, end, freq="h", inclusive="left"))
    scores = noise_level(hourly, health, params, hours=targets) if slugs and targets else None
    store.write_hourly(hourly, since, end)
    store.write_health(health, since, end)
    rows = _score_rows(scores, mention_rows) if scores is not None else []
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
    rows = mention_rows.sort_values(WHEN, ascending=False).drop_duplicates([STORY, GROUP])
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
