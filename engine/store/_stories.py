"""Stories: what the newsroom tracks, each with the query that finds its mentions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from engine.errors import NoisecastError
from engine.store._base import StoreBase
from engine.store.tables import stories


class StoriesMixin(StoreBase):
    def upsert_story(
        self, slug: str, title: str, query: str, *, now: datetime, reactivate: bool = False
    ) -> tuple[int, bool]:
        """Create the story, or update its title and query. Returns (id, created)."""
        with self.transaction() as conn:
            existing = conn.execute(select(stories.c.id).where(stories.c.slug == slug)).first()
            if existing is None:
                row = conn.execute(
                    stories.insert().values(
                        slug=slug,
                        title=title,
                        query=query,
                        status="active",
                        created_at=now,
                        updated_at=now,
                    )
                )
                return int(row.inserted_primary_key[0]), True  # type: ignore[index]
            values: dict[str, Any] = {"title": title, "query": query, "updated_at": now}
            if reactivate:
                values["status"] = "active"
            conn.execute(update(stories).where(stories.c.id == existing.id).values(**values))
            return int(existing.id), False

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
