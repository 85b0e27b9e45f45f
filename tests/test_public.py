"""The public story page and its widgets over HTTP (FastAPI's test client) on SQLite and
PostgreSQL: only what editors approved is shown, unknown and archived stories are not found,
each response carries its own Content-Security-Policy, framing and caching headers, and hostile
feed text in a Timeline entry stays inert in the page, the widgets and the JSON. Plus the pure
shaping (noisecast.engine.core.public) and the palette's contrast (WCAG AA)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import update

from noisecast.engine.config import PublicSettings, Settings
from noisecast.engine.core.public import (
    Recent,
    change_words,
    drives_line,
    forecast_box,
    hedge_line,
    level_class,
    noise_box,
    range_words,
    recent_activity,
    timeline_items,
)
from noisecast.engine.core.timeline import Proposal
from noisecast.engine.schema import LEVELS
from noisecast.engine.store import Store
from noisecast.engine.store.tables import mentions, sources, story_mentions, timeline_entries
from noisecast.engine.web import accounts
from noisecast.engine.web.app import create_app
from tests.conftest import ROOT
from tests.plain_words import jargon_in

SECRET = "k" * 40
AS_OF = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)  # the newest scored hour
CLOCK = AS_OF + timedelta(minutes=20)
LEAD = "Based on current signals"
CLOSE = "Events may develop differently."
HEDGE = f"{LEAD}. {CLOSE}"
APPROVED = (
    f"{LEAD}, attention to “Northmere Bank data breach” is likely to grow over the next 24 "
    f"hours, with 38 to 121 new mentions expected. {CLOSE}"
)
PENDING = f"{LEAD}, attention to the breach may ease. PENDING-FORECAST-SECRET. {CLOSE}"
HOSTILE_TITLE = "<script>alert(1)</script>"
HOSTILE_TEXT = 'Quoted " onmouseover="alert(2)" <img src=x onerror=alert(3)>'
HOSTILE_LINK = "javascript:alert(document.cookie)"
WIDGETS = ("noise", "forecast", "timeline")
CSS = ROOT / "engine" / "web" / "static" / "public.css"


# --- seeding: everything through the Store, as the hourly jobs and editors would -----------------


def _scores(slug: str, hours: int) -> list[dict[str, Any]]:
    """A story rising from Low to High over ``hours`` hours up to AS_OF, breadth first."""
    rows = []
    for i in range(hours):
        as_of = AS_OF - timedelta(hours=hours - 1 - i)
        score = 20.0 + 55.0 * i / max(hours - 1, 1)
        parts = {"breadth": 0.5, "volume": 0.3, "engagement": 0.15, "velocity": 0.05}
        rows.append(
            {
                "story": slug,
                "as_of": as_of,
                "score": score,
                "level": LEVELS[min(int(score // 20), 4)],
                "components": {
                    name: {"value": share * 10, "normalised": share, "contribution": share * score}
                    for name, share in parts.items()
                },
                "unhealthy": False,
                "mention_ids": [],
            }
        )
    return rows


def _mentions(store: Store, slug: str, outlets: int) -> None:
    """One web mention from each of ``outlets`` outlets in the story's last hours."""
    story_id = store.story_id(slug)
    with store.transaction() as conn:
        source_id = conn.execute(
            sources.insert().values(
                name=f"wire-{slug}",
                kind="rss",
                url=f"https://wire.example/{slug}.xml",
                settings={},
                interval_minutes=30,
                next_due_at=AS_OF,
                created_at=AS_OF,
                updated_at=AS_OF,
            )
        ).inserted_primary_key[0]
        for i in range(outlets):
            when = AS_OF + timedelta(minutes=50) - timedelta(minutes=25 * i)
            mention_id = conn.execute(
                mentions.insert().values(
                    source_id=source_id,
                    external_id=f"{slug}-{i}",
                    kind="rss",
                    url=f"https://outlet{i}.example/story",
                    title_key=f"{slug}-{i}",
                    title=f"Report {i}",
                    outlet=f"outlet{i}.example",
                    published_at=when,
                    fetched_at=when,
                    updated_at=when,
                )
            ).inserted_primary_key[0]
            conn.execute(
                story_mentions.insert().values(
                    story_id=story_id, mention_id=mention_id, matched_terms=[], matched_at=when
                )
            )


def _forecast(slug: str, as_of: datetime, text: str, p10: float, p90: float) -> dict[str, Any]:
    return {
        "story": slug,
        "as_of": as_of,
        "horizon_hours": 24,
        "model_version": "test",
        "p10": p10,
        "p50": (p10 + p90) / 2,
        "p90": p90,
        "prob_rising": 0.7,
        "suggested_text": text,
        "model": "test",
        "current_rate": 2.0,
        "hedge_word": "likely",
        "low_confidence": False,
    }


def _proposal(key: str, at: datetime, title: str, text: str, link: str | None) -> Proposal:
    kind = key.split(":")[0]
    return Proposal(key, kind, at, title, text, link, {"test": key})


def _entry(store: Store, story_id: int, key: str) -> dict[str, Any]:
    [found] = [e for e in store.timeline_entries(story_id) if e["key"] == key]
    return found


def _review(store: Store, story_id: int, key: str, action: str) -> None:
    entry = _entry(store, story_id, key)
    store.review_timeline_entry(
        entry["id"], action, editor="alice", seen_version=entry["version"], now=CLOCK
    )


def seed(store: Store) -> None:
    """``breach``: scored for 80 hours, an approved forecast and a newer pending one, a
    Timeline with approved, proposed, hidden, changed-since-approval, hostile and editor
    entries. ``quiet``: nothing scored, nothing approved. ``gone``: approved, then archived."""
    for slug, title in (
        ("breach", "Northmere Bank data breach"),
        ("quiet", "Saltmarsh Rovers stadium plan"),
        ("gone", "Archived story"),
    ):
        store.upsert_story(slug, title, slug, now=AS_OF - timedelta(days=5))
    rows = _scores("breach", 80) + _scores("gone", 5)
    store.write_scores(rows, sorted({r["as_of"] for r in rows}))
    _mentions(store, "breach", outlets=5)

    store.write_forecasts(
        [
            _forecast("breach", AS_OF - timedelta(hours=1), APPROVED, 38.2, 121.4),
            _forecast("gone", AS_OF, f"{LEAD}, ARCHIVED-FORECAST. {CLOSE}", 1, 5),
        ],
        min_change=0.0,
    )
    for slug in ("breach", "gone"):
        [fid] = store.forecasts_frame(statuses=["pending"], story=slug)["id"]
        store.review_forecast(
            int(fid), action="approve", editor="alice", seen_status="pending", now=CLOCK
        )
    store.write_forecasts([_forecast("breach", AS_OF, PENDING, 1, 3)], min_change=0.0)

    story_id = store.story_id("breach")
    t0 = AS_OF - timedelta(hours=30)
    store.sync_timeline(
        story_id,
        [
            _proposal(
                "first_seen",
                t0,
                "First seen",
                "Wire Daily published the first report.",
                "https://wire.example/first",
            ),
            _proposal("first_major", t0 + timedelta(hours=2), HOSTILE_TITLE, HOSTILE_TEXT, None),
            _proposal(
                "level:High",
                t0 + timedelta(hours=20),
                "Reached High",
                "HIDDEN-ENTRY-SECRET.",
                "https://wire.example/high",
            ),
            _proposal(
                "peak", t0 + timedelta(hours=29), "PROPOSED-TITLE", "PROPOSED-ENTRY-SECRET.", None
            ),
        ],
        now=CLOCK,
    )
    for key in ("first_seen", "first_major", "level:High"):
        _review(store, story_id, key, "approve")
    _review(store, story_id, "level:High", "hide")
    # The hourly job later changes an approved entry: the change waits for review.
    store.sync_timeline(
        story_id,
        [
            _proposal(
                "first_seen",
                t0 - timedelta(hours=1),
                "First seen",
                "UPDATED-UNREVIEWED-SECRET.",
                "https://wire.example/earlier",
            )
        ],
        now=CLOCK,
    )
    memo = store.add_timeline_entry(
        story_id,
        editor="alice",
        at=t0 - timedelta(hours=3),
        title="Internal memo sent",
        text="An internal memo warned staff.",
        link="https://intranet.example/memo",
        now=CLOCK,
    )
    # The Store refuses a javascript: link; one written by other means must still not be one.
    with store.transaction() as conn:
        conn.execute(
            update(timeline_entries)
            .where(timeline_entries.c.id == memo["id"])
            .values(published_link=HOSTILE_LINK)
        )
    store.archive_story("gone", now=CLOCK)


@pytest.fixture
def seeded(store: Store) -> Store:
    seed(store)
    return store


def app_for(store: Store, **public: Any) -> Any:
    settings = Settings(public=PublicSettings(**public))
    return create_app(store, settings, SECRET, now=lambda: CLOCK)


@pytest.fixture
def client(seeded: Store) -> Iterator[TestClient]:
    yield TestClient(app_for(seeded), follow_redirects=False)


def _text(html: str) -> str:
    """The visible text of a page (tags dropped, entities left)."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# --- what is published -------------------------------------------------------------------------


def test_only_approved_words_are_public(client: TestClient) -> None:
    """The approved forecast and entries are on the page, in every widget and in the JSON;
    the pending forecast, the proposed entry, the hidden entry and the unreviewed change of
    an approved entry are nowhere."""
    secrets = (
        "PENDING-FORECAST-SECRET",
        "PROPOSED-ENTRY-SECRET",
        "PROPOSED-TITLE",
        "HIDDEN-ENTRY-SECRET",
        "UPDATED-UNREVIEWED-SECRET",
        "wire.example/earlier",
        "wire.example/high",
    )
    page = client.get("/stories/breach")
    assert page.status_code == 200
    widgets = {w: client.get(f"/embed/breach/{w}").text for w in WIDGETS}
    api = client.get("/api/stories/breach").text
    listing = client.get("/api/stories").text
    for body in (page.text, *widgets.values(), api, listing):
        for secret in secrets:
            assert secret not in body
    assert "is likely to grow" in page.text and "is likely to grow" in widgets["forecast"]
    for body in (page.text, widgets["timeline"]):
        assert "Wire Daily published the first report." in body
        assert "Internal memo sent" in body
        assert "https://wire.example/first" in body
    text = _text(page.text)
    # Noise Level: the meter with its words, the change, the sparkline, what drives it.
    assert "75 / 100 — High" in text
    assert 'role="meter"' in page.text and 'aria-valuenow="75"' in page.text
    assert 'aria-valuetext="75 out of 100, High"' in page.text
    assert "Up 17 points in 24 hours." in text  # 75.0 now, 58.3 a day before
    assert "<polyline" in page.text and "lowest 25, highest 75, now 75" in page.text
    assert "Mostly breadth: 5 outlets in the last 6 hours." in text
    # Forecast: the text, the range in words, the hedge line.
    assert "Between 38 and 121 mentions in the next 24 hours." in text
    assert HEDGE in text
    # Timeline: newest first (the entry's published time, not the unreviewed earlier one).
    titles = re.findall(r'<h3 class="entry-title">([^<]*)</h3>', page.text)
    assert titles == ["&lt;script&gt;alert(1)&lt;/script&gt;", "First seen", "Internal memo sent"]
    body = json.loads(api)
    assert [e["title"] for e in body["timeline"]] == [
        HOSTILE_TITLE,
        "First seen",
        "Internal memo sent",
    ]
    assert set(body["timeline"][0]) == {"at", "title", "text", "link", "kind"}
    assert body["timeline"][1]["at"] == (AS_OF - timedelta(hours=30)).isoformat()
    assert body["forecast"]["text"] == APPROVED
    [listed] = [s for s in json.loads(listing)["stories"] if s["slug"] == "breach"]
    assert listed["timeline"] == body["timeline"]


def test_reader_words_are_plain(client: TestClient) -> None:
    """What the page says in its own words (not the editors' or the feeds') names no setting
    and no jargon."""
    html = client.get("/stories/quiet").text + client.get("/stories/breach").text
    own = re.findall(
        r'<p class="(?:reading|change|drives|range|hedge|meta|none|updated|kicker)">(.*?)</p>',
        html,
        flags=re.S,
    )
    own += re.findall(r"<title[^>]*>(.*?)</title>", html)
    assert len(own) > 10
    for words in own:
        assert jargon_in(_text(words)) == [], words


def test_no_forecast_and_no_timeline_say_so(client: TestClient) -> None:
    page = client.get("/stories/quiet")
    assert page.status_code == 200
    text = _text(page.text)
    assert "No forecast has been published for this story yet." in text
    assert "No timeline entries have been published for this story yet." in text
    assert "This story has not been measured yet." in text
    assert 'role="meter"' not in page.text
    forecast = client.get("/embed/quiet/forecast").text
    assert "No forecast has been published for this story yet." in forecast
    assert client.get("/api/stories/quiet").json()["timeline"] == []


@pytest.mark.parametrize(
    "path",
    [
        "/stories/nope",
        "/stories/gone",
        "/embed/nope/noise",
        "/embed/gone/timeline",
        "/embed/breach/bogus",
        "/embed/breach/noise/more",
        "/api/stories/gone",
    ],
)
def test_unknown_or_archived_is_not_found(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "ARCHIVED-FORECAST" not in response.text
    if path.startswith("/stories/"):
        assert "Story not found" in response.text and "queue" not in response.text


# --- headers -----------------------------------------------------------------------------------


def _policy(response: Any) -> dict[str, str]:
    csp = response.headers["content-security-policy"]
    return {d.split()[0]: d.partition(" ")[2] for d in (p.strip() for p in csp.split(";")) if d}


def test_page_headers(client: TestClient) -> None:
    page = client.get("/stories/breach")
    policy = _policy(page)
    assert policy["default-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert policy["style-src"] == "'self'" and "script-src" not in policy
    assert "unsafe" not in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "public, max-age=60"
    assert "set-cookie" not in page.headers
    assert "<script" not in page.text.lower() and " style=" not in page.text


def test_widget_headers_and_self_containment(client: TestClient) -> None:
    css = CSS.read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    for name in WIDGETS:
        response = client.get(f"/embed/breach/{name}")
        assert response.status_code == 200
        policy = _policy(response)
        assert policy["default-src"] == "'none'"
        assert policy["style-src"] == f"'sha256-{digest}'"
        assert policy["img-src"] == "data:"
        assert policy["frame-ancestors"] == "'none'"  # none configured
        assert "x-frame-options" not in response.headers
        assert "set-cookie" not in response.headers
        html = response.text
        [style] = re.findall(r"<style>(.*?)</style>", html, flags=re.S)
        assert style == css  # exactly the hashed text
        assert "<script" not in html.lower() and " style=" not in html
        assert '<link rel="stylesheet"' not in html and "<img" not in html.replace("&lt;img", "")
        # no request of any kind: the only URLs are links to follow and a data: icon
        urls = re.findall(r'(?:src|href|action|poster|data)="([^"]*)"', html)
        assert all(u == "data:," or u.startswith(("https://", "http://")) for u in urls), urls


def test_frame_ancestors_follow_config(seeded: Store) -> None:
    origins = ("https://news.example", "https://cms.example:8443")
    client = TestClient(app_for(seeded, frame_ancestors=origins))
    for name in WIDGETS:
        policy = _policy(client.get(f"/embed/breach/{name}"))
        assert policy["frame-ancestors"] == "https://news.example https://cms.example:8443"
    # the page itself is never framed
    page = client.get("/stories/breach")
    assert _policy(page)["frame-ancestors"] == "'none'"
    assert page.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    "path",
    ["/stories/breach", "/stories/quiet", *(f"/embed/breach/{w}" for w in WIDGETS),
     "/api/stories/breach", "/api/stories"],
)  # fmt: skip
def test_cache_and_etag(seeded: Store, path: str) -> None:
    client = TestClient(app_for(seeded, cache_seconds=120))
    first = client.get(path)
    assert first.headers["cache-control"] == "public, max-age=120"
    etag = first.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)  # strong
    assert client.get(path).headers["etag"] == etag  # the same data, the same bytes
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == "public, max-age=120"
    other = client.get(path, headers={"If-None-Match": '"0000"'})
    assert other.status_code == 200


def test_an_approval_changes_the_etag(seeded: Store) -> None:
    client = TestClient(app_for(seeded))
    etags = {
        p: client.get(p).headers["etag"] for p in ("/stories/breach", "/embed/breach/timeline")
    }
    story_id = seeded.story_id("breach")
    _review(seeded, story_id, "peak", "approve")
    for path, etag in etags.items():
        after = client.get(path, headers={"If-None-Match": etag})
        assert after.status_code == 200 and "PROPOSED-ENTRY-SECRET" in after.text


# --- hostile text ------------------------------------------------------------------------------


def test_hostile_timeline_text_is_inert(client: TestClient) -> None:
    """A title of <script>, a sentence that tries to close an attribute, a javascript: link:
    escaped text in the page and the widgets, never markup, never a link; the JSON carries
    the text as it is and no link."""
    for path in ("/stories/breach", "/embed/breach/timeline"):
        html = client.get(path).text
        assert HOSTILE_TITLE not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert '" onmouseover=' not in html and "&#34; onmouseover=&#34;alert(2)&#34;" in html
        assert "<img" not in html and "&lt;img src=x onerror=alert(3)&gt;" in html
        assert "javascript:" not in html.lower()
        hrefs = re.findall(r'href="([^"]*)"', html)
        assert all(h.startswith(("https://", "http://", "/", "data:")) for h in hrefs), hrefs
    body = client.get("/api/stories/breach").json()
    memo = next(e for e in body["timeline"] if e["title"] == "Internal memo sent")
    assert memo["link"] is None
    hostile = next(e for e in body["timeline"] if e["title"] == HOSTILE_TITLE)
    assert hostile["text"] == HOSTILE_TEXT and hostile["link"] is None


# --- editors -----------------------------------------------------------------------------------


def test_signed_in_editor_gets_the_review_view(
    seeded: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/stories/{slug} is the readers' page; an editor signed in still gets the review view
    there, uncached (so the readers' page varies on the cookie)."""
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))
    accounts.add_editor(seeded, "alice", "alice-password", now=CLOCK)
    client = TestClient(app_for(seeded), follow_redirects=False)
    reader = client.get("/stories/breach")
    assert "Story signals" in reader.text and "Cookie" in reader.headers["vary"]
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert csrf is not None
    done = client.post(
        "/login",
        data={"username": "alice", "password": "alice-password", "csrf": csrf.group(1)},
    )
    assert done.status_code == 303
    editor = client.get("/stories/breach")
    assert editor.status_code == 200 and "Log out" in editor.text
    assert editor.headers["cache-control"] == "no-store"
    assert "PENDING-FORECAST-SECRET" in editor.text  # the review view shows what is pending
    # A session that ended elsewhere: the readers' page, kept out of caches while the stale
    # cookie is cleared.
    seeded.revoke_sessions("alice", now=CLOCK)
    after = client.get("/stories/breach")
    assert after.status_code == 200 and "Log out" not in after.text
    assert "PENDING-FORECAST-SECRET" not in after.text
    assert after.headers["cache-control"] == "no-store"
    assert "set-cookie" in after.headers
    assert client.get("/stories/breach").headers["cache-control"] == "public, max-age=60"


# --- the palette -------------------------------------------------------------------------------


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """The WCAG contrast ratio of two #rrggbb colours."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_ratio_reference_values() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


def test_palette_passes_wcag_aa() -> None:
    """Text 4.5:1 on every background it sits on (the level words are white on their level
    colour); the meter's fill 3:1 against its track and the card (WCAG 1.4.11)."""
    palette = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-f]{6})", CSS.read_text(encoding="utf-8")))
    levels = ["quiet", "low", "moderate", "high", "very-high"]
    assert set(levels) <= set(palette)
    text_pairs = [(fg, bg) for fg in ("ink", "muted", "link") for bg in ("card", "paper")] + [
        ("on-dark", "mast"),
        *(("on-dark", level) for level in levels),
    ]
    for fg, bg in text_pairs:
        assert contrast(palette[fg], palette[bg]) >= 4.5, (fg, bg)
    for level in levels:
        assert contrast(palette[level], palette["track"]) >= 3.0, level
        assert contrast(palette[level], palette["card"]) >= 3.0, level
    for level in LEVELS:
        assert level_class(level).removeprefix("level-") in levels


# --- the pure shaping --------------------------------------------------------------------------


def test_range_words() -> None:
    assert range_words(38.2, 121.4, 24) == "Between 38 and 121 mentions in the next 24 hours."
    assert range_words(0.2, 9.6, 24) == "Up to 10 mentions in the next 24 hours."
    assert range_words(0.1, 0.4, 24) == "Few or no mentions in the next 24 hours."
    assert range_words(1.2, 0.8 + 0.4, 1) == "About 1 mention in the next hour."
    assert range_words(1200, 4100.6, 24) == "Between 1,200 and 4,101 mentions in the next 24 hours."
    ended = range_words(3, 9, 24, until=AS_OF)
    assert ended == "Between 3 and 9 mentions in the 24 hours to 26 Nov 2026, 00:00 UTC."


@given(st.floats(0, 1e6), st.floats(0, 1e6), st.integers(1, 168))
def test_range_words_never_reverses(a: float, b: float, horizon: int) -> None:
    lo, hi = sorted((a, b))
    words = range_words(lo, hi, horizon)
    numbers = [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", words)[:-1]]
    assert numbers == sorted(numbers)
    assert jargon_in(words) == []


def test_change_words() -> None:
    assert change_words(71.9, 59.2) == "Up 12 points in 24 hours."
    assert change_words(40.0, 41.0) == "Down 1 point in 24 hours."
    assert change_words(40.2, 40.9) == "No change in 24 hours."
    assert change_words(40.0, None) == "No score from 24 hours ago to compare."


def _components(**contributions: float) -> dict[str, Any]:
    return {n: {"value": 1.0, "contribution": c} for n, c in contributions.items()}


def test_drives_line() -> None:
    recent = Recent(mentions=48, outlets=23, engagement=1240.4)
    breadth = _components(breadth=40, volume=20, engagement=5, velocity=0)
    assert drives_line(breadth, recent) == "Mostly breadth: 23 outlets in the last 6 hours."
    volume = _components(breadth=20, volume=25, engagement=15)
    assert drives_line(volume, recent) == "Led by volume: 48 mentions in the last 6 hours."
    social = _components(engagement=30, volume=5)
    assert drives_line(social, recent) == (
        "Mostly social engagement: 1,240 votes and comments on social posts in the last 6 hours."
    )
    pace = {"velocity": {"value": 2.0, "contribution": 9.0}}
    assert drives_line(pace, recent) == (
        "Mostly pace: mentions arriving 4 times as fast as over the past day."
    )
    assert drives_line({}, Recent()) == "Nothing much: no mentions in the last 6 hours."
    quiet = drives_line(_components(volume=0), Recent(mentions=1))
    assert quiet == "Nothing much: 1 mention in the last 6 hours."
    assert drives_line(_components(volume=10), Recent()) == (
        "Mostly volume: no new mentions in the last 6 hours, after a busy spell."
    )


def test_recent_activity_counts_groups_outlets_and_social_engagement() -> None:
    frame = pd.DataFrame(
        {
            "story": ["s"] * 4,
            "mention_id": [1, 2, 3, 4],
            "group_id": [1, 1, 3, 4],  # 2 is a syndicated copy of 1
            "kind": ["rss", "rss", "reddit", "hackernews"],
            "outlet": ["a.example", "b.example", "r/news", ""],
            "when": [AS_OF] * 4,
            "engagement": [0.0, 0.0, 100.0, 20.0],
        }
    )
    assert recent_activity(frame) == Recent(mentions=3, outlets=3, engagement=120.0)


def test_noise_box_floors_the_score_and_fills_gaps() -> None:
    history = {AS_OF - timedelta(hours=h): 30.0 for h in range(72) if h != 10}  # a gap
    score = {"as_of": AS_OF, "score": 59.8, "level": "Moderate", "components": {}}
    box = noise_box(score, history, Recent())
    assert box is not None
    assert box["score"] == 59 and box["class"] == "level-moderate"  # not "60, Moderate"
    assert box["valuetext"] == "59 out of 100, Moderate"
    assert box["change"] == "Up 29 points in 24 hours."
    assert len(box["spark"]) == 2  # the missing hour leaves a gap
    assert noise_box(None, {}, Recent()) is None


def test_forecast_box_and_hedge_line() -> None:
    forecast = {
        "text": APPROVED,
        "p10": 3.0,
        "p90": 9.4,
        "horizon_hours": 24,
        "as_of": AS_OF.isoformat(),
        "valid_until": (AS_OF + timedelta(hours=24)).isoformat(),
    }
    box = forecast_box(forecast, lead=LEAD, close=CLOSE, observed_until=AS_OF + timedelta(hours=1))
    assert box is not None and box["hedge"] == HEDGE and not box["ended"]
    # the fixed line below carries the close: the box does not say it twice
    assert box["text"] == APPROVED.removesuffix(f" {CLOSE}") and box["text"].endswith("expected.")
    edited = forecast_box(
        {**forecast, "text": "Readers should expect more."},
        lead=LEAD,
        close=CLOSE,
        observed_until=None,
    )
    assert edited is not None and edited["text"] == "Readers should expect more."
    only_close = forecast_box(
        {**forecast, "text": CLOSE}, lead=LEAD, close=CLOSE, observed_until=None
    )
    assert only_close is not None and only_close["text"] == CLOSE
    assert box["range"] == "Between 3 and 9 mentions in the next 24 hours."
    later = forecast_box(forecast, lead=LEAD, close=CLOSE, observed_until=AS_OF + timedelta(days=2))
    assert later is not None and later["ended"] and "in the 24 hours to 27 Nov" in later["range"]
    assert forecast_box(None, lead=LEAD, close=CLOSE, observed_until=None) is None
    assert hedge_line("Based on current signals,", CLOSE) == HEDGE
    assert hedge_line("", CLOSE) == CLOSE


def test_timeline_items_link_only_http() -> None:
    hour = timedelta(hours=1)
    entries = [
        {"at": AS_OF, "title": "a", "text": "x", "link": "javascript:alert(1)", "kind": "peak"},
        {"at": AS_OF - hour, "title": "b", "text": "y", "link": "https://www.x.example/p",
         "kind": "first_seen"},
        {"at": AS_OF + hour, "title": "c", "text": "z", "link": None, "kind": "editor"},
    ]  # fmt: skip
    items = timeline_items(entries)
    assert [i["title"] for i in items] == ["c", "a", "b"]
    assert [i["link"] for i in items] == [None, None, "https://www.x.example/p"]
    assert items[2]["host"] == "x.example" and items[2]["when"] == "25 Nov 2026, 23:00 UTC"


def test_docs_show_every_widget() -> None:
    """docs/embedding.md has a copy-paste iframe for each widget, with a title."""
    doc = (ROOT / "docs" / "embedding.md").read_text(encoding="utf-8")
    for name in WIDGETS:
        assert re.search(rf'<iframe[^>]+src="[^"]+/embed/[^"/]+/{name}"[^>]+title="', doc), name
    assert "frame_ancestors" in doc and "cache_seconds" in doc


def test_stylesheet_is_the_file_served(client: TestClient) -> None:
    served = client.get("/static/public.css")
    assert served.status_code == 200 and served.text == CSS.read_text(encoding="utf-8")
