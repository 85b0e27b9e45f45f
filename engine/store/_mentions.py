"""Mentions and their story matches, written with one fetch's record in one transaction.

A fetch's mentions, its story matches, its ``fetches`` row and its source's new state commit
together or not at all: a crash mid-run leaves each source either fully recorded or still due,
so a rerun fills the gap and the unique key (source, external id) keeps it from duplicating.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from engine.match import tokenize
from engine.store._base import StoreBase
from engine.store.tables import fetches, mentions, sources, stories, story_mentions
from feeds.mention import Mention

_CHUNK = 500


def title_key(title: str) -> str:
    """A key that is equal for the same headline however it is cased, accented or spaced."""
    return hashlib.sha1(" ".join(tokenize(title)).encode()).hexdigest()


class MentionsMixin(StoreBase):
    def record_fetch(
        self,
        *,
        source_id: int,
        found: Sequence[Mention],
        matches: Mapping[str, Mapping[str, list[str]]],
        outcome: Callable[[int], tuple[Mapping[str, Any], Mapping[str, Any]]],
        now: datetime,
    ) -> int:
        """Store one fetch: new mentions (upserted), matches, the attempt, the source's state.

        ``matches`` maps a mention's external id to {story slug: matched terms}.
        ``outcome(items_new)`` gives the ``fetches`` row and the source's new values; it is
        called inside the transaction, once the number of new mentions is known.
        Returns how many mentions were new.
        """
        unique = {m.external_id: m for m in found}  # a feed that repeats an id counts it once
        with self.transaction() as conn:
            known: set[str] = set()
            ids = list(unique)
            for i in range(0, len(ids), _CHUNK):
                known.update(
                    conn.execute(
                        select(mentions.c.external_id).where(
                            mentions.c.source_id == source_id,
                            mentions.c.external_id.in_(ids[i : i + _CHUNK]),
                        )
                    ).scalars()
                )
            if unique:
                rows = [_row(source_id, m, now) for m in unique.values()]
                stmt = self.insert(mentions)
                stmt = stmt.on_conflict_do_update(
                    index_elements=[mentions.c.source_id, mentions.c.external_id],
                    set_={
                        col: stmt.excluded[col]
                        for col in (
                            "url",
                            "canonical_url",
                            "title_key",
                            "title",
                            "summary",
                            "author",
                            "outlet",
                            "score",
                            "comments",
                            "updated_at",
                        )
                    }
                    | {
                        "published_at": func.coalesce(
                            stmt.excluded.published_at, mentions.c.published_at
                        )
                    },
                )
                conn.execute(stmt, rows)
            if matches:
                self._store_matches(conn, source_id, matches, now)
            items_new = len(unique) - len(known)
            fetch, source_values = outcome(items_new)
            conn.execute(
                fetches.insert().values(
                    source_id=source_id, items_seen=len(found), items_new=items_new, **fetch
                )
            )
            conn.execute(update(sources).where(sources.c.id == source_id).values(**source_values))
        return items_new

    def _store_matches(
        self,
        conn: Any,
        source_id: int,
        matches: Mapping[str, Mapping[str, list[str]]],
        now: datetime,
    ) -> None:
        slugs = {slug for per in matches.values() for slug in per}
        story_ids = dict(
            conn.execute(
                select(stories.c.slug, stories.c.id).where(stories.c.slug.in_(slugs))
            ).all()
        )
        ext_ids = list(matches)
        mention_ids: dict[str, int] = {}
        for i in range(0, len(ext_ids), _CHUNK):
            mention_ids.update(
                conn.execute(
                    select(mentions.c.external_id, mentions.c.id).where(
                        mentions.c.source_id == source_id,
                        mentions.c.external_id.in_(ext_ids[i : i + _CHUNK]),
                    )
                ).all()
            )
        rows = [
            {
                "story_id": story_ids[slug],
                "mention_id": mention_ids[ext],
                "matched_terms": terms,
                "matched_at": now,
            }
            for ext, per in matches.items()
            for slug, terms in per.items()
            if slug in story_ids and ext in mention_ids
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


def _row(source_id: int, m: Mention, now: datetime) -> dict[str, Any]:
    return {
        "source_id": source_id,
        "external_id": m.external_id,
        "url": m.url,
        "canonical_url": m.canonical_url,
        "title_key": title_key(m.title),
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
