"""Syndicated copies are grouped: same canonical URL, or the same headline within a day."""

from __future__ import annotations

from datetime import UTC, timedelta
from pathlib import Path

from rich.console import Console
from sqlalchemy import create_engine, func, select

from noisecast.engine.config import Settings
from noisecast.engine.core.match import tokenize
from noisecast.engine.core.syndication import WEB_KINDS, Grouper, Item, assign_groups
from noisecast.engine.demo.cycle import generate_cycle
from noisecast.engine.demo.run import DEMO_START, run_demo
from noisecast.engine.store import Store
from noisecast.engine.store.tables import mentions
from tests.conftest import T0
from tests.test_store import add_source, mention, record


def item(
    i: int,
    url: str | None = None,
    key: str = "k",
    words: int = 5,
    hours: float = 0,
    kind: str = "rss",
) -> Item:
    return Item(i, kind, url, key, words, T0 + timedelta(hours=hours))


def test_same_canonical_url_joins_the_earliest() -> None:
    groups = assign_groups([item(3, "u", "a"), item(1, "u", "b"), item(2, "v", "c")])
    assert groups == {1: 1, 2: 2, 3: 1}


def test_same_title_within_a_day_only() -> None:
    groups = assign_groups(
        [item(1, key="t"), item(2, key="t", hours=23), item(3, key="t", hours=49)]
    )
    assert groups == {1: 1, 2: 1, 3: 3}  # 3 is 49 h after 1 and 26 h after 2


def test_short_generic_headlines_never_group_by_title() -> None:
    assert assign_groups([item(1, words=2), item(2, words=2)]) == {1: 1, 2: 2}


def test_social_posts_are_never_grouped() -> None:
    groups = assign_groups([item(1, "u"), item(2, "u", kind="reddit"), item(3, "u")])
    assert groups == {1: 1, 2: 2, 3: 1}


def test_incremental_equals_rebuild_in_any_batching() -> None:
    items = [item(i, url=f"u{i % 3}", key=f"k{i % 4}", hours=i * 5) for i in range(1, 40)]
    full = assign_groups(items)
    for cut in (1, 10, 25):
        earlier = Grouper()
        for i in items[:cut]:
            earlier.add(i)
        later = Grouper(earlier.heads)  # only the heads are kept between batches
        assert {i.id: later.add(i) for i in items[cut:]} == {i.id: full[i.id] for i in items[cut:]}


def test_a_headline_regroups_after_a_day() -> None:
    # The same headline three days running: three groups, each of a day.
    items = [item(1, key="t"), item(2, key="t", hours=20), item(3, key="t", hours=30)]
    assert assign_groups(items) == {1: 1, 2: 1, 3: 3}


def test_store_groups_copies_across_sources(store: Store) -> None:
    wire, paper = add_source(store, "wire"), add_source(store, "paper")
    record(store, wire, [mention(1, title="Dockworkers strike halts the port of Porthaven")])
    on_paper = {
        7: ("Dockworkers strike halts the port of Porthaven", "https://paper.example/x"),
        8: ("Something else entirely happened", "https://wire.example/a/1"),
        9: ("Unrelated local news today", "https://paper.example/z"),
    }
    found = [mention(i, title=t, url=u, canonical_url=u) for i, (t, u) in on_paper.items()]
    record(store, paper, found)
    with store.engine.connect() as conn:
        rows = dict(conn.execute(select(mentions.c.external_id, mentions.c.group_id)).all())
        first = conn.execute(select(mentions.c.id).where(mentions.c.source_id == wire)).scalar()
    assert rows["guid-1"] == first
    assert rows["guid-7"] == first  # same headline within a day
    assert rows["guid-8"] == first  # same canonical URL
    assert rows["guid-9"] != first


def test_demo_groups_match_a_full_rebuild(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    run_demo(
        Settings(),
        hours=24,
        database_url=f"sqlite:///{db}",
        console=Console(quiet=True),
        quiet=True,
    )
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                mentions.c.id,
                mentions.c.kind,
                mentions.c.canonical_url,
                mentions.c.title_key,
                mentions.c.title,
                func.coalesce(mentions.c.published_at, mentions.c.fetched_at),
                mentions.c.group_id,
            )
        ).all()
    engine.dispose()
    # A coalesce() of two timestamps comes back from SQLite as a naive UTC value.
    items = [
        Item(r[0], r[1], r[2], r[3], len(tokenize(r[4])), r[5].replace(tzinfo=UTC)) for r in rows
    ]
    # Social posts (the demo's Hacker News and Mastodon) are never grouped.
    assert all(r[6] is None for r in rows if r[1] not in WEB_KINDS)
    stored = {r[0]: r[6] for r in rows if r[1] in WEB_KINDS}
    assert assign_groups(i for i in items if i.kind in WEB_KINDS) == stored
    cycle = generate_cycle(DEMO_START, hours=24)
    copies = sum(
        1
        for a in cycle.articles
        if a.canonical_url and a.published <= DEMO_START + timedelta(hours=24)
    )
    assert copies > 0
    assert len(stored) - len(set(stored.values())) >= copies  # every copy joined a group
