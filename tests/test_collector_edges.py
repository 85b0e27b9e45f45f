"""Edge cases found while reviewing the fetcher: slow trickles, failed moves, bare redirects."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from noisecast.engine.jobs.collect import collect
from noisecast.engine.store import Store
from noisecast.engine.store.tables import fetches
from tests.conftest import T0, fast_collector
from tests.test_collector_http import REDDIT, add, by_source, news_feed, rows, serve


def test_a_server_that_trickles_bytes_is_cut_at_the_deadline(
    store: Store, server: HTTPServer, shared_data: Path
) -> None:
    def trickle(_: Request) -> Response:
        def body() -> Iterator[bytes]:
            for _ in range(40):
                time.sleep(0.1)  # each read is well inside the read timeout
                yield b" "

        return Response(body(), content_type="application/rss+xml")

    server.expect_request("/trickle").respond_with_handler(trickle)
    serve(server, "/feed", news_feed(shared_data, REDDIT))
    add(store, "trickle", server.url_for("/trickle"))
    add(store, "reddit", server.url_for("/feed"))

    started = time.monotonic()
    report = by_source(
        collect(store, fast_collector(timeout_seconds=1, deadline_seconds=1), now=T0)
    )
    elapsed = time.monotonic() - started

    assert elapsed < 3.5, f"a 1 s deadline took {elapsed:.1f} s"
    assert report["trickle"].outcome == "error"
    assert "deadline" in (report["trickle"].error or "")
    assert store.get_source("trickle")["failures"] == 0.25
    assert report["reddit"].items_new == 24


def test_a_permanent_redirect_to_a_failing_url_does_not_move_the_source(
    store: Store, server: HTTPServer
) -> None:
    server.expect_request("/old").respond_with_data("", status=301, headers={"Location": "/new"})
    server.expect_request("/new").respond_with_data("unavailable", status=503)
    add(store, "moving", server.url_for("/old"))

    report = by_source(collect(store, fast_collector(), now=T0))["moving"]

    assert (report.outcome, report.http_status) == ("error", 503)
    assert store.get_source("moving")["url"] == server.url_for("/old")


def test_a_redirect_without_location_is_a_clear_error(store: Store, server: HTTPServer) -> None:
    server.expect_request("/bare").respond_with_data("", status=301)
    add(store, "bare", server.url_for("/bare"))

    report = by_source(collect(store, fast_collector(), now=T0))["bare"]

    assert report.outcome == "error"
    assert report.error == "HTTP 301 redirect without a Location header"
    assert [f["outcome"] for f in rows(store, fetches, "bare")] == ["error"]


@pytest.mark.parametrize("status", [302, 303, 307])
def test_a_temporary_redirect_to_a_gone_url_does_not_disable_the_source(
    store: Store, server: HTTPServer, status: int
) -> None:
    server.expect_request("/feed").respond_with_data(
        "", status=status, headers={"Location": "/maintenance"}
    )
    server.expect_request("/maintenance").respond_with_data("Gone", status=410)
    add(store, "detour", server.url_for("/feed"))

    report = by_source(collect(store, fast_collector(), now=T0))["detour"]

    assert (report.outcome, report.http_status) == ("error", 410)
    source = store.get_source("detour")
    assert source["disabled_at"] is None
    assert source["failures"] == 0.5  # soft, as a 404 would be
    assert source["url"] == server.url_for("/feed")


def test_a_permanent_redirect_to_a_gone_url_disables_the_source(
    store: Store, server: HTTPServer
) -> None:
    server.expect_request("/feed").respond_with_data("", status=301, headers={"Location": "/old"})
    server.expect_request("/old").respond_with_data("Gone", status=410)
    add(store, "moved", server.url_for("/feed"))

    report = by_source(collect(store, fast_collector(), now=T0))["moved"]

    assert (report.outcome, report.http_status) == ("disabled", 410)
    assert store.get_source("moved")["disabled_at"] == T0
