"""The story Timeline in the review app, over HTTP (FastAPI's test client) on SQLite and
PostgreSQL: approve, edit and hide a proposed entry, add an editor's entry, each with its audit
event; stale versions are conflicts; bad input names its field; feed text stays inert; the
queue lists the entries waiting for review. Also the pure shaping of
noisecast.engine.web.timeline_view."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from noisecast.engine.config import Settings
from noisecast.engine.core.review import ReviewInputError
from noisecast.engine.core.timeline import Proposal
from noisecast.engine.store import Store
from noisecast.engine.store.tables import timeline_events
from noisecast.engine.web.accounts import add_editor
from noisecast.engine.web.app import create_app
from noisecast.engine.web.timeline_view import (
    entry_rows,
    event_rows,
    evidence_summary,
    form_time,
    group_pending,
)
from tests.web_helpers import csrf_of, use_cheap_hashes
from tests.web_helpers import login as log_in

SECRET = "t" * 40
CLOCK = datetime(2026, 11, 26, 0, 20, tzinfo=UTC)
T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
PASSWORDS = {"alice": "alice-password", "bob": "bob-password"}
HOSTILE = "<script>alert(1)</script>"


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    use_cheap_hashes(monkeypatch)


def proposals(**changes: Any) -> list[Proposal]:
    """A story's proposals as the rules make them: first seen, a major outlet, reaching High."""
    first = {
        "key": "first_seen",
        "kind": "first_seen",
        "at": T0,
        "title": "First seen",
        "text": "The Harbour Gazette first mentioned the story.",
        "link": "https://gazette.example/story",
        "evidence": {"mention_id": 11, "kind": "rss", "outlet": "gazette.example"},
    }
    major = {
        "key": "first_major",
        "kind": "first_major",
        "at": T0 + timedelta(hours=3),
        "title": "Major outlet report",
        "text": "WIRED publishes a report on the breach.",
        "link": "https://www.wired.com/story/breach",
        "evidence": {"mention_id": 42, "outlet": "wired.com", "major_host": "wired.com"},
    }
    high = {
        "key": "level:High",
        "kind": "level",
        "at": T0 + timedelta(hours=9),
        "title": "Reached High",
        "text": "The story reached High: 23 outlets in 6 hours.",
        "link": None,
        "evidence": {
            "hour": "2026-11-25T16:00:00+00:00",
            "score": 71.5,
            "level": "High",
            "outlets": 23,
            "outlets_hours": 6,
        },
    }
    made = {"first_seen": first, "first_major": major, "level:High": high}
    for key, values in changes.items():
        made[key.replace("__", ":")] = {**made[key.replace("__", ":")], **values}
    return [Proposal(**p) for p in made.values()]


@pytest.fixture
def tl_store(store: Store) -> Iterator[Store]:
    store.upsert_story("breach", "Northmere Bank data breach", "northmere", now=T0)
    store.upsert_story("quiet", "Port strike", "port strike", now=T0)
    store.sync_timeline(store.story_id("breach"), proposals(), now=T0 + timedelta(hours=10))
    for name, password in PASSWORDS.items():
        add_editor(store, name, password, role="editor", now=CLOCK)
    yield store


@pytest.fixture
def app(tl_store: Store) -> Any:
    return create_app(tl_store, Settings(), SECRET, now=lambda: CLOCK)


def login(app: Any, name: str) -> TestClient:
    return log_in(app, name, PASSWORDS[name])


def entry(store: Store, key: str, slug: str = "breach") -> dict[str, Any]:
    [found] = [e for e in store.timeline_entries(store.story_id(slug)) if e["key"] == key]
    return found


def events_of(store: Store, entry_id: int) -> list[dict[str, Any]]:
    with store.reading() as conn:
        rows = conn.execute(
            select(timeline_events)
            .where(timeline_events.c.entry_id == entry_id)
            .order_by(timeline_events.c.id)
        )
        return [dict(r._mapping) for r in rows]


def post(client: TestClient, path: str, **form: Any) -> Any:
    token = csrf_of(client.get("/stories/breach").text)
    return client.post(path, data={"csrf": token, **{k: str(v) for k, v in form.items()}})


def act(client: TestClient, e: dict[str, Any], action: str, **form: Any) -> Any:
    return post(client, f"/timeline/{e['id']}/{action}", version=e["version"], **form)


def flash_after(client: TestClient, response: Any) -> str:
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/stories/breach#timeline"
    page = client.get("/stories/breach").text
    found = re.search(r'<p class="flash" role="status">(.*?)</p>', page)
    assert found, "no flash message after the action"
    return found.group(1)


# --- sessions and CSRF -------------------------------------------------------------------------


def test_timeline_pages_need_a_session_and_forms_the_csrf_token(app: Any, tl_store: Store) -> None:
    e = entry(tl_store, "first_seen")
    anonymous = TestClient(app, follow_redirects=False)
    assert anonymous.get(f"/timeline/{e['id']}/edit").status_code == 303
    refused = anonymous.post(f"/timeline/{e['id']}/approve", data={"version": e["version"]})
    assert refused.status_code == 403
    client = login(app, "alice")
    for path, form in (
        (f"/timeline/{e['id']}/approve", {"version": e["version"]}),
        (f"/timeline/{e['id']}/hide", {"version": e["version"], "csrf": "forged"}),
        ("/stories/breach/timeline", {"title": "Memo", "text": "Sent.", "at": "2026-11-25T09:00"}),
    ):
        response = client.post(path, data=form)
        assert response.status_code == 403, path
        assert "security token" in response.text
    assert entry(tl_store, "first_seen")["status"] == "proposed"
    assert len(tl_store.timeline_entries(tl_store.story_id("breach"))) == 3


# --- the actions and their events --------------------------------------------------------------


def test_approve_publishes_the_proposal(app: Any, tl_store: Store) -> None:
    client = login(app, "alice")
    e = entry(tl_store, "first_major")
    assert "Approved: “Major outlet report”" in flash_after(client, act(client, e, "approve"))
    now = entry(tl_store, "first_major")
    assert (now["status"], now["reviewer"], now["reviewed_at"]) == ("approved", "alice", CLOCK)
    assert now["version"] > e["version"] and not now["needs_review"]
    [published] = tl_store.published_timeline(tl_store.story_id("breach"))
    assert (published["title"], published["link"]) == (e["title"], e["link"])
    assert events_of(tl_store, e["id"])[-1]["actor"] == "alice"
    assert events_of(tl_store, e["id"])[-1]["action"] == "approve"
    page = client.get("/stories/breach").text
    assert 'class="tl-status tl-approved">approved' in page
    assert "approved by alice at 2026-11-26 00:20 UTC" in page


def test_edit_publishes_the_editors_copy_beside_the_proposal(app: Any, tl_store: Store) -> None:
    client = login(app, "alice")
    e = entry(tl_store, "first_seen")
    form = {
        "title": "  First report  ",
        "text": "The Harbour Gazette broke the story.",
        "link": "https://gazette.example/first",
        "at": "2026-11-25T07:45",
    }
    assert "Edited and published: “First report”" in flash_after(
        client, act(client, e, "edit", **form)
    )
    now = entry(tl_store, "first_seen")
    assert now["status"] == "approved"
    assert (now["published_title"], now["published_link"]) == ("First report", form["link"])
    assert now["published_at"] == datetime(2026, 11, 25, 7, 45, tzinfo=UTC)
    assert (now["title"], now["text"]) == (e["title"], e["text"])  # the proposal is kept
    [published] = tl_store.published_timeline(tl_store.story_id("breach"))
    assert published["text"] == "The Harbour Gazette broke the story."
    event = events_of(tl_store, e["id"])[-1]
    assert (event["actor"], event["action"]) == ("alice", "edit")
    history = client.get("/stories/breach").text.split('class="events tl-events"')[1]
    assert "alice" in history and "First report" in history and "edit" in history
    assert "Edited; noisecast proposed: First seen" in client.get("/stories/breach").text


def test_an_edit_may_remove_the_link(app: Any, tl_store: Store) -> None:
    client = login(app, "alice")
    e = entry(tl_store, "first_major")
    form = {"title": e["title"], "text": e["text"], "link": " ", "at": "2026-11-25 11:00"}
    flash_after(client, act(client, e, "edit", **form))
    now = entry(tl_store, "first_major")
    assert now["published_link"] is None and now["link"] == e["link"]
    assert tl_store.published_timeline(tl_store.story_id("breach"))[0]["link"] is None


def test_hide_takes_an_entry_off_the_public_timeline(app: Any, tl_store: Store) -> None:
    client = login(app, "alice")
    e = entry(tl_store, "level:High")
    flash_after(client, act(client, e, "approve"))
    approved = entry(tl_store, "level:High")
    assert "Hidden: “Reached High”" in flash_after(client, act(client, approved, "hide"))
    now = entry(tl_store, "level:High")
    assert now["status"] == "hidden" and now["published_title"] is None
    assert tl_store.published_timeline(tl_store.story_id("breach")) == []
    assert [ev["action"] for ev in events_of(tl_store, e["id"])][-2:] == ["approve", "hide"]
    card = client.get("/stories/breach").text.split(f'id="entry-{e["id"]}"')[1].split("</li>")[0]
    assert "tl-hidden" in card and "/approve" in card and "/hide" not in card


def test_an_editor_adds_an_entry(app: Any, tl_store: Store) -> None:
    client = login(app, "bob")
    response = post(
        client,
        "/stories/breach/timeline",
        at="2026-11-25T06:30",
        title="Internal memo sent",
        text="Staff were told of the breach in an internal memo.",
        link="",
    )
    assert "Added and published: “Internal memo sent”" in flash_after(client, response)
    added = [
        e for e in tl_store.timeline_entries(tl_store.story_id("breach")) if e["kind"] == "editor"
    ]
    assert len(added) == 1
    memo = added[0]
    assert memo["status"] == "approved" and memo["key"].startswith("editor:")
    assert memo["at"] == datetime(2026, 11, 25, 6, 30, tzinfo=UTC)
    assert memo["published_link"] is None
    assert [(ev["actor"], ev["action"]) for ev in events_of(tl_store, memo["id"])] == [
        ("bob", "added")
    ]
    page = client.get("/stories/breach").text
    entries = re.findall(r'<li class="tl-entry[^"]*" id="entry-(\d+)"', page)
    assert entries[-1] == str(memo["id"])  # newest first: the memo came before first seen
    assert "Internal memo sent" in page.split('class="events tl-events"')[1]


# --- conflicts and bad input -------------------------------------------------------------------


def test_a_stale_version_is_a_conflict(app: Any, tl_store: Store) -> None:
    alice, bob = login(app, "alice"), login(app, "bob")
    e = entry(tl_store, "first_seen")
    bob_token = csrf_of(bob.get("/stories/breach").text)  # bob has the story open
    flash_after(alice, act(alice, e, "approve"))
    response = bob.post(
        f"/timeline/{e['id']}/hide", data={"csrf": bob_token, "version": e["version"]}
    )
    assert response.status_code == 409
    assert "alice approved it at 2026-11-26 00:20 UTC" in response.text
    assert "Nothing was changed" in response.text
    assert entry(tl_store, "first_seen")["status"] == "approved"
    assert [ev["actor"] for ev in events_of(tl_store, e["id"])][-1] == "alice"
    # A new proposal while an editor looks at the old one: the version moved on, a conflict too.
    seen = entry(tl_store, "first_major")
    tl_store.sync_timeline(
        tl_store.story_id("breach"),
        proposals(first_major={"text": "WIRED and the BBC report the breach."}),
        now=CLOCK,
    )
    stale = act(bob, seen, "approve")
    assert stale.status_code == 409 and "Nothing was changed" in stale.text
    assert "The hourly update updated its proposal at 2026-11-26 00:20 UTC" in stale.text
    assert entry(tl_store, "first_major")["status"] == "proposed"


@pytest.mark.parametrize(
    ("form", "field", "says"),
    [
        ({"title": "   "}, "title", "itle"),
        ({"text": ""}, "text", "ext"),
        ({"link": "javascript:alert(1)"}, "link", "ink"),
        ({"link": "ftp://files.example/x"}, "link", "ink"),
        ({"at": "2026-11-26T09:00"}, "at", "future"),
        ({"at": "yesterday"}, "at", "Time"),
        ({"at": ""}, "at", "Time"),
        ({"title": "x" * 121}, "title", "itle"),
    ],
)
def test_bad_input_names_the_field(
    app: Any, tl_store: Store, form: dict[str, str], field: str, says: str
) -> None:
    client = login(app, "alice")
    good = {"title": "Memo", "text": "Sent.", "link": "", "at": "2026-11-25T09:00"}
    e = entry(tl_store, "first_seen")
    for response in (
        post(client, "/stories/breach/timeline", **{**good, **form}),
        act(client, e, "edit", **{**good, **form}),
    ):
        assert response.status_code in (400, 422), response.text
        alert = re.search(r'<p class="error" role="alert">(.*?)</p>', response.text)
        assert alert and says in alert.group(1), response.text
        assert re.search(rf'name="{field}"[^>]*aria-invalid="true"', response.text)
        kept = form.get("title", good["title"])
        if kept.strip():
            assert f'value="{kept}"' in response.text  # what the editor typed comes back
    assert entry(tl_store, "first_seen") == e  # nothing changed
    assert len(tl_store.timeline_entries(tl_store.story_id("breach"))) == 3


@pytest.mark.parametrize(
    "path",
    [
        "/timeline/0/approve",
        "/timeline/-1/hide",
        "/timeline/abc/edit",
        f"/timeline/{2**63}/approve",
        f"/timeline/{2**63 - 1}/approve",
        "/timeline/1/publish",
        "/stories/nope/timeline",
    ],
)
def test_an_entry_that_cannot_exist_is_not_found(app: Any, path: str) -> None:
    client = login(app, "alice")
    response = post(client, path, version=1, title="t", text="t", at="2026-11-25T09:00")
    assert response.status_code == 404, response.text
    if path.startswith("/timeline/") and not path.endswith("/publish"):
        assert client.get(path.rsplit("/", 1)[0] + "/edit").status_code == 404


# --- what the pages show -----------------------------------------------------------------------


def test_the_story_view_lists_every_entry_with_its_evidence(app: Any, tl_store: Store) -> None:
    client = login(app, "alice")
    page = client.get("/stories/breach").text
    section = page.split('id="timeline"')[1].split('id="add-entry"')[0]
    titles = re.findall(r"<strong>(.*?)</strong>", section)
    assert titles[:3] == ["Reached High", "Major outlet report", "First seen"]  # newest first
    assert "3 entries, 3 to review" in section
    assert (
        '<a href="https://www.wired.com/story/breach" rel="noopener noreferrer nofollow"' in section
    )
    assert "<dt>score</dt><dd>71.5</dd>" in section
    assert "<dt>outlets</dt><dd>23 in 6 h</dd>" in section
    assert "<dt>outlet</dt><dd>wired.com</dd>" in section
    for e in tl_store.timeline_entries(tl_store.story_id("breach")):
        assert f'action="/timeline/{e["id"]}/approve"' in section
        assert f'name="version" value="{e["version"]}"' in section
    assert 'action="/stories/breach/timeline"' in page
    assert "Nobody has reviewed" in page and "No timeline entries yet" not in page
    # The history: editors' actions first; the hourly job's proposals folded away.
    assert "No editor has acted on this timeline yet." in page
    job = page.split('<details class="tl-job-events">')[1].split("</details>")[0]
    assert "What the hourly update proposed and changed (3 events)" in job
    assert job.count("<td>noisecast</td><td>proposed</td>") == 3


def test_a_change_after_approval_shows_both_copies(app: Any, tl_store: Store) -> None:
    client = login(app, "alice")
    flash_after(client, act(client, entry(tl_store, "first_seen"), "approve"))
    earlier = T0 - timedelta(hours=2)
    tl_store.sync_timeline(
        tl_store.story_id("breach"),
        proposals(first_seen={"at": earlier, "text": "A blog first mentioned the story."}),
        now=CLOCK,
    )
    e = entry(tl_store, "first_seen")
    assert e["needs_review"] and e["status"] == "approved"
    page = client.get("/stories/breach").text
    card = page.split(f'id="entry-{e["id"]}"')[1].split("</li>")[0]
    assert "changed since alice approved it" in card
    assert "Published now" in card and "New proposal" in card
    assert "The Harbour Gazette first mentioned the story." in card  # still public
    assert "A blog first mentioned the story." in card
    assert "Publish the new proposal" in card
    queue = client.get("/").text
    assert "changed since approved" in queue
    [published] = tl_store.published_timeline(tl_store.story_id("breach"))
    assert published["text"] == "The Harbour Gazette first mentioned the story."


def test_the_queue_lists_entries_to_review_until_they_are_reviewed(
    app: Any, tl_store: Store
) -> None:
    client = login(app, "alice")
    aside = client.get("/").text.split('class="queue-timeline"')[1]
    assert '<a href="/stories/breach#timeline">Northmere Bank data breach</a>' in aside
    assert '<span class="tl-count" title="entries to review">3</span>' in aside
    assert "Port strike" not in aside
    for key in ("first_seen", "first_major"):
        flash_after(client, act(client, entry(tl_store, key), "approve"))
    aside = client.get("/").text.split('class="queue-timeline"')[1]
    assert '<span class="tl-count" title="entries to review">1</span>' in aside
    assert "Reached High" in aside and "First seen" not in aside
    flash_after(client, act(client, entry(tl_store, "level:High"), "hide"))
    aside = client.get("/").text.split('class="queue-timeline"')[1]
    assert "Northmere" not in aside and "every timeline entry has been reviewed" in aside
    assert "Northmere" not in client.get("/?story=quiet").text.split('class="queue-timeline"')[1]


def test_hostile_feed_text_is_inert(app: Any, tl_store: Store) -> None:
    hostile = {
        "title": HOSTILE,
        "text": 'Reported by <img src=x onerror="alert(2)">.',
        "link": "javascript:alert(document.cookie)",
        "evidence": {
            "outlet": "<b onmouseover=alert(3)>x</b>",
            "platforms": [HOSTILE],
            "top": {"engagement": HOSTILE},
        },
    }
    tl_store.sync_timeline(tl_store.story_id("breach"), proposals(first_seen=hostile), now=CLOCK)
    client = login(app, "alice")
    post(
        client,
        "/stories/breach/timeline",
        title="<i>memo</i>",
        text=HOSTILE,
        link="",
        at="2026-11-25T09:00",
    )
    for path in ("/stories/breach", "/", f"/timeline/{entry(tl_store, 'first_seen')['id']}/edit"):
        html = client.get(path).text
        assert "<script>" not in html and "<img src=x" not in html and "<b onmouseover" not in html
        assert "<i>memo" not in html
        assert 'href="javascript' not in html.lower()
    page = client.get("/stories/breach").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "link hidden: not an http(s) address" in page


def test_the_edit_page(app: Any, tl_store: Store) -> None:
    client = login(app, "alice")
    e = entry(tl_store, "first_major")
    page = client.get(f"/timeline/{e['id']}/edit")
    assert page.status_code == 200
    assert 'value="Major outlet report"' in page.text
    assert 'name="at" value="2026-11-25 11:00"' in page.text
    assert "not later than now (2026-11-26 00:20)" in page.text
    assert f'name="version" value="{e["version"]}"' in page.text


# --- the pure shaping --------------------------------------------------------------------------


def test_form_time() -> None:
    assert form_time("2026-11-25T09:30") == datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    assert form_time(" 2026-11-25 09:30:15 ") == datetime(2026, 11, 25, 9, 30, 15, tzinfo=UTC)
    assert form_time("2026-11-25T10:30+01:00") == datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    for bad in ("", "  ", "tomorrow", "2026-13-01T00:00"):
        with pytest.raises(ReviewInputError, match=r"^Time"):
            form_time(bad)


def test_evidence_summary() -> None:
    level = {
        "hour": "2026-11-25T14:00:00+00:00",
        "score": 71.26,
        "level": "High",
        "outlets": 23,
        "outlets_hours": 6,
        "target": "High",
    }
    assert evidence_summary(level) == [
        ("score", "71.3"),
        ("level", "High"),
        ("outlets", "23 in 6 h"),
        ("hour", "2026-11-25 14:00–15:00 UTC"),
    ]
    social = {
        "hour": "2026-11-25T23:00:00+00:00",
        "posts": 14,
        "baseline": 2.8,
        "threshold": 8.4,
        "platforms": ["Reddit", "Hacker News"],
        "mention_ids": [1, 2, 3],
        "top": {"mention_id": 5, "engagement": 1512, "url": "https://x.example/t"},
    }
    assert evidence_summary(social) == [
        ("social posts", "14"),
        ("platforms", "Reddit, Hacker News"),
        ("usual posts/hour", "2.8"),
        ("threshold", "8.4"),
        ("top post", "1,512 points and comments"),
        ("hour", "2026-11-25 23:00–00:00 UTC"),
        ("mentions cited", "3"),
    ]
    first = {
        "mention_id": 3,
        "when": "2026-11-25T08:00:00+00:00",
        "kind": "rss",
        "outlet": "gazette.example",
        "url": "https://gazette.example/a",
        "major": False,
    }
    assert evidence_summary(first) == [
        ("outlet", "gazette.example"),
        ("via", "rss"),
        ("major outlet", "no"),
    ]
    assert evidence_summary(None) == []
    assert evidence_summary({"many": list(range(10)), "note": None, "at": "x" * 500}) == [
        ("at", "x" * 159 + "…"),
        ("many", "0, 1, 2, 3, 4, 5 and 4 more"),
    ]


def test_entry_rows_and_events() -> None:
    base = {
        "id": 1,
        "kind": "first_seen",
        "at": T0,
        "title": "First seen",
        "text": "t",
        "link": None,
        "evidence": {},
        "published_at": None,
        "published_title": None,
        "published_text": None,
        "published_link": None,
    }
    proposed = {**base, "status": "proposed", "needs_review": False}
    approved = {
        **base,
        "status": "approved",
        "needs_review": False,
        "published_at": T0,
        "published_title": "Edited",
        "published_text": "t",
    }
    hidden = {**base, "status": "hidden", "needs_review": True}
    rows = entry_rows([proposed, approved, hidden])
    assert [r["actions"] for r in rows] == [
        ("approve", "edit", "hide"),
        ("edit", "hide"),
        ("approve", "edit", "hide"),
    ]
    assert [r["pending"] for r in rows] == [True, False, True]
    assert rows[1]["edited"] and rows[1]["form"]["title"] == "Edited"
    [updated, added] = event_rows(
        [
            {
                "actor": "noisecast",
                "action": "updated",
                "at": CLOCK,
                "entry_id": 1,
                "before": {"at": "2026-11-25T08:00:00+00:00", "title": "First seen", "text": "a"},
                "after": {"at": "2026-11-25T06:00:00+00:00", "title": "First seen", "text": "a"},
                "note": "first seen moved earlier",
            },
            {
                "actor": "bob",
                "action": "added",
                "at": CLOCK,
                "before": None,
                "after": {"title": "Memo", "text": "Sent.", "link": None},
            },
        ]
    )
    assert updated["before"] == [("time", "2026-11-25 08:00 UTC")]
    assert updated["after"] == [("time", "2026-11-25 06:00 UTC")]
    assert updated["entry"] == "First seen"
    assert updated["by_job"] and not added["by_job"]
    assert added["before"] == [] and added["after"] == [("title", "Memo"), ("text", "Sent.")]
    groups = group_pending(
        [
            {"slug": "a", "story_title": "A", "id": 1},
            {"slug": "b", "story_title": "B", "id": 2},
            {"slug": "a", "story_title": "A", "id": 3},
        ]
    )
    assert [(g["slug"], [e["id"] for e in g["entries"]]) for g in groups] == [
        ("a", [1, 3]),
        ("b", [2]),
    ]
