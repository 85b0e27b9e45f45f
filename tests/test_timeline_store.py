"""The Timeline in the store, on SQLite and PostgreSQL: idempotent sync, a proposal that moves
(same entry, audited, approved copy kept), editors' actions and their conflicts, what is
published, and the mentions the rules read."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from noisecast.engine.core.review import ReviewConflict, ReviewInputError
from noisecast.engine.core.timeline import Proposal
from noisecast.engine.errors import NoisecastError
from noisecast.engine.jobs.cycle import run_cycle
from noisecast.engine.jobs.timeline import update_timeline
from noisecast.engine.store import Store
from noisecast.engine.store.tables import timeline_entries, timeline_events
from tests.conftest import T0
from tests.test_cycle import seed, settings_for
from tests.test_store import add_source, mention, record

LATER = T0 + timedelta(hours=2)


def count(store: Store, table: object) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def first_seen(minutes: int = 0, outlet: str = "The Daily Ledger") -> Proposal:
    at = T0 - timedelta(hours=3) + timedelta(minutes=minutes)
    return Proposal(
        key="first_seen",
        kind="first_seen",
        at=at,
        title="First seen",
        text=f"{outlet} first reported it: “Port workers walk out”.",
        link="https://www.daily-ledger.example/a/1",
        evidence={"mention_id": 1, "when": at.isoformat()},
    )


def peak(score: float) -> Proposal:
    return Proposal(
        key="peak",
        kind="peak",
        at=T0 - timedelta(hours=1),
        title="Peak",
        text=f"The story was at its loudest so far: {score:.0f} (High).",
        link=None,
        evidence={"score": score},
    )


@pytest.fixture
def story(store: Store) -> int:
    return store.upsert_story("port-strike", "Port strike", "dockworkers", now=T0).id


def entry(store: Store, story: int, key: str) -> dict[str, Any]:
    return next(e for e in store.timeline_entries(story) if e["key"] == key)


def test_sync_is_idempotent(store: Store, story: int) -> None:
    proposals = [first_seen(), peak(64)]
    assert store.sync_timeline(story, proposals, now=T0) == {
        "created": 2,
        "updated": 0,
        "unchanged": 0,
    }
    rows = store.timeline_entries(story)
    assert [r["key"] for r in rows] == ["peak", "first_seen"]  # newest first
    assert all(r["status"] == "proposed" and r["version"] == 1 for r in rows)
    assert rows[0]["slug"] == "port-strike" and rows[0]["story_title"] == "Port strike"
    assert {e["action"] for e in store.timeline_history(story)} == {"proposed"}
    events = count(store, timeline_events)
    assert store.sync_timeline(story, proposals, now=LATER) == {
        "created": 0,
        "updated": 0,
        "unchanged": 2,
    }
    assert store.timeline_entries(story) == rows
    assert count(store, timeline_events) == events
    assert store.sync_timeline(story, [], now=LATER)["unchanged"] == 0
    assert store.published_timeline(story) == []  # nothing is public before an editor acts


def test_a_late_earlier_mention_updates_the_entry_and_the_audit_trail(
    store: Store, story: int
) -> None:
    store.sync_timeline(story, [first_seen()], now=T0)
    before = entry(store, story, "first_seen")
    counts = store.sync_timeline(story, [first_seen(minutes=-45)], now=LATER)
    assert counts == {"created": 0, "updated": 1, "unchanged": 0}
    after = entry(store, story, "first_seen")
    assert after["id"] == before["id"] and after["version"] == 2
    assert after["at"] == T0 - timedelta(hours=3, minutes=45)
    assert after["status"] == "proposed" and after["needs_review"] is False
    event = store.timeline_history(story)[0]
    assert (event["action"], event["actor"], event["entry_key"]) == (
        "updated",
        "noisecast",
        "first_seen",
    )
    assert event["note"] == (
        "first seen moved earlier: 2026-11-20 09:00 UTC -> 2026-11-20 08:15 UTC"
    )
    assert event["before"]["at"] == before["at"].isoformat()
    assert event["after"]["at"] == after["at"].isoformat()


def test_an_approved_entry_keeps_its_published_copy_when_its_proposal_moves(
    store: Store, story: int
) -> None:
    store.sync_timeline(story, [first_seen()], now=T0)
    proposed = entry(store, story, "first_seen")
    store.review_timeline_entry(
        int(proposed["id"]),
        "approve",
        editor="alice",
        seen_version=1,
        now=T0,
    )
    published = store.published_timeline(story)
    assert published == [
        {
            "id": proposed["id"],
            "kind": "first_seen",
            "at": proposed["at"],
            "title": "First seen",
            "text": proposed["text"],
            "link": proposed["link"],
        }
    ]
    store.sync_timeline(story, [first_seen(minutes=-45, outlet="Harbour Herald")], now=LATER)
    moved = entry(store, story, "first_seen")
    assert moved["status"] == "approved" and moved["needs_review"] is True
    assert moved["text"] != moved["published_text"]
    assert store.published_timeline(story) == published  # unchanged until an editor acts
    assert [p["id"] for p in store.pending_timeline()] == [moved["id"]]
    note = store.timeline_history(story)[0]["note"]
    assert note.startswith("first seen moved earlier") and "approved copy is unchanged" in note
    store.review_timeline_entry(
        int(moved["id"]),
        "approve",
        editor="bob",
        seen_version=int(moved["version"]),
        now=LATER,
    )
    assert store.published_timeline(story)[0]["text"] == moved["text"]
    assert store.pending_timeline() == []


def test_hidden_entries_are_flagged_too_and_stay_private(store: Store, story: int) -> None:
    store.sync_timeline(story, [peak(61)], now=T0)
    row = entry(store, story, "peak")
    store.review_timeline_entry(int(row["id"]), "hide", editor="alice", seen_version=1, now=T0)
    store.sync_timeline(story, [peak(77)], now=LATER)
    hidden = entry(store, story, "peak")
    assert (hidden["status"], hidden["needs_review"], hidden["published_text"]) == (
        "hidden",
        True,
        None,
    )
    assert store.published_timeline(story) == []


def test_edit_publishes_the_editors_words_beside_the_proposal(store: Store, story: int) -> None:
    store.sync_timeline(story, [first_seen()], now=T0)
    row = entry(store, story, "first_seen")
    done = store.review_timeline_entry(
        int(row["id"]),
        "edit",
        editor="alice",
        seen_version=1,
        now=T0,
        title="  First report ",
        text="The Daily Ledger broke the story.",
        link="",
    )
    assert (done["status"], done["version"], done["reviewer"]) == ("approved", 2, "alice")
    assert done["published_title"] == "First report" and done["published_link"] is None
    assert done["title"] == "First seen"  # the proposal is kept beside it
    assert done["published_at"] == row["at"]
    assert store.published_timeline(story)[0]["title"] == "First report"
    event = store.timeline_history(story)[0]
    assert (event["action"], event["actor"]) == ("edit", "alice")
    assert event["before"]["status"] == "proposed"
    assert event["after"]["published_title"] == "First report"
    with pytest.raises(ReviewInputError, match="Link"):
        store.review_timeline_entry(
            int(row["id"]),
            "edit",
            editor="alice",
            seen_version=2,
            now=T0,
            link="javascript:alert(1)",
        )
    assert entry(store, story, "first_seen")["version"] == 2  # nothing written
    hidden = store.review_timeline_entry(
        int(row["id"]),
        "hide",
        editor="bob",
        seen_version=2,
        now=LATER,
    )
    assert hidden["status"] == "hidden" and hidden["published_title"] is None
    assert store.published_timeline(story) == []
    assert [e["action"] for e in store.timeline_history(story)] == ["hide", "edit", "proposed"]


def test_a_stale_version_is_a_conflict_naming_who_did_what_when(store: Store, story: int) -> None:
    store.sync_timeline(story, [peak(61)], now=T0)
    row = entry(store, story, "peak")
    entry_id = int(row["id"])
    store.review_timeline_entry(entry_id, "approve", editor="alice", seen_version=1, now=T0)
    with pytest.raises(ReviewConflict) as e:
        store.review_timeline_entry(entry_id, "hide", editor="bob", seen_version=1, now=LATER)
    assert "alice approved it at 2026-11-20 12:00 UTC" in str(e.value)
    assert "Nothing was changed" in str(e.value)
    assert entry(store, story, "peak")["status"] == "approved"
    store.sync_timeline(story, [peak(70)], now=LATER)  # the job moves it on: version 3
    with pytest.raises(
        ReviewConflict, match="hourly update updated its proposal at 2026-11-20 14:00"
    ):
        store.review_timeline_entry(entry_id, "approve", editor="alice", seen_version=2, now=LATER)
    with pytest.raises(ReviewConflict, match="does not exist"):
        store.review_timeline_entry(9999, "approve", editor="alice", seen_version=1, now=LATER)
    with pytest.raises(ValueError, match="action"):
        store.review_timeline_entry(entry_id, "delete", editor="alice", seen_version=3, now=LATER)
    assert [e["action"] for e in store.timeline_history(story)] == [
        "updated",
        "approve",
        "proposed",
    ]


def test_editors_add_their_own_entries(store: Store, story: int) -> None:
    added = store.add_timeline_entry(
        story,
        editor="alice",
        at=T0 - timedelta(hours=5),
        title="Internal memo sent",
        text="A memo to port staff set out the new rotas.",
        link="https://example.org/memo",
        now=T0,
    )
    assert str(added["key"]).startswith("editor:") and added["kind"] == "editor"
    assert (added["status"], added["version"], added["reviewer"]) == ("approved", 1, "alice")
    store.sync_timeline(story, [first_seen()], now=T0)
    published = store.published_timeline(story)
    assert [p["title"] for p in published] == ["Internal memo sent"]
    assert published[0]["link"] == "https://example.org/memo"
    assert store.timeline_history(story)[-1]["action"] == "added"
    store.review_timeline_entry(
        int(added["id"]),
        "edit",
        editor="bob",
        seen_version=1,
        now=T0,
        text="A memo set out new rotas.",
    )
    again = entry(store, story, str(added["key"]))
    assert again["text"] == again["published_text"] == "A memo set out new rotas."
    with pytest.raises(ReviewInputError, match="future"):
        store.add_timeline_entry(
            story, editor="a", at=LATER, title="t", text="x", link=None, now=T0
        )
    with pytest.raises(NoisecastError, match="no story"):
        store.add_timeline_entry(9999, editor="a", at=T0, title="t", text="x", link=None, now=T0)
    assert count(store, timeline_entries) == 2


def test_pending_lists_proposals_across_stories(store: Store, story: int) -> None:
    other = store.upsert_story("flood", "Elden flood", "flood", now=T0).id
    store.sync_timeline(story, [first_seen(), peak(65)], now=T0)
    store.sync_timeline(other, [replace(peak(30), at=T0)], now=T0)
    pending = store.pending_timeline()
    assert [(p["slug"], p["key"]) for p in pending] == [
        ("flood", "peak"),
        ("port-strike", "peak"),
        ("port-strike", "first_seen"),
    ]
    assert [p["key"] for p in store.pending_timeline(limit=1)] == ["peak"]
    assert store.timeline_entries(story, statuses=["approved"]) == []


def test_timeline_mentions_snapshot_social_engagement_at_the_end_of_the_posts_hour(
    store: Store, story: int
) -> None:
    web = add_source(store, "ledger")
    record(
        store,
        web,
        [mention(1, published_at=T0 - timedelta(minutes=30), outlet="www.daily-ledger.example")],
        matches={"guid-1": {"port-strike": ["dockworkers"]}},
    )
    social = store.upsert_source(
        kind="reddit", name="reddit", url="https://www.reddit.com", interval_minutes=30, now=T0
    )[0]
    post = {
        "published_at": T0 + timedelta(minutes=10),
        "outlet": "r/news",
        "url": "https://reddit.example/p/2",
    }
    matches = {"guid-2": {"port-strike": ["dockworkers"]}}
    for minutes, score in ((20, 5), (50, 40), (130, 900)):  # the last after the post's hour
        record(
            store,
            social,
            [mention(2, score=score, comments=2, **post)],
            kind="reddit",
            matches=matches,
            now=T0 + timedelta(minutes=minutes),
        )
    frame = store.timeline_mentions(story, T0 + timedelta(hours=3))
    assert list(frame.columns) == [
        "mention_id",
        "when",
        "kind",
        "outlet",
        "title",
        "url",
        "engagement",
    ]
    rows = {r.kind: r for r in frame.itertuples()}
    assert rows["reddit"].engagement == 42.0  # 40 + 2 by 13:00, not 902
    assert rows["rss"].engagement == 0.0 and rows["rss"].outlet == "www.daily-ledger.example"
    assert str(frame["when"].dt.tz) == "UTC"
    assert len(store.timeline_mentions(story, T0)) == 1  # before the post


# --- the hourly job and the cycle ------------------------------------------------------------


def test_the_cycle_proposes_entries_and_a_rerun_adds_nothing(store: Store, tmp_path: Path) -> None:
    seed(store)
    settings = settings_for(str(store.engine.url), tmp_path)
    clock = T0 + timedelta(minutes=10)
    report = run_cycle(store, settings, clock=lambda: clock)
    assert report.hours[0].forecast is not None
    story = store.story_id("strike")
    rows = store.timeline_entries(story)
    keys = {r["key"] for r in rows}
    assert "first_seen" in keys and all(r["status"] == "proposed" for r in rows)
    first = entry(store, story, "first_seen")
    assert first["at"] == T0 - 8 * timedelta(hours=1) + timedelta(minutes=1)
    assert first["text"].startswith("news.example first reported it: “Dock strike update")
    detail = store.job_runs("cycle", limit=1)[0]["detail"]
    assert detail["timeline"]["status"] == "ok"
    assert detail["timeline"]["created"] == len(rows) and detail["timeline"]["failed"] == []
    events = count(store, timeline_events)
    again = update_timeline(store, settings, now=clock)
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, len(rows))
    assert store.timeline_entries(story) == rows and count(store, timeline_events) == events


def test_a_timeline_failure_never_stops_the_forecast(store: Store, tmp_path: Path) -> None:
    seed(store)
    settings = settings_for(str(store.engine.url), tmp_path)
    with store.engine.begin() as conn:  # the audit table is gone: every sync fails
        conn.execute(text("DROP TABLE timeline_events"))
    report = run_cycle(store, settings, clock=lambda: T0 + timedelta(minutes=10))
    assert report.hours[0].forecast is not None and report.hours[0].forecast["forecasts"] == 1
    run = store.job_runs("cycle", limit=1)[0]
    assert run["status"] == "ok"
    assert run["detail"]["timeline"]["failed"] == ["strike"]
    assert count(store, timeline_entries) == 0  # the story's transaction was rolled back
