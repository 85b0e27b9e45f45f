"""The Emerging pages of the review app, over HTTP (FastAPI's test client) on SQLite and
PostgreSQL: editors see the proposals loudest first with their headlines, history and
suggested query; a proposal's page previews what a query matches; track (a story with a score
history at once), merge into a tracked story, and dismiss, each audited; a stale version is a
409 "changed since you looked"; bad fields come back naming them; every form needs the CSRF
token and a session; hostile feed text stays inert. A story's review page offers its suggested
query terms, added or dismissed with one click. Also the pure shaping of
noisecast.engine.web.emerging_shape."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from noisecast.engine.config import Settings
from noisecast.engine.core.emerging import (
    Headline,
    Proposal,
    QueryQuality,
    QuerySuggestion,
    TermSuggestion,
)
from noisecast.engine.store import Store
from noisecast.engine.web.accounts import add_editor
from noisecast.engine.web.app import create_app
from noisecast.engine.web.emerging_shape import (
    audit_rows,
    field_of,
    history_summary,
    merge_options,
    proposal_row,
    suggest_slug,
)
from tests.test_store import add_source, mention, record
from tests.web_helpers import csrf_of, use_cheap_hashes
from tests.web_helpers import login as log_in

SECRET = "e" * 40
CLOCK = datetime(2026, 11, 26, 9, 20, tzinfo=UTC)
HOUR = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)  # the newest completed hour
PASSWORDS = {"alice": "alice-password", "bob": "bob-password"}
HOSTILE = "<script>alert(1)</script>"
DAM_TITLES = [
    ("wire", "Thornbury dam failure floods valley villages"),
    ("gazette", "Villages evacuated after Thornbury dam failure"),
    ("herald", "Thornbury dam: engineers warned of cracks for years"),
    ("courier", "Thornbury dam failure: what we know"),
    ("post", "Rescue boats reach Thornbury valley after dam breach"),
]


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    use_cheap_hashes(monkeypatch)


def headline(i: int, outlet: str, title: str, url: str | None = None) -> Headline:
    return Headline(
        mention_id=i,
        title=title,
        url=url if url is not None else f"https://{outlet}.example/a/{i}",
        outlet=f"{outlet}.example",
        published_at=CLOCK - timedelta(hours=7 - i if i < 7 else 2),  # as plant_mentions
    )


def proposal(
    cluster: int,
    title: str,
    score: float,
    *,
    query: str = '"thornbury dam"',
    terms: tuple[str, ...] = ('"thornbury dam"', "thornbury", "dam"),
    headlines: tuple[Headline, ...] | None = None,
    level: str = "High",
) -> Proposal:
    found = headlines or tuple(headline(i, o, t) for i, (o, t) in enumerate(DAM_TITLES, 1))
    return Proposal(
        cluster=cluster,
        title=title,
        headlines=found,
        size=len(found) + 2,
        outlets=len({h.outlet for h in found}),
        first_seen=CLOCK - timedelta(hours=7),
        last_seen=CLOCK - timedelta(minutes=30),
        score=score,
        level=level,
        components={"volume": score * 0.5, "velocity": score * 0.3, "breadth": score * 0.2},
        history=tuple(
            (HOUR - timedelta(hours=h), max(score - 8 * h, 0.0)) for h in range(6, -1, -1)
        ),
        suggestion=QuerySuggestion(
            query=query,
            quality=QueryQuality(precision=0.92, recall=0.85, recent_matches=1, cluster_matches=6),
            terms=terms,
        ),
    )


def plant_mentions(store: Store) -> None:
    """The dam story's articles (no tracked story matches them) and a breach story's."""
    for n, (outlet, title) in enumerate(DAM_TITLES, 1):
        source_id = add_source(store, outlet)
        record(
            store,
            source_id,
            [
                mention(
                    100 + n,
                    title=title,
                    url=f"https://{outlet}.example/dam/{n}",
                    canonical_url=f"https://{outlet}.example/dam/{n}",
                    outlet=f"{outlet}.example",
                    published_at=CLOCK - timedelta(hours=7 - n),
                )
            ],
            now=CLOCK - timedelta(hours=7 - n),
        )


@pytest.fixture
def em_store(store: Store) -> Iterator[Store]:
    t0 = CLOCK - timedelta(days=2)
    store.upsert_story("breach", "Northmere Bank data breach", "northmere", now=t0)
    store.upsert_story("port-strike", "Port strike", '"port strike"', now=t0)
    plant_mentions(store)
    store.sync_proposals(
        HOUR,
        [
            proposal(7, "Thornbury dam failure floods valley villages", 71.0),
            proposal(
                9,
                HOSTILE,
                33.0,
                query="budget",
                terms=("budget",),
                level="Moderate",
                headlines=(headline(50, "evil", HOSTILE, url="javascript:alert(2)"),),
            ),
        ],
        now=CLOCK - timedelta(minutes=5),
    )
    for name, password in PASSWORDS.items():
        add_editor(store, name, password, role="editor", now=CLOCK)
    yield store


@pytest.fixture
def app(em_store: Store) -> Any:
    return create_app(em_store, Settings(), SECRET, now=lambda: CLOCK)


def login(app: Any, name: str = "alice") -> TestClient:
    return log_in(app, name, PASSWORDS[name])


def by_cluster(store: Store, cluster: int) -> dict[str, Any]:
    [found] = [p for p in store.list_proposals(None) if p["cluster"] == cluster]
    return found


def post(client: TestClient, path: str, **form: Any) -> Any:
    data: dict[str, Any] = {"csrf": csrf_of(client.get("/emerging").text)}
    for key, value in form.items():
        data[key] = [str(v) for v in value] if isinstance(value, list) else str(value)
    return client.post(path, data=data)


def flash_after(client: TestClient, response: Any, where: str) -> str:
    assert response.status_code == 303, response.text
    assert response.headers["location"] == where
    page = client.get(where.split("#")[0]).text
    found = re.search(r'<p class="flash" role="status">(.*?)</p>', page, re.S)
    assert found, "no flash message after the action"
    return found.group(1)


def story(store: Store, slug: str) -> dict[str, Any] | None:
    return next((s for s in store.list_stories() if s["slug"] == slug), None)


# --- sessions and CSRF ---------------------------------------------------------------------------


def test_emerging_needs_a_session_and_every_form_the_csrf_token(app: Any, em_store: Store) -> None:
    dam = by_cluster(em_store, 7)
    anonymous = TestClient(app, follow_redirects=False)
    for path in ("/emerging", f"/emerging/{dam['id']}"):
        response = anonymous.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next={path}"
    alice = login(app)
    forms = {
        f"/emerging/{dam['id']}/track": {
            "version": dam["version"],
            "slug": "dam",
            "title": "Dam",
            "query": "dam",
        },
        f"/emerging/{dam['id']}/merge": {
            "version": dam["version"],
            "story": "breach",
            "terms": "dam",
        },
        f"/emerging/{dam['id']}/dismiss": {"version": dam["version"]},
        "/query-terms/1/add": {},
    }
    for client in (anonymous, alice):
        for path, form in forms.items():
            for data in (form, {**form, "csrf": "forged"}):
                response = client.post(path, data=data)
                assert response.status_code == 403, path
                assert "security token" in response.text
    assert by_cluster(em_store, 7)["status"] == "proposed"
    assert em_store.proposal_events(dam["id"]) == []
    assert story(em_store, "dam") is None


# --- the list and a proposal's page --------------------------------------------------------------


def test_the_emerging_page_lists_proposals_loudest_first(app: Any) -> None:
    page = login(app).get("/emerging")
    assert page.status_code == 200
    text = page.text
    assert '<a href="/emerging" aria-current="page">Emerging</a>' in text  # the nav
    dam = text.index("Thornbury dam failure floods valley villages")
    hostile = text.index("&lt;script&gt;alert(1)&lt;/script&gt;")
    assert dam < hostile  # 71 before 33
    assert HOSTILE not in text and "javascript:" not in text  # inert, and not a link
    assert "7 mentions from 5 outlets" in text
    assert "<code>&#34;thornbury dam&#34;</code>" in text
    assert "precision 92%, recall 85%" in text
    assert "matches 6 of its mentions and 1 recent mention outside it" in text
    assert 'href="https://gazette.example/a/2"' in text  # top headlines link out
    assert text.count('class="spark"') == 2  # the score's history, drawn
    assert "peak 71" in text or "71 at 26 Nov 08:00 UTC" in text


def test_a_proposal_page_previews_what_a_query_matches(app: Any, em_store: Store) -> None:
    dam = by_cluster(em_store, 7)
    client = login(app)
    page = client.get(f"/emerging/{dam['id']}")
    assert page.status_code == 200
    text = page.text
    assert "<h1>Thornbury dam failure floods valley villages</h1>" in text
    # the suggested query through the real matcher over the stored mentions: the 4 that
    # say "Thornbury dam" (the fifth says "dam breach")
    assert re.search(r"<strong>4</strong> of 5 stored mentions since", text)
    assert 'value="thornbury-dam-failure-floods-valley"' in text  # slug suggested
    assert f'name="version" value="{dam["version"]}"' in text
    for action in ("track", "merge", "dismiss"):
        assert f'action="/emerging/{dam["id"]}/{action}"' in text
    assert "Nobody has decided on this proposal yet." in text
    # a merge ORs in the whole suggested query by default, never a lone word unasked
    checked = re.findall(r'name="terms" value="([^"]*)" checked', text)
    assert checked == ["&#34;thornbury dam&#34;"]
    # another query previewed fills the Track form with it
    other = client.get(f"/emerging/{dam['id']}", params={"query": "thornbury OR dam"}).text
    assert re.search(r"<strong>5</strong> of 5 stored mentions", other)
    assert 'id="tr-query" name="query" value="thornbury OR dam"' in other
    # a query that does not parse says where
    bad = client.get(f"/emerging/{dam['id']}", params={"query": "(thornbury AND"}).text
    assert "query: expected a term after &#39;AND&#39; at 11" in bad
    assert 'id="pv-query" name="query" value="(thornbury AND" maxlength="10000"' in bad


def test_unknown_or_impossible_ids_are_not_found(app: Any, em_store: Store) -> None:
    client = login(app)
    assert client.get("/emerging/999999").status_code == 404
    assert client.get("/emerging/abc").status_code == 404
    assert client.get(f"/emerging/{2**70}").status_code == 404
    assert post(client, "/emerging/999999/dismiss", version=1).status_code == 404
    assert post(client, "/query-terms/999999/add").status_code == 404
    assert post(client, "/query-terms/1/replace").status_code == 404
    dam = by_cluster(em_store, 7)
    response = post(client, f"/emerging/{dam['id']}/dismiss")  # no version: malformed
    assert response.status_code == 422


# --- track, merge, dismiss ----------------------------------------------------------------------


def test_track_makes_a_story_with_its_history_and_audits_it(app: Any, em_store: Store) -> None:
    dam = by_cluster(em_store, 7)
    client = login(app)
    response = post(
        client,
        f"/emerging/{dam['id']}/track",
        version=dam["version"],
        slug="thornbury-dam",
        title="Thornbury dam failure",
        query='"thornbury dam" OR "dam breach"',
    )
    message = flash_after(client, response, "/stories/thornbury-dam")
    assert "Tracked: “Thornbury dam failure” is the story thornbury-dam" in message
    made = story(em_store, "thornbury-dam")
    assert made is not None and made["query"] == '"thornbury dam" OR "dam breach"'
    # the rematch found its five articles, and it was scored at once back to the first
    page = client.get("/stories/thornbury-dam").text
    assert "Thornbury dam failure" in page and "Not scored yet." not in page
    scores = em_store.story_review("thornbury-dam")
    assert len(scores["scores"]) >= 5
    after = by_cluster(em_store, 7)
    assert after["status"] == "tracked" and after["story_slug"] == "thornbury-dam"
    [event] = em_store.proposal_events(dam["id"])
    assert (event["actor"], event["action"]) == ("alice", "track")
    # the proposal's page: no decision open, the audit row; the list: decided, not proposed
    detail = client.get(f"/emerging/{dam['id']}").text
    assert "No decision is open: it was tracked as the story “thornbury-dam”." in detail
    assert f'action="/emerging/{dam["id"]}/track"' not in detail
    assert re.search(r"<td>alice</td><td>track", detail)
    assert "<em>status:</em> proposed" in detail and "<em>status:</em> tracked" in detail
    listed = client.get("/emerging").text
    assert 'Proposed now <small class="muted">1</small>' in listed
    assert 'tracked: <a href="/stories/thornbury-dam">thornbury-dam</a>' in listed


def test_track_refuses_bad_fields_naming_them(app: Any, em_store: Store) -> None:
    dam = by_cluster(em_store, 7)
    client = login(app)
    path = f"/emerging/{dam['id']}/track"
    good = {"version": dam["version"], "slug": "dam", "title": "Dam", "query": "thornbury"}
    for changed, field, said in (
        ({"slug": "Thornbury Dam"}, "slug", "slug: &#39;Thornbury Dam&#39; is not valid"),
        ({"slug": "breach"}, "slug", "there is already a story “breach”"),
        ({"title": ""}, "title", "title:"),
        ({"query": "thornbury AND"}, "query", "query: expected a term after &#39;AND&#39;"),
    ):
        response = post(client, path, **{**good, **changed})
        assert response.status_code == 422, changed
        assert said in response.text
        assert re.search(rf'id="tr-{field}"[^>]* aria-invalid="true"', response.text), field
        value = changed[field] if field in changed else good[field]
        assert f'value="{value}"' in response.text.replace("&#39;", "'") or field == "title"
    assert by_cluster(em_store, 7)["status"] == "proposed"
    assert em_store.proposal_events(dam["id"]) == []
    assert story(em_store, "dam") is None


def test_merge_ors_the_terms_into_a_story(app: Any, em_store: Store) -> None:
    dam = by_cluster(em_store, 7)
    client = login(app)
    path = f"/emerging/{dam['id']}/merge"
    missing = post(client, path, version=dam["version"], story="", terms=["thornbury"])
    assert missing.status_code == 422 and "story: choose the tracked story" in missing.text
    none = post(client, path, version=dam["version"], story="port-strike", terms=[])
    assert none.status_code == 422 and "terms: choose at least one term" in none.text
    response = post(
        client,
        path,
        version=dam["version"],
        story="port-strike",
        terms=['"thornbury dam"', "thornbury"],
        extra='"dam breach"',
    )
    message = flash_after(client, response, "/stories/port-strike")
    assert "Merged: the story port-strike now also matches" in message
    merged = story(em_store, "port-strike")
    assert merged is not None
    assert merged["query"] == '("port strike") OR "thornbury dam" OR thornbury OR "dam breach"'
    after = by_cluster(em_store, 7)
    assert after["status"] == "merged" and after["story_slug"] == "port-strike"
    [event] = em_store.proposal_events(dam["id"])
    assert (event["actor"], event["action"]) == ("alice", "merge")


def test_dismiss_with_a_note_is_never_proposed_again(app: Any, em_store: Store) -> None:
    dam = by_cluster(em_store, 7)
    client = login(app)
    response = post(
        client, f"/emerging/{dam['id']}/dismiss", version=dam["version"], note="A drill"
    )
    message = flash_after(client, response, "/emerging")
    assert "Dismissed: “Thornbury dam failure floods valley villages” is not proposed" in message
    [event] = em_store.proposal_events(dam["id"])
    assert (event["actor"], event["action"], event["note"]) == ("alice", "dismiss", "A drill")
    # the next hourly update proposes the same cluster again: it stays dismissed
    em_store.sync_proposals(HOUR + timedelta(hours=1), [proposal(7, "Dam", 80.0)], now=CLOCK)
    assert by_cluster(em_store, 7)["status"] == "dismissed"
    listed = client.get("/emerging").text
    assert 'Proposed now <small class="muted">0</small>' in listed
    assert "Nothing untracked is loud right now." in listed
    assert "A drill" in client.get(f"/emerging/{dam['id']}").text


def test_a_stale_version_is_a_conflict(app: Any, em_store: Store) -> None:
    dam = by_cluster(em_store, 7)
    alice, bob = login(app, "alice"), login(app, "bob")
    seen = dam["version"]
    # the hourly update gives it new numbers while alice reads
    em_store.sync_proposals(
        HOUR + timedelta(hours=1),
        [proposal(7, "Thornbury dam failure floods valley villages", 75.0)],
        now=CLOCK,
    )
    for action, form in (
        ("track", {"slug": "dam", "title": "Dam", "query": "thornbury"}),
        ("merge", {"story": "breach", "terms": ["thornbury"]}),
        ("dismiss", {}),
    ):
        response = post(alice, f"/emerging/{dam['id']}/{action}", version=seen, **form)
        assert response.status_code == 409, action
        assert "changed since you looked" in response.text
    assert story(em_store, "dam") is None
    assert story(em_store, "breach")["query"] == "northmere"  # type: ignore[index]
    # bob dismisses the new version; alice's second look is out of date too
    now = by_cluster(em_store, 7)["version"]
    assert post(bob, f"/emerging/{dam['id']}/dismiss", version=now).status_code == 303
    late = post(alice, f"/emerging/{dam['id']}/track", version=now, slug="d", title="D", query="x")
    assert late.status_code == 409
    assert "dismissed" in late.text and "bob" in late.text
    assert [e["actor"] for e in em_store.proposal_events(dam["id"])] == ["bob"]


# --- query suggestions on a story's page ---------------------------------------------------------


def plant_terms(store: Store) -> list[dict[str, Any]]:
    samples = (headline(101, "wire", "Northmere chief Karpeles quits", "https://wire.example/k"),)
    store.sync_query_suggestions(
        HOUR,
        [
            TermSuggestion("breach", 7, "karpeles", 4, 0, samples),
            TermSuggestion("breach", 7, '"northmere bank"', 2, 1, ()),
        ],
        now=CLOCK,
    )
    return store.query_suggestions(store.story_id("breach"))


def test_a_story_page_offers_its_query_suggestions(app: Any, em_store: Store) -> None:
    client = login(app)
    assert 'id="query-terms"' not in client.get("/stories/breach").text  # none yet
    karpeles, phrase = plant_terms(em_store)
    page = client.get("/stories/breach").text
    assert 'id="query-terms"' in page
    assert '<code class="em-big">karpeles</code>' in page
    assert "adds <strong>4</strong> mentions of the cluster, none elsewhere" in page
    assert "adds <strong>2</strong> mentions of the cluster, and 1 elsewhere" in page
    assert 'href="https://wire.example/k"' in page and "Northmere chief Karpeles quits" in page
    assert f'action="/query-terms/{karpeles["id"]}/add"' in page

    response = post(client, f"/query-terms/{karpeles['id']}/add")
    message = flash_after(client, response, "/stories/breach#query-terms")
    assert "Added karpeles to the query" in message
    assert story(em_store, "breach")["query"] == "(northmere) OR karpeles"  # type: ignore[index]
    assert em_store.query_suggestion(karpeles["id"])["status"] == "added"  # type: ignore[index]
    again = post(client, f"/query-terms/{karpeles['id']}/add")
    assert again.status_code == 409 and "already added by alice" in again.text

    response = post(client, f"/query-terms/{phrase['id']}/dismiss")
    assert "is not suggested again" in flash_after(client, response, "/stories/breach#query-terms")
    found = em_store.query_suggestion(phrase["id"])
    assert found is not None and (found["status"], found["updated_by"]) == ("dismissed", "alice")
    assert 'id="query-terms"' not in client.get("/stories/breach").text


# --- pure shaping --------------------------------------------------------------------------------


def test_merge_offers_the_whole_suggested_query_first_and_checks_only_it() -> None:
    assert merge_options('"thornbury dam"', ['"thornbury dam"', "thornbury", "dam"]) == [
        '"thornbury dam"',
        "thornbury",
        "dam",
    ]
    assert merge_options("thornbury AND (dam OR reservoir)", ["thornbury", "dam"]) == [
        "(thornbury AND (dam OR reservoir))",
        "thornbury",
        "dam",
    ]
    assert merge_options("NOT", []) == ["(NOT)"]


def test_suggest_slug() -> None:
    assert suggest_slug("Thornbury dam failure floods valley villages") == (
        "thornbury-dam-failure-floods-valley"
    )
    assert suggest_slug("The État of the Union: a 2027 review") == "etat-union-2027-review"
    assert suggest_slug("Dam", ["dam", "dam-2"]) == "dam-3"
    assert suggest_slug("«»") == "emerging-story"
    long = suggest_slug("Extraordinarily " * 10)
    assert len(long) <= 40 and re.fullmatch(r"[a-z0-9][a-z0-9-]*", long)


def test_history_summary_and_field_of() -> None:
    h = history_summary([["2026-11-26T06:00:00+00:00", 10], ["2026-11-26T07:00:00+00:00", 60],
                         ["2026-11-26T08:00:00+00:00", 40.5]])  # fmt: skip
    assert h["values"] == [10, 60, 40.5] and h["hours"] == 3
    assert (h["first"]["score"], h["peak"]["score"], h["now"]["score"]) == (10, 60, 40.5)
    assert h["peak"]["at"] == datetime(2026, 11, 26, 7, tzinfo=UTC)
    assert history_summary([])["values"] == []
    assert field_of("emerging track: slug: 'X' is not valid") == "slug"
    assert field_of("query: expected a term after 'AND' at 3") == "query"
    assert field_of("terms: give at least one term") == "terms"
    assert field_of("something else") == ""


def test_proposal_row_and_audit_rows() -> None:
    row = proposal_row(
        {
            "terms": ["a"],
            "quality": {"precision": 0.5, "recall": 1, "recent_matches": 2, "cluster_matches": 3},
            "components": {"volume": 10.0, "breadth": 30.0},
            "headlines": [{"title": "t", "published_at": "2026-11-26T08:00:00Z"}],
            "history": [],
        }
    )  # fmt: skip
    assert row["components"] == [("breadth", 30.0), ("volume", 10.0)]
    assert row["headlines"][0]["published_at"] == datetime(2026, 11, 26, 8, tzinfo=UTC)
    assert (row["precision"], row["recall"], row["recent_matches"]) == (0.5, 1.0, 2)
    [event] = audit_rows(
        [
            {
                "at": CLOCK,
                "actor": "alice",
                "action": "track",
                "note": "",
                "before": {"status": "proposed", "story_id": None, "title": "T"},
                "after": {"status": "tracked", "story_id": 3, "title": "T"},
            }
        ],
        {3: "dam"},
    )
    assert event["before"] == [("status", "proposed"), ("story", "")]
    assert event["after"] == [("status", "tracked"), ("story", "dam")]
