"""Stories: what the newsroom tracks, each with the query that finds its mentions."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import delete, literal, select, update

from noisecast.engine.errors import AlreadyExistsError, NoisecastError
from noisecast.engine.store._base import StoreBase
from noisecast.engine.store.tables import (
    mention_time,
    mentions,
    noise_changes,
    sources,
    stories,
    story_mentions,
)


class StoryChange(NamedTuple):
    id: int
    created: bool
    query_changed: bool  # created, or its query is not what it was: its matches are stale


class StoriesMixin(StoreBase):
    def upsert_story(
        self,
        slug: str,
        title: str,
        query: str,
        *,
        now: datetime,
        reactivate: bool = False,
        exists_ok: bool = True,
        tags: Sequence[str] | None = None,
    ) -> StoryChange:
        """Create the story, or update its title and query (and its ``tags``, which alert rules
        select on, unless None: left as they are). Without ``exists_ok`` a known slug is an
        AlreadyExistsError and nothing changes."""
        with self.transaction() as conn:
            existing = conn.execute(
                select(stories.c.id, stories.c.query, stories.c.status).where(
                    stories.c.slug == slug
                )
            ).first()
            if existing is not None and not exists_ok:
                archived = " (archived)" if existing.status != "active" else ""
                raise AlreadyExistsError(
                    f"story {slug!r} exists{archived}: add --replace to replace its title and "
                    "query" + (" and track it again" if archived else "")
                )
            if existing is None:
                row = conn.execute(
                    stories.insert().values(
                        slug=slug,
                        title=title,
                        query=query,
                        status="active",
                        created_at=now,
                        updated_at=now,
                        tags=list(tags or ()),
                    )
                )
                return StoryChange(int(row.inserted_primary_key[0]), True, True)  # type: ignore[index]
            values: dict[str, Any] = {"title": title, "query": query, "updated_at": now}
            if reactivate:
                values["status"] = "active"
            if tags is not None:
                values["tags"] = list(tags)
            conn.execute(update(stories).where(stories.c.id == existing.id).values(**values))
            return StoryChange(int(existing.id), False, existing.query != query)

    def list_stories(self, status: str | None = None) -> list[dict[str, Any]]:
        query = select(stories).order_by(stories.c.slug)
        if status:
            query = query.where(stories.c.status == status)
        with self.reading() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def archive_story(self, slug: str, *, now: datetime) -> None:
        with self.transaction() as conn:
            done = conn.execute(
                update(stories)
                .where(stories.c.slug == slug)
                .values(status="archived", updated_at=now)
            )
            if done.rowcount == 0:
                raise NoisecastError(f"no story {slug!r} (see `noisecast stories list`)")

    def story_id(self, slug: str) -> int:
        with self.reading() as conn:
            found = conn.execute(select(stories.c.id).where(stories.c.slug == slug)).scalar()
        if found is None:
            raise NoisecastError(f"no story {slug!r} (see `noisecast stories list`)")
        return int(found)

    def mention_texts(self, since: datetime, *, batch: int = 2000) -> Iterator[list[Any]]:
        """(id, title, summary) of the mentions published (else first seen) since ``since``,
        in batches, oldest first."""
        when = mention_time()
        query = (
            select(mentions.c.id, mentions.c.title, mentions.c.summary)
            .where(when >= since)
            .order_by(mentions.c.id)
        )
        with self.reading() as conn:
            result = conn.execution_options(yield_per=batch).execute(query)
            for part in result.partitions(batch):
                yield list(part)

    def mention_details(self, ids: list[int]) -> list[dict[str, Any]]:
        """``id, title, url, outlet, source, when`` of these mentions, newest first."""
        when = mention_time()
        query = (
            select(
                mentions.c.id,
                mentions.c.title,
                mentions.c.url,
                mentions.c.outlet,
                sources.c.name.label("source"),
                when.label("when"),
            )
            .join(sources, sources.c.id == mentions.c.source_id)
            .where(mentions.c.id.in_(ids))
            .order_by(when.desc(), mentions.c.id.desc())
        )
        with self.reading() as conn:
            return [dict(r._mapping) for r in conn.execute(query)] if ids else []

    def replace_matches(
        self,
        story_id: int,
        since: datetime,
        matched: Mapping[int, list[str]],
        *,
        now: datetime,
    ) -> tuple[int, int]:
        """Make the story's matches among mentions since ``since`` exactly ``matched``
        (mention id -> terms). Older matches are kept. Returns (added, removed)."""
        when = mention_time()
        in_window = select(mentions.c.id).where(when >= since)
        with self.transaction() as conn:
            current = set(
                conn.execute(
                    select(story_mentions.c.mention_id).where(
                        story_mentions.c.story_id == story_id,
                        story_mentions.c.mention_id.in_(in_window),
                    )
                ).scalars()
            )
            stale = sorted(current - set(matched))
            for i in range(0, len(stale), 500):
                conn.execute(
                    delete(story_mentions).where(
                        story_mentions.c.story_id == story_id,
                        story_mentions.c.mention_id.in_(stale[i : i + 500]),
                    )
                )
            rows = [
                {"story_id": story_id, "mention_id": mid, "matched_terms": terms, "matched_at": now}
                for mid, terms in matched.items()
            ]
            if rows:
                stmt = self.insert(story_mentions)
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[story_mentions.c.story_id, story_mentions.c.mention_id],
                        set_={"matched_terms": stmt.excluded.matched_terms},
                    ),
                    rows,
                )
            added = sorted(set(matched) - current)
            changed = stale + added
            for i in range(0, len(changed), 500):
                conn.execute(
                    noise_changes.insert().from_select(
                        ["story_id", "mention_id", "at"],
                        select(literal(story_id), mentions.c.id, when).where(
                            mentions.c.id.in_(changed[i : i + 500])
                        ),
                    )
                )
        return len(added), len(stale)
