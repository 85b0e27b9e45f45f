"""What noisecast tracks: sources and stories, from config.toml or added by hand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.config import Settings, SourceSettings, StorySettings, validate
from engine.rematch import rematch_story
from engine.store import Store
from feeds.urls import outlet_host


@dataclass(frozen=True, slots=True)
class SyncReport:
    sources_created: int
    sources_updated: int
    stories_created: int
    stories_updated: int
    rematched: int = 0


def sync_from_config(store: Store, settings: Settings, *, now: datetime) -> SyncReport:
    """Create or update every ``[[sources]]`` and ``[[stories]]`` of config in the database.

    Sources and stories that are only in the database (added with the CLI) are left alone.
    """
    counts = [0, 0, 0, 0, 0]
    for src in settings.sources:
        _, created = store.upsert_source(
            kind=src.kind,
            name=src.name,
            url=src.endpoint,
            interval_minutes=src.interval_minutes or settings.collector.default_interval_minutes,
            now=now,
            settings={"options": src.options} if src.options else None,
        )
        counts[0 if created else 1] += 1
        if not src.enabled:
            store.disable_source(src.name, reason="disabled in config", now=now)
    for story in settings.stories:
        change = store.upsert_story(story.slug, story.title, story.query, now=now)
        counts[2 if change.created else 3] += 1
        if change.query_changed and settings.matching.rematch_days:
            rematch_story(
                store, story.slug, story.query, now=now, days=settings.matching.rematch_days
            )
            counts[4] += 1
    return SyncReport(*counts)


def add_source(
    store: Store,
    settings: Settings,
    url: str,
    *,
    kind: str = "rss",
    name: str | None = None,
    now: datetime,
) -> tuple[str, bool]:
    """Add (or update) one source; its name defaults to the URL's host. Returns (name, created)."""
    validate(SourceSettings, {"kind": kind, "name": name or "-", "url": url}, "sources add")
    name = name or outlet_host(url) or url
    _, created = store.upsert_source(
        kind=kind,
        name=name,
        url=url,
        interval_minutes=settings.collector.default_interval_minutes,
        now=now,
    )
    return name, created


def add_story(
    store: Store, settings: Settings, slug: str, title: str, query: str, *, now: datetime
) -> bool:
    """Add a story, or update and reactivate it; rematch the recent mentions if its query is
    new. The query must parse. Returns whether the story was created."""
    validate(StorySettings, {"slug": slug, "title": title, "query": query}, "stories add")
    change = store.upsert_story(slug, title, query, now=now, reactivate=True)
    if change.query_changed and settings.matching.rematch_days:
        rematch_story(store, slug, query, now=now, days=settings.matching.rematch_days)
    return change.created
