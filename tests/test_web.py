"""The review web app over HTTP (FastAPI's test client) on a copy of the demo database: login,
sessions and CSRF, the three actions and their audit rows, conflicts, the published JSON, feed
text that must stay inert; the review commands; and the pure parts
(noisecast.engine.core.review)."""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from sqlalchemy import select, update

from noisecast.engine.cli import cli
from noisecast.engine.cli.web import editors, export, serve
from noisecast.engine.config import Settings
from noisecast.engine.core.review import (
    ReviewConflict,
    ReviewInputError,
    check_edit,
    check_reason,
    conflict_message,
    history_chart,
    outcome,
    safe_url,
    sparkline,
    tick_labels,
)
from noisecast.engine.demo.run import SHOWCASE
from noisecast.engine.errors import ConfigError
from noisecast.engine.store import Store
from noisecast.engine.store.tables import (
    forecasts,
    mentions,
    noise_scores,
    review_events,
    sources,
    stories,
    story_mentions,
)
from noisecast.engine.web import accounts
from noisecast.engine.web.accounts import add_editor, demo_review, verify_password
from noisecast.engine.web.app import create_app
from tests.conftest import copy_demo
from tests.plain_words import jargon_in, published_strings

SECRET = "k" * 40
CLOCK = datetime(2026, 11, 26, 0, 20, tzinfo=UTC)
AS_OF = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
LEAD = "Based on current signals"
CLOSE = "Events may develop differently."
PASSWORDS = {"alice": "alice-password", "bob": "bob-password", "root": "root-password"}


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 with small parameters: the hashes verify the same way, in a fraction of the
    time (the parameters travel inside each hash)."""
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))


@pytest.fixture
def demo_db(demo_template: Path, tmp_path: Path) -> Path:
    return copy_demo(demo_template, tmp_path / "demo")


@pytest.fixture
def review_store(demo_db: Path) -> Iterator[Store]:
    store = Store.from_url(f"sqlite:///{demo_db}")
    for name, password in PASSWORDS.items():
        role = "admin" if name == "root" else "editor"
        add_editor(store, name, password, role=role, now=CLOCK)
    yield store
    store.close()


@pytest.fixture
def app(review_store: Store) -> Any:
    return create_app(review_store, Settings(), SECRET, now=lambda: CLOCK)


def client_for(app: Any) -> TestClient:
    return TestClient(app, follow_redirects=False)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def login(app: Any, name: str, password: str | None = None) -> TestClient:
    client = client_for(app)
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/login",
        data={"username": name, "password": password or PASSWORDS[name], "csrf": token},
    )
    assert response.status_code == 303, response.text
    return client


def token(client: TestClient) -> str:
    return csrf_of(client.get("/").text)


def pending(store: Store, slug: str = "elden-flood") -> dict[str, Any]:
    frame = store.forecasts_frame(statuses=["pending"], story=slug)
    assert len(frame) == 1
    return {k: v.item() if hasattr(v, "item") else v for k, v in frame.iloc[0].items()}


def act(client: TestClient, forecast_id: int, action: str, **form: str) -> Any:
    data = {"csrf": token(client), "seen_status": "pending", "next": "/", **form}
    return client.post(f"/forecasts/{forecast_id}/{action}", data=data)


def events(store: Store) -> list[dict[str, Any]]:
    """The review events, but for the demo's own approval of its showcase story."""
    query = select(review_events).where(review_events.c.editor != "demo")
    with store.reading() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def row(store: Store, forecast_id: int) -> dict[str, Any]:
    with store.reading() as conn:
        found = conn.execute(select(forecasts).where(forecasts.c.id == forecast_id)).one()
    return dict(found._mapping)


# --- sessions, login, CSRF ---------------------------------------------------------------------


def test_every_page_but_login_needs_a_session(app: Any, review_store: Store) -> None:
    client = client_for(app)
    fid = pending(review_store)["id"]
    for path in ("/", f"/forecasts/{fid}/edit", "/?status=all"):
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=/")
    assert client.get("/login").status_code == 200
    assert client.get("/api/stories").status_code == 200  # published: no session
    # without a session a story's address is the readers' page (tests/test_public.py)
    reader = client.get("/stories/elden-flood")
    assert reader.status_code == 200 and "Story signals" in reader.text
    # A POST without a session has no CSRF token to match: refused, nothing changes.
    assert client.post(f"/forecasts/{fid}/approve", data={"seen_status": "pending"}).status_code
    assert row(review_store, fid)["status"] == "pending"


def test_bad_password_and_unknown_editor(app: Any) -> None:
    client = client_for(app)
    form = {"csrf": csrf_of(client.get("/login").text)}
    wrong = client.post("/login", data={**form, "username": "alice", "password": "nope-nope"})
    unknown = client.post("/login", data={**form, "username": "mallory", "password": "x" * 9})
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "Wrong user name or password." in response.text
    assert client.get("/").status_code == 303  # still not logged in


def test_login_session_cookie_and_headers(app: Any) -> None:
    client = client_for(app)
    token_ = csrf_of(client.get("/login").text)
    response = client.post(
        "/login",
        data={
            "username": "alice",
            "password": PASSWORDS["alice"],
            "csrf": token_,
            "next": "//evil.example/",
        },
    )
    assert response.headers["location"] == "/"  # no open redirect
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    page = client.get("/")
    assert page.status_code == 200 and "alice" in page.text
    assert csrf_of(page.text) != token_  # a new token for the new session
    assert "script-src" not in page.headers["content-security-policy"]  # no script at all
    assert page.headers["x-frame-options"] == "DENY"


def test_csrf_missing_or_wrong_is_refused(app: Any, review_store: Store) -> None:
    client = login(app, "alice")
    fid = pending(review_store)["id"]
    missing = client.post(f"/forecasts/{fid}/approve", data={"seen_status": "pending"})
    wrong = client.post(
        f"/forecasts/{fid}/approve", data={"seen_status": "pending", "csrf": "forged"}
    )
    for response in (missing, wrong):
        assert response.status_code == 403
        assert "security token" in response.text
    assert row(review_store, fid)["status"] == "pending" and events(review_store) == []
    # the login form needs it too
    assert client_for(app).post("/login", data={"username": "alice"}).status_code == 403
    # a script may send it as a header
    ok = client.post(
        f"/forecasts/{fid}/approve",
        data={"seen_status": "pending"},
        headers={"X-CSRF-Token": token(client)},
    )
    assert ok.status_code == 303


def test_logout_and_password_change_end_the_session(app: Any, review_store: Store) -> None:
    client = login(app, "alice")
    assert client.post("/logout", data={"csrf": token(client)}).status_code == 303
    assert client.get("/").status_code == 303
    client = login(app, "alice")
    add_editor(review_store, "alice", "a-new-password", now=CLOCK, replace=True)
    assert client.get("/").status_code == 303  # the old session no longer counts


def test_create_app_needs_a_long_secret_unless_dev(review_store: Store) -> None:
    with pytest.raises(ConfigError, match="NOISECAST_SECRET_KEY is not set"):
        create_app(review_store, Settings(), None)
    with pytest.raises(ConfigError, match="at least 32"):
        create_app(review_store, Settings(), "short")
    assert create_app(review_store, Settings(), None, dev=True) is not None


# --- the actions -------------------------------------------------------------------------------


def test_approve(app: Any, review_store: Store) -> None:
    client = login(app, "alice")
    f = pending(review_store)
    response = act(client, f["id"], "approve", next="/?status=pending")
    assert response.status_code == 303 and response.headers["location"] == "/?status=pending"
    assert "Approved" in client.get("/").text  # the flash message
    stored = row(review_store, f["id"])
    assert (stored["status"], stored["reviewer"], stored["reviewed_at"]) == (
        "approved",
        "alice",
        CLOCK,
    )
    assert stored["final_text"] is None
    [event] = events(review_store)
    assert (event["editor"], event["action"], event["at"]) == ("alice", "approve", CLOCK)
    assert event["before"] == event["after"] == f["suggested_text"]
    published = client_for(app).get("/api/stories/elden-flood").json()
    assert published["forecast"]["text"] == f["suggested_text"]
    assert published["forecast"]["edited"] is False


def test_edit_then_approve_keeps_the_suggestion(app: Any, review_store: Store) -> None:
    client = login(app, "alice")
    f = pending(review_store)
    text = f"{LEAD}, attention to the Elden floods may keep growing through Friday. {CLOSE}"
    form = client.get(f"/forecasts/{f['id']}/edit")
    assert form.status_code == 200 and "Save and approve" in form.text
    assert act(client, f["id"], "edit", text=f"  {text}\n").status_code == 303
    stored = row(review_store, f["id"])
    assert stored["status"] == "approved"
    assert stored["final_text"] == text
    assert stored["suggested_text"] == f["suggested_text"]  # beside it, not over it
    [event] = events(review_store)
    assert (event["action"], event["before"], event["after"]) == (
        "edit",
        f["suggested_text"],
        text,
    )
    published = client_for(app).get("/api/stories/elden-flood").json()["forecast"]
    assert published["text"] == text and published["edited"] is True


def test_only_an_admin_may_remove_the_hedge(app: Any, review_store: Store) -> None:
    f = pending(review_store)
    bare = "Attention to the Elden floods will keep growing."
    refused = act(login(app, "alice"), f["id"], "edit", text=bare)
    assert refused.status_code == 422
    assert "must still open with “Based on current signals”" in refused.text
    assert bare in refused.text  # the editor's text is kept in the form
    glued = f"{LEAD}XYZ: attention will keep growing.XYZ{CLOSE}"
    refused = act(login(app, "alice"), f["id"], "edit", text=glued)
    assert refused.status_code == 422 and "end with the sentence" in refused.text
    assert row(review_store, f["id"])["status"] == "pending" and events(review_store) == []
    assert act(login(app, "root"), f["id"], "edit", text=bare).status_code == 303
    assert row(review_store, f["id"])["final_text"] == bare


def test_reject_needs_a_reason(app: Any, review_store: Store) -> None:
    client = login(app, "alice")
    f = pending(review_store)
    empty = act(client, f["id"], "reject", reason="  ")
    assert empty.status_code == 422 and "reason is required" in empty.text
    assert act(client, f["id"], "reject", reason="Interval too wide to say anything").status_code
    stored = row(review_store, f["id"])
    assert (stored["status"], stored["reviewer"]) == ("rejected", "alice")
    [event] = events(review_store)
    assert (event["action"], event["after"]) == ("reject", "Interval too wide to say anything")
    assert client_for(app).get("/api/stories/elden-flood").json()["forecast"] is None
    story = client.get("/stories/elden-flood").text
    assert "Interval too wide to say anything" in story  # the review history


def test_second_editor_gets_a_conflict(app: Any, review_store: Store) -> None:
    alice, bob = login(app, "alice"), login(app, "bob")
    f = pending(review_store)
    bob_token = token(bob)  # bob has the queue open, the suggestion pending
    assert act(alice, f["id"], "approve").status_code == 303
    response = bob.post(
        f"/forecasts/{f['id']}/reject",
        data={"csrf": bob_token, "seen_status": "pending", "reason": "no"},
    )
    assert response.status_code == 409
    assert "already approved by alice at 2026-11-26 00:20 UTC" in response.text
    assert "Nothing was changed" in response.text
    assert row(review_store, f["id"])["status"] == "approved"
    assert [e["editor"] for e in events(review_store)] == ["alice"]


def test_a_newer_hourly_run_supersedes_while_reviewing(app: Any, review_store: Store) -> None:
    client = login(app, "alice")
    f = pending(review_store)
    newer = {
        k: f[k]
        for k in ("horizon_hours", "model_version", "model", "p10", "p90", "current_rate")
        if k in f
    }
    newer |= {
        "story": "elden-flood",
        "as_of": AS_OF + timedelta(hours=1),
        "p50": float(f["p50"]) * 3,
        "prob_rising": 0.95,
        "hedge_word": "very likely",
        "low_confidence": False,
        "confidence_note": None,
        "suggested_text": f"{LEAD}, attention is very likely to grow. {CLOSE}",
        "created_at": AS_OF + timedelta(hours=1),
    }
    assert review_store.write_forecasts([newer], min_change=0.25) == 1
    response = act(client, f["id"], "approve")
    assert response.status_code == 409
    assert "newer hourly forecast replaced this suggestion" in response.text
    assert row(review_store, f["id"])["status"] == "superseded" and events(review_store) == []


def test_concurrent_reviews_one_wins(store: Store) -> None:
    """The conditional update, on SQLite and PostgreSQL: of many editors acting on one
    suggestion at once, exactly one succeeds and writes one event."""
    store.upsert_story("s", "Story", "story", now=CLOCK)
    store.write_forecasts(
        [
            {
                "story": "s",
                "as_of": AS_OF,
                "horizon_hours": 24,
                "model_version": "m",
                "p10": 1.0,
                "p50": 2.0,
                "p90": 3.0,
                "prob_rising": 0.5,
                "suggested_text": f"{LEAD}, x. {CLOSE}",
                "hedge_word": "may",
            }
        ],
        min_change=0.25,
    )
    fid = int(store.forecasts_frame()["id"].iloc[0])
    outcomes: list[str] = []
    start = threading.Barrier(6)

    def review(n: int) -> None:
        start.wait()
        try:
            store.review_forecast(
                fid, action="approve", editor=f"e{n}", seen_status="pending", now=CLOCK
            )
            outcomes.append("ok")
        except ReviewConflict as e:
            outcomes.append(str(e))

    threads = [threading.Thread(target=review, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 1
    assert all("already approved by e" in o for o in outcomes if o != "ok")
    assert len(events(store)) == 1


def test_review_queries_on_each_backend(store: Store) -> None:
    """The queue, the story view and the published rows, on SQLite and PostgreSQL."""
    store.upsert_story("s", "Story", "story", now=CLOCK)
    base = {
        "story": "s",
        "horizon_hours": 24,
        "model_version": "m",
        "p10": 1.0,
        "p50": 2.0,
        "p90": 3.0,
        "prob_rising": 0.5,
        "hedge_word": "may",
        "low_confidence": False,
    }
    for hours, text in ((0, "first"), (1, "second")):
        row_ = {**base, "as_of": AS_OF + timedelta(hours=hours), "suggested_text": text}
        store.write_forecasts([row_], min_change=0.0)
        fid = int(store.forecasts_frame(statuses=["pending"])["id"].iloc[0])
        store.review_forecast(
            fid, action="edit", editor="e", seen_status="pending", now=CLOCK, text=f"{text}!"
        )
    [published] = store.published_rows()
    assert (published["slug"], published["forecast_final_text"]) == ("s", "second!")
    assert published["score"] is None  # not scored yet
    queue = store.review_queue(status="approved")
    assert [r["suggested_text"] for r in queue["rows"]] == ["second", "first"]
    assert store.review_queue()["rows"] == []
    view = store.story_review("s")
    assert [e["after"] for e in view["events"]] == ["second!", "first!"]
    assert view["observed_until"] is None and view["hours"] == []


# --- pages -------------------------------------------------------------------------------------


def test_queue_loudest_first_with_evidence_and_filters(app: Any) -> None:
    client = login(app, "alice")
    page = client.get("/").text
    titles = re.findall(r'<h2><a href="/stories/([a-z-]+)">', page)
    assert titles[:2] == ["elden-flood", "city-budget"]  # the demo approved its SHOWCASE's
    assert len(titles) == 4 and SHOWCASE not in titles
    assert page.count('<svg class="spark"') == 4 and "<polyline" in page
    assert "p10–p90" in page and "Probability of rising" in page
    assert "Low confidence" in page  # the demo's cold-start model says so
    quiet = client.get("/?level=Quiet").text
    assert set(re.findall(r'<h2><a href="/stories/([a-z-]+)">', quiet)) == {
        "port-strike",
        "saltmarsh-rovers",
    }
    one = client.get("/?story=city-budget").text
    assert re.findall(r'<h2><a href="/stories/([a-z-]+)">', one) == ["city-budget"]
    approved = client.get("/?status=approved").text
    assert re.findall(r'<h2><a href="/stories/([a-z-]+)">', approved) == [SHOWCASE]


def test_a_score_data_health_note_is_shown(app: Any, review_store: Store) -> None:
    if "confidence_note" not in noise_scores.c:
        pytest.skip("noise_scores has no confidence_note (the hourly cycle's migration)")
    note = "7 of 30 sources failed in the hours before"
    with review_store.transaction() as conn:
        conn.execute(
            update(noise_scores)
            .where(noise_scores.c.as_of == AS_OF - timedelta(hours=1))
            .values(confidence_note=note)
        )
    client = login(app, "alice")
    assert f"<strong>Data health</strong>: {note}" in client.get("/").text
    assert f"<strong>Data health</strong>: {note}" in client.get("/stories/elden-flood").text


def test_story_view(app: Any, review_store: Store) -> None:
    client = login(app, "alice")
    page = client.get("/stories/elden-flood")
    assert page.status_code == 200
    html = page.text
    assert 'class="bar"' in html and 'class="score-line"' in html and 'class="band"' in html
    assert "The score's components" in html and "volume" in html and "breadth" in html
    top = html.split('<ol class="mentions">', 1)[1].split("</ol>", 1)[0]
    assert top.count("<li>") == 15  # the top mentions (a social post links to its page too)
    assert "not yet known" in html  # the demo's only forecast has not played out
    assert "Nobody has reviewed" in html
    assert client.get("/stories/no-such-story").status_code == 404


def test_what_happened_after_an_earlier_forecast(app: Any, review_store: Store) -> None:
    """A forecast made a day before the end of the demo has played out: the story view shows
    the mentions of its 24 hours beside its interval."""
    with review_store.transaction() as conn:
        story_id = conn.execute(select(stories.c.id).where(stories.c.slug == "elden-flood"))
        conn.execute(
            forecasts.insert().values(
                story_id=story_id.scalar_one(),
                as_of=AS_OF - timedelta(hours=24),
                horizon_hours=24,
                model_version="m",
                p10=1,
                p50=2,
                p90=3,
                prob_rising=0.5,
                current_rate=0.1,
                suggested_text="earlier",
                status="approved",
                reviewer="alice",
                reviewed_at=AS_OF - timedelta(hours=23),
            )
        )
    hourly = review_store.hourly_frame(AS_OF - timedelta(hours=24), AS_OF)
    actual = int(hourly.loc[hourly["story"] == "elden-flood", "mentions"].sum())
    html = login(app, "alice").get("/stories/elden-flood").text
    assert f"{actual:,} mentions: <strong>outside</strong> the interval, rose" in html


def test_feed_text_is_inert(app: Any, review_store: Store) -> None:
    """A mention titled <script>, linking to javascript:, by an author with markup; a story
    whose title has markup (it reaches the suggestion text): all shown as text."""
    hostile_title = "<script>alert(1)</script>"
    with review_store.transaction() as conn:
        story_id = conn.execute(
            select(stories.c.id).where(stories.c.slug == "elden-flood")
        ).scalar_one()
        conn.execute(
            update(stories)
            .where(stories.c.slug == "city-budget")
            .values(title='Budget <img src=x onerror="alert(2)">')
        )
        source_id = conn.execute(select(sources.c.id).limit(1)).scalar_one()
        mention_id = conn.execute(
            mentions.insert().values(
                source_id=source_id,
                external_id="hostile",
                kind="rss",
                url="javascript:alert(1)",
                link_url="JaVaScRiPt:alert(3)",
                title_key="x",
                title=hostile_title,
                author='<b onmouseover="alert(4)">x</b>',
                outlet="evil.example",
                published_at=AS_OF - timedelta(minutes=5),
                fetched_at=AS_OF - timedelta(minutes=5),
                updated_at=AS_OF - timedelta(minutes=5),
                score=10_000,
            )
        ).inserted_primary_key[0]
        conn.execute(
            story_mentions.insert().values(
                story_id=story_id, mention_id=mention_id, matched_terms=[], matched_at=AS_OF
            )
        )
        conn.execute(
            update(forecasts)
            .where(forecasts.c.status == "pending", forecasts.c.story_id == story_id)
            .values(suggested_text=f"{LEAD}, attention to “{hostile_title}” may grow. {CLOSE}")
        )
    client = login(app, "alice")
    for path in ("/stories/elden-flood", "/", "/?story=city-budget", "/stories/city-budget"):
        html = client.get(path).text
        assert "<script>" not in html and "<img src=x" not in html and "<b onmouseover" not in html
        assert 'href="javascript' not in html.lower()
    story = client.get("/stories/elden-flood").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in story
    assert "link hidden: not an http(s) address" in story
    assert "&lt;b onmouseover=" in story
    published = client_for(app).get("/api/stories").text
    titles = {s["slug"]: s["title"] for s in json.loads(published)["stories"]}
    assert titles["city-budget"].startswith("Budget <img")  # JSON carries the text as it is
    assert (
        client_for(app).get("/api/stories").headers["content-type"].startswith("application/json")
    )


# --- published JSON ----------------------------------------------------------------------------


def test_published_json(app: Any, review_store: Store) -> None:
    public = client_for(app)
    listing = public.get("/api/stories")
    assert listing.status_code == 200
    assert listing.headers["cache-control"] == "public, max-age=60"
    assert listing.headers["access-control-allow-origin"] == "*"
    etag = listing.headers["etag"]
    assert public.get("/api/stories", headers={"If-None-Match": etag}).status_code == 304
    stories_ = listing.json()["stories"]
    assert len(stories_) == 5
    assert [s["slug"] for s in stories_ if s["forecast"] is not None] == [SHOWCASE]  # the demo's
    story = public.get("/api/stories/city-budget").json()
    assert story["level"] == "High" and 0 <= story["score"] <= 100
    assert story["hedge"] == LEAD and story["score_as_of"] == "2026-11-25T23:00:00+00:00"

    f = pending(review_store, "city-budget")
    act(login(app, "bob"), f["id"], "approve")
    after = public.get("/api/stories/city-budget", headers={"If-None-Match": etag})
    assert after.status_code == 200 and after.headers["etag"] != etag
    body = after.json()
    assert set(body) == {
        "slug",
        "title",
        "level",
        "score",
        "score_as_of",
        "updated",
        "hedge",
        "forecast",
        "timeline",
    }
    forecast = body["forecast"]
    assert forecast["text"].startswith(LEAD) and forecast["text"].endswith(CLOSE)
    assert forecast["p10"] == f["p10"] and forecast["p90"] == f["p90"]
    assert forecast["horizon_hours"] == 24 and forecast["as_of"] == AS_OF.isoformat()
    assert forecast["valid_until"] == (AS_OF + timedelta(hours=24)).isoformat()
    assert body["updated"] == CLOCK.isoformat()  # the approval, later than the score's hour
    missing = public.get("/api/stories/nope")
    assert missing.status_code == 404 and missing.json() == {"detail": "no published story 'nope'"}


def test_published_json_has_no_internal_jargon(app: Any, review_store: Store) -> None:
    """Every demo suggestion (the unchecked prior: low confidence) approved, one of them written the
    way suggestions were before issue 11 (the editor's reason inside the text): no string the
    public JSON carries names a setting, a dotted key, or model jargon."""
    old = (
        f"{LEAD}, attention to “Elden flood” may grow or ease over the next 24 hours, with 3 "
        "to 9 new mentions expected. Confidence in this forecast is low: too little history "
        "to fit the model yet (0 stories have 24 hours on record after a forecast point; it "
        f"needs 20, forecast.min_training_series). {CLOSE}"
    )
    with review_store.transaction() as conn:
        conn.execute(
            update(forecasts)
            .where(forecasts.c.id == pending(review_store)["id"])
            .values(suggested_text=old)
        )
    client = login(app, "alice")
    # the review app shows editors the reason, settings and all
    assert "forecast.prior_check_series" in client.get("/stories/city-budget").text
    # The demo approved its SHOWCASE story's forecast already.
    for slug in ("elden-flood", "city-budget", "port-strike", "saltmarsh-rovers"):
        assert act(client, pending(review_store, slug)["id"], "approve").status_code == 303
    body = client_for(app).get("/api/stories").json()
    texts = [s["forecast"]["text"] for s in body["stories"]]
    assert len(texts) == 5 and all("Confidence is low" in t for t in texts)
    # identifiers, and the Timeline's links (addresses, not words: the demo publishes some)
    for value in published_strings(body, skip=frozenset({"slug", "kind", "link"})):
        assert jargon_in(value) == [], value
    [elden] = [s for s in body["stories"] if s["slug"] == "elden-flood"]
    assert elden["forecast"]["text"] == (
        f"{LEAD}, attention to “Elden flood” may grow or ease over the next 24 hours, with 3 "
        f"to 9 new mentions expected. Confidence is low. {CLOSE}"
    )


# --- commands ----------------------------------------------------------------------------------


def _noisecast() -> click.Group:
    """The real ``noisecast`` group with the review commands (until noisecast.engine.cli adds
    them)."""
    return click.Group(
        "noisecast",
        callback=cli.callback,
        params=cli.params,
        commands={**cli.commands, "serve": serve, "editors": editors, "export": export},
    )


def test_review_commands(demo_db: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    url = f"sqlite:///{demo_db}"
    group = _noisecast()

    def run(*args: str, input: str | None = None) -> Any:
        return runner.invoke(
            group,
            ["--config", str(tmp_path / "none.toml"), *args],
            input=input,
            env={"NOISECAST_DATABASE_URL": url, "NOISECAST_SECRET_KEY": ""},
            catch_exceptions=False,
        )

    (tmp_path / "none.toml").write_text("")
    added = run("editors", "add", "carol", "--role", "admin", "--json", input="carols-secret\n")
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout) == {"username": "carol", "role": "admin", "created": True}
    again = run("editors", "add", "carol", input="another-one\n")
    assert again.exit_code == 1 and "--replace" in again.stderr
    short = run("editors", "add", "dave", input="short\n")
    assert short.exit_code == 2 and "too short" in short.stderr
    listed = json.loads(run("editors", "list", "--json").stdout)
    assert {e["username"]: e["role"] for e in listed} == {"carol": "admin", "demo": "editor"}
    store = Store.from_url(url)
    try:
        assert verify_password(store.get_editor("carol")["password_hash"], "carols-secret")
        assert "carols-secret" not in json.dumps(listed)
        exported = json.loads(run("export", "--json").stdout)
        client = TestClient(create_app(store, Settings(), SECRET))
        assert exported == client.get("/api/stories").json()
    finally:
        store.close()
    refused = run("serve", "--port", "0")
    assert refused.exit_code == 2 and "NOISECAST_SECRET_KEY is not set" in refused.stderr
    for path in (["serve"], ["editors"], ["editors", "add"], ["editors", "list"], ["export"]):
        assert run(*path, "--help").exit_code == 0


def test_the_demo_makes_an_editor_and_says_how_to_review(demo_db: Path) -> None:
    url = f"sqlite:///{demo_db}"
    store = Store.from_url(url)
    try:
        made_by_demo = store.get_editor("demo")
        assert made_by_demo is not None and made_by_demo["role"] == "editor"
        first = demo_review(url, now=CLOCK)
        second = demo_review(url, now=CLOCK)  # running the demo again resets the password
        stored = store.get_editor("demo")["password_hash"]
    finally:
        store.close()
    assert first["password"] != second["password"]
    assert verify_password(stored, second["password"])
    assert not verify_password(stored, first["password"])
    assert first["command"].endswith(f"serve --dev --database {url}")

    from noisecast.engine.demo.run import _print_summary

    out = io.StringIO()
    summary = {
        "hours": 72,
        "stories": [],
        "outlets": 1,
        "articles_published": 1,
        "fetches": 1,
        "http_requests": 1,
        "new_mentions": 1,
        "seconds": 1.0,
        "forecasts": 5,
        "model": "m",
        "database": url,
        "commands": [f"noisecast status --database {url}"],
        "review": second,
    }
    _print_summary(Console(file=out, width=200), summary)
    printed = out.getvalue()
    assert second["command"] in printed and second["password"] in printed
    assert "log in as demo" in printed


# --- the pure parts ----------------------------------------------------------------------------


def test_check_edit_and_reason() -> None:
    text = f"{LEAD}, attention may grow.\n{CLOSE}"
    assert check_edit(text, lead=LEAD, close=CLOSE, role="editor") == text.replace("\n", " ")
    with pytest.raises(ReviewInputError, match="open with"):
        check_edit("Attention may grow. " + CLOSE, lead=LEAD, close=CLOSE, role="editor")
    with pytest.raises(ReviewInputError, match="end with"):
        check_edit(f"{LEAD}, it grows.", lead=LEAD, close=CLOSE, role="editor")
    assert check_edit("It grows.", lead=LEAD, close=CLOSE, role="admin") == "It grows."
    with pytest.raises(ReviewInputError, match="empty"):
        check_edit(" \n", lead=LEAD, close=CLOSE, role="admin")
    with pytest.raises(ReviewInputError, match="under"):
        check_edit("x" * 2001, lead=LEAD, close=CLOSE, role="admin")
    assert check_reason("  too   wide ") == "too wide"
    with pytest.raises(ReviewInputError):
        check_reason("")


@pytest.mark.parametrize(
    "text",
    [
        f"{LEAD}XYZ attention will keep growing. {CLOSE}",  # the lead glued to a word
        f"{LEAD}s attention will keep growing. {CLOSE}",
        f"{LEAD}_x attention will keep growing. {CLOSE}",
        f"{LEAD}\u200bXYZ attention will keep growing. {CLOSE}",  # an invisible joiner
        f"{LEAD.lower()}, attention will keep growing. {CLOSE}",
        f"Not {LEAD.lower()}, attention will keep growing. {CLOSE}",
        f"{LEAD[:-1]}, attention will keep growing. {CLOSE}",
        f"{LEAD}, attention will keep growingXYZ{CLOSE}",  # the close glued to a word
        f"{LEAD}, attention will keep growing {CLOSE}",  # not a sentence of its own
        f"{LEAD}, attention will keep growing, {CLOSE}",
        f"{LEAD}, attention will keep growing. {CLOSE[:-1]}",
        f"{LEAD}, attention will keep growing. {CLOSE} Or not.",
        f"{LEAD}, attention will keep growing. {CLOSE.lower()}",
        f"{LEAD}, attention will keep growing. Events may not develop differently.",
        f"{LEAD} {CLOSE}",
    ],
)
def test_the_hedge_cannot_be_bypassed(text: str) -> None:
    with pytest.raises(ReviewInputError, match="only an admin may remove the hedge"):
        check_edit(text, lead=LEAD, close=CLOSE, role="editor")
    assert check_edit(text, lead=LEAD, close=CLOSE, role="admin") == text


@pytest.mark.parametrize(
    "text",
    [
        f"{LEAD}, attention will keep growing. {CLOSE}",
        f"{LEAD}: attention will keep growing! {CLOSE}",
        f"{LEAD} attention will keep growing? {CLOSE}",
        f"{LEAD} — attention “will keep growing.” {CLOSE}",
        f"{LEAD}, attention will keep growing (through Friday.) {CLOSE}",
        f"{LEAD}. {CLOSE}",
    ],
)
def test_hedged_edits_pass(text: str) -> None:
    assert check_edit(text, lead=LEAD, close=CLOSE, role="editor") == text


def test_the_hedge_with_other_lead_and_close() -> None:
    lead, close = "On signals so far,", "— things change"
    good = "On signals so far, it grows — things change"
    assert check_edit(good, lead=lead, close=close, role="editor") == good
    for bad in ("On signals so far,it grows — things change",
                "On signals so far, it grows — things changed"):  # fmt: skip
        with pytest.raises(ReviewInputError):
            check_edit(bad, lead=lead, close=close, role="editor")


def test_conflict_messages() -> None:
    at = datetime(2026, 11, 26, 0, 12, tzinfo=UTC)
    approved = {"status": "approved", "reviewer": "alice", "reviewed_at": at}
    assert conflict_message(approved, seen_status="pending") == (
        "This suggestion was already approved by alice at 2026-11-26 00:12 UTC. "
        "Nothing was changed."
    )
    superseded = {"status": "superseded", "newer_as_of": at}
    assert "newer hourly forecast" in conflict_message(superseded, seen_status="pending")
    assert "no longer exists" in conflict_message(None, seen_status="pending")
    assert "reload" in conflict_message({"status": "pending"}, seen_status="approved")


def test_outcome_sums_the_hours_of_the_horizon() -> None:
    start = datetime(2026, 11, 25, tzinfo=UTC)
    f = {"as_of": start, "horizon_hours": 3, "p10": 2, "p90": 5, "current_rate": 1.0}
    counts = {start: 1, start + timedelta(hours=1): 2, start + timedelta(hours=3): 100}
    done = outcome(f, counts, start + timedelta(hours=10))
    assert done == {"actual": 3, "hours_observed": 3, "complete": True, "within": True,
                    "rose": False}  # fmt: skip
    partial = outcome(f, counts, start + timedelta(hours=2))
    assert (partial["actual"], partial["hours_observed"], partial["complete"]) == (3, 2, False)
    assert outcome(f, counts, start)["actual"] is None


def test_safe_url_and_sparkline() -> None:
    assert safe_url("https://example.org/a?b=1") == "https://example.org/a?b=1"
    assert safe_url("HTTP://example.org") == "HTTP://example.org"
    for bad in ("javascript:alert(1)", " JavaScript:x", "data:text/html,x", "//x.org", "/a",
                "http://", "http://a.org/\nb", None, 3):  # fmt: skip
        assert safe_url(bad) is None, bad
    assert sparkline([]) == []
    assert len(sparkline([10.0, None, 20.0, 30.0])) == 2  # a gap splits the line
    [line] = sparkline([0.0, 100.0], width=10, height=10)
    assert line == "0.0,8.5 10.0,1.5"


def test_history_chart_cuts_a_wide_interval() -> None:
    hours = [datetime(2026, 11, 25, h, tzinfo=UTC) for h in range(24)]
    f = {"horizon_hours": 24, "p10": 24, "p50": 48, "p90": 2400}
    chart = history_chart(hours, [1] * 24, [50.0] * 24, f)
    assert chart["band_clipped"] == "100"
    assert chart["band"].y == chart["plot"].y  # cut at the top
    assert len(chart["bars"]) == 24 and len(chart["score"]) == 1
    assert chart["days"] == [(chart["plot"].x, "Wed 25 Nov")]


def _y_ticks(peak: float) -> list[tuple[float, str]]:
    """The story chart's left axis when the busiest hour (or the forecast's median rate) is
    ``peak``."""
    hours = [datetime(2026, 11, 25, h, tzinfo=UTC) for h in range(4)]
    f = {"horizon_hours": 1, "p10": 0, "p50": peak, "p90": peak}
    return list(history_chart(hours, [0] * 4, [None] * 4, f)["y_ticks"])


@pytest.mark.parametrize("exponent", range(-2, 8))
@pytest.mark.parametrize("mantissa", [1, 2, 2.5, 5])
def test_y_axis_labels_say_the_tick_values(exponent: int, mantissa: float) -> None:
    """Every axis top the chart picks (1, 2, 2.5, 5 x 10^k): the labels read back as the tick
    values, in one precision, and differ. (2.5 used to print its ticks 1.25, 2.5 as 1, 2.)"""
    top = mantissa * 10**exponent
    ticks = _y_ticks(top / 1.15 * 0.999)  # the chart leaves 15% headroom above the peak
    labels = [label for _, label in ticks]
    values = [float(label.replace(",", "")) for label in labels]
    assert values == pytest.approx([0, top / 2, top], rel=1e-12, abs=1e-12), labels
    assert len(set(labels)) == 3
    assert len({len(label.rpartition(".")[2]) for label in labels if "." in label}) <= 1
    ys = [y for y, _ in ticks]
    assert ys == sorted(ys, reverse=True)  # the top tick is highest on the page


def test_y_axis_labels_examples() -> None:
    assert [label for _, label in _y_ticks(2.1)] == ["0.00", "1.25", "2.50"]
    assert [label for _, label in _y_ticks(20)] == ["0.0", "12.5", "25.0"]
    assert [label for _, label in _y_ticks(80)] == ["0", "50", "100"]
    assert [label for _, label in _y_ticks(4_000)] == ["0", "2,500", "5,000"]
    assert [label for _, label in _y_ticks(0)] == ["0.0", "0.5", "1.0"]
    assert [label for _, label in _y_ticks(1e-9)] == ["0.000", "0.005", "0.010"]
    assert tick_labels([0, 0.125, 0.25], 0.125) == ["0.000", "0.125", "0.250"]


@given(peak=st.floats(0, 1e9, allow_nan=False))
def test_y_axis_labels_read_back_for_any_peak(peak: float) -> None:
    ticks = _y_ticks(peak)
    values = [float(label.replace(",", "")) for _, label in ticks]
    top = values[-1]
    assert top >= max(peak * 1.15, 0.01) * (1 - 1e-12)  # 15% headroom, at least 0.01
    assert values == pytest.approx([0, top / 2, top], rel=1e-12, abs=1e-12)
