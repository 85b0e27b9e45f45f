"""Mentions, their story matches and engagement, written with one collection of a source.

A source's mentions, story matches, engagement history, syndication groups, ``fetches`` rows,
cursors and new schedule commit together or not at all: a crash mid-run leaves each source
either fully recorded or still due, so a rerun fills the gap and the unique key
(source, external id) keeps it from duplicating.

Every value is fitted to its column first (``noisecast.engine.store._fit``): counts clamped, text
storable, error text printable, and a mention's time never later than when it was first seen
(the date its feed stated kept in ``stated_published_at``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.engine import Connection

from noisecast.engine.core.match import tokenize
from noisecast.engine.core.syndication import WEB_KINDS, Grouper, Item, keys_of
from noisecast.engine.store._base import StoreBase
from noisecast.engine.store._fit import Stored, fitted, fitted_fetch, printable_text
from noisecast.engine.store.tables import (
    fetches,
    mention_engagement,
    mentions,
    noise_changes,
    source_cursors,
    sources,
    stories,
    story_mentions,
    syndication_heads,
)
from noisecast.feeds.base import Cursor
from noisecast.feeds.mention import Mention

_CHUNK = 500
_UPDATED_ON_CONFLICT = (
    "url",
    "canonical_url",
    "link_url",
    "title_key",
    "title",
    "summary",
    "author",
    "outlet",
    "score",
    "comments",
    "stated_published_at",
    "updated_at",
)


def title_key(title: str) -> str:
    """A key that is equal for the same headline however it is cased, accented or spaced."""
    return _headline(title)[0]


def _headline(title: str) -> tuple[str, int]:
    """(title key, number of words) of a headline, from one tokenization."""
    words = tokenize(title)
    return hashlib.sha1(" ".join(words).encode()).hexdigest(), len(words)


_FETCH_DEFAULTS: dict[str, Any] = {
    "http_status": None,
    "bytes": None,
    "items_seen": 0,
    "items_new": 0,
    "parser": None,
    "error": None,
}
_CURSOR_DEFAULTS: dict[str, Any] = {
    "etag": None,
    "last_modified": None,
    "body_hash": None,
    "state": None,
}


@dataclass(frozen=True, slots=True)
class Collected:
    """One source's collection, waiting to be written."""

    source_id: int
    kind: str
    found: Sequence[Mention]
    matches: Mapping[str, Mapping[str, list[str]]]
    outcome: Callable[[set[str]], Outcome]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a collection decided, once the number of new mentions is known."""

    fetch_rows: Sequence[Mapping[str, Any]]
    source_values: Mapping[str, Any]
    cursors: Mapping[str, Mapping[str, Any]]  # task key -> new cursor values


def _chunks(values: Sequence[Any]) -> list[Sequence[Any]]:
    return [values[i : i + _CHUNK] for i in range(0, len(values), _CHUNK)]


class MentionsMixin(StoreBase):
    def cursors(self, source_id: int) -> dict[str, Cursor]:
        """Every task's cursor of a source, by task key."""
        with self.reading() as conn:
            rows = conn.execute(
                select(source_cursors).where(source_cursors.c.source_id == source_id)
            ).all()
        return {
            r.key: Cursor(
                etag=r.etag,
                last_modified=r.last_modified,
                body_hash=r.body_hash,
                state=r.state or {},
            )
            for r in rows
        }

    def record_collection(
        self,
        *,
        source_id: int,
        kind: str,
        found: Sequence[Mention],
        matches: Mapping[str, Mapping[str, list[str]]],
        outcome: Callable[[set[str]], Outcome],
        now: datetime,
    ) -> int:
        """Store one collection of a source; returns how many mentions were new."""
        return self.record_collections(
            [Collected(source_id, kind, found, matches, outcome)], now=now
        )[0]

    def record_collections(self, batch: Sequence[Collected], *, now: datetime) -> list[int]:
        """Store several sources' collections in one transaction, with set-wise statements.

        For each: ``matches`` maps a mention's external id to {story slug: matched terms};
        ``outcome(known)`` gives its fetch rows, the source's new values and the cursors to
        save; it is called inside the transaction with the external ids that were already
        stored, so that it can count what is new. Returns the number of new mentions of each.
        """
        # ids repeated within a collection count once
        uniques = [{m.external_id: m for m in c.found} for c in batch]
        keys = [(c.source_id, ext) for c, u in zip(batch, uniques, strict=True) for ext in u]
        with self.transaction(refusable=True) as conn:
            known = self._known(conn, keys)
            stated: dict[tuple[int, str], datetime | None] = {}
            for c, u in zip(batch, uniques, strict=True):
                for ext, m in u.items():
                    key = (c.source_id, ext)
                    u[ext], stated[key] = fitted(m, known.get(key), now)
            headlines = {key: _headline(m.title) for key, m in _pairs(batch, uniques)}
            rows = [
                {
                    **_row(c.source_id, c.kind, m, headlines[(c.source_id, ext)][0], now),
                    "stated_published_at": stated[(c.source_id, ext)],
                }
                for c, u in zip(batch, uniques, strict=True)
                for ext, m in u.items()
            ]
            ids = self._upsert(conn, rows) if rows else {}
            found = dict(_pairs(batch, uniques))
            self._engagement(conn, found, known, ids, now)
            web_sources = {c.source_id for c in batch if c.kind in WEB_KINDS}
            web = {k: m for k, m in found.items() if k[0] in web_sources}
            self._group(conn, web, known, ids, headlines, batch, now)
            before = self._pairs_of(conn, [ids[k] for k in known if k in ids])
            self._store_matches(conn, batch, ids, now)
            self._log_changes(conn, found, known, ids, before, now)
            new_counts: list[int] = []
            fetch_rows: list[dict[str, Any]] = []
            cursor_rows: list[dict[str, Any]] = []
            source_rows: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for c, u in zip(batch, uniques, strict=True):
                seen = {ext for ext in u if (c.source_id, ext) in known}
                decided = c.outcome(seen)
                new_counts.append(len(u) - len(seen))
                fetch_rows += [
                    fitted_fetch({**_FETCH_DEFAULTS, **r, "source_id": c.source_id})
                    for r in decided.fetch_rows
                ]
                cursor_rows += [
                    {
                        **_CURSOR_DEFAULTS,
                        **values,
                        "source_id": c.source_id,
                        "key": key,
                        "updated_at": now,
                    }
                    for key, values in decided.cursors.items()
                ]
                # written whole: a worker's lease on the source (noisecast.engine.store._jobs) ends
                # here
                values = {**decided.source_values, "lease_owner": None, "lease_until": None}
                for column in ("last_error", "disabled_reason"):
                    if column in values:
                        values[column] = printable_text(values[column])
                source_rows.setdefault(tuple(sorted(values)), []).append(
                    {"b_id": c.source_id, **{f"b_{k}": v for k, v in values.items()}}
                )
            if fetch_rows:
                conn.execute(fetches.insert(), fetch_rows)
            if cursor_rows:
                stmt = self.insert(source_cursors)
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[source_cursors.c.source_id, source_cursors.c.key],
                        set_={
                            col: stmt.excluded[col]
                            for col in ("etag", "last_modified", "body_hash", "state", "updated_at")
                        },
                    ),
                    cursor_rows,
                )
            for columns, params in source_rows.items():
                conn.execute(
                    update(sources)
                    .where(sources.c.id == bindparam("b_id"))
                    .values({col: bindparam(f"b_{col}") for col in columns}),
                    params,
                )
        return new_counts

    def _known(
        self, conn: Connection, keys: list[tuple[int, str]]
    ) -> dict[tuple[int, str], Stored]:
        """(source id, external id) -> what each mention already stored held.

        One query per source, ``source_id = ? AND external_id IN (...)``, so that the unique
        index answers it: a row-value ``(source_id, external_id) IN (...)`` scans the table
        on SQLite.
        """
        by_source: dict[int, list[str]] = {}
        for source_id, ext in keys:
            by_source.setdefault(source_id, []).append(ext)
        known: dict[tuple[int, str], Stored] = {}
        columns = (
            mentions.c.external_id,
            mentions.c.score,
            mentions.c.comments,
            mentions.c.published_at,
            mentions.c.fetched_at,
            mentions.c.outlet,
            mentions.c.stated_published_at,
        )
        for source_id, ext_ids in by_source.items():
            for chunk in _chunks(ext_ids):
                rows = conn.execute(
                    select(*columns).where(
                        mentions.c.source_id == source_id, mentions.c.external_id.in_(chunk)
                    )
                )
                known.update({(source_id, r.external_id): Stored(*r[1:]) for r in rows})
        return known

    def _pairs_of(self, conn: Connection, mention_ids: list[int]) -> set[tuple[int, int]]:
        """The (story id, mention id) matches stored for these mentions."""
        pairs: set[tuple[int, int]] = set()
        for chunk in _chunks(sorted(mention_ids)):
            rows = conn.execute(
                select(story_mentions.c.story_id, story_mentions.c.mention_id).where(
                    story_mentions.c.mention_id.in_(chunk)
                )
            )
            pairs.update((r.story_id, r.mention_id) for r in rows)
        return pairs

    def _log_changes(
        self,
        conn: Connection,
        found: Mapping[tuple[int, str], Mention],
        known: Mapping[tuple[int, str], Stored],
        ids: Mapping[tuple[int, str], int],
        before: set[tuple[int, int]],
        now: datetime,
    ) -> None:
        """Log every (story, mention) whose hourly rows this collection may have altered: new
        matches, and known matches whose time, outlet or engagement changed (at the old time
        and the new one), for the incremental hourly update (noisecast.engine.jobs.noise)."""
        when: dict[int, datetime] = {}  # each mention's time after this collection
        moved: dict[int, set[datetime]] = {}  # known mentions that changed: old and new time
        for key, m in found.items():
            if key not in ids:
                continue
            old = known.get(key)
            if old is None:
                when[ids[key]] = m.published_at or now
                continue
            published = m.published_at or old.published_at
            when[ids[key]] = published or old.fetched_at
            if (published, m.outlet, m.score, m.comments) != (
                old.published_at,
                old.outlet,
                old.score,
                old.comments,
            ):
                moved[ids[key]] = {old.when, when[ids[key]]}
        after = self._pairs_of(conn, sorted(when))
        rows = [
            {"story_id": story_id, "mention_id": mention_id, "at": at}
            for story_id, mention_id in sorted(after)
            for at in sorted(
                moved.get(mention_id, ())
                if (story_id, mention_id) in before
                else {when[mention_id]}
            )
        ]
        if rows:
            conn.execute(noise_changes.insert(), rows)

    def _upsert(self, conn: Connection, rows: list[dict[str, Any]]) -> dict[tuple[int, str], int]:
        """Insert or update every row; (source id, external id) -> mention id.

        A plain executemany, then the ids read back per source through the unique index:
        with RETURNING, SQLAlchemy runs an ON CONFLICT upsert on SQLite row by row.
        """
        stmt = self.insert(mentions)
        stmt = stmt.on_conflict_do_update(
            index_elements=[mentions.c.source_id, mentions.c.external_id],
            set_={col: stmt.excluded[col] for col in _UPDATED_ON_CONFLICT}
            | {"published_at": func.coalesce(stmt.excluded.published_at, mentions.c.published_at)},
        )
        conn.execute(stmt, rows)
        by_source: dict[int, list[str]] = {}
        for row in rows:
            by_source.setdefault(row["source_id"], []).append(row["external_id"])
        ids: dict[tuple[int, str], int] = {}
        for source_id, ext_ids in by_source.items():
            for chunk in _chunks(ext_ids):
                found = conn.execute(
                    select(mentions.c.external_id, mentions.c.id).where(
                        mentions.c.source_id == source_id, mentions.c.external_id.in_(chunk)
                    )
                )
                ids.update({(source_id, r.external_id): r.id for r in found})
        return ids

    def _engagement(
        self,
        conn: Connection,
        found: Mapping[tuple[int, str], Mention],
        known: Mapping[tuple[int, str], Stored],
        ids: Mapping[tuple[int, str], int],
        now: datetime,
    ) -> None:
        """A history row whenever a mention's counts are new or have changed."""
        rows = [
            {"mention_id": ids[key], "observed_at": now, "score": m.score, "comments": m.comments}
            for key, m in found.items()
            if (m.score is not None or m.comments is not None)
            and (
                key not in known or (known[key].score, known[key].comments) != (m.score, m.comments)
            )
        ]
        if rows:
            stmt = self.insert(mention_engagement).on_conflict_do_nothing(
                index_elements=[mention_engagement.c.mention_id, mention_engagement.c.observed_at]
            )
            conn.execute(stmt, rows)

    def _group(
        self,
        conn: Connection,
        web: Mapping[tuple[int, str], Mention],
        known: Mapping[tuple[int, str], object],
        ids: Mapping[tuple[int, str], int],
        headlines: Mapping[tuple[int, str], tuple[str, int]],
        batch: Sequence[Collected],
        now: datetime,
    ) -> None:
        """Give each new web mention its syndication group (see
        noisecast.engine.core.syndication)."""
        kinds = {c.source_id: c.kind for c in batch}
        new = sorted(
            (
                Item(
                    id=ids[key],
                    kind=kinds[key[0]],
                    canonical_url=m.canonical_url,
                    title_key=headlines[key][0],
                    title_words=headlines[key][1],
                    when=m.published_at or now,
                )
                for key, m in web.items()
                if key not in known
            ),
            key=lambda i: i.id,
        )
        if not new:
            return
        keys = sorted({k for i in new for k in keys_of(i)})
        heads: dict[str, Item] = {}
        for chunk in _chunks(keys):
            for r in conn.execute(
                select(syndication_heads).where(syndication_heads.c.key.in_(chunk))
            ):
                heads[r.key] = Item(r.mention_id, "rss", None, "", 0, r.at, r.group_id)
        grouper = Grouper(heads)
        groups = [{"b_id": i.id, "b_group": grouper.add(i)} for i in new]
        conn.execute(
            update(mentions)
            .where(mentions.c.id == bindparam("b_id"))
            .values(group_id=bindparam("b_group")),
            groups,
        )
        if grouper.changed:
            stmt = self.insert(syndication_heads)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[syndication_heads.c.key],
                    set_={
                        "mention_id": stmt.excluded.mention_id,
                        "group_id": stmt.excluded.group_id,
                        "at": stmt.excluded.at,
                    },
                ),
                [
                    {
                        "key": key,
                        "mention_id": grouper.heads[key].id,
                        "group_id": grouper.heads[key].group_id,
                        "at": grouper.heads[key].when,
                    }
                    for key in sorted(grouper.changed)
                ],
            )

    def _store_matches(
        self,
        conn: Connection,
        batch: Sequence[Collected],
        ids: Mapping[tuple[int, str], int],
        now: datetime,
    ) -> None:
        slugs = sorted({slug for c in batch for per in c.matches.values() for slug in per})
        if not slugs:
            return
        story_ids = dict(
            conn.execute(
                select(stories.c.slug, stories.c.id).where(stories.c.slug.in_(slugs))
            ).all()
        )
        rows = [
            {
                "story_id": story_ids[slug],
                "mention_id": ids[(c.source_id, ext)],
                "matched_terms": terms,
                "matched_at": now,
            }
            for c in batch
            for ext, per in c.matches.items()
            for slug, terms in per.items()
            if slug in story_ids and (c.source_id, ext) in ids
        ]
        if rows:
            stmt = self.insert(story_mentions).on_conflict_do_nothing(
                index_elements=[story_mentions.c.story_id, story_mentions.c.mention_id]
            )
            conn.execute(stmt, rows)

    def mention_counts(self) -> dict[str, int]:
        """Mentions matched so far, per story slug (every story, zero included)."""
        query = (
            select(stories.c.slug, func.count(story_mentions.c.mention_id))
            .select_from(stories.outerjoin(story_mentions))
            .group_by(stories.c.slug)
        )
        with self.reading() as conn:
            return {slug: int(n) for slug, n in conn.execute(query)}


def _pairs(
    batch: Sequence[Collected], uniques: Sequence[Mapping[str, Mention]]
) -> Iterator[tuple[tuple[int, str], Mention]]:
    for c, u in zip(batch, uniques, strict=True):
        for ext, m in u.items():
            yield (c.source_id, ext), m


def _row(source_id: int, kind: str, m: Mention, key: str, now: datetime) -> dict[str, Any]:
    return {
        "source_id": source_id,
        "external_id": m.external_id,
        "kind": kind,
        "url": m.url,
        "canonical_url": m.canonical_url,
        "link_url": m.link_url,
        "title_key": key,
        "title": m.title,
        "summary": m.summary,
        "author": m.author,
        "outlet": m.outlet,
        "published_at": m.published_at,
        "fetched_at": now,
        "updated_at": now,
        "score": m.score,
        "comments": m.comments,
    }
