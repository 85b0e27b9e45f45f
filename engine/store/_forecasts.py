"""Forecasts, the suggestions editors review, and the model runs that made them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import func, select, update

from noisecast.engine.store._base import StoreBase
from noisecast.engine.store.tables import forecasts, model_runs, stories, story_hourly

PENDING = "pending"
SUPERSEDED = "superseded"  # a newer pending suggestion replaced it before review
UNCHANGED = "unchanged"  # recorded, not put to review: the last suggestion still says the same
REVIEWED = ("approved", "rejected")


def differs(old: dict[str, Any], new: dict[str, Any], min_change: float) -> bool:
    """Whether a new forecast says something materially different from an older suggestion:
    another hedge word, another confidence, or a median that moved by ``min_change`` or more
    on the log1p scale (0.25: about a quarter)."""
    if old["hedge_word"] != new["hedge_word"] or bool(old["low_confidence"]) != bool(
        new["low_confidence"]
    ):
        return True
    return abs(math.log1p(old["p50"]) - math.log1p(new["p50"])) >= min_change


class ForecastsMixin(StoreBase):
    def record_model_run(
        self,
        *,
        version: str,
        model: str,
        trained_at: datetime,
        train_start: datetime | None,
        train_end: datetime | None,
        samples: int,
        metrics: dict[str, Any],
        path: str | None,
        checksum: str | None = None,
    ) -> int:
        """Record a fitted model; ``checksum`` is the sha256 (hex) of the file at ``path``,
        checked before the file is ever loaded (noisecast.engine.jobs.forecasting)."""
        with self.transaction() as conn:
            result = conn.execute(
                model_runs.insert().values(
                    version=version,
                    model=model,
                    trained_at=trained_at,
                    train_start=train_start,
                    train_end=train_end,
                    samples=samples,
                    metrics=metrics,
                    path=path,
                    checksum=checksum,
                )
            )
            key = result.inserted_primary_key
            assert key is not None  # an INSERT of one row always has one
            return int(key[0])

    def latest_model_run(self) -> dict[str, Any] | None:
        with self.reading() as conn:
            row = conn.execute(
                select(model_runs).order_by(model_runs.c.trained_at.desc(), model_runs.c.id.desc())
            ).first()
        return dict(row._mapping) if row else None

    def model_runs_frame(self) -> pd.DataFrame:
        with self.reading() as conn:
            rows = conn.execute(select(model_runs).order_by(model_runs.c.id)).all()
        return pd.DataFrame([dict(r._mapping) for r in rows], columns=list(model_runs.c.keys()))

    def story_starts(self) -> dict[str, datetime]:
        """Each story's first hour with a stored hourly row (its age counts from there)."""
        with self.reading() as conn:
            rows = conn.execute(
                select(stories.c.slug, func.min(story_hourly.c.hour))
                .join(story_hourly, story_hourly.c.story_id == stories.c.id)
                .group_by(stories.c.slug)
            ).all()
        return {slug: first for slug, first in rows if first is not None}

    def write_forecasts(self, rows: Sequence[dict[str, Any]], *, min_change: float) -> int:
        """Store forecasts (keyed by story slug, as_of, horizon); returns how many went to review.

        Each story keeps at most one pending suggestion: a new forecast becomes ``pending`` when
        the story has no suggestion yet or its latest one (pending or reviewed) says something
        materially different (:func:`differs`); an older pending one is then ``superseded``.
        Otherwise it is stored as ``unchanged``, for the record. Writing the same hour again
        replaces that hour's row, so a rerun adds nothing.
        """
        ids = self._story_ids_of([r["story"] for r in rows])
        queued = 0
        with self.transaction() as conn:
            for r in rows:
                story_id = ids.get(r["story"])
                if story_id is None:
                    continue
                values = {k: v for k, v in r.items() if k != "story"}
                before = conn.execute(
                    select(forecasts.c.status).where(
                        forecasts.c.story_id == story_id,
                        forecasts.c.as_of == r["as_of"],
                        forecasts.c.horizon_hours == r["horizon_hours"],
                    )
                ).scalar()
                conn.execute(
                    forecasts.delete().where(
                        forecasts.c.story_id == story_id,
                        forecasts.c.as_of == r["as_of"],
                        forecasts.c.horizon_hours == r["horizon_hours"],
                        forecasts.c.status.in_([PENDING, UNCHANGED, SUPERSEDED]),
                    )
                )
                latest = conn.execute(
                    select(forecasts)
                    .where(
                        forecasts.c.story_id == story_id,
                        forecasts.c.status.in_([PENDING, *REVIEWED]),
                        forecasts.c.as_of <= r["as_of"],
                    )
                    .order_by(forecasts.c.as_of.desc(), forecasts.c.id.desc())
                ).first()
                if latest is not None and latest.as_of == r["as_of"]:
                    continue  # this hour was reviewed already: keep the editor's decision
                status = PENDING
                if latest is not None and not differs(dict(latest._mapping), values, min_change):
                    status = UNCHANGED
                if status == PENDING:
                    queued += before != PENDING  # a rerun of the hour queues nothing new
                    conn.execute(
                        update(forecasts)
                        .where(forecasts.c.story_id == story_id, forecasts.c.status == PENDING)
                        .values(status=SUPERSEDED)
                    )
                conn.execute(forecasts.insert().values(story_id=story_id, status=status, **values))
        return queued

    def forecasts_frame(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        statuses: Sequence[str] | None = None,
        story: str | None = None,
    ) -> pd.DataFrame:
        query = select(stories.c.slug.label("story"), forecasts).join(
            stories, stories.c.id == forecasts.c.story_id
        )
        if since is not None:
            query = query.where(forecasts.c.as_of >= since)
        if until is not None:
            query = query.where(forecasts.c.as_of < until)
        if statuses is not None:
            query = query.where(forecasts.c.status.in_(list(statuses)))
        if story is not None:
            query = query.where(stories.c.slug == story)
        with self.reading() as conn:
            rows = conn.execute(query.order_by(forecasts.c.as_of, stories.c.slug)).all()
        columns = ["story", *forecasts.c.keys()]
        return pd.DataFrame([tuple(r) for r in rows], columns=columns)

    def _story_ids_of(self, slugs: Sequence[str]) -> dict[str, int]:
        with self.reading() as conn:
            return dict(
                conn.execute(
                    select(stories.c.slug, stories.c.id).where(stories.c.slug.in_(set(slugs)))
                ).all()
            )
