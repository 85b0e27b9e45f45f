"""Hacker News through the Algolia HN Search API, served from 127.0.0.1.

The responses follow the recorded shape of ``GET /api/v1/search_by_date`` (hits with objectID,
title, url, author, points, num_comments, created_at, created_at_i, story_text, _tags and
_highlightResult; nbHits, page, nbPages, hitsPerPage, params). Time is injected: ``now`` is T0.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select
from werkzeug import Request, Response

from noisecast.engine.jobs.collect import collect
from noisecast.engine.store import Store
from noisecast.engine.store.tables import (
    fetches,
    mention_engagement,
    mentions,
    stories,
    story_mentions,
)
from noisecast.feeds.base import Harvest, SourceInfo, Task
from noisecast.feeds.hackernews import HackerNewsCollector, HackerNewsOptions, alternatives
from noisecast.feeds.mention import Mention
from noisecast.feeds.registry import collector_class
from tests.collectors import run_harvest, source_info, story_info
from tests.conftest import T0, fast_collector

HOUR = timedelta(hours=1)
API = "/api/v1/search_by_date"
SINCE = int((T0 - timedelta(hours=48)).timestamp())  # 1795003200
PORT_STRIKE = '"port strike" OR dockworkers'


def hit(
    object_id: str,
    title: str,
    url: str | None,
    author: str,
    points: int | None,
    comments: int | None,
    created: str,
    created_i: int,
    story_text: str | None = None,
) -> dict[str, Any]:
    """One hit as search_by_date returns it."""
    return {
        "_highlightResult": {
            "author": {"matchLevel": "none", "matchedWords": [], "value": author},
            "title": {"matchLevel": "partial", "matchedWords": ["port"], "value": title},
        },
        "_tags": ["story", f"author_{author}", f"story_{object_id}"],
        "author": author,
        "children": [],
        "created_at": created,
        "created_at_i": created_i,
        "num_comments": comments,
        "objectID": object_id,
        "points": points,
        "story_id": int(object_id),
        "story_text": story_text,
        "title": title,
        "updated_at": "2026-11-20T11:58:40Z",
        "url": url,
    }


REUTERS = hit(
    "46012345",
    "Dockworkers at the Port of Rotterdam walk out over automation plans",
    "https://www.reuters.com/world/europe/rotterdam-dockworkers-strike-2026-11-20/?utm_source=hn",
    "pjmlp",
    187,
    94,
    "2026-11-20T09:14:07Z",
    1795166047,
)
ASK_HN = hit(
    "46011873",
    "Ask HN: How is the port strike affecting your supply chain?",
    None,
    "hwlogistics",
    42,
    31,
    "2026-11-20T10:02:51Z",
    1795168971,
    story_text=(
        "I run a small hardware shop in Lyon &amp; our shipments from Shenzhen are stuck"
        " since Monday.<p>Is anyone rerouting through Antwerp? We&#x27;re looking at air"
        ' freight but it&#x27;s 4× the cost.<p><a href="https:&#x2F;&#x2F;example.com">'
        "Our tracker</a>"
    ),
)
LE_MONDE = hit(
    "46010042",
    "Grève des dockers : le port du Havre paralysé pour le troisième jour",
    "https://www.lemonde.fr/economie/article/2026/11/20/greve-des-dockers_6543210_3234.html",
    "aragilar",
    12,
    3,
    "2026-11-20T07:48:30Z",
    1795160910,
)
# Algolia's typo tolerance finds "dockworker" for "dockworkers"; our matcher does not.
LONG_BEACH = hit(
    "46013377",
    "Show HN: I mapped every dockworker automation project in Long Beach",
    "https://longbeach-automation.example.org/",
    "cvance",
    5,
    None,
    "2026-11-20T11:31:02Z",
    1795174262,
)


def page(hits: list[dict[str, Any]], query: str) -> bytes:
    """A whole search_by_date response around ``hits``."""
    return json.dumps(
        {
            "exhaustive": {"nbHits": True, "typo": True},
            "exhaustiveNbHits": True,
            "exhaustiveTypo": True,
            "hits": hits,
            "hitsPerPage": 100,
            "nbHits": len(hits),
            "nbPages": 1,
            "page": 0,
            "params": f"query={query}&tags=story&hitsPerPage=100",
            "processingTimeMS": 3,
            "query": query,
            "serverTimeMS": 5,
        },
        ensure_ascii=False,
    ).encode()


def source(url: str, **options: Any) -> SourceInfo:
    return source_info("hackernews", url, "hn", **options)


story = story_info


def harvest(task: Task, src: SourceInfo, now: datetime = T0) -> Harvest:
    return run_harvest(task, src, now)


def one_task(server: HTTPServer, query: str = "dockworkers") -> tuple[Task, SourceInfo]:
    src = source(server.url_for("/api/v1"))
    (task,) = HackerNewsCollector().tasks(src, [story("s", query)])
    return task, src


# --- options and tasks --------------------------------------------------------------------------


def test_registered_with_the_algolia_default_url() -> None:
    cls = collector_class("hackernews")
    assert cls is HackerNewsCollector
    assert cls.default_url == "https://hn.algolia.com/api/v1"


def test_options_have_bounds_and_no_unknown_keys() -> None:
    assert HackerNewsOptions() == HackerNewsOptions(
        tags="story", hits_per_page=100, lookback_hours=48, max_searches=4
    )
    for bad in ({"hits_per_page": 0}, {"hits_per_page": 1001}, {"lookback_hours": 0}, {"x": 1}):
        with pytest.raises(ValidationError):
            HackerNewsOptions(**bad)


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ('"port strike" OR dockworkers', ['"port strike"', "dockworkers"]),
        ('(ukraine OR kyiv) "peace talks"', ['ukraine "peace talks"', 'kyiv "peace talks"']),
        ("(a OR b) AND (c OR d)", ["a c", "a d", "b c", "b d"]),
        ("climat* title:(summit OR cop29)", ["climat summit", "climat cop29"]),
        ("strike NOT (sport OR football) docks", ["strike docks"]),
        ('"grève des dockers" Marseille', ['"grève des dockers" Marseille']),
        ("a OR a OR (a)", ["a"]),
        ("unbalanced) (parens", ["unbalanced parens"]),
        ("OR AND ()", []),
    ],
)
def test_a_search_becomes_its_alternatives(search: str, expected: list[str]) -> None:
    assert alternatives(search, limit=10) == expected


def test_one_task_per_story_and_alternative_with_exact_params() -> None:
    src = source("https://hn.algolia.com/api/v1/", hits_per_page=50, tags="(story,poll)")
    tasks = HackerNewsCollector().tasks(
        src,
        [
            story("port-strike", PORT_STRIKE),
            story("greve", '"grève des dockers" Marseille NOT title:opinion'),
        ],
    )

    base = "https://hn.algolia.com/api/v1/search_by_date?"
    tail = "&tags=%28story%2Cpoll%29&hitsPerPage=50"
    assert [(t.key, t.story, t.url, dict(t.params)) for t in tasks] == [
        (
            "story:port-strike#1",
            "port-strike",
            base + "query=%22port+strike%22" + tail,
            {"query": '"port strike"'},
        ),
        (
            "story:port-strike#2",
            "port-strike",
            base + "query=dockworkers" + tail,
            {"query": "dockworkers"},
        ),
        (
            "story:greve",
            "greve",
            base + "query=%22gr%C3%A8ve+des+dockers%22+Marseille" + tail,
            {"query": '"grève des dockers" Marseille'},
        ),
    ]


def test_too_many_alternatives_are_capped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    src = source("https://hn.algolia.com/api/v1", max_searches=2)
    with caplog.at_level(logging.WARNING, logger="noisecast.feeds.hackernews"):
        tasks = HackerNewsCollector().tasks(src, [story("wide", "(a OR b) (c OR d)")])
    assert [t.params["query"] for t in tasks] == ["a c", "a d"]
    assert "story wide has more than 2 alternatives" in caplog.text


# --- harvest against the loopback server --------------------------------------------------------


def test_harvest_asks_for_the_lookback_window_and_reads_every_field(server: HTTPServer) -> None:
    server.expect_request(API).respond_with_data(
        page([REUTERS, ASK_HN, LE_MONDE], "dockworkers"), content_type="application/json"
    )
    task, src = one_task(server)

    got = harvest(task, src)

    (request, _), *_ = server.log
    assert request.args.to_dict() == {
        "query": "dockworkers",
        "tags": "story",
        "hitsPerPage": "100",
        "numericFilters": f"created_at_i>{SINCE}",
    }
    assert request.headers["Accept"] == "application/json"
    assert (got.result.status, got.parser, got.parse_error) == (200, "json", None)
    assert got.result.url == task.url + f"&numericFilters=created_at_i%3E{SINCE}"
    assert list(got.mentions) == [
        Mention(
            external_id="46012345",
            title="Dockworkers at the Port of Rotterdam walk out over automation plans",
            url="https://news.ycombinator.com/item?id=46012345",
            canonical_url="https://news.ycombinator.com/item?id=46012345",
            summary="",
            author="pjmlp",
            outlet="news.ycombinator.com",
            published_at=datetime(2026, 11, 20, 9, 14, 7, tzinfo=UTC),
            score=187,
            comments=94,
            link_url=(
                "https://www.reuters.com/world/europe/rotterdam-dockworkers-strike-2026-11-20/"
                "?utm_source=hn"
            ),
        ),
        Mention(
            external_id="46011873",
            title="Ask HN: How is the port strike affecting your supply chain?",
            url="https://news.ycombinator.com/item?id=46011873",
            canonical_url="https://news.ycombinator.com/item?id=46011873",
            summary=(
                "I run a small hardware shop in Lyon & our shipments from Shenzhen are stuck since"
                " Monday. Is anyone rerouting through Antwerp? We're looking at air freight but"
                " it's 4× the cost. Our tracker"
            ),
            author="hwlogistics",
            outlet="news.ycombinator.com",
            published_at=datetime(2026, 11, 20, 10, 2, 51, tzinfo=UTC),
            score=42,
            comments=31,
            link_url=None,
        ),
        Mention(
            external_id="46010042",
            title="Grève des dockers : le port du Havre paralysé pour le troisième jour",
            url="https://news.ycombinator.com/item?id=46010042",
            canonical_url="https://news.ycombinator.com/item?id=46010042",
            summary="",
            author="aragilar",
            outlet="news.ycombinator.com",
            published_at=datetime(2026, 11, 20, 7, 48, 30, tzinfo=UTC),
            score=12,
            comments=3,
            link_url=(
                "https://www.lemonde.fr/economie/article/2026/11/20/"
                "greve-des-dockers_6543210_3234.html"
            ),
        ),
    ]


def test_missing_engagement_stays_unknown_and_the_iso_date_is_a_fallback(
    server: HTTPServer,
) -> None:
    sparse = {k: v for k, v in LONG_BEACH.items() if k not in ("created_at_i", "num_comments")}
    server.expect_request(API).respond_with_data(
        page([sparse], "dockworkers"), content_type="application/json"
    )
    task, src = one_task(server)

    (mention,) = harvest(task, src).mentions

    assert (mention.score, mention.comments) == (5, None)
    assert mention.published_at == datetime(2026, 11, 20, 11, 31, 2, tzinfo=UTC)


def test_long_story_text_is_cut_to_the_summary_limit(server: HTTPServer) -> None:
    long = {**ASK_HN, "story_text": "<p>" + "word " * 1000}
    server.expect_request(API).respond_with_data(page([long], "x"), content_type="application/json")
    task, src = one_task(server)

    (mention,) = harvest(task, src).mentions

    assert len(mention.summary) == 2000
    assert mention.summary.startswith("word word")


def test_a_comment_hit_speaks_in_its_story_thread(server: HTTPServer) -> None:
    comment = {
        "_tags": ["comment", "author_tptacek", "story_46012345"],
        "author": "tptacek",
        "comment_text": "The dockworkers&#x27; union has been <i>very</i> clear about this.",
        "created_at": "2026-11-20T11:02:19Z",
        "created_at_i": 1795172539,
        "objectID": "46013001",
        "parent_id": 46012345,
        "points": None,
        "story_id": 46012345,
        "story_title": REUTERS["title"],
        "story_url": REUTERS["url"],
        "updated_at": "2026-11-20T11:02:19Z",
    }
    server.expect_request(API).respond_with_data(
        page([comment], "dockworkers"), content_type="application/json"
    )
    task, src = one_task(server)

    (mention,) = harvest(task, src).mentions

    assert (mention.title, mention.summary) == (
        "Dockworkers at the Port of Rotterdam walk out over automation plans",
        "The dockworkers' union has been very clear about this.",
    )
    assert (mention.url, mention.link_url) == (
        "https://news.ycombinator.com/item?id=46013001",
        REUTERS["url"],
    )
    assert (mention.score, mention.comments) == (None, None)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (
            b"<!DOCTYPE html><html>Service unavailable</html>",
            "not JSON: Expecting value at line 1 column 1",
        ),
        (b'{"hits": [', "not JSON: Expecting value at line 1 column 11"),
        (b'{"hits": "\xff"}', "not JSON: not UTF-8 text (invalid start byte at byte 10)"),
        (b"[]", "expected a JSON object with hits, got list"),
        (b'{"nbHits": 0, "page": 0}', "hits missing"),
        (b'{"hits": {"objectID": "1"}}', "hits is not a list but dict"),
        (
            b'{"hits": [1, {"title": "no id"}]}',
            "2 of 2 hits skipped (not an object with an objectID)",
        ),
    ],
)
def test_bad_json_and_wrong_shapes_are_parse_errors(
    server: HTTPServer, body: bytes, error: str
) -> None:
    server.expect_request(API).respond_with_data(body, content_type="application/json")
    task, src = one_task(server)

    got = harvest(task, src)

    assert (got.result.status, got.result.ok) == (200, True)
    assert (list(got.mentions), got.parser, got.parse_error) == ([], "json", error)


def test_hits_without_an_id_are_skipped_and_the_rest_kept(server: HTTPServer) -> None:
    body = page([{"title": "no objectID", "points": 3}, REUTERS], "dockworkers")
    server.expect_request(API).respond_with_data(body, content_type="application/json")
    task, src = one_task(server)

    got = harvest(task, src)

    assert [m.external_id for m in got.mentions] == ["46012345"]
    assert got.parse_error == "1 of 2 hits skipped (not an object with an objectID)"


def test_429_carries_retry_after(server: HTTPServer) -> None:
    server.expect_request(API).respond_with_data(
        '{"message":"rate limit exceeded","status":429}',
        status=429,
        content_type="application/json",
        headers={"Retry-After": "120"},
    )
    task, src = one_task(server)

    got = harvest(task, src)

    assert (got.result.status, got.result.error_kind, got.result.retry_after_seconds) == (
        429,
        "http",
        120.0,
    )
    assert (list(got.mentions), got.parse_error) == ([], None)


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_fetch_errors(server: HTTPServer, status: int) -> None:
    server.expect_request(API).respond_with_data("oops", status=status)
    task, src = one_task(server)

    got = harvest(task, src)

    assert (got.result.status, got.result.error_kind, got.mentions) == (status, "http", ())
    assert got.result.error is not None and got.result.error.startswith(f"HTTP {status}")


# --- end to end: collect, match, store, engagement ----------------------------------------------


def serve_searches(server: HTTPServer, results: dict[str, list[dict[str, Any]]]) -> None:
    def search(request: Request) -> Response:
        query = request.args["query"]
        return Response(page(results[query], query), content_type="application/json")

    server.expect_request(API).respond_with_handler(search)


def add_source(store: Store, server: HTTPServer, **options: Any) -> None:
    store.upsert_source(
        kind="hackernews",
        name="hn",
        url=server.url_for("/api/v1"),
        interval_minutes=60,
        now=T0,
        settings={"options": options},
    )


def stored(store: Store) -> dict[str, dict[str, Any]]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(mentions)).all()
    return {r.external_id: dict(r._mapping) for r in rows}


def test_collect_stores_matches_and_tracks_engagement(store: Store, server: HTTPServer) -> None:
    serve_searches(
        server, {'"port strike"': [ASK_HN], "dockworkers": [REUTERS, LONG_BEACH, ASK_HN]}
    )
    store.upsert_story("port-strike", "Port strike", PORT_STRIKE, now=T0)
    add_source(store, server, hits_per_page=50)

    (report,) = collect(store, fast_collector(), now=T0).sources

    assert (report.outcome, report.tasks, report.items_seen, report.items_new) == (
        "ok",
        2,
        3,
        3,
    )  # one hit came back from both searches: counted once
    asked = sorted((r.args["query"], r.args["hitsPerPage"]) for r, _ in server.log)
    assert asked == [('"port strike"', "50"), ("dockworkers", "50")]
    rows = stored(store)
    assert set(rows) == {"46012345", "46011873", "46013377"}
    assert {r["kind"] for r in rows.values()} == {"hackernews"}
    assert rows["46011873"]["link_url"] is None
    assert rows["46012345"]["url"] == "https://news.ycombinator.com/item?id=46012345"
    with store.engine.connect() as conn:
        matched = conn.execute(
            select(stories.c.slug, mentions.c.external_id).select_from(
                story_mentions.join(stories).join(mentions)
            )
        ).all()
        fetch_rows = conn.execute(
            select(fetches.c.url, fetches.c.outcome, fetches.c.items_seen, fetches.c.parser)
        ).all()
    # The Show HN hit came back from Algolia but does not match the story's query.
    assert sorted(matched) == [("port-strike", "46011873"), ("port-strike", "46012345")]
    assert sorted((o, n, p) for _, o, n, p in fetch_rows) == [
        ("ok", 1, "json"),
        ("ok", 3, "json"),
    ]
    assert all(f"numericFilters=created_at_i%3E{SINCE}" in u for u, *_ in fetch_rows)

    # An hour later the Reuters story has more points and comments.
    later = {**REUTERS, "points": 250, "num_comments": 131}
    server.clear()
    serve_searches(server, {'"port strike"': [ASK_HN], "dockworkers": [later, ASK_HN]})

    (again,) = collect(store, fast_collector(), now=T0 + HOUR, force=True).sources

    assert (again.outcome, again.items_new) == ("ok", 0)
    since = int((T0 + HOUR - timedelta(hours=48)).timestamp())
    assert {r.args["numericFilters"] for r, _ in server.log} == {f"created_at_i>{since}"}
    rows = stored(store)
    assert len(rows) == 3
    assert (rows["46012345"]["score"], rows["46012345"]["comments"]) == (250, 131)
    with store.engine.connect() as conn:
        history = conn.execute(
            select(mention_engagement.c.observed_at, mention_engagement.c.score)
            .where(mention_engagement.c.mention_id == rows["46012345"]["id"])
            .order_by(mention_engagement.c.observed_at)
        ).all()
        unchanged = conn.execute(
            select(func.count())
            .select_from(mention_engagement)
            .where(mention_engagement.c.mention_id == rows["46011873"]["id"])
        ).scalar_one()
        fetch_count = conn.execute(select(func.count()).select_from(fetches)).scalar_one()
    assert [(when, score) for when, score in history] == [(T0, 187), (T0 + HOUR, 250)]
    assert unchanged == 1  # the Ask HN counts did not move: no new history row
    assert fetch_count == 4


def test_a_rate_limited_search_delays_the_source(store: Store, server: HTTPServer) -> None:
    server.expect_request(API).respond_with_data(
        '{"message":"rate limit exceeded"}', status=429, headers={"Retry-After": "1800"}
    )
    store.upsert_story("port-strike", "Port strike", "dockworkers", now=T0)
    add_source(store, server)

    (report,) = collect(store, fast_collector(), now=T0).sources

    assert (report.outcome, report.http_status) == ("error", 429)
    row = store.get_source("hn")
    assert row["next_due_at"] >= T0 + timedelta(minutes=30)
    assert row["last_error"] == "HTTP 429 TOO MANY REQUESTS"
