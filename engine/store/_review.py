"""Editor review: editors, the queue of suggestions with their evidence, the review actions
(a conditional update and an append-only ``review_events`` row, in one transaction) and what
is published. The shaping that needs no database is in :mod:`noisecast.engine.core.review`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Text, func, literal, select, update
from sqlalchemy.engine import Connection

from noisecast.engine.core.review import ACTIONS, ReviewConflict, conflict_message
from noisecast.engine.errors import NoisecastError
from noisecast.engine.store._editors import EditorsMixin
from noisecast.engine.store.tables import (
    forecasts,
    mention_time,
    mentions,
    noise_scores,
    review_events,
    sources,
    stories,
    story_hourly,
    story_mentions,
)

PENDING = "pending"
_ENGAGEMENT = func.coalesce(mentions.c.score, 0) + func.coalesce(mentions.c.comments, 0)


def _health_note() -> Any:
    """The score's data-health note (``noise_scores.confidence_note``, from the hourly cycle's
    migration) where the schema has it."""
    note = noise_scores.c.get("confidence_note")
    return (note if note is not None else literal(None, Text)).label("health_note")


def _latest_scores() -> Any:
    """Each story's newest score row (a subquery: story_id, score, level, as_of, unhealthy,
    health_note)."""
    newest = (
        select(noise_scores.c.story_id, func.max(noise_scores.c.as_of).label("as_of"))
        .group_by(noise_scores.c.story_id)
        .subquery()
    )
    return (
        select(
            noise_scores.c.story_id,
            noise_scores.c.score,
            noise_scores.c.level,
            noise_scores.c.as_of,
            noise_scores.c.unhealthy,
            _health_note(),
        )
        .join(
            newest,
            (newest.c.story_id == noise_scores.c.story_id)
            & (newest.c.as_of == noise_scores.c.as_of),
        )
        .subquery()
    )


def _hours(end: datetime | None, hours: int) -> list[datetime]:
    if end is None:
        return []
    return [end - timedelta(hours=hours - i) for i in range(hours)]


class ReviewMixin(EditorsMixin):
    # --- reading -------------------------------------------------------------------------------

    @staticmethod
    def _observed_until(conn: Connection) -> datetime | None:
        """The end of the last scored hour (else of the last hour with mentions): "now" for the
        evidence, whatever the wall clock says."""
        last = conn.execute(select(func.max(noise_scores.c.as_of))).scalar()
        if last is None:
            last = conn.execute(select(func.max(story_hourly.c.hour))).scalar()
        return None if last is None else last + timedelta(hours=1)

    @staticmethod
    def _score_series(
        conn: Connection, story_ids: Sequence[int], hours: list[datetime]
    ) -> dict[int, dict[datetime, Any]]:
        if not hours or not story_ids:
            return {}
        rows = conn.execute(
            select(
                noise_scores.c.story_id,
                noise_scores.c.as_of,
                noise_scores.c.score,
                noise_scores.c.unhealthy,
                noise_scores.c.level,
                noise_scores.c.components,
                _health_note(),
            ).where(
                noise_scores.c.story_id.in_(list(story_ids)),
                noise_scores.c.as_of >= hours[0],
                noise_scores.c.as_of <= hours[-1],
            )
        ).all()
        out: dict[int, dict[datetime, Any]] = {}
        for r in rows:
            out.setdefault(r.story_id, {})[r.as_of] = r
        return out

    def review_queue(
        self,
        *,
        status: str = PENDING,
        story: str | None = None,
        level: str | None = None,
        hours: int = 72,
        limit: int = 200,
    ) -> dict[str, Any]:
        """The suggestions of a status (``all``: any), loudest story first, each with its
        story's current score and level, the score of each of the last ``hours`` hours
        (``series``, None where unscored) and how many of the last 24 were unhealthy."""
        latest = _latest_scores()
        query = (
            select(
                forecasts,
                stories.c.slug,
                stories.c.title,
                latest.c.score,
                latest.c.level,
                latest.c.as_of.label("score_as_of"),
                latest.c.health_note,
            )
            .join(stories, stories.c.id == forecasts.c.story_id)
            .outerjoin(latest, latest.c.story_id == forecasts.c.story_id)
            .order_by(forecasts.c.as_of.desc(), forecasts.c.id.desc())
            .limit(limit)
        )
        if status != "all":
            query = query.where(forecasts.c.status == status)
        if story:
            query = query.where(stories.c.slug == story)
        if level:
            query = query.where(latest.c.level == level)
        with self.reading() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
            until = self._observed_until(conn)
            window = _hours(until, hours)
            series = self._score_series(conn, sorted({r["story_id"] for r in rows}), window)
            story_options = conn.execute(
                select(stories.c.slug, stories.c.title).order_by(stories.c.title)
            ).all()
        for r in rows:
            mine = series.get(r["story_id"], {})
            r["series"] = [None if h not in mine else float(mine[h].score) for h in window]
            r["unhealthy_hours"] = sum(bool(mine[h].unhealthy) for h in window[-24:] if h in mine)
        rows.sort(key=lambda r: (r["score"] is None, -(r["score"] or 0.0), r["slug"]))
        return {
            "observed_until": until,
            "hours": window,
            "rows": rows,
            "stories": [(s.slug, s.title) for s in story_options],
        }

    def forecast_for_review(self, forecast_id: int) -> dict[str, Any] | None:
        """One forecast with its story's slug and title (None if there is no such forecast)."""
        with self.reading() as conn:
            row = conn.execute(
                select(forecasts, stories.c.slug, stories.c.title)
                .join(stories, stories.c.id == forecasts.c.story_id)
                .where(forecasts.c.id == forecast_id)
            ).first()
        return dict(row._mapping) if row else None

    def story_review(
        self, slug: str, *, hours: int = 72, earlier: int = 20, top: int = 15
    ) -> dict[str, Any]:
        """Everything the story view shows: the story; its last ``hours`` hours (mentions and
        score each); the newest score's components; its top mentions of the last 24 hours
        (one per syndicated group, most engaged first, with their source and copies); its
        newest ``earlier`` forecasts with the hourly counts over their horizons; and the
        review events of its forecasts, newest first."""
        with self.reading() as conn:
            found = conn.execute(select(stories).where(stories.c.slug == slug)).first()
            if found is None:
                raise NoisecastError(f"no story {slug!r}")
            story_id = int(found.id)
            until = self._observed_until(conn)
            window = _hours(until, hours)
            scored = self._score_series(conn, [story_id], window).get(story_id, {})
            made = [
                dict(r._mapping)
                for r in conn.execute(
                    select(forecasts)
                    .where(forecasts.c.story_id == story_id)
                    .order_by(forecasts.c.as_of.desc(), forecasts.c.id.desc())
                    .limit(earlier)
                )
            ]
            starts = [f["as_of"] for f in made] + ([window[0]] if window else [])
            counts: dict[datetime, int] = {}
            if starts:
                counts = {
                    h: int(m)
                    for h, m in conn.execute(
                        select(story_hourly.c.hour, story_hourly.c.mentions).where(
                            story_hourly.c.story_id == story_id,
                            story_hourly.c.hour >= min(starts),
                        )
                    )
                }
            top_mentions = self._top_mentions(conn, story_id, until, top) if until else []
            events = [
                dict(r._mapping)
                for r in conn.execute(
                    select(review_events, forecasts.c.as_of.label("forecast_as_of"))
                    .join(forecasts, forecasts.c.id == review_events.c.forecast_id)
                    .where(forecasts.c.story_id == story_id)
                    .order_by(review_events.c.at.desc(), review_events.c.id.desc())
                )
            ]
        newest = scored[window[-1]] if window and window[-1] in scored else None
        if newest is None and scored:
            newest = scored[max(scored)]
        return {
            "story": dict(found._mapping),
            "observed_until": until,
            "hours": window,
            "mentions": [counts.get(h, 0) for h in window],
            "scores": [None if h not in scored else float(scored[h].score) for h in window],
            "unhealthy_hours": sum(bool(r.unhealthy) for r in scored.values()),
            "current": None
            if newest is None
            else {
                "as_of": newest.as_of,
                "score": float(newest.score),
                "level": newest.level,
                "unhealthy": bool(newest.unhealthy),
                "health_note": newest.health_note,
                "components": newest.components or {},
            },
            "forecasts": made,
            "counts": counts,
            "top_mentions": top_mentions,
            "events": events,
        }

    @staticmethod
    def _top_mentions(
        conn: Connection, story_id: int, until: datetime, top: int
    ) -> list[dict[str, Any]]:
        when = mention_time()
        group = func.coalesce(mentions.c.group_id, mentions.c.id)
        rows = conn.execute(
            select(
                mentions.c.id,
                group.label("group_id"),
                mentions.c.title,
                mentions.c.url,
                mentions.c.link_url,
                mentions.c.author,
                mentions.c.outlet,
                mentions.c.kind,
                mentions.c.score,
                mentions.c.comments,
                sources.c.name.label("source"),
                when.label("when"),
            )
            .select_from(
                story_mentions.join(mentions, mentions.c.id == story_mentions.c.mention_id).join(
                    sources, sources.c.id == mentions.c.source_id
                )
            )
            .where(
                story_mentions.c.story_id == story_id,
                when >= until - timedelta(hours=24),
                when < until,
            )
            .order_by(_ENGAGEMENT.desc(), when.desc(), mentions.c.id.desc())
        ).all()
        picked: dict[int, dict[str, Any]] = {}
        for r in rows:
            if r.group_id in picked:
                picked[r.group_id]["copies"] += 1
            elif len(picked) < top:
                picked[r.group_id] = {**r._mapping, "copies": 1}
        return list(picked.values())

    # --- the review actions --------------------------------------------------------------------

    def review_forecast(
        self,
        forecast_id: int,
        *,
        action: str,
        editor: str,
        seen_status: str,
        now: datetime,
        text: str | None = None,
    ) -> dict[str, Any]:
        """Approve, edit-and-approve or reject a pending suggestion, and record the event, in
        one transaction. ``text`` is the editor's text (edit) or the reason (reject), already
        checked (:func:`noisecast.engine.core.review.check_edit`,
        :func:`~noisecast.engine.core.review.check_reason`).

        The update changes the row only while it is still pending and the editor saw it
        pending; otherwise :class:`~noisecast.engine.core.review.ReviewConflict` says who reviewed
        it when (or that a newer suggestion replaced it) and nothing is written."""
        if action not in ACTIONS:
            raise ValueError(f"action: expected one of {ACTIONS}, got {action!r}")
        if action != "approve" and not text:
            raise ValueError(f"action {action!r} needs its text")
        values: dict[str, Any] = {"reviewer": editor, "reviewed_at": now}
        values["status"] = "rejected" if action == "reject" else "approved"
        values["final_text"] = text if action == "edit" else None
        with self.transaction() as conn:
            row = conn.execute(
                select(forecasts, stories.c.slug)
                .join(stories, stories.c.id == forecasts.c.story_id)
                .where(forecasts.c.id == forecast_id)
            ).first()
            done = 0
            if row is not None and seen_status == PENDING:
                done = conn.execute(
                    update(forecasts)
                    .where(forecasts.c.id == forecast_id, forecasts.c.status == PENDING)
                    .values(**values)
                ).rowcount
            if done != 1:
                raise ReviewConflict(self._conflict(conn, forecast_id, seen_status))
            assert row is not None
            before = row.suggested_text
            after = before if action == "approve" else text
            conn.execute(
                review_events.insert().values(
                    forecast_id=forecast_id,
                    editor=editor,
                    action=action,
                    before=before,
                    after=after,
                    at=now,
                )
            )
        return {**row._mapping, **values}

    @staticmethod
    def _conflict(conn: Connection, forecast_id: int, seen_status: str) -> str:
        current = conn.execute(select(forecasts).where(forecasts.c.id == forecast_id)).first()
        if current is None:
            return conflict_message(None, seen_status=seen_status)
        state = dict(current._mapping)
        newer = conn.execute(
            select(forecasts.c.id, forecasts.c.as_of)
            .where(forecasts.c.story_id == current.story_id, forecasts.c.status == PENDING)
            .order_by(forecasts.c.as_of.desc())
        ).first()
        if newer is not None and newer.id != forecast_id:
            state["newer_id"], state["newer_as_of"] = newer.id, newer.as_of
        return conflict_message(state, seen_status=seen_status)

    # --- published -----------------------------------------------------------------------------

    def published_rows(self, slug: str | None = None) -> list[dict[str, Any]]:
        """Per active story (or just ``slug``): its newest score and its newest approved
        forecast (``forecast_*`` columns, None when none is approved), by title."""
        latest = _latest_scores()
        ranked = (
            select(
                forecasts,
                func.row_number()
                .over(
                    partition_by=forecasts.c.story_id,
                    order_by=(forecasts.c.as_of.desc(), forecasts.c.id.desc()),
                )
                .label("rank"),
            )
            .where(forecasts.c.status == "approved")
            .subquery()
        )
        approved = select(ranked).where(ranked.c.rank == 1).subquery()
        keep = (
            "id",
            "as_of",
            "horizon_hours",
            "p10",
            "p50",
            "p90",
            "prob_rising",
            "hedge_word",
            "low_confidence",
            "suggested_text",
            "final_text",
            "reviewer",
            "reviewed_at",
        )
        query = (
            select(
                stories.c.slug,
                stories.c.title,
                latest.c.score,
                latest.c.level,
                latest.c.as_of.label("score_as_of"),
                *(approved.c[k].label(f"forecast_{k}") for k in keep),
            )
            .outerjoin(latest, latest.c.story_id == stories.c.id)
            .outerjoin(approved, approved.c.story_id == stories.c.id)
            .where(stories.c.status == "active")
            .order_by(stories.c.title, stories.c.slug)
        )
        if slug is not None:
            query = query.where(stories.c.slug == slug)
        with self.reading() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]
