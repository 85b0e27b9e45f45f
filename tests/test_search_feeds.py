"""Per-story search feeds: a source URL with {query} is fetched once per active story."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from werkzeug import Request, Response

from noisecast.engine.jobs.collect import collect
from noisecast.engine.store import Store
from noisecast.engine.store.tables import fetches, mentions, stories, story_mentions
from noisecast.feeds.searchterms import search_text
from tests.conftest import T0, fast_collector

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Search: {q}</title><link>https://news.example/</link>
{items}</channel></rss>"""
ITEM = "<item><title>{t}</title><link>https://paper.example/{i}</link><guid>{i}</guid></item>"
RESULTS = {
    '"port strike" OR dockworkers': ["Port strike enters day two", "Dockworkers vote tonight"],
    "council budget": ["Council budget passes", "Budget row: council split"],
}


@pytest.mark.parametrize(
    ("query", "search"),
    [
        ('"port strike" OR dockworkers', '"port strike" OR dockworkers'),
        ("(strike OR walkout) NOT title:opinion", "(strike OR walkout)"),
        ("title:(ukraine OR kyiv) talks", "(ukraine OR kyiv) talks"),
        ("a NOT (b OR c) d", "a d"),
        ("a OR NOT b", "a"),
    ],
)
def test_search_text_drops_not_and_fields(query: str, search: str) -> None:
    assert search_text(query) == search


def test_one_fetch_per_story_with_its_query(store: Store, server: HTTPServer) -> None:
    def search(request: Request) -> Response:
        q = request.args["q"]
        items = "".join(
            ITEM.format(t=title, i=f"{list(RESULTS).index(q)}-{n}")
            for n, title in enumerate(RESULTS.get(q, []))
        )
        return Response(RSS.format(q=q, items=items), content_type="application/rss+xml")

    server.expect_request("/search").respond_with_handler(search)
    store.upsert_story("port-strike", "Port strike", '"port strike" OR dockworkers', now=T0)
    store.upsert_story("budget", "Budget", "council budget NOT title:opinion", now=T0)
    store.upsert_story("old", "Old", "archived", now=T0)
    store.archive_story("old", now=T0)
    template = server.url_for("/search") + "?q={query}&hl=en"
    store.upsert_source(kind="rss", name="search", url=template, interval_minutes=60, now=T0)

    report = collect(store, fast_collector(), now=T0)

    (source,) = report.sources
    assert (source.outcome, source.tasks, source.items_new) == ("ok", 2, 4)
    asked = sorted(request.args["q"] for request, _ in server.log)
    assert asked == ['"port strike" OR dockworkers', "council budget"]  # not the archived story
    assert all(request.args["hl"] == "en" for request, _ in server.log)
    with store.engine.connect() as conn:
        urls = conn.execute(select(fetches.c.url, fetches.c.items_new)).all()
        matched = conn.execute(
            select(stories.c.slug, mentions.c.title)
            .select_from(story_mentions.join(stories).join(mentions))
            .order_by(stories.c.slug, mentions.c.title)
        ).all()
    assert sorted(n for _, n in urls) == [2, 2]
    assert all("q=" in u and "{query}" not in u for u, _ in urls)
    assert matched == [
        ("budget", "Budget row: council split"),
        ("budget", "Council budget passes"),
        ("port-strike", "Dockworkers vote tonight"),
        ("port-strike", "Port strike enters day two"),
    ]
    # Each story's search keeps its own validators.
    for slug in ("budget", "port-strike"):
        assert store.cursor("search", f"story:{slug}").body_hash is not None


def test_a_failing_story_search_fails_the_source_but_keeps_the_rest(
    store: Store, server: HTTPServer
) -> None:
    def search(request: Request) -> Response:
        if request.args["q"] == "council budget":
            return Response("busy", status=503, headers={"Retry-After": "600"})
        items = ITEM.format(t="Port strike enters day two", i="p1")
        return Response(RSS.format(q="x", items=items), content_type="application/rss+xml")

    server.expect_request("/search").respond_with_handler(search)
    store.upsert_story("port-strike", "Port strike", '"port strike"', now=T0)
    store.upsert_story("budget", "Budget", "council budget", now=T0)
    template = server.url_for("/search") + "?q={query}"
    store.upsert_source(kind="rss", name="search", url=template, interval_minutes=60, now=T0)

    (source,) = collect(store, fast_collector(), now=T0).sources

    assert (source.outcome, source.http_status, source.items_new) == ("error", 503, 1)
    row = store.get_source("search")
    assert row["failures"] == 0.5 and "503" in row["last_error"]
    with store.engine.connect() as conn:
        outcomes = sorted(conn.execute(select(fetches.c.outcome)).scalars())
    assert outcomes == ["error", "ok"]
