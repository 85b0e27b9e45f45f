"""The collector against a real HTTP server on 127.0.0.1: real feed bytes, real headers.

Every test runs ``collect`` end to end (fetcher, parser, decider, store) on SQLite and on
PostgreSQL. Time is injected: ``now`` is T0, T0 + 1 h, ...; ``force=True`` where a second fetch
must happen before the source is due. What the server saw is read back from its request log.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select
from werkzeug import Request, Response

from noisecast.engine.jobs.collect import CollectReport, SourceReport, collect
from noisecast.engine.store import Store
from noisecast.engine.store.tables import fetches, mentions
from tests.conftest import T0, fast_collector

HOUR = timedelta(hours=1)
GUARDIAN = "rbren__guardian.rss"  # 55 entries, 151,464 bytes
REDDIT = "rbren__reddit.rss"  # 24 entries
CONTENT_TYPES = {
    "atom10": "application/atom+xml",
    "rss10": "application/rdf+xml",
}
HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Welcome</title></head>"
    b"<body><h1>Our news</h1><p>Subscribe to our newsletter.</p></body></html>\n"
)


# --- data and helpers -------------------------------------------------------------------------


def news_manifest(shared_data: Path) -> list[dict[str, str]]:
    with (shared_data / "news-feeds" / "manifest.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def news_feed(shared_data: Path, name: str) -> bytes:
    return (shared_data / "news-feeds" / name).read_bytes()


def add(store: Store, name: str, url: str) -> None:
    store.upsert_source(kind="rss", name=name, url=url, interval_minutes=60, now=T0)


def serve(server: HTTPServer, path: str, body: bytes, **headers: str) -> None:
    server.expect_request(path).respond_with_data(
        body, content_type="application/rss+xml", headers=headers
    )


def count(store: Store, table: Any, source: str | None = None) -> int:
    query = select(func.count()).select_from(table)
    if source is not None:
        query = query.where(table.c.source_id == store.get_source(source)["id"])
    with store.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def rows(store: Store, table: Any, source: str) -> list[dict[str, Any]]:
    query = select(table).where(table.c.source_id == store.get_source(source)["id"])
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query.order_by(table.c.id))]


def by_source(report: CollectReport) -> dict[str, SourceReport]:
    reports = {r.source: r for r in report.sources}
    assert len(reports) == len(report.sources), "a source was reported twice in one run"
    return reports


def requests_to(server: HTTPServer, path: str) -> list[Request]:
    return [request for request, _ in server.log if request.path == path]


def expected_mentions(content: bytes) -> tuple[int, int]:
    """(entries, distinct ids) as feedparser sees them, the id being the guid, else the link."""
    parsed = feedparser.parse(io.BytesIO(content))
    ids = [e.get("id") or e.get("link") for e in parsed.entries]
    assert all(ids), "an entry without guid or link: expected count needs another rule"
    return len(ids), len(set(ids))


def manifest_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- every real news feed ---------------------------------------------------------------------


def serve_news_feeds(server: HTTPServer, store: Store, shared_data: Path) -> list[dict[str, str]]:
    manifest = news_manifest(shared_data)
    for row in manifest:
        content_type = CONTENT_TYPES.get(row["format"], "application/rss+xml")
        server.expect_request(f"/news/{row['file']}").respond_with_data(
            news_feed(shared_data, row["file"]), content_type=content_type
        )
        add(store, row["file"], server.url_for(f"/news/{row['file']}"))
    return manifest


def test_every_news_feed_is_collected(store: Store, server: HTTPServer, shared_data: Path) -> None:
    manifest = serve_news_feeds(server, store, shared_data)

    report = by_source(collect(store, fast_collector(), now=T0))

    assert set(report) == {row["file"] for row in manifest}
    problems: list[str] = []
    repeated_ids: set[str] = set()
    for row in manifest:
        name = row["file"]
        entries, distinct = expected_mentions(news_feed(shared_data, name))
        assert entries == int(row["n_entries"]), name
        if distinct != entries:
            repeated_ids.add(name)
        got = report[name]
        if (got.outcome, got.http_status) != ("ok", 200):
            problems.append(f"{name}: {got.outcome} {got.http_status} {got.error}")
        # A source's report counts distinct items; its fetch row counts what the feed held.
        if (got.items_seen, got.items_new) != (distinct, distinct):
            problems.append(f"{name}: seen/new {got.items_seen}/{got.items_new}")
        fetch_rows = rows(store, fetches, name)
        if [(f["outcome"], f["http_status"]) for f in fetch_rows] != [("ok", 200)]:
            problems.append(f"{name}: fetches {fetch_rows}")
        stored = rows(store, mentions, name)
        if len(stored) != distinct:
            problems.append(f"{name}: {len(stored)} mentions stored, expected {distinct}")
        for m in stored:
            if not m["title"].strip() or not m["outlet"]:
                problems.append(f"{name}: {m['external_id']}: {m['title']!r} {m['outlet']!r}")
        dates = [m["published_at"] for m in stored if m["published_at"] is not None]
        if any(d.utcoffset() != timedelta(0) for d in dates):
            problems.append(f"{name}: a published_at that is not UTC: {dates}")
        if row["earliest_entry"]:
            if len(dates) != len(stored):
                problems.append(f"{name}: {len(stored) - len(dates)} mentions without a date")
            span = (min(dates), max(dates)) if dates else None
            want = (manifest_time(row["earliest_entry"]), manifest_time(row["latest_entry"]))
            if span != want:
                problems.append(f"{name}: dates span {span}, manifest says {want}")
        source = store.get_source(name)
        malformed = row["feedparser_bozo"] == "1"
        if malformed != (source["last_error"] or "").startswith("malformed feed"):
            problems.append(f"{name}: bozo={row['feedparser_bozo']}, {source['last_error']!r}")
        if source["failures"] != 0 or source["last_success_at"] != T0:
            problems.append(f"{name}: failures {source['failures']}")
    assert problems == []
    # Two captures repeat items (scriptingNews twice, Suspilne once: the same guid with another
    # pubDate); a mention is stored once per (source, id), so 640 entries make 637 mentions.
    assert repeated_ids == {"rsparser__scriptingNews.rss", "feeder__rss_ukrnet.xml"}
    assert count(store, fetches) == len(manifest)
    assert count(store, mentions) == 637


def test_rerun_of_the_same_feeds_stores_nothing_twice(
    store: Store, server: HTTPServer, shared_data: Path
) -> None:
    manifest = serve_news_feeds(server, store, shared_data)
    first = by_source(collect(store, fast_collector(), now=T0))
    stored = count(store, mentions)

    # The servers re-render the same items (a trailing comment differs), so the body hash
    # differs, every feed is parsed again, and only the store's key keeps it from duplicating.
    server.clear()
    for row in manifest:
        body = news_feed(shared_data, row["file"]) + b"\n<!-- rendered again -->\n"
        serve(server, f"/news/{row['file']}", body)
    second = by_source(collect(store, fast_collector(), now=T0 + HOUR, force=True))

    assert len(server.log) == len(manifest)
    assert {r.outcome for r in second.values()} == {"ok"}
    assert {name: r.items_seen for name, r in second.items()} == {
        name: r.items_seen for name, r in first.items()
    }
    assert {r.items_new for r in second.values()} == {0}
    assert count(store, mentions) == stored
    assert count(store, fetches) == 2 * len(manifest)
    for row in manifest:
        assert [f["items_new"] for f in rows(store, fetches, row["file"])] == [
            first[row["file"]].items_new,
            0,
        ]


# --- conditional GET --------------------------------------------------------------------------


def test_etag_is_sent_back_and_304_is_not_modified(
    store: Store, server: HTTPServer, shared_data: Path
) -> None:
    body = news_feed(shared_data, GUARDIAN)

    def handler(request: Request) -> Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304, headers={"ETag": '"v1"'})
        return Response(body, content_type="application/rss+xml", headers={"ETag": '"v1"'})

    server.expect_request("/feed").respond_with_handler(handler)
    add(store, "guardian", server.url_for("/feed"))

    first = by_source(collect(store, fast_collector(), now=T0))["guardian"]
    assert (first.outcome, first.items_new) == ("ok", 55)
    assert store.cursor("guardian").etag == '"v1"'
    assert collect(store, fast_collector(), now=T0 + timedelta(minutes=30)).sources == []

    second = by_source(collect(store, fast_collector(), now=T0 + HOUR, force=True))["guardian"]

    seen = requests_to(server, "/feed")
    assert len(seen) == 2
    assert "If-None-Match" not in seen[0].headers
    assert seen[1].headers["If-None-Match"] == '"v1"'
    assert (second.outcome, second.http_status, second.items_new) == ("not_modified", 304, 0)
    assert count(store, mentions) == 55
    assert [f["outcome"] for f in rows(store, fetches, "guardian")] == ["ok", "not_modified"]
    source = store.get_source("guardian")
    assert store.cursor("guardian").etag == '"v1"'
    assert source["last_success_at"] == T0 + HOUR
    assert source["failures"] == 0


def test_last_modified_is_sent_back_and_304_is_not_modified(
    store: Store, server: HTTPServer, shared_data: Path
) -> None:
    body = news_feed(shared_data, REDDIT)
    stamp = "Thu, 12 Nov 2015 22:30:00 GMT"

    def handler(request: Request) -> Response:
        if request.headers.get("If-Modified-Since") == stamp:
            return Response(status=304)
        return Response(body, content_type="application/rss+xml", headers={"Last-Modified": stamp})

    server.expect_request("/feed").respond_with_handler(handler)
    add(store, "reddit", server.url_for("/feed"))

    first = by_source(collect(store, fast_collector(), now=T0))["reddit"]
    second = by_source(collect(store, fast_collector(), now=T0 + HOUR, force=True))["reddit"]

    seen = requests_to(server, "/feed")
    assert "If-Modified-Since" not in seen[0].headers
    assert seen[1].headers["If-Modified-Since"] == stamp
    assert (first.outcome, first.items_new) == ("ok", 24)
    assert (second.outcome, second.http_status, second.items_new) == ("not_modified", 304, 0)
    assert count(store, mentions) == 24
    assert count(store, fetches) == 2
    assert store.cursor("reddit").last_modified == stamp


def test_same_bytes_without_validators_are_unchanged(
    store: Store, server: HTTPServer, shared_data: Path
) -> None:
    serve(server, "/feed", news_feed(shared_data, REDDIT))
    add(store, "reddit", server.url_for("/feed"))

    collect(store, fast_collector(), now=T0)
    body_hash = store.cursor("reddit").body_hash
    second = by_source(collect(store, fast_collector(), now=T0 + HOUR, force=True))["reddit"]

    seen = requests_to(server, "/feed")
    assert len(seen) == 2
    assert "If-None-Match" not in seen[1].headers
    assert "If-Modified-Since" not in seen[1].headers
    assert (second.outcome, second.http_status) == ("unchanged", 200)
    assert (second.items_seen, second.items_new) == (0, 0)
    assert body_hash is not None and len(body_hash) == 64
    assert store.cursor("reddit").body_hash == body_hash
    assert count(store, mentions) == 24
    assert [f["outcome"] for f in rows(store, fetches, "reddit")] == ["ok", "unchanged"]


# --- redirects --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "moves"), [(301, True), (308, True), (302, False), (307, False)]
)
def test_redirects_move_the_stored_url_only_when_permanent(
    store: Store, server: HTTPServer, shared_data: Path, status: int, moves: bool
) -> None:
    server.expect_request("/old").respond_with_data("", status=status, headers={"Location": "/new"})
    serve(server, "/new", news_feed(shared_data, REDDIT))
    old, new = server.url_for("/old"), server.url_for("/new")
    add(store, "reddit", old)

    report = by_source(collect(store, fast_collector(), now=T0))["reddit"]

    assert (report.outcome, report.http_status, report.items_new) == ("ok", 200, 24)
    assert count(store, mentions, "reddit") == 24
    assert store.get_source("reddit")["url"] == (new if moves else old)
    assert rows(store, fetches, "reddit")[0]["url"] == new

    # The next fetch asks the stored URL first.
    collect(store, fast_collector(), now=T0 + HOUR, force=True)
    assert [r.path for r, _ in server.log] == (
        ["/old", "/new", "/new"] if moves else ["/old", "/new", "/old", "/new"]
    )


@pytest.mark.parametrize(
    ("first", "second", "stored"),
    [(301, 302, "/b"), (302, 301, "/a")],
    ids=["permanent-then-temporary", "temporary-then-permanent"],
)
def test_a_redirect_chain_moves_the_url_as_far_as_it_is_permanent(
    store: Store, server: HTTPServer, shared_data: Path, first: int, second: int, stored: str
) -> None:
    # /a moved for good to /b, which sends us on to /c for now: we keep /b (and the other
    # way round, /a only moved for now, so we keep /a).
    server.expect_request("/a").respond_with_data("", status=first, headers={"Location": "/b"})
    server.expect_request("/b").respond_with_data("", status=second, headers={"Location": "/c"})
    serve(server, "/c", news_feed(shared_data, REDDIT))
    add(store, "reddit", server.url_for("/a"))

    report = by_source(collect(store, fast_collector(), now=T0))["reddit"]

    assert (report.outcome, report.items_new) == ("ok", 24)
    assert store.get_source("reddit")["url"] == server.url_for(stored)


def test_a_redirect_loop_is_an_error(store: Store, server: HTTPServer) -> None:
    server.expect_request("/loop").respond_with_data("", status=302, headers={"Location": "/loop"})
    add(store, "loop", server.url_for("/loop"))
    settings = fast_collector()

    report = by_source(collect(store, settings, now=T0))["loop"]

    assert report.outcome == "error"
    assert "redirects" in (report.error or "")
    assert len(server.log) == settings.max_redirects + 1
    assert store.get_source("loop")["url"] == server.url_for("/loop")


class RawLocation(Response):
    """A redirect whose Location goes out as given: werkzeug would otherwise clean it up."""

    def __init__(self, status: int, location: str) -> None:
        super().__init__(status=status)
        self.raw_location = location

    def get_wsgi_headers(self, environ: Any) -> Any:
        headers = super().get_wsgi_headers(environ)
        headers["Location"] = self.raw_location
        return headers


@pytest.mark.parametrize(
    "location",
    ["ftp://127.0.0.1/feed", "http://127.0.0.1:99999/feed"],
    ids=["not-http", "port-out-of-range"],
)
def test_a_redirect_to_an_unusable_url_is_an_error_on_its_row(
    store: Store, server: HTTPServer, shared_data: Path, location: str
) -> None:
    server.expect_request("/moved").respond_with_handler(lambda _: RawLocation(301, location))
    serve(server, "/feed", news_feed(shared_data, REDDIT))
    add(store, "moved", server.url_for("/moved"))
    add(store, "reddit", server.url_for("/feed"))

    report = by_source(collect(store, fast_collector(), now=T0))

    assert report["moved"].outcome == "error"
    moved = store.get_source("moved")
    assert moved["last_error"]
    assert moved["url"] == server.url_for("/moved")  # never a URL we cannot fetch
    assert [f["outcome"] for f in rows(store, fetches, "moved")] == ["error"]
    assert (report["reddit"].outcome, report["reddit"].items_new) == ("ok", 24)


# --- failures and the schedule ----------------------------------------------------------------


def test_410_disables_the_source_for_good(store: Store, server: HTTPServer) -> None:
    server.expect_request("/gone").respond_with_data("Gone", status=410)
    add(store, "gone", server.url_for("/gone"))

    report = by_source(collect(store, fast_collector(), now=T0))["gone"]

    assert (report.outcome, report.http_status) == ("disabled", 410)
    source = store.get_source("gone")
    assert source["disabled_at"] == T0
    assert "410" in source["disabled_reason"]
    assert [f["outcome"] for f in rows(store, fetches, "gone")] == ["disabled"]

    later = collect(store, fast_collector(), now=T0 + timedelta(days=2), force=True)
    assert later.sources == []
    assert len(server.log) == 1


@pytest.mark.parametrize(
    ("retry_after", "wait"),
    [
        ("7200", timedelta(hours=2)),
        ("259200", timedelta(minutes=24 * 60)),  # three days asked, capped at one
        ("60", timedelta(minutes=30)),  # the backoff is longer, and the later time wins
    ],
)
def test_429_honours_retry_after_up_to_the_cap(
    store: Store, server: HTTPServer, retry_after: str, wait: timedelta
) -> None:
    server.expect_request("/feed").respond_with_data(
        "Slow down", status=429, headers={"Retry-After": retry_after}
    )
    add(store, "busy", server.url_for("/feed"))
    settings = fast_collector()
    assert settings.retry_after_max_minutes == 24 * 60

    report = by_source(collect(store, settings, now=T0))["busy"]

    assert (report.outcome, report.http_status) == ("error", 429)
    source = store.get_source("busy")
    assert source["next_due_at"] == T0 + wait
    assert source["failures"] == 0.5
    assert source["disabled_at"] is None


def test_429_retry_after_cap_is_the_configured_one(store: Store, server: HTTPServer) -> None:
    server.expect_request("/feed").respond_with_data(
        "Slow down", status=429, headers={"Retry-After": "172800"}
    )
    add(store, "busy", server.url_for("/feed"))

    collect(store, fast_collector(retry_after_max_minutes=180), now=T0)

    assert store.get_source("busy")["next_due_at"] == T0 + timedelta(minutes=180)


def test_429_retry_after_as_an_http_date(store: Store, server: HTTPServer) -> None:
    # An HTTP date is read against the real clock (it is the server's clock); the wait it
    # gives is added to the injected ``now``.
    asked = format_datetime(datetime.now(UTC) + timedelta(hours=3), usegmt=True)
    server.expect_request("/feed").respond_with_data(
        "Slow down", status=429, headers={"Retry-After": asked}
    )
    add(store, "busy", server.url_for("/feed"))

    collect(store, fast_collector(), now=T0)

    due = store.get_source("busy")["next_due_at"]
    assert T0 + timedelta(hours=3) - timedelta(minutes=1) <= due <= T0 + timedelta(hours=3)


def test_server_errors_back_off_then_disable(store: Store, server: HTTPServer) -> None:
    server.expect_request("/feed").respond_with_data("Internal error", status=500)
    add(store, "broken", server.url_for("/feed"))
    settings = fast_collector(disable_after_failures=2)
    assert (settings.backoff_base_minutes, settings.jitter_fraction) == (30, 0)

    now = T0
    for attempt, (failures, backoff) in enumerate([(0.5, 30), (1.0, 60), (1.5, 120)], 1):
        report = by_source(collect(store, settings, now=now))["broken"]  # due, not forced
        assert (report.outcome, report.http_status) == ("error", 500)
        source = store.get_source("broken")
        assert source["failures"] == failures
        assert source["consecutive_failures"] == attempt
        assert source["next_due_at"] == now + timedelta(minutes=backoff)
        assert "HTTP 500" in source["last_error"]
        assert source["disabled_at"] is None
        assert collect(store, settings, now=now + timedelta(minutes=backoff - 1)).sources == []
        now = source["next_due_at"]

    report = by_source(collect(store, settings, now=now))["broken"]

    assert report.outcome == "disabled"
    source = store.get_source("broken")
    assert source["failures"] == 2.0
    assert source["disabled_at"] == now
    assert "HTTP 500" in source["disabled_reason"]
    assert collect(store, settings, now=now + timedelta(days=1), force=True).sources == []
    assert len(server.log) == 4
    assert [f["outcome"] for f in rows(store, fetches, "broken")] == ["error"] * 3 + ["disabled"]


def test_a_success_after_a_failure_resets_the_failures(
    store: Store, server: HTTPServer, shared_data: Path
) -> None:
    server.expect_oneshot_request("/feed").respond_with_data("Bad gateway", status=502)
    serve(server, "/feed", news_feed(shared_data, REDDIT))
    add(store, "flaky", server.url_for("/feed"))

    failed = by_source(collect(store, fast_collector(), now=T0))["flaky"]
    assert failed.outcome == "error"
    assert store.get_source("flaky")["failures"] == 0.5

    then = T0 + timedelta(minutes=30)
    ok = by_source(collect(store, fast_collector(), now=then))["flaky"]

    assert (ok.outcome, ok.items_new) == ("ok", 24)
    source = store.get_source("flaky")
    assert (source["failures"], source["consecutive_failures"]) == (0, 0)
    assert source["last_error"] is None
    assert source["last_success_at"] == then


def test_a_timeout_is_a_temporary_failure_and_the_run_goes_on(
    store: Store, server: HTTPServer, shared_data: Path
) -> None:
    release = threading.Event()

    def stall(request: Request) -> Response:
        release.wait(10)
        return Response(b"<rss/>", content_type="application/rss+xml")

    server.expect_request("/slow").respond_with_handler(stall)
    serve(server, "/guardian", news_feed(shared_data, GUARDIAN))
    serve(server, "/reddit", news_feed(shared_data, REDDIT))
    for name in ("slow", "guardian", "reddit"):
        add(store, name, server.url_for(f"/{name}"))

    started = time.monotonic()
    try:
        report = by_source(collect(store, fast_collector(timeout_seconds=0.5), now=T0))
        elapsed = time.monotonic() - started
    finally:
        release.set()
        deadline = time.monotonic() + 5  # let the stalled handler finish inside this test
        while len(server.log) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)

    assert elapsed < 3, f"the run took {elapsed:.1f} s with a 0.5 s timeout"
    assert report["slow"].outcome == "error"
    assert "timed out" in (report["slow"].error or "")
    slow = store.get_source("slow")
    assert slow["failures"] == 0.25
    assert slow["next_due_at"] == T0 + timedelta(minutes=30)
    assert [f["outcome"] for f in rows(store, fetches, "slow")] == ["error"]
    assert (report["guardian"].outcome, report["guardian"].items_new) == ("ok", 55)
    assert (report["reddit"].outcome, report["reddit"].items_new) == ("ok", 24)


# --- size limits and encodings ----------------------------------------------------------------


def assert_too_large(store: Store, report: SourceReport, name: str) -> None:
    assert report.outcome == "error"
    assert "max_body_bytes" in (report.error or "")
    assert count(store, mentions, name) == 0
    source = store.get_source(name)
    assert "max_body_bytes" in source["last_error"]
    assert source["failures"] == 1.0
    assert [f["outcome"] for f in rows(store, fetches, name)] == ["error"]


def test_a_body_over_max_body_bytes_is_refused(
    store: Store, server: HTTPServer, shared_data: Path
) -> None:
    body = news_feed(shared_data, GUARDIAN)
    serve(server, "/feed", body)
    add(store, "guardian", server.url_for("/feed"))

    report = by_source(collect(store, fast_collector(max_body_bytes=100_000), now=T0))

    assert_too_large(store, report["guardian"], "guardian")
    assert server.log[0][1].headers["Content-Length"] == str(len(body))


def test_a_streamed_body_without_length_is_cut_at_max_body_bytes(
    store: Store, server: HTTPServer, shared_data: Path
) -> None:
    body = news_feed(shared_data, GUARDIAN)
    cap = 100_000

    def stream(request: Request) -> Response:
        def chunks() -> Iterator[bytes]:
            for _ in range(40):  # about 6 MB if nobody stopped reading
                yield from (body[i : i + 8192] for i in range(0, len(body), 8192))

        return Response(chunks(), content_type="application/rss+xml")

    server.expect_request("/feed").respond_with_handler(stream)
    add(store, "guardian", server.url_for("/feed"))

    report = by_source(collect(store, fast_collector(max_body_bytes=cap), now=T0))

    assert "Content-Length" not in server.log[0][1].headers
    assert_too_large(store, report["guardian"], "guardian")
    read = rows(store, fetches, "guardian")[0]["bytes"]
    assert cap < read < cap + 200_000


def test_a_gzip_bomb_stops_at_max_body_bytes(store: Store, server: HTTPServer) -> None:
    bomb = gzip.compress(b'<?xml version="1.0"?><rss><channel>' + b" " * 5_000_000)
    assert len(bomb) < 10_000
    server.expect_request("/feed").respond_with_data(
        bomb, content_type="application/rss+xml", headers={"Content-Encoding": "gzip"}
    )
    add(store, "bomb", server.url_for("/feed"))

    report = by_source(collect(store, fast_collector(max_body_bytes=100_000), now=T0))

    assert_too_large(store, report["bomb"], "bomb")


def test_gzip_is_asked_for_and_decoded(store: Store, server: HTTPServer, shared_data: Path) -> None:
    body = news_feed(shared_data, GUARDIAN)

    def handler(request: Request) -> Response:
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            return Response(
                gzip.compress(body),
                content_type="application/rss+xml",
                headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"},
            )
        return Response(body, content_type="application/rss+xml")

    server.expect_request("/feed").respond_with_handler(handler)
    add(store, "guardian", server.url_for("/feed"))

    report = by_source(collect(store, fast_collector(), now=T0))["guardian"]

    request, response = server.log[0]
    assert "gzip" in request.headers["Accept-Encoding"]
    assert response.headers["Content-Encoding"] == "gzip"
    assert int(response.headers["Content-Length"]) < len(body) // 3
    assert (report.outcome, report.items_new) == ("ok", 55)
    assert count(store, mentions, "guardian") == 55


def test_a_corrupt_gzip_body_is_an_error_on_its_row(
    store: Store, server: HTTPServer, shared_data: Path
) -> None:
    # Content-Encoding says gzip, the bytes are plain XML: the body cannot be decoded.
    body = news_feed(shared_data, GUARDIAN)
    serve(server, "/broken", body, **{"Content-Encoding": "gzip"})
    serve(server, "/feed", news_feed(shared_data, REDDIT))
    add(store, "broken", server.url_for("/broken"))
    add(store, "reddit", server.url_for("/feed"))

    report = by_source(collect(store, fast_collector(), now=T0))

    assert report["broken"].outcome == "error"
    broken = store.get_source("broken")
    assert broken["last_error"]
    assert broken["failures"] > 0
    assert count(store, mentions, "broken") == 0
    assert [f["outcome"] for f in rows(store, fetches, "broken")] == ["error"]
    assert (report["reddit"].outcome, report["reddit"].items_new) == ("ok", 24)


def test_requests_carry_our_user_agent_and_contact(
    store: Store, server: HTTPServer, shared_data: Path
) -> None:
    serve(server, "/feed", news_feed(shared_data, REDDIT))
    add(store, "reddit", server.url_for("/feed"))

    collect(store, fast_collector(contact="ops@newsroom.example"), now=T0)

    request = server.log[0][0]
    assert request.headers["User-Agent"] == "noisecast-tests/0.1 ops@newsroom.example"
    assert "application/rss+xml" in request.headers["Accept"]


# --- bad documents ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("feedjira__TechCrunch.xml", "XML declaration not at start"),
        ("feeder__rss_myanimelist.xml", "undefined entity"),
        ("rbren__uolNoticias.rss", "declared as utf-8"),
    ],
)
def test_a_malformed_real_feed_is_stored_and_flagged(
    store: Store, server: HTTPServer, shared_data: Path, name: str, why: str
) -> None:
    body = news_feed(shared_data, name)
    serve(server, "/feed", body)
    add(store, name, server.url_for("/feed"))
    entries, distinct = expected_mentions(body)

    report = by_source(collect(store, fast_collector(), now=T0))[name]

    assert (report.outcome, report.items_seen, report.items_new) == ("ok", distinct, distinct)
    assert rows(store, fetches, name)[0]["items_seen"] == entries
    assert count(store, mentions, name) == distinct
    source = store.get_source(name)
    assert source["last_error"].startswith("malformed feed")
    assert why in source["last_error"]
    assert (source["failures"], source["last_success_at"]) == (0, T0)
    assert why in rows(store, fetches, name)[0]["error"]


def test_an_html_page_is_an_error_on_its_row_and_the_run_goes_on(
    store: Store, server: HTTPServer, shared_data: Path
) -> None:
    server.expect_request("/page").respond_with_data(HTML_PAGE, content_type="text/html")
    serve(server, "/feed", news_feed(shared_data, REDDIT))
    add(store, "page", server.url_for("/page"))
    add(store, "reddit", server.url_for("/feed"))

    report = by_source(collect(store, fast_collector(), now=T0))

    assert (report["page"].outcome, report["page"].http_status) == ("error", 200)
    page = store.get_source("page")
    assert "not a feed" in page["last_error"]
    assert page["failures"] == 1.0
    assert page["last_success_at"] is None
    assert [(f["outcome"], f["error"]) for f in rows(store, fetches, "page")] == [
        ("error", page["last_error"])
    ]
    assert count(store, mentions, "page") == 0
    assert (report["reddit"].outcome, report["reddit"].items_new) == ("ok", 24)


# --- politeness -------------------------------------------------------------------------------


def timed_feed(server: HTTPServer, body: bytes, hold: float) -> list[tuple[float, float, int]]:
    """Serve ``body`` at /p/*, holding each answer ``hold`` seconds; record (start, end, in
    flight at start) for every request."""
    seen: list[tuple[float, float, int]] = []
    lock = threading.Lock()
    flying = 0

    def handler(request: Request) -> Response:
        nonlocal flying
        with lock:
            flying += 1
            start, at_start = time.monotonic(), flying
        time.sleep(hold)
        with lock:
            flying -= 1
            seen.append((start, time.monotonic(), at_start))
        return Response(body, content_type="application/rss+xml")

    for i in range(4):
        server.expect_request(f"/p/{i}").respond_with_handler(handler)
    return seen


def test_one_host_gets_one_request_at_a_time_with_a_gap(
    store: Store, server: HTTPServer, shared_data: Path
) -> None:
    seen = timed_feed(server, news_feed(shared_data, REDDIT), hold=0.05)
    for i in range(4):
        add(store, f"p{i}", server.url_for(f"/p/{i}"))
    settings = fast_collector(per_host_concurrency=1, per_host_min_gap_seconds=0.2)

    report = collect(store, settings, now=T0)

    assert {r.outcome for r in report.sources} == {"ok"}
    assert len(seen) == 4
    seen.sort()
    assert max(at_start for _, _, at_start in seen) == 1
    starts = [start for start, _, _ in seen]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # The gap is kept between the client's starts; the server sees them a few ms apart from
    # that (a new connection costs more than a reused one), hence the 10 ms slack.
    assert min(gaps) >= 0.2 - 0.01, gaps


def test_the_server_would_see_overlapping_requests(
    store: Store, server: HTTPServer, shared_data: Path
) -> None:
    # The control for the test above: with per_host_concurrency=4 the same server sees
    # requests in flight together, so "one at a time" there is the fetcher's doing.
    seen = timed_feed(server, news_feed(shared_data, REDDIT), hold=0.3)
    for i in range(4):
        add(store, f"p{i}", server.url_for(f"/p/{i}"))

    collect(store, fast_collector(per_host_concurrency=4), now=T0)

    assert len(seen) == 4
    assert max(at_start for _, _, at_start in seen) > 1
