"""The story Timeline in the database: proposals synced from the hourly rules, editors' review
actions and their own entries, the published copy and the audit trail.

Every change is a conditional update of ``timeline_entries`` (on the ``version`` the writer
read) and an append-only ``timeline_events`` row, in one transaction. Only the ``published_*``
copy an editor approved is public: when the signals move a proposal after review, the proposal
changes beside the published copy and the entry is flagged ``needs_review``. Entries are never
deleted. The rules and words are in :mod:`noisecast.engine.core.timeline`.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Float, and_, cast, func, or_, select, update
from sqlalchemy.engine import Connection

from noisecast.engine.core.review import ReviewConflict, safe_url
from noisecast.engine.core.timeline import Proposal, change_note, check_entry, conflict_message
from noisecast.engine.errors import NoisecastError, StorageError
from noisecast.engine.schema import SOCIAL_KINDS
from noisecast.engine.store._base import StoreBase
from noisecast.engine.store._fit import EARLIEST_TIME, LATEST_TIME
from noisecast.engine.store.tables import (
    mention_engagement,
    mention_time,
    mentions,
    noise_scores,
    stories,
    story_mentions,
    timeline_entries,
    timeline_events,
)

JOB = "noisecast"  # the actor of the hourly job's events
ACTIONS = ("approve", "edit", "hide")
STATUSES = ("proposed", "approved", "hidden")
_PROPOSAL = ("at", "title", "text", "link")
_PUBLISHED = ("published_at", "published_title", "published_text", "published_link")
MENTION_FRAME_COLUMNS = ("mention_id", "when", "kind", "outlet", "title", "url", "engagement")


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _proposal_values(p: Proposal) -> dict[str, Any]:
    return {
        "kind": p.kind,
        "at": p.at,
        "title": p.title,
        "text": p.text,
        "link": p.link,
        "evidence": p.evidence,
        "evidence_hash": p.evidence_hash,
    }


def _proposal_snapshot(row: Mapping[str, Any]) -> dict[str, Any]:
    """The proposal part of an entry, JSON-able (for ``updated`` events)."""
    return {k: _iso(row[k]) for k in (*_PROPOSAL, "evidence")}


def _state(row: Mapping[str, Any]) -> dict[str, Any]:
    """What an editor's action changes, JSON-able (for review events)."""
    keys = ("status", "needs_review", *_PROPOSAL, *_PUBLISHED, "version")
    return {k: _iso(row[k]) for k in keys}


def _entries_query() -> Any:
    return select(timeline_entries, stories.c.slug, stories.c.title.label("story_title")).join(
        stories, stories.c.id == timeline_entries.c.story_id
    )


class TimelineMixin(StoreBase):
    # --- the hourly job ----------------------------------------------------------------------

    def timeline_mentions(self, story_id: int, until: datetime) -> pd.DataFrame:
        """A story's mentions before ``until`` as :func:`~noisecast.engine.core.timeline.
        propose_timeline` reads them: mention_id, when, kind, outlet, title, url, engagement.

        A social post's engagement (score + comments) is as collected by the end of the post's
        own hour (else as first collected, else as now): a snapshot that later votes do not
        move, so the "picked up on social" sentence stays as it was written."""
        when = mention_time()
        query = (
            select(
                mentions.c.id,
                when.label("when"),
                mentions.c.kind,
                mentions.c.outlet,
                mentions.c.title,
                mentions.c.url,
                cast(func.coalesce(mentions.c.score, 0), Float)
                + cast(func.coalesce(mentions.c.comments, 0), Float),
            )
            .select_from(
                story_mentions.join(mentions, mentions.c.id == story_mentions.c.mention_id)
            )
            .where(
                story_mentions.c.story_id == story_id,
                when < until,
                when >= EARLIEST_TIME,
                when < LATEST_TIME,
            )
            .order_by(when, mentions.c.id)
        )
        history = (
            select(
                mention_engagement.c.mention_id,
                mention_engagement.c.observed_at,
                cast(func.coalesce(mention_engagement.c.score, 0), Float)
                + cast(func.coalesce(mention_engagement.c.comments, 0), Float),
            )
            .select_from(
                mention_engagement.join(
                    story_mentions, story_mentions.c.mention_id == mention_engagement.c.mention_id
                ).join(mentions, mentions.c.id == mention_engagement.c.mention_id)
            )
            .where(
                story_mentions.c.story_id == story_id,
                mentions.c.kind.in_(SOCIAL_KINDS),
                mention_engagement.c.observed_at < until,
            )
            .order_by(mention_engagement.c.mention_id, mention_engagement.c.observed_at)
        )
        with self.reading() as conn:
            rows = conn.execute(query).all()
            seen: dict[int, list[tuple[datetime, float]]] = {}
            for mid, at, value in conn.execute(history):
                seen.setdefault(int(mid), []).append((at, float(value)))
        records = []
        for mid, at, kind, outlet, title, url, now_value in rows:
            value = float(now_value)
            if int(mid) in seen:
                cutoff = at.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
                found = seen[int(mid)]
                early = [v for t, v in found if t < cutoff]
                value = early[-1] if early else found[0][1]
            records.append((int(mid), at, kind, outlet, title, url, value))
        frame = pd.DataFrame.from_records(records, columns=list(MENTION_FRAME_COLUMNS))
        frame["when"] = pd.to_datetime(frame["when"], utc=True)
        return frame

    def timeline_scores(self, story_id: int, until: datetime) -> pd.DataFrame:
        """A story's stored scores of the hours before ``until``: as_of, score, level (the
        columns of ``Store.scores_frame`` the rules read, without its JSON)."""
        query = (
            select(noise_scores.c.as_of, noise_scores.c.score, noise_scores.c.level)
            .where(noise_scores.c.story_id == story_id, noise_scores.c.as_of < until)
            .order_by(noise_scores.c.as_of)
        )
        with self.reading() as conn:
            rows = [tuple(r) for r in conn.execute(query)]
        frame = pd.DataFrame.from_records(rows, columns=["as_of", "score", "level"])
        frame["as_of"] = pd.to_datetime(frame["as_of"], utc=True)
        return frame

    def sync_timeline(
        self, story_id: int, proposals: Sequence[Proposal], *, now: datetime
    ) -> dict[str, int]:
        """Upsert the rules' proposals of a story by key, in one transaction: a new key is
        inserted ``proposed`` (event ``proposed``); an unchanged evidence hash writes nothing;
        a changed one updates the proposal, bumps the version, flags an approved or hidden
        entry ``needs_review`` (its published copy stays as approved) and records an
        ``updated`` event with before, after and a note. Never deletes an entry."""
        counts = {"created": 0, "updated": 0, "unchanged": 0}
        wanted = {p.key: p for p in proposals}
        if not wanted:
            return counts
        with self.transaction() as conn:
            query = select(timeline_entries).where(
                timeline_entries.c.story_id == story_id,
                timeline_entries.c.key.in_(sorted(wanted)),
            )
            if self.dialect == "postgresql":
                query = query.with_for_update()
            existing = {r.key: dict(r._mapping) for r in conn.execute(query)}
            for key in sorted(wanted):
                p, row = wanted[key], existing.get(key)
                if row is None:
                    counts["created"] += self._insert_proposal(conn, story_id, p, now)
                elif row["evidence_hash"] == p.evidence_hash:
                    counts["unchanged"] += 1
                else:
                    self._update_proposal(conn, row, p, now)
                    counts["updated"] += 1
        return counts

    def _insert_proposal(self, conn: Connection, story_id: int, p: Proposal, now: datetime) -> int:
        values = {
            **_proposal_values(p),
            "story_id": story_id,
            "key": p.key,
            "status": "proposed",
            "needs_review": False,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        stmt = (
            self.insert(timeline_entries)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["story_id", "key"])
            .returning(timeline_entries.c.id)
        )
        entry_id = conn.execute(stmt).scalar()
        if entry_id is None:  # another writer proposed it in the meantime: theirs stands
            return 0
        self._event(conn, entry_id, JOB, "proposed", None, _proposal_snapshot(values), now)
        return 1

    def _update_proposal(
        self, conn: Connection, row: Mapping[str, Any], p: Proposal, now: datetime
    ) -> None:
        values = _proposal_values(p)
        reviewed = row["status"] in ("approved", "hidden")
        done = conn.execute(
            update(timeline_entries)
            .where(timeline_entries.c.id == row["id"], timeline_entries.c.version == row["version"])
            .values(
                **values,
                version=row["version"] + 1,
                needs_review=True if reviewed else row["needs_review"],
                updated_at=now,
            )
        ).rowcount
        if done != 1:
            raise StorageError(
                f"timeline entry {row['id']} ({row['key']}) changed while the hourly update "
                "wrote it; nothing was written for this story: run the update again"
            )
        before, after = _proposal_snapshot(row), _proposal_snapshot(values)
        note = change_note({**row}, {**values})
        if reviewed:
            note += f"; the {row['status']} copy is unchanged until an editor reviews it"
        self._event(conn, row["id"], JOB, "updated", before, after, now, note=note)

    @staticmethod
    def _event(
        conn: Connection,
        entry_id: int,
        actor: str,
        action: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        now: datetime,
        *,
        note: str | None = None,
    ) -> None:
        conn.execute(
            timeline_events.insert().values(
                entry_id=entry_id,
                actor=actor,
                action=action,
                before=before,
                after=after,
                note=note,
                at=now,
            )
        )

    # --- reading ---------------------------------------------------------------------------

    def timeline_entries(
        self, story_id: int, *, statuses: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """A story's entries (every column, with slug and story_title), newest first."""
        query = _entries_query().where(timeline_entries.c.story_id == story_id)
        if statuses is not None:
            query = query.where(timeline_entries.c.status.in_(list(statuses)))
        query = query.order_by(timeline_entries.c.at.desc(), timeline_entries.c.id.desc())
        with self.reading() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def pending_timeline(self, *, limit: int = 100) -> list[dict[str, Any]]:
        """Entries waiting for an editor: proposed, or changed since they were reviewed
        (``needs_review``); with slug and story_title, newest first."""
        query = (
            _entries_query()
            .where(
                or_(
                    timeline_entries.c.status == "proposed",
                    timeline_entries.c.needs_review.is_(True),
                )
            )
            .order_by(timeline_entries.c.at.desc(), timeline_entries.c.id.desc())
            .limit(limit)
        )
        with self.reading() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def timeline_entry(self, entry_id: int) -> dict[str, Any] | None:
        """One entry with slug and story_title (None: no such entry)."""
        with self.reading() as conn:
            row = conn.execute(_entries_query().where(timeline_entries.c.id == entry_id)).first()
        return dict(row._mapping) if row else None

    def published_timeline(self, story_id: int) -> list[dict[str, Any]]:
        """What readers see: the approved entries' published copies (id, kind, at, title,
        text, link), newest first."""
        t = timeline_entries.c
        query = (
            select(
                t.id,
                t.kind,
                t.published_at.label("at"),
                t.published_title.label("title"),
                t.published_text.label("text"),
                t.published_link.label("link"),
            )
            .where(
                t.story_id == story_id,
                t.status == "approved",
                and_(t.published_at.is_not(None), t.published_title.is_not(None)),
                t.published_text.is_not(None),
            )
            .order_by(t.published_at.desc(), t.id.desc())
        )
        with self.reading() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        for r in rows:
            r["link"] = safe_url(r["link"])
        return rows

    def timeline_history(self, story_id: int) -> list[dict[str, Any]]:
        """The events of a story's entries (with the entry's key, kind and current title as
        entry_key, entry_kind, entry_title), newest first."""
        query = (
            select(
                timeline_events,
                timeline_entries.c.key.label("entry_key"),
                timeline_entries.c.kind.label("entry_kind"),
                timeline_entries.c.title.label("entry_title"),
            )
            .join(timeline_entries, timeline_entries.c.id == timeline_events.c.entry_id)
            .where(timeline_entries.c.story_id == story_id)
            .order_by(timeline_events.c.at.desc(), timeline_events.c.id.desc())
        )
        with self.reading() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    # --- editors -----------------------------------------------------------------------------

    def review_timeline_entry(
        self,
        entry_id: int,
        action: str,
        *,
        editor: str,
        seen_version: int,
        now: datetime,
        title: str | None = None,
        text: str | None = None,
        link: str | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """Approve (publish the current proposal), edit (publish the given words; a None field
        keeps the proposal's, a link of "" removes it) or hide (withdraw the published copy) an
        entry, only if it is still at ``seen_version``; else raise
        :class:`~noisecast.engine.core.review.ReviewConflict` naming who changed it when, and
        write nothing. Clears needs_review, bumps the version and records the event, in one
        transaction. Returns the entry as it now is."""
        if action not in ACTIONS:
            raise ValueError(f"action: expected one of {ACTIONS}, got {action!r}")
        with self.transaction() as conn:
            found = conn.execute(
                select(timeline_entries).where(timeline_entries.c.id == entry_id)
            ).first()
            if found is None or found.version != seen_version:
                raise ReviewConflict(self._timeline_conflict(conn, entry_id, seen_version))
            row = dict(found._mapping)
            values: dict[str, Any] = {
                "needs_review": False,
                "reviewer": editor,
                "reviewed_at": now,
                "version": row["version"] + 1,
                "updated_at": now,
            }
            if action == "hide":
                values |= {"status": "hidden", **dict.fromkeys(_PUBLISHED)}
            else:
                words = (row["title"], row["text"], row["link"], row["at"])
                if action == "edit":
                    words = check_entry(
                        row["title"] if title is None else title,
                        row["text"] if text is None else text,
                        row["link"] if link is None else link,
                        row["at"] if at is None else at,
                        now,
                    )
                values |= {
                    "status": "approved",
                    **dict(zip(_PUBLISHED[1:], words[:3], strict=True)),
                }
                values["published_at"] = words[3]
                if row["kind"] == "editor":  # an editor's own entry: the words are the entry
                    values |= {
                        "title": words[0],
                        "text": words[1],
                        "link": words[2],
                        "at": words[3],
                    }
            done = conn.execute(
                update(timeline_entries)
                .where(
                    timeline_entries.c.id == entry_id, timeline_entries.c.version == seen_version
                )
                .values(**values)
            ).rowcount
            if done != 1:
                raise ReviewConflict(self._timeline_conflict(conn, entry_id, seen_version))
            after = {**row, **values}
            self._event(conn, entry_id, editor, action, _state(row), _state(after), now)
            result = conn.execute(_entries_query().where(timeline_entries.c.id == entry_id)).one()
        return dict(result._mapping)

    @staticmethod
    def _timeline_conflict(conn: Connection, entry_id: int, seen_version: int) -> str:
        current = conn.execute(
            select(timeline_entries).where(timeline_entries.c.id == entry_id)
        ).first()
        last = conn.execute(
            select(timeline_events)
            .where(timeline_events.c.entry_id == entry_id)
            .order_by(timeline_events.c.at.desc(), timeline_events.c.id.desc())
            .limit(1)
        ).first()
        return conflict_message(
            None if current is None else dict(current._mapping),
            None if last is None else dict(last._mapping),
            seen_version=seen_version,
        )

    def add_timeline_entry(
        self,
        story_id: int,
        *,
        editor: str,
        at: datetime,
        title: str,
        text: str,
        link: str | None,
        now: datetime,
    ) -> dict[str, Any]:
        """An editor's own entry (e.g. "Internal memo sent"), checked
        (:func:`~noisecast.engine.core.timeline.check_entry`) and published at once: key
        ``editor:<hex>``, kind ``editor``, status approved; event ``added``."""
        title, text, checked, at = check_entry(title, text, link, at, now)
        evidence = {"editor": editor}
        key = f"editor:{secrets.token_hex(8)}"
        proposal = Proposal(key, "editor", at, title, text, checked, evidence)
        with self.transaction() as conn:
            if conn.execute(select(stories.c.id).where(stories.c.id == story_id)).first() is None:
                raise NoisecastError(
                    f"no story with id {story_id}: add the entry to a story that exists"
                )
            values = {
                **_proposal_values(proposal),
                "story_id": story_id,
                "key": key,
                "status": "approved",
                "needs_review": False,
                "published_at": at,
                "published_title": title,
                "published_text": text,
                "published_link": checked,
                "reviewer": editor,
                "reviewed_at": now,
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
            entry_id = conn.execute(
                timeline_entries.insert().values(**values).returning(timeline_entries.c.id)
            ).scalar_one()
            self._event(conn, entry_id, editor, "added", None, _state(values), now)
            result = conn.execute(_entries_query().where(timeline_entries.c.id == entry_id)).one()
        return dict(result._mapping)
