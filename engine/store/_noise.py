"""The noise-level stages' reads and writes, as pandas frames in the columns of
noisecast.engine.schema.

Mention times outside ``EARLIEST_TIME..LATEST_TIME`` (noisecast.engine.store._fit) are never read
here: a row left by a version that did not clamp, or by hand, is ignored rather than computed with,
so it cannot stop the hourly update or a rebuild. Change-log rows at such times are deleted
unapplied.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Float, and_, cast, delete, func, select

from noisecast.engine.schema import (
    ENGAGEMENT,
    GROUP,
    HOUR,
    KIND,
    MENTION,
    OUTLET,
    STORY,
    WHEN,
)
from noisecast.engine.store._base import StoreBase
from noisecast.engine.store._fit import EARLIEST_TIME, LATEST_TIME
from noisecast.engine.store.tables import (
    collection_health,
    fetches,
    mention_time,
    mentions,
    noise_changes,
    noise_scores,
    sources,
    stories,
    story_hourly,
    story_mentions,
)

_KINDS = ("rss", "atom", "reddit", "hackernews", "mastodon")


def _frame(rows: Sequence[Any], columns: Sequence[str], times: Sequence[str] = ()) -> pd.DataFrame:
    frame = pd.DataFrame.from_records([tuple(r) for r in rows], columns=list(columns))
    for column in times:
        frame[column] = pd.to_datetime(frame[column], utc=True).astype("datetime64[us, UTC]")
    return frame


def _py(value: Any) -> Any:
    """A pandas/numpy scalar as the plain Python value the driver expects."""
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value.item() if hasattr(value, "item") else value


def _hourly_rows(hourly: pd.DataFrame, ids: dict[str, int]) -> list[dict[str, Any]]:
    """story_hourly rows of an hourly frame, leaving out stories not stored and hours in which
    nothing happened."""
    columns = [c for c in hourly.columns if c not in (STORY, HOUR)]
    return [
        {
            "story_id": ids[story],
            "hour": _py(hour),
            **{c: _py(v) for c, v in zip(columns, values, strict=True)},
        }
        for story, hour, *values in hourly[[STORY, HOUR, *columns]].itertuples(index=False)
        if story in ids and any(values)
    ]


def _plausible(column: Any) -> Any:
    return and_(column >= EARLIEST_TIME, column < LATEST_TIME)


class NoiseMixin(StoreBase):
    def story_ids(self) -> dict[str, int]:
        with self.reading() as conn:
            return dict(conn.execute(select(stories.c.slug, stories.c.id)).all())

    def _mention_query(self) -> Any:
        return select(
            stories.c.slug,
            mentions.c.id,
            func.coalesce(mentions.c.group_id, mentions.c.id),
            mentions.c.kind,
            func.coalesce(mentions.c.outlet, ""),
            mention_time(),
            # as floats: two counts near the BIGINT limit must not overflow the sum
            cast(func.coalesce(mentions.c.score, 0), Float)
            + cast(func.coalesce(mentions.c.comments, 0), Float),
        ).select_from(story_mentions.join(stories).join(mentions))

    @staticmethod
    def _mention_rows(rows: Sequence[Any]) -> pd.DataFrame:
        frame = _frame(rows, (STORY, MENTION, GROUP, KIND, OUTLET, WHEN, ENGAGEMENT), (WHEN,))
        frame[ENGAGEMENT] = frame[ENGAGEMENT].astype("float64")
        return frame

    def mention_frame(
        self, since: datetime, until: datetime, *, stories_only: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """One row per (story, mention) published (else first seen) in [since, until)."""
        when = mention_time()
        query = self._mention_query().where(when >= since, when < until, _plausible(when))
        if stories_only is not None:
            query = query.where(stories.c.slug.in_(list(stories_only)))
        with self.reading() as conn:
            return self._mention_rows(conn.execute(query).all())

    def group_frame(self, pairs: pd.DataFrame) -> pd.DataFrame:
        """The mention rows (as :meth:`mention_frame`) of these (story, group_id) pairs."""
        groups = sorted({int(g) for g in pairs[GROUP]})
        wanted = set(zip(pairs[STORY].astype(str), pairs[GROUP].astype(int), strict=True))
        rows: list[Any] = []
        with self.reading() as conn:
            for i in range(0, len(groups), 500):
                chunk = groups[i : i + 500]
                query = self._mention_query().where(
                    (mentions.c.group_id.in_(chunk)) | (mentions.c.id.in_(chunk)),
                    _plausible(mention_time()),
                )
                rows += [r for r in conn.execute(query) if (r[0], r[2]) in wanted]
        return self._mention_rows(rows)

    def pending_changes(self) -> tuple[pd.DataFrame, list[int]]:
        """The change log of the hourly rows (noisecast.engine.jobs.noise): a mention frame whose
        ``when`` is the logged time, and the log's sequence numbers, to delete once applied (those
        of rows at implausible times too, which the frame leaves out)."""
        query = (
            select(
                noise_changes.c.seq,
                stories.c.slug,
                mentions.c.id,
                func.coalesce(mentions.c.group_id, mentions.c.id),
                mentions.c.kind,
                func.coalesce(mentions.c.outlet, ""),
                noise_changes.c.at,
            )
            .select_from(noise_changes.join(stories).join(mentions))
            .where(_plausible(noise_changes.c.at))
            .order_by(noise_changes.c.seq)
        )
        implausible = select(noise_changes.c.seq).where(~_plausible(noise_changes.c.at))
        with self.reading() as conn:
            rows = conn.execute(query).all()
            ignored = conn.execute(implausible).scalars().all()
        frame = self._mention_rows([(*r[1:], 0.0) for r in rows])
        return frame, sorted([int(r[0]) for r in rows] + [int(seq) for seq in ignored])

    def replace_hourly_keys(
        self, fresh: pd.DataFrame, touched: pd.DataFrame, applied: Sequence[int]
    ) -> int:
        """Make ``fresh`` the stored rows of the ``touched`` (story, hour) keys (rows of zeros
        are not stored) and delete the change-log rows ``applied``, in one transaction."""
        ids = self.story_ids()
        by_story: dict[int, list[datetime]] = {}
        for story, hour in zip(touched[STORY], touched[HOUR], strict=True):
            if story in ids:
                by_story.setdefault(ids[story], []).append(_py(hour))
        rows = _hourly_rows(fresh, ids)
        with self.transaction() as conn:
            for story_id, hours in by_story.items():  # the primary key answers each delete
                for i in range(0, len(hours), 500):
                    conn.execute(
                        delete(story_hourly).where(
                            story_hourly.c.story_id == story_id,
                            story_hourly.c.hour.in_(hours[i : i + 500]),
                        )
                    )
            if rows:
                conn.execute(story_hourly.insert(), rows)
            for i in range(0, len(applied), 500):
                conn.execute(
                    delete(noise_changes).where(noise_changes.c.seq.in_(applied[i : i + 500]))
                )
        return len(rows)

    def health_inputs(
        self, since: datetime, until: datetime
    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """(fetches, collected mentions, sources) frames for
        noisecast.engine.core.aggregate.collection_health."""
        with self.reading() as conn:
            fetch_rows = conn.execute(
                select(fetches.c.source_id, fetches.c.started_at, fetches.c.outcome).where(
                    fetches.c.started_at >= since, fetches.c.started_at < until
                )
            ).all()
            collected = conn.execute(
                select(mentions.c.id, mentions.c.fetched_at).where(
                    mentions.c.fetched_at >= since, mentions.c.fetched_at < until
                )
            ).all()
            source_rows = conn.execute(
                select(sources.c.id, sources.c.next_due_at, sources.c.disabled_at)
            ).all()
        return (
            _frame(fetch_rows, ("source_id", "started_at", "outcome"), ("started_at",)),
            _frame(collected, (MENTION, "fetched_at"), ("fetched_at",)),
            _frame(
                source_rows,
                ("source_id", "next_due_at", "disabled_at"),
                ("next_due_at", "disabled_at"),
            ),
        )

    def _replace_hours(
        self, table: Any, since: datetime, until: datetime, rows: list[dict[str, Any]]
    ) -> None:
        """Make ``rows`` the table's rows for the hours of [since, until), in one transaction."""
        with self.transaction() as conn:
            conn.execute(delete(table).where(table.c.hour >= since, table.c.hour < until))
            if rows:
                conn.execute(table.insert(), rows)

    def write_hourly(self, hourly: pd.DataFrame, since: datetime, until: datetime) -> int:
        """Replace the stored hourly rows of [since, until) by ``hourly``'s (zero rows are not
        stored: a missing (story, hour) counts zero)."""
        rows = _hourly_rows(hourly, self.story_ids())
        self._replace_hours(story_hourly, since, until, rows)
        with self.transaction() as conn:  # rows an older version wrote at implausible hours
            conn.execute(delete(story_hourly).where(~_plausible(story_hourly.c.hour)))
        return len(rows)

    def write_health(self, health: pd.DataFrame, since: datetime, until: datetime) -> None:
        rows = [
            {c: _py(v) for c, v in zip(health.columns, values, strict=True)}
            for values in health.itertuples(index=False)
        ]
        self._replace_hours(collection_health, since, until, rows)

    def write_scores(self, rows: list[dict[str, Any]], hours: Sequence[datetime]) -> None:
        """Replace the scores of ``hours`` by ``rows`` (story slug, as_of, score, level, ...)."""
        ids = self.story_ids()
        records = [{**r, "story_id": ids[r.pop("story")]} for r in rows if r["story"] in ids]
        with self.transaction() as conn:
            if hours:
                conn.execute(delete(noise_scores).where(noise_scores.c.as_of.in_(list(hours))))
            if records:
                conn.execute(noise_scores.insert(), records)

    def hourly_frame(self, since: datetime, until: datetime) -> pd.DataFrame:
        kinds = [story_hourly.c[f"mentions_{k}"] for k in _KINDS]
        query = (
            select(
                stories.c.slug,
                story_hourly.c.hour,
                story_hourly.c.mentions,
                story_hourly.c.outlets,
                story_hourly.c.engagement,
                *kinds,
            )
            .join(stories, stories.c.id == story_hourly.c.story_id)
            .where(
                and_(story_hourly.c.hour >= since, story_hourly.c.hour < until),
                _plausible(story_hourly.c.hour),
            )
            .order_by(story_hourly.c.hour, stories.c.slug)
        )
        with self.reading() as conn:
            rows = conn.execute(query).all()
        names = [STORY, HOUR, "mentions", "outlets", ENGAGEMENT, *(f"mentions_{k}" for k in _KINDS)]
        return _frame(rows, names, (HOUR,))

    def health_frame(self, since: datetime, until: datetime) -> pd.DataFrame:
        with self.reading() as conn:
            rows = conn.execute(
                select(collection_health)
                .where(collection_health.c.hour >= since, collection_health.c.hour < until)
                .order_by(collection_health.c.hour)
            ).all()
        return _frame(rows, [c.name for c in collection_health.columns], (HOUR,))

    def scores_frame(self, since: datetime, until: datetime) -> pd.DataFrame:
        query = (
            select(
                stories.c.slug,
                noise_scores.c.as_of,
                noise_scores.c.score,
                noise_scores.c.level,
                noise_scores.c.unhealthy,
                noise_scores.c.components,
                noise_scores.c.mention_ids,
            )
            .join(stories, stories.c.id == noise_scores.c.story_id)
            .where(noise_scores.c.as_of >= since, noise_scores.c.as_of < until)
            .order_by(noise_scores.c.as_of, stories.c.slug)
        )
        with self.reading() as conn:
            rows = conn.execute(query).all()
        return _frame(
            rows,
            (STORY, "as_of", "score", "level", "unhealthy", "components", "mention_ids"),
            ("as_of",),
        )
