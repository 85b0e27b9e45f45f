"""Emerging stories in the database (issue 14): the online clusterer's saved state and cursor,
the hour's proposals of stories nobody tracks yet, editors' decisions on them with their audit
trail, and suggested query terms for tracked stories.

The clusterer's state is one row saved on the ``version`` its writer loaded: a second worker
that loaded the same version loses (``save_cluster_state`` returns False) and redoes its batch
from the winner's state, so no mention is clustered twice and none is skipped. Every editor's
action is a conditional update of the proposal (on the ``version`` the editor saw) and an
append-only ``emerging_events`` row, in one transaction. The rules are in
:mod:`noisecast.engine.core.emerging`; the jobs in :mod:`noisecast.engine.jobs.emerging`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Float, and_, cast, delete, func, or_, select, update
from sqlalchemy.engine import Connection

from noisecast.engine.store._base import StoreBase
from noisecast.engine.store._fit import EARLIEST_TIME, LATEST_TIME
from noisecast.engine.store.tables import (
    cluster_state,
    emerging_events,
    emerging_proposals,
    mention_time,
    mentions,
    noise_scores,
    query_suggestions,
    sources,
    stories,
    story_mentions,
)

JOB = "noisecast"  # the actor of the hourly job's changes
PROPOSAL_STATUSES = ("proposed", "tracked", "merged", "dismissed", "expired")
DECIDED = ("tracked", "merged", "dismissed")  # an editor decided: never proposed again
SUGGESTION_STATUSES = ("proposed", "added", "dismissed")
_CHUNK = 500


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _quality(q: Any) -> dict[str, Any]:
    return {
        "precision": float(q.precision),
        "recall": float(q.recall),
        "recent_matches": int(q.recent_matches),
        "cluster_matches": int(q.cluster_matches),
    }


def _headline(h: Any) -> dict[str, Any]:
    return {
        "mention_id": int(h.mention_id),
        "title": h.title,
        "url": h.url,
        "outlet": h.outlet,
        "published_at": _iso(h.published_at),
    }


def _proposal_values(p: Any, hour: datetime) -> dict[str, Any]:
    """The columns of a :class:`~noisecast.engine.core.emerging.Proposal`, JSON-able."""
    return {
        "as_of": hour,
        "title": p.title,
        "query": p.suggestion.query,
        "terms": list(p.suggestion.terms),
        "quality": _quality(p.suggestion.quality),
        "headlines": [_headline(h) for h in p.headlines],
        "size": int(p.size),
        "outlets": int(p.outlets),
        "first_seen": p.first_seen,
        "last_seen": p.last_seen,
        "score": float(p.score),
        "level": str(p.level),
        "components": {k: float(v) for k, v in p.components.items()},
        "history": [[_iso(at), float(score)] for at, score in p.history],
    }


def _snapshot(row: Mapping[str, Any]) -> dict[str, Any]:
    """What an editor's action changes, JSON-able (for the audit trail)."""
    keys = ("status", "title", "query", "score", "level", "story_id", "version")
    return {k: _iso(row[k]) for k in keys}


def _changed(row: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    """Whether the hour's values differ from the stored proposal's (its hour aside): an
    unchanged proposal keeps its version, so an editor looking at it is not refused."""
    return any(_iso(row[k]) != _iso(v) for k, v in values.items() if k != "as_of")


def _proposals_query() -> Any:
    return select(emerging_proposals, stories.c.slug.label("story_slug")).outerjoin(
        stories, stories.c.id == emerging_proposals.c.story_id
    )


class EmergingMixin(StoreBase):
    # --- the clusterer's state -------------------------------------------------------------

    def load_cluster_state(self) -> tuple[int, int, bytes | None]:
        """(version, cursor, blob) of the saved clusterer; (0, 0, None) before the first save."""
        with self.reading() as conn:
            row = conn.execute(
                select(
                    cluster_state.c.version, cluster_state.c.cursor, cluster_state.c.state
                ).where(cluster_state.c.id == 1)
            ).first()
        if row is None:
            return 0, 0, None
        return int(row.version), int(row.cursor), bytes(row.state)

    def cluster_state_version(self) -> int:
        """The saved state's version alone (0: none), to tell whether a cached copy is current."""
        with self.reading() as conn:
            found = conn.execute(
                select(cluster_state.c.version).where(cluster_state.c.id == 1)
            ).scalar()
        return int(found or 0)

    def save_cluster_state(
        self, expected_version: int, cursor: int, blob: bytes, *, now: datetime
    ) -> bool:
        """Save the clusterer's state and cursor as version ``expected_version + 1``, only if
        the saved version is still ``expected_version`` (0: nothing saved yet). False: another
        worker saved first, and nothing was written."""
        with self.transaction() as conn:
            if expected_version == 0:
                stmt = (
                    self.insert(cluster_state)
                    .values(id=1, version=1, cursor=cursor, state=blob, updated_at=now)
                    .on_conflict_do_nothing(index_elements=["id"])
                    .returning(cluster_state.c.id)
                )
                return conn.execute(stmt).first() is not None
            done = conn.execute(
                update(cluster_state)
                .where(cluster_state.c.id == 1, cluster_state.c.version == expected_version)
                .values(version=expected_version + 1, cursor=cursor, state=blob, updated_at=now)
            ).rowcount
            return bool(done == 1)

    def mentions_after(
        self, cursor: int, limit: int, *, also: Sequence[tuple[int, int]] = ()
    ) -> list[dict[str, Any]]:
        """The next mentions to cluster, oldest id first: ``id, title, url, summary,
        published_at`` (published, else first seen) and ``group_id``, with id above ``cursor``
        (at most ``limit``) or within one of the inclusive id ranges ``also`` (ids skipped
        earlier because their writer had not committed yet)."""
        when = mention_time()
        columns = (
            mentions.c.id,
            mentions.c.title,
            mentions.c.url,
            mentions.c.summary,
            when.label("published_at"),
            mentions.c.group_id,
        )
        rows: list[Any] = []
        with self.reading() as conn:
            for i in range(0, len(also), 100):
                ranges = [mentions.c.id.between(lo, hi) for lo, hi in also[i : i + 100]]
                rows += conn.execute(select(*columns).where(or_(*ranges))).all()
            rows += conn.execute(
                select(*columns).where(mentions.c.id > cursor).order_by(mentions.c.id).limit(limit)
            ).all()
        unique = {int(r.id): dict(r._mapping) for r in rows}
        return [unique[k] for k in sorted(unique)]

    # --- what the hourly job reads -----------------------------------------------------------

    def cluster_members(self, mention_ids: Sequence[int]) -> list[dict[str, Any]]:
        """The fields of :class:`~noisecast.engine.core.emerging.MemberRow` (all but
        ``cluster``) of these mentions: mention_id, title, summary, url, outlet (the mention's,
        else its source's name), kind, published_at, group_id, engagement (score + comments)
        and stories (slugs of the active stories it matches, sorted). Mentions at implausible
        times are left out."""
        when = mention_time()
        ids = sorted({int(m) for m in mention_ids})
        out: dict[int, dict[str, Any]] = {}
        with self.reading() as conn:
            for i in range(0, len(ids), _CHUNK):
                chunk = ids[i : i + _CHUNK]
                query = (
                    select(
                        mentions.c.id,
                        mentions.c.title,
                        mentions.c.summary,
                        mentions.c.url,
                        func.coalesce(mentions.c.outlet, sources.c.name).label("outlet"),
                        mentions.c.kind,
                        when.label("published_at"),
                        mentions.c.group_id,
                        (
                            cast(func.coalesce(mentions.c.score, 0), Float)
                            + cast(func.coalesce(mentions.c.comments, 0), Float)
                        ).label("engagement"),
                    )
                    .join(sources, sources.c.id == mentions.c.source_id)
                    .where(mentions.c.id.in_(chunk), when >= EARLIEST_TIME, when < LATEST_TIME)
                )
                for r in conn.execute(query):
                    out[int(r.id)] = {
                        "mention_id": int(r.id),
                        "title": r.title,
                        "summary": r.summary or None,
                        "url": r.url,
                        "outlet": r.outlet,
                        "kind": r.kind,
                        "published_at": r.published_at,
                        "group_id": None if r.group_id is None else int(r.group_id),
                        "engagement": int(min(float(r.engagement), 2**62)),
                        "stories": (),
                    }
                matched = conn.execute(
                    select(story_mentions.c.mention_id, stories.c.slug)
                    .join(stories, stories.c.id == story_mentions.c.story_id)
                    .where(story_mentions.c.mention_id.in_(chunk), stories.c.status == "active")
                    .order_by(story_mentions.c.mention_id, stories.c.slug)
                )
                for mid, slug in matched:
                    if int(mid) in out:
                        row = out[int(mid)]
                        row["stories"] = (*row["stories"], slug)
        return [out[k] for k in sorted(out)]

    def recent_docs(
        self, since: datetime, until: datetime, *, limit: int = 5000
    ) -> list[tuple[int, str, str]]:
        """(id, title, summary) of the newest ``limit`` mentions published (else first seen) in
        ``[since, until)``: the background a suggested query is measured against."""
        when = mention_time()
        query = (
            select(mentions.c.id, mentions.c.title, mentions.c.summary)
            .where(when >= since, when < until)
            .order_by(mentions.c.id.desc())
            .limit(limit)
        )
        with self.reading() as conn:
            return [(int(i), t, s or "") for i, t, s in conn.execute(query)]

    # --- proposals ---------------------------------------------------------------------------

    def sync_proposals(self, hour: datetime, proposals: Sequence[Any], *, now: datetime) -> None:
        """Make the stored proposals the hour's (``Proposal`` records of
        :func:`~noisecast.engine.core.emerging.propose`), in one transaction: a new cluster is
        inserted ``proposed``; a proposed or expired one is updated (and proposed again); a
        cluster an editor tracked, merged or dismissed is left as it is (never proposed again);
        a proposed one not among them now becomes ``expired``."""
        wanted = {int(p.cluster): p for p in proposals}
        with self.transaction() as conn:
            existing: dict[int, dict[str, Any]] = {}
            keys = sorted(wanted)
            for i in range(0, len(keys), _CHUNK):
                query = select(emerging_proposals).where(
                    emerging_proposals.c.cluster.in_(keys[i : i + _CHUNK])
                )
                if self.dialect == "postgresql":
                    query = query.with_for_update()
                existing.update({int(r.cluster): dict(r._mapping) for r in conn.execute(query)})
            for cluster in keys:
                values = _proposal_values(wanted[cluster], hour)
                row = existing.get(cluster)
                if row is None:
                    conn.execute(
                        self.insert(emerging_proposals)
                        .values(
                            cluster=cluster,
                            status="proposed",
                            version=1,
                            updated_at=now,
                            **values,
                        )
                        .on_conflict_do_nothing(index_elements=["cluster"])
                    )
                elif row["status"] in ("proposed", "expired") and (
                    row["status"] == "expired" or _changed(row, values)
                ):
                    conn.execute(
                        update(emerging_proposals)
                        .where(
                            emerging_proposals.c.id == row["id"],
                            emerging_proposals.c.status.in_(("proposed", "expired")),
                        )
                        .values(
                            status="proposed",
                            version=emerging_proposals.c.version + 1,
                            updated_at=now,
                            **values,
                        )
                    )
            gone = update(emerging_proposals).where(emerging_proposals.c.status == "proposed")
            if keys:
                gone = gone.where(emerging_proposals.c.cluster.not_in(keys))
            conn.execute(
                gone.values(
                    status="expired", version=emerging_proposals.c.version + 1, updated_at=now
                )
            )

    def list_proposals(self, status: str | None = "proposed") -> list[dict[str, Any]]:
        """Proposals (every column, with ``story_slug`` of the story tracked or merged into),
        loudest first; ``status`` None: all of them."""
        query = _proposals_query()
        if status is not None:
            query = query.where(emerging_proposals.c.status == status)
        query = query.order_by(emerging_proposals.c.score.desc(), emerging_proposals.c.id)
        with self.reading() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def proposal(self, proposal_id: int) -> dict[str, Any] | None:
        """One proposal (as :meth:`list_proposals` gives it); None: no such proposal."""
        with self.reading() as conn:
            row = conn.execute(
                _proposals_query().where(emerging_proposals.c.id == proposal_id)
            ).first()
        return dict(row._mapping) if row else None

    def set_proposal_status(
        self,
        proposal_id: int,
        expected_version: int,
        status: str,
        *,
        actor: str,
        action: str,
        story_id: int | None = None,
        note: str = "",
        now: datetime,
    ) -> bool:
        """Set a proposal's status (and the story it was tracked as or merged into), only if it
        is still at ``expected_version``, with an ``emerging_events`` row, in one transaction.
        False: it changed since (or does not exist), and nothing was written."""
        if status not in PROPOSAL_STATUSES:
            raise ValueError(f"status: expected one of {PROPOSAL_STATUSES}, got {status!r}")
        with self.transaction() as conn:
            found = conn.execute(
                select(emerging_proposals).where(emerging_proposals.c.id == proposal_id)
            ).first()
            if found is None or found.version != expected_version:
                return False
            row = dict(found._mapping)
            values: dict[str, Any] = {
                "status": status,
                "version": expected_version + 1,
                "updated_at": now,
            }
            if story_id is not None:
                values["story_id"] = story_id
            done = conn.execute(
                update(emerging_proposals)
                .where(
                    emerging_proposals.c.id == proposal_id,
                    emerging_proposals.c.version == expected_version,
                )
                .values(**values)
            ).rowcount
            if done != 1:
                return False
            self._emerging_event(
                conn, proposal_id, actor, action, _snapshot(row), _snapshot(row | values), note, now
            )
        return True

    @staticmethod
    def _emerging_event(
        conn: Connection,
        proposal_id: int,
        actor: str,
        action: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        note: str,
        now: datetime,
    ) -> None:
        conn.execute(
            emerging_events.insert().values(
                proposal_id=proposal_id,
                actor=actor,
                action=action,
                before=before,
                after=after,
                note=note or None,
                at=now,
            )
        )

    def proposal_events(self, proposal_id: int) -> list[dict[str, Any]]:
        """A proposal's audit trail, newest first."""
        query = (
            select(emerging_events)
            .where(emerging_events.c.proposal_id == proposal_id)
            .order_by(emerging_events.c.at.desc(), emerging_events.c.id.desc())
        )
        with self.reading() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    # --- query suggestions for tracked stories -----------------------------------------------

    def sync_query_suggestions(
        self, hour: datetime, suggestions: Sequence[Any], *, now: datetime
    ) -> None:
        """Make the proposed terms the hour's (``TermSuggestion`` records of
        :func:`~noisecast.engine.core.emerging.suggest_terms`), in one transaction: new
        (story, term) pairs are inserted, proposed ones updated, added or dismissed ones left as
        they are (never proposed again); proposed terms not suggested now are deleted."""
        ids = self._story_ids_by_slug({s.story for s in suggestions})
        wanted: dict[tuple[int, str], Any] = {}
        for s in suggestions:
            if s.story in ids:
                wanted.setdefault((ids[s.story], s.term), s)
        rows = [
            {
                "story_id": story_id,
                "cluster": int(s.cluster),
                "term": s.term,
                "adds": int(s.adds),
                "adds_elsewhere": int(s.adds_elsewhere),
                "samples": [_headline(h) for h in s.samples],
                "as_of": hour,
                "status": "proposed",
                "updated_at": now,
            }
            for (story_id, _), s in sorted(wanted.items(), key=lambda kv: kv[0])
        ]
        q = query_suggestions.c
        with self.transaction() as conn:
            if rows:  # a row keeps its id while it stays proposed (an editor's form names it)
                stmt = self.insert(query_suggestions)
                fresh = ("cluster", "adds", "adds_elsewhere", "samples", "as_of", "updated_at")
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["story_id", "term"],
                        set_={k: stmt.excluded[k] for k in fresh},
                        where=q.status == "proposed",
                    ),
                    rows,
                )
            keep = {(r["story_id"], r["term"]) for r in rows}
            stale = [
                int(r.id)
                for r in conn.execute(
                    select(q.id, q.story_id, q.term).where(q.status == "proposed")
                )
                if (int(r.story_id), r.term) not in keep
            ]
            for i in range(0, len(stale), _CHUNK):
                conn.execute(query_suggestions.delete().where(q.id.in_(stale[i : i + _CHUNK])))

    def _story_ids_by_slug(self, slugs: set[str]) -> dict[str, int]:
        if not slugs:
            return {}
        with self.reading() as conn:
            found = conn.execute(
                select(stories.c.slug, stories.c.id).where(stories.c.slug.in_(sorted(slugs)))
            )
            return {slug: int(i) for slug, i in found}

    def query_suggestions(
        self, story_id: int, status: str | None = "proposed"
    ) -> list[dict[str, Any]]:
        """A story's suggested terms (every column, with the story's slug), most added first."""
        query = (
            select(query_suggestions, stories.c.slug.label("story_slug"))
            .join(stories, stories.c.id == query_suggestions.c.story_id)
            .where(query_suggestions.c.story_id == story_id)
        )
        if status is not None:
            query = query.where(query_suggestions.c.status == status)
        query = query.order_by(
            query_suggestions.c.adds.desc(),
            query_suggestions.c.adds_elsewhere,
            query_suggestions.c.term,
        )
        with self.reading() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def query_suggestion(self, suggestion_id: int) -> dict[str, Any] | None:
        """One suggested term (with ``story_slug``, ``story_query``); None: no such row."""
        query = (
            select(
                query_suggestions,
                stories.c.slug.label("story_slug"),
                stories.c.query.label("story_query"),
                stories.c.title.label("story_title"),
            )
            .join(stories, stories.c.id == query_suggestions.c.story_id)
            .where(query_suggestions.c.id == suggestion_id)
        )
        with self.reading() as conn:
            row = conn.execute(query).first()
        return dict(row._mapping) if row else None

    def set_query_suggestion_status(
        self, suggestion_id: int, status: str, *, actor: str, now: datetime
    ) -> bool:
        """Mark a proposed term ``added`` or ``dismissed`` (by ``actor``); False if it is not
        proposed any more (or does not exist), and nothing was written."""
        if status not in SUGGESTION_STATUSES:
            raise ValueError(f"status: expected one of {SUGGESTION_STATUSES}, got {status!r}")
        with self.transaction() as conn:
            done = conn.execute(
                update(query_suggestions)
                .where(
                    and_(
                        query_suggestions.c.id == suggestion_id,
                        query_suggestions.c.status == "proposed",
                    )
                )
                .values(status=status, updated_by=actor, updated_at=now)
            ).rowcount
        return bool(done == 1)

    # --- a new or widened story's score history ----------------------------------------------

    def story_first_mention(self, story_id: int) -> datetime | None:
        """The time of the story's earliest matched mention (published, else first seen)."""
        when = mention_time()
        query = (
            select(func.min(when))
            .select_from(
                story_mentions.join(mentions, mentions.c.id == story_mentions.c.mention_id)
            )
            .where(story_mentions.c.story_id == story_id, when >= EARLIEST_TIME, when < LATEST_TIME)
        )
        with self.reading() as conn:
            found = conn.execute(query).scalar()
        return found  # type: ignore[no-any-return]

    def write_story_scores(
        self, story_id: int, rows: Sequence[Mapping[str, Any]], hours: Sequence[datetime]
    ) -> None:
        """Replace one story's scores of ``hours`` by ``rows`` (as_of, score, level,
        components, unhealthy, mention_ids), leaving every other story's alone. An hour the
        cycle marked low-confidence for the other stories is marked so here too, with its note."""
        with self.transaction() as conn:
            notes: dict[datetime, str | None] = {}
            for i in range(0, len(hours), _CHUNK):
                found = conn.execute(
                    select(noise_scores.c.as_of, noise_scores.c.confidence_note).where(
                        noise_scores.c.as_of.in_(list(hours[i : i + _CHUNK])),
                        noise_scores.c.story_id != story_id,
                        noise_scores.c.low_confidence.is_(True),
                    )
                )
                notes.update({at: note for at, note in found})
                conn.execute(
                    delete(noise_scores).where(
                        noise_scores.c.story_id == story_id,
                        noise_scores.c.as_of.in_(list(hours[i : i + _CHUNK])),
                    )
                )
            records = [
                {
                    **r,
                    "story_id": story_id,
                    "low_confidence": r["as_of"] in notes,
                    "confidence_note": notes.get(r["as_of"]),
                }
                for r in rows
            ]
            if records:
                conn.execute(noise_scores.insert(), records)
