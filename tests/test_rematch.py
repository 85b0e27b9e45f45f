"""Adding or editing a story rematches the stored mentions of the last N days."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from noisecast.engine.config import MatchingSettings, Settings, StorySettings
from noisecast.engine.jobs.catalog import add_story, sync_from_config
from noisecast.engine.store import Store
from noisecast.engine.store.tables import mentions, story_mentions
from tests.conftest import T0
from tests.test_store import add_source, mention, record


def matched(store: Store, slug: str) -> dict[str, list[str]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(mentions.c.external_id, story_mentions.c.matched_terms)
            .join(mentions, mentions.c.id == story_mentions.c.mention_id)
            .where(story_mentions.c.story_id == store.story_id(slug))
        ).all()
    return {ext: terms for ext, terms in rows}


def seed(store: Store) -> None:
    source_id = add_source(store)
    record(
        store,
        source_id,
        [
            mention(
                1, title="Dockworkers strike at the harbour", published_at=T0 - timedelta(days=1)
            ),
            mention(2, title="Port strike enters day two", published_at=T0 - timedelta(days=2)),
            mention(
                3, title="Dockworkers strike, a month ago", published_at=T0 - timedelta(days=30)
            ),
            mention(4, title="Council budget vote", published_at=T0 - timedelta(hours=3)),
        ],
    )


def test_adding_a_story_matches_the_recent_mentions(store: Store) -> None:
    seed(store)
    settings = Settings(matching=MatchingSettings(rematch_days=7))
    assert add_story(store, settings, "strike", "Strike", "dockworkers OR strike", now=T0)
    assert matched(store, "strike") == {
        "guid-1": ["dockworkers", "strike"],
        "guid-2": ["strike"],
    }  # guid-3 is older than the window: untouched


def test_changing_a_query_adds_and_removes_matches(store: Store) -> None:
    seed(store)
    settings = Settings(matching=MatchingSettings(rematch_days=7))
    add_story(store, settings, "strike", "Strike", "strike", now=T0)
    add_story(store, settings, "strike", "Strike", '"port strike" OR budget', now=T0, replace=True)
    assert matched(store, "strike") == {"guid-2": ["port strike"], "guid-4": ["budget"]}
    # Editing only the title does not touch the matches.
    add_story(
        store, settings, "strike", "Port strike", '"port strike" OR budget', now=T0, replace=True
    )
    assert set(matched(store, "strike")) == {"guid-2", "guid-4"}


def test_config_reload_rematches_only_changed_queries(store: Store) -> None:
    seed(store)
    story = StorySettings(slug="strike", title="Strike", query="dockworkers")
    settings = Settings(stories=(story,), matching=MatchingSettings(rematch_days=7))
    assert sync_from_config(store, settings, now=T0).rematched == 1
    assert set(matched(store, "strike")) == {"guid-1"}
    assert sync_from_config(store, settings, now=T0).rematched == 0
    off = Settings(
        stories=(StorySettings(slug="strike", title="Strike", query="budget"),),
        matching=MatchingSettings(rematch_days=0),
    )
    assert sync_from_config(store, off, now=T0).rematched == 0
    assert set(matched(store, "strike")) == {"guid-1"}  # rematching is off: nothing moved
