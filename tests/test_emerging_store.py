"""Emerging stories in the store, on SQLite and PostgreSQL: the clusterer's state saved on a
version (a second writer loses), the mentions to cluster after a cursor (and skipped id ranges),
the member rows the rules read, proposals synced by cluster (an editor's decision is never
undone by the hourly job, absent ones expire), conditional status changes with their audit
trail, and suggested query terms."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from noisecast.engine.core.emerging import (
    Headline,
    Proposal,
    QueryQuality,
    QuerySuggestion,
    TermSuggestion,
)
from noisecast.engine.store import Store
from noisecast.engine.store.tables import emerging_events, emerging_proposals, query_suggestions
from tests.conftest import T0
from tests.test_store import add_source, mention, record

HOUR = T0.replace(minute=0)


def count(store: Store, table: object) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def headline(i: int) -> Headline:
    return Headline(i, f"Dam fails upstream of Riverton {i}", f"https://w.example/{i}", "w", T0)


def proposal(cluster: int, score: float = 50.0, title: str = "Dam fails") -> Proposal:
    quality = QueryQuality(precision=1.0, recall=0.8, recent_matches=0, cluster_matches=4)
    return Proposal(
        cluster=cluster,
        title=title,
        headlines=(headline(1), headline(2)),
        size=5,
        outlets=3,
        first_seen=T0 - timedelta(hours=5),
        last_seen=T0 - timedelta(minutes=5),
        score=score,
        level="Elevated",
        components={"volume": 20.0, "velocity": 10.0, "breadth": 15.0, "engagement": 5.0},
        history=((HOUR - timedelta(hours=1), 30.0), (HOUR, score)),
        suggestion=QuerySuggestion(
            query='"riverton dam" OR (dam AND riverton)',
            quality=quality,
            terms=("riverton dam", "riverton"),
        ),
    )


# --- the clusterer's state ------------------------------------------------------------------


def test_cluster_state_is_saved_on_a_version(store: Store) -> None:
    assert store.load_cluster_state() == (0, 0, None)
    assert store.save_cluster_state(0, 10, b"one", now=T0)
    assert not store.save_cluster_state(0, 11, b"other", now=T0)  # another worker saved first
    assert store.load_cluster_state() == (1, 10, b"one")
    assert store.save_cluster_state(1, 20, b"two", now=T0)
    assert not store.save_cluster_state(1, 21, b"stale", now=T0)
    assert store.load_cluster_state() == (2, 20, b"two")
    assert store.cluster_state_version() == 2


def test_mentions_after_a_cursor_and_skipped_ranges(store: Store) -> None:
    source_id = add_source(store)
    record(store, source_id, [mention(i) for i in range(1, 6)])
    ids = [r["id"] for r in store.mentions_after(0, 100)]
    assert ids == sorted(ids) and len(ids) == 5
    first = store.mentions_after(0, 2)
    assert [r["id"] for r in first] == ids[:2]
    assert set(first[0]) == {"id", "title", "url", "summary", "published_at", "group_id"}
    assert first[0]["published_at"].tzinfo is not None
    after = store.mentions_after(ids[3], 100, also=[(ids[0], ids[1])])
    assert [r["id"] for r in after] == [ids[0], ids[1], ids[4]]


def test_cluster_members_give_outlet_kind_engagement_and_matched_stories(store: Store) -> None:
    source_id = add_source(store)
    store.upsert_story("port-strike", "Port strike", "dockworkers", now=T0)
    store.upsert_story("old", "Old", "dockworkers", now=T0)
    store.archive_story("old", now=T0)
    matches = {"guid-1": {"port-strike": ["dockworkers"], "old": ["dockworkers"]}}
    record(
        store,
        source_id,
        [mention(1, score=3, comments=4), mention(2, outlet=None)],
        matches=matches,
    )
    ids = [r["id"] for r in store.mentions_after(0, 10)]
    rows = store.cluster_members(ids)
    assert [r["mention_id"] for r in rows] == sorted(ids)
    one = next(r for r in rows if r["title"].endswith("day 1"))
    two = next(r for r in rows if r["title"].endswith("day 2"))
    assert one["stories"] == ("port-strike",)  # only active stories
    assert one["engagement"] == 7 and one["kind"] == "rss" and one["outlet"] == "wire.example"
    assert two["stories"] == () and two["outlet"] == "wire"  # no outlet: the source's name
    assert store.cluster_members([]) == []


def test_recent_docs_are_the_newest_in_the_window(store: Store) -> None:
    source_id = add_source(store)
    record(store, source_id, [mention(i) for i in range(1, 6)])
    docs = store.recent_docs(T0 - timedelta(minutes=3), T0, limit=10)
    assert sorted(t for _, t, _ in docs) == [f"Dockworkers strike day {i}" for i in (1, 2, 3)]
    assert len(store.recent_docs(T0 - timedelta(hours=1), T0, limit=2)) == 2


# --- proposals --------------------------------------------------------------------------------


def test_sync_proposals_upserts_by_cluster_and_expires_the_absent(store: Store) -> None:
    store.sync_proposals(HOUR, [proposal(7, 40), proposal(9, 60, "Chip ban")], now=T0)
    rows = store.list_proposals()
    assert [r["cluster"] for r in rows] == [9, 7]  # loudest first
    row = rows[1]
    assert row["status"] == "proposed" and row["version"] == 1 and row["story_slug"] is None
    assert row["query"] == '"riverton dam" OR (dam AND riverton)'
    assert row["terms"] == ["riverton dam", "riverton"]
    assert row["quality"] == {
        "precision": 1.0,
        "recall": 0.8,
        "recent_matches": 0,
        "cluster_matches": 4,
    }
    assert row["headlines"][0]["published_at"] == T0.isoformat()
    assert row["history"][-1] == [HOUR.isoformat(), 40.0]
    assert row["first_seen"] == T0 - timedelta(hours=5)
    # the next hour: 7 is louder, 9 is gone
    store.sync_proposals(HOUR + timedelta(hours=1), [proposal(7, 70)], now=T0)
    again = store.proposal(row["id"])
    assert again is not None
    assert again["score"] == 70 and again["version"] == 2 and again["status"] == "proposed"
    assert [r["cluster"] for r in store.list_proposals("expired")] == [9]
    assert len(store.list_proposals(None)) == 2
    # 9 back: proposed again
    store.sync_proposals(HOUR + timedelta(hours=2), [proposal(7), proposal(9)], now=T0)
    assert {r["cluster"] for r in store.list_proposals()} == {7, 9}
    assert count(store, emerging_proposals) == 2


def test_a_decided_proposal_is_never_proposed_again(store: Store) -> None:
    store.sync_proposals(HOUR, [proposal(7)], now=T0)
    row = store.list_proposals()[0]
    assert store.set_proposal_status(
        row["id"], 1, "dismissed", actor="ed", action="dismiss", note="not news", now=T0
    )
    store.sync_proposals(HOUR + timedelta(hours=1), [proposal(7, 90)], now=T0)
    store.sync_proposals(HOUR + timedelta(hours=2), [], now=T0)
    after = store.proposal(row["id"])
    assert after is not None and after["status"] == "dismissed" and after["score"] == 50
    assert store.list_proposals() == []


def test_set_proposal_status_is_conditional_and_audited(store: Store) -> None:
    story = store.upsert_story("dam", "Dam", "dam", now=T0).id
    store.sync_proposals(HOUR, [proposal(7)], now=T0)
    row = store.list_proposals()[0]
    assert not store.set_proposal_status(
        row["id"], 5, "tracked", actor="ed", action="track", now=T0
    )
    assert not store.set_proposal_status(999, 1, "tracked", actor="ed", action="track", now=T0)
    assert count(store, emerging_events) == 0
    assert store.set_proposal_status(
        row["id"], 1, "tracked", actor="ed", action="track", story_id=story, now=T0
    )
    assert not store.set_proposal_status(  # the same version twice: the second is stale
        row["id"], 1, "dismissed", actor="other", action="dismiss", now=T0
    )
    after = store.proposal(row["id"])
    assert after is not None
    assert (after["status"], after["version"], after["story_slug"]) == ("tracked", 2, "dam")
    (event,) = store.proposal_events(row["id"])
    assert (event["actor"], event["action"]) == ("ed", "track")
    assert event["before"]["status"] == "proposed" and event["after"]["status"] == "tracked"
    assert event["after"]["story_id"] == story
    with pytest.raises(ValueError, match="status"):
        store.set_proposal_status(row["id"], 2, "gone", actor="ed", action="x", now=T0)


# --- query suggestions --------------------------------------------------------------------------


def term(story: str, word: str, adds: int = 3) -> TermSuggestion:
    return TermSuggestion(
        story=story, cluster=4, term=word, adds=adds, adds_elsewhere=0, samples=(headline(1),)
    )


def test_query_suggestions_keep_ids_and_decisions(store: Store) -> None:
    story = store.upsert_story("mt-gox", "Mt. Gox", '"mt gox"', now=T0).id
    store.sync_query_suggestions(
        HOUR, [term("mt-gox", "mtgox", 5), term("mt-gox", "karpeles"), term("nope", "x")], now=T0
    )
    rows = store.query_suggestions(story)
    assert [r["term"] for r in rows] == ["mtgox", "karpeles"]  # most added first
    assert rows[0]["samples"][0]["mention_id"] == 1 and rows[0]["story_slug"] == "mt-gox"
    mtgox, karpeles = rows[0]["id"], rows[1]["id"]
    assert store.set_query_suggestion_status(karpeles, "dismissed", actor="ed", now=T0)
    assert not store.set_query_suggestion_status(karpeles, "added", actor="ed", now=T0)
    found = store.query_suggestion(mtgox)
    assert found is not None and found["story_query"] == '"mt gox"'
    # the next hour: mtgox again (same id, new count), karpeles stays dismissed, a new term
    store.sync_query_suggestions(
        HOUR + timedelta(hours=1),
        [term("mt-gox", "mtgox", 6), term("mt-gox", "karpeles", 9), term("mt-gox", "tokyo", 1)],
        now=T0,
    )
    rows = store.query_suggestions(story)
    assert [(r["term"], r["adds"]) for r in rows] == [("mtgox", 6), ("tokyo", 1)]
    assert rows[0]["id"] == mtgox
    dismissed = store.query_suggestions(story, "dismissed")
    assert [(r["term"], r["updated_by"]) for r in dismissed] == [("karpeles", "ed")]
    # nothing suggested: the proposed ones go, the decided stay
    store.sync_query_suggestions(HOUR + timedelta(hours=2), [], now=T0)
    assert store.query_suggestions(story) == []
    assert count(store, query_suggestions) == 1
    assert store.query_suggestion(10**9) is None
