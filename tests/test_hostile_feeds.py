"""Hostile servers and inputs (issue 11 §7): private addresses, stacked compression bombs,
items that would fail a whole source, and control characters in what servers say.

Every fetch goes to a real server on 127.0.0.1 through the real fetcher and, where the store
matters, through ``collect`` on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import re
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from noisecast.engine.jobs.collect import collect, politeness
from noisecast.engine.store import Store
from noisecast.engine.store.tables import mentions
from noisecast.feeds import _decoding
from noisecast.feeds.http import (
    FetchRequest,
    FetchResult,
    PoliteFetcher,
    address_refusal,
    ip_refusal,
)
from noisecast.feeds.mention import Mention
from noisecast.feeds.text import printable
from tests.conftest import LOOPBACK, ROOT, T0, fast_collector
from tests.test_collector_http import add, by_source

SETTING = "[collector] allow_private_networks"


def fetch(url: str, **overrides: object) -> FetchResult:
    """One GET through the real polite fetcher with the test collector settings."""

    async def run() -> FetchResult:
        async with PoliteFetcher(politeness(fast_collector(**overrides))) as fetcher:
            return await fetcher.fetch(FetchRequest(url))

    return asyncio.run(run())


@contextlib.contextmanager
def raw_server(head: str, body: bytes = b"") -> Iterator[str]:
    """A server on 127.0.0.1 that answers every request with ``head`` (status line and header
    lines, as sent: werkzeug would not send a broken Location or a control character) and
    ``body``. Yields its URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(
                    head.encode("latin-1")
                    + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body
                )

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/feed"
    finally:
        stop.set()
        thread.join()
        listener.close()


# --- private addresses ----------------------------------------------------------------------

WIDE_OPEN = ("0.0.0.0/0", "::/0")  # everything a setting could allow

ALWAYS_REFUSED = [
    "169.254.169.254",  # AWS, GCP, Azure metadata
    "169.254.170.2",  # ECS task metadata: link-local
    "fd00:ec2::254",  # AWS metadata over IPv6
    "100.100.100.200",  # Alibaba Cloud metadata
    "fe80::1",
    "::ffff:169.254.169.254",  # IPv4-mapped
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
]
PRIVATE = ["127.0.0.1", "127.8.9.10", "::1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "0.0.0.0"]
PUBLIC = ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"]


@pytest.mark.parametrize("address", ALWAYS_REFUSED)
def test_link_local_and_metadata_addresses_are_never_allowed(address: str) -> None:
    reason = ip_refusal(address, WIDE_OPEN)
    assert reason is not None
    assert "never fetched" in reason


@pytest.mark.parametrize("address", PRIVATE)
def test_private_addresses_only_when_allowed(address: str) -> None:
    reason = ip_refusal(address)
    assert reason is not None and SETTING in reason
    assert ip_refusal(address, WIDE_OPEN) is None
    allowed = ("127.0.0.0/8", "::1/128") if "127." in address or address == "::1" else ()
    if allowed:
        assert ip_refusal(address, allowed) is None
    assert ip_refusal(address, ("192.0.2.0/24",)) is not None  # another network


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert ip_refusal(address) is None


def test_address_refusal_resolves_a_host_name() -> None:
    reason = address_refusal("http://localhost:8080/feed.xml")
    assert reason is not None
    assert reason.startswith("refused localhost: ")
    assert "loopback" in reason and SETTING in reason
    assert address_refusal("http://127.0.0.1:8080/feed.xml", LOOPBACK) is None
    assert address_refusal("169.254.169.254", WIDE_OPEN) is not None
    assert address_refusal("http://no-such-host.invalid/feed") is None  # fails when fetched


def test_loopback_feed_is_refused_without_the_setting(store: Store, server: HTTPServer) -> None:
    server.expect_request("/feed").respond_with_data("<rss/>", content_type="application/rss+xml")
    add(store, "local", server.url_for("/feed"))

    report = by_source(collect(store, fast_collector(allow_private_networks=()), now=T0))

    error = report["local"].error or ""
    assert report["local"].outcome == "error"
    assert error.startswith("refused: 127.0.0.1 is a loopback address")
    assert SETTING in error and '"127.0.0.0/8"' in error
    assert store.get_source("local")["last_error"] == error
    assert server.log == []  # never connected


def test_a_redirect_to_the_metadata_service_is_not_followed(server: HTTPServer) -> None:
    metadata = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
    server.expect_request("/feed").respond_with_data("", status=302, headers={"Location": metadata})

    result = fetch(server.url_for("/feed"), allow_private_networks=WIDE_OPEN)

    assert result.error_kind == "refused_address"
    assert result.url == metadata
    assert result.error == (
        "refused: 169.254.169.254 is a cloud metadata address, which is never fetched"
    )
    assert len(server.log) == 1


def test_every_redirect_hop_is_checked(server: HTTPServer) -> None:
    # The first hop is allowed (127.0.0.1/32); the second goes to another loopback address.
    elsewhere = server.url_for("/feed").replace("127.0.0.1", "127.0.0.2")
    server.expect_request("/feed").respond_with_data(
        "", status=301, headers={"Location": elsewhere}
    )

    result = fetch(server.url_for("/feed"), allow_private_networks=("127.0.0.1/32",))

    assert result.error_kind == "refused_address"
    assert result.error is not None and result.error.startswith(
        "refused: 127.0.0.2 is a loopback address"
    )
    assert result.permanent_url is None or result.permanent_url == elsewhere
    assert len(server.log) == 1


def test_a_host_name_is_resolved_and_checked(server: HTTPServer) -> None:
    by_name = server.url_for("/feed").replace("127.0.0.1", "localhost")

    result = fetch(by_name, allow_private_networks=())

    assert result.error_kind == "refused_address"
    assert (result.error or "").startswith("refused localhost: ")
    assert server.log == []


# --- stacked compression bombs --------------------------------------------------------------

BOMB_DECODED = 64 * 2**20  # 64 MiB of zeros
CAP = 1_000_000


def gzip_stream(chunks: int, block: bytes) -> bytes:
    """A single-member gzip of ``block`` repeated ``chunks`` times, compressed as it goes."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return b"".join(packer.compress(block) for _ in range(chunks)) + packer.flush()


@pytest.fixture(scope="module")
def bomb_layer() -> bytes:
    """64 MiB of zeros, gzipped once (about 64 KB): the inner layer of the bombs."""
    return gzip_stream(BOMB_DECODED // 2**20, bytes(2**20))


def stacked(inner: bytes, outer: str) -> bytes:
    return gzip.compress(inner, 9) if outer == "gzip" else zlib.compress(inner, 9)


@pytest.mark.parametrize("encoding", ["gzip, gzip", "gzip, deflate", "gzip, gzip, gzip"])
def test_a_stacked_bomb_stops_at_the_cap(
    server: HTTPServer, bomb_layer: bytes, encoding: str
) -> None:
    body = bomb_layer
    for outer in encoding.split(", ")[1:]:
        body = stacked(body, outer)
    assert len(body) < 8_000  # a few KB on the wire
    server.expect_request("/bomb").respond_with_data(
        body, content_type="application/rss+xml", headers={"Content-Encoding": encoding}
    )

    started = time.monotonic()
    result = fetch(server.url_for("/bomb"), max_body_bytes=CAP)
    elapsed = time.monotonic() - started

    assert result.error_kind == "too_large"
    assert result.error is not None and "max_body_bytes" in result.error
    # Never more than one block past the cap was decoded (httpx inflated 64 MiB first).
    assert CAP < result.bytes_read <= CAP + _decoding.BLOCK
    assert elapsed < 2.0


RSS_SCRIPT = """
import asyncio, json, resource, sys
from noisecast.feeds import _decoding
from noisecast.feeds.http import FetchRequest, Politeness, PoliteFetcher

async def run(url):
    politeness = Politeness(user_agent="t", max_body_bytes=1_000_000,
                            allow_private_networks=("127.0.0.0/8",))
    async with PoliteFetcher(politeness) as fetcher:
        return await fetcher.fetch(FetchRequest(url))

asyncio.run(run(sys.argv[2]))  # warm up on a small gzipped feed: imports, loop, client
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = asyncio.run(run(sys.argv[1]))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"kind": result.error_kind, "grew_kib": after - before}))
"""


def test_a_stacked_bomb_leaves_memory_flat(server: HTTPServer, bomb_layer: bytes) -> None:
    body = stacked(bomb_layer, "gzip")
    server.expect_request("/bomb").respond_with_data(
        body, content_type="application/rss+xml", headers={"Content-Encoding": "gzip, gzip"}
    )
    server.expect_request("/small").respond_with_data(
        gzip.compress(gzip.compress(FEED)), headers={"Content-Encoding": "gzip, gzip"}
    )

    done = subprocess.run(
        [sys.executable, "-c", RSS_SCRIPT, server.url_for("/bomb"), server.url_for("/small")],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=True,
    )  # fmt: skip

    seen = json.loads(done.stdout)
    assert seen["kind"] == "too_large"
    assert seen["grew_kib"] < 16 * 1024, seen  # 64 MiB decoded would show


FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


def raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", gzip.compress(FEED)),
        ("x-gzip", gzip.compress(FEED)),
        ("deflate", zlib.compress(FEED)),
        ("deflate", raw_deflate(FEED)),  # what some servers send as "deflate"
        ("gzip, gzip", gzip.compress(gzip.compress(FEED))),
        ("deflate, gzip", gzip.compress(zlib.compress(FEED))),
        ("identity, gzip", gzip.compress(FEED)),
        ("gzip", gzip.compress(FEED[:40]) + gzip.compress(FEED[40:])),  # two members
        ("", FEED),
    ],
)
def test_encoded_feeds_still_decode(server: HTTPServer, encoding: str, body: bytes) -> None:
    headers = {"Content-Encoding": encoding} if encoding else {}
    server.expect_request("/feed").respond_with_data(
        body, content_type="application/rss+xml", headers=headers
    )
    result = fetch(server.url_for("/feed"))
    assert result.error is None
    assert result.content == FEED
    assert result.bytes_read == len(FEED)


@pytest.mark.parametrize(
    ("encoding", "body", "error"),
    [
        ("gzip", b"not gzip at all", "gzip body cannot be decoded: "),
        ("br", b"\x0b\x02\x80", "unsupported Content-Encoding 'br'"),
        ("gzip, " * 5 + "gzip", b"x", "6 Content-Encoding layers (at most 4 read)"),
    ],
)
def test_bad_encodings_are_clear_errors(
    server: HTTPServer, encoding: str, body: bytes, error: str
) -> None:
    server.expect_request("/feed").respond_with_data(
        body, content_type="application/rss+xml", headers={"Content-Encoding": encoding}
    )
    result = fetch(server.url_for("/feed"))
    assert result.error_kind == "network"
    assert (result.error or "").startswith(error)


# --- one bad item never fails its source ----------------------------------------------------

DEEP = "[" * 5000 + "]" * 5000  # json.loads runs out of stack on this
MEGABYTE_TITLE = "Dockworkers " + "x" * 2**20


def hn_page(hits: list[str]) -> bytes:
    """A search_by_date response from raw hit texts (NaN and deep nesting are not
    something json.dumps writes on purpose)."""
    return ('{"hits": [' + ", ".join(hits) + '], "nbHits": ' + str(len(hits)) + "}").encode()


def hn_hit(object_id: str, title: str = "Dockworkers strike at the port", **fields: object) -> str:
    values: dict[str, object] = {
        "created_at": "2026-11-20T10:00:00Z",
        "created_at_i": 1795168800,
        "author": "pjmlp",
        "points": 10,
        "num_comments": 2,
        "url": f"https://news.example/{object_id}",
        "title": title,
    }
    values.update(fields)
    return json.dumps(values)[:-1] + f', "objectID": {object_id}}}'


def collect_hn(store: Store, server: HTTPServer, hits: list[str]) -> dict[str, dict[str, object]]:
    server.expect_request("/api/v1/search_by_date").respond_with_data(
        hn_page(hits), content_type="application/json"
    )
    store.upsert_story("port-strike", "Port strike", "dockworkers", now=T0)
    store.upsert_source(
        kind="hackernews", name="hn", url=server.url_for("/api/v1"), interval_minutes=60, now=T0
    )
    (report,) = collect(store, fast_collector(), now=T0).sources
    assert report.outcome == "ok", report.error
    with store.engine.connect() as conn:
        return {r.external_id: dict(r._mapping) for r in conn.execute(select(mentions))}


def test_odd_hacker_news_hits_cost_only_themselves(store: Store, server: HTTPServer) -> None:
    rows = collect_hn(
        store,
        server,
        [
            hn_hit('"1"'),
            hn_hit("NaN"),
            hn_hit("Infinity"),
            hn_hit("-Infinity"),
            hn_hit('"2"', children=None)[:-1] + f', "deep": {DEEP}}}',
            hn_hit('"3"', title=MEGABYTE_TITLE),
            hn_hit('"4"', points=2**64, num_comments=-5),
            hn_hit('"5"', points="many", num_comments=1e400),
            hn_hit('"6"', points=0).replace('"points": 0', '"points": ' + "9" * 5000),
            hn_hit('"7"', created_at="9999-12-31T23:59:59Z", created_at_i=253402300799),
            hn_hit('"8"', url="javascript:alert(document.cookie)"),
            hn_hit("12.0"),
        ],
    )

    assert set(rows) == {"1", "2", "3", "4", "5", "6", "7", "8", "12"}
    title = str(rows["3"]["title"])
    assert len(title) == 500 and title.endswith("…")
    assert (rows["4"]["score"], rows["4"]["comments"]) in ((2**63 - 1, 0), (2**62 - 1, 0))
    assert (rows["5"]["score"], rows["5"]["comments"]) == (None, None)  # not integers
    assert rows["6"]["score"] is None  # 5,000 digits: not a count
    assert rows["7"]["stated_published_at"] is None  # the year 9999 was never a date
    assert rows["8"]["link_url"] is None


def test_odd_mastodon_statuses_cost_only_themselves(store: Store, server: HTTPServer) -> None:
    def status(id_: str, **fields: object) -> str:
        values: dict[str, object] = {
            "id": id_,
            "uri": f"https://mastodon.example/users/a/statuses/{id_}",
            "url": f"https://mastodon.example/@a/{id_}",
            "created_at": "2026-11-20T10:00:00.000Z",
            "content": "<p>Dockworkers strike at the port</p>",
            "account": {"acct": "a", "url": "https://mastodon.example/@a"},
            "favourites_count": 1,
            "reblogs_count": 1,
            "replies_count": 1,
        }
        values.update(fields)
        return json.dumps(values)

    statuses = [
        status("1"),
        status("2")[:-1] + f', "card": {{"url": "https://x.example/", "deep": {DEEP}}}}}',
        status("3", favourites_count=2**63, reblogs_count=2**63, replies_count=-1),
        status("4", favourites_count=float("nan"), replies_count="lots"),
        status("5", url="javascript:alert(1)", created_at="+99999-01-01T00:00:00Z"),
        status("6", content="<p>Dockworkers " + "y" * 2**20 + "</p>"),
    ]
    server.expect_request("/api/v1/timelines/tag/dockworkers").respond_with_data(
        "[" + ", ".join(statuses) + "]", content_type="application/json"
    )
    store.upsert_story("port-strike", "Port strike", "dockworkers", now=T0)
    store.upsert_source(
        kind="mastodon", name="m", url=server.url_for("/"), interval_minutes=60, now=T0
    )

    (report,) = collect(store, fast_collector(), now=T0).sources

    assert report.outcome == "ok", report.error
    with store.engine.connect() as conn:
        rows = {r.external_id.rsplit("/", 1)[-1]: r for r in conn.execute(select(mentions))}
    assert set(rows) == {"1", "2", "3", "4", "5", "6"}
    assert rows["3"].score in (2**63 - 1, 2**62 - 1) and rows["3"].comments == 0
    assert (rows["4"].score, rows["4"].comments) == (1, None)  # the boosts alone
    assert rows["5"].url is None or rows["5"].url.startswith("https://mastodon.example/")
    assert len(rows["6"].title) <= 500 and len(rows["6"].summary) <= 5000


@pytest.mark.parametrize(
    ("location", "error"),
    [
        ("javascript:alert(1)", "not an http(s) URL: 'javascript:alert(1)'"),
        ("http://[::1", "invalid URL 'http://[::1': Invalid IPv6 URL"),
        ("http://127.0.0.1:99999/", "invalid URL 'http://127.0.0.1:99999/': "),
    ],
)
def test_a_redirect_to_a_url_that_cannot_be_fetched_is_a_clear_error(
    store: Store, location: str, error: str
) -> None:
    with raw_server(f"HTTP/1.1 302 Found\r\nLocation: {location}\r\n") as url:
        add(store, "moved", url)
        report = by_source(collect(store, fast_collector(), now=T0))["moved"]

    assert report.outcome == "error"
    assert (report.error or "").startswith(error)
    assert store.get_source("moved")["last_error"] == report.error


def test_mentions_are_fitted_on_construction() -> None:
    mention = Mention(
        external_id="x" * 5000,
        title="t" * 10_000,
        summary="s" * 10_000,
        url="javascript:alert(1)",
        link_url="data:text/html,hi",
        canonical_url="https://example.com/a",
        score=-3,
        comments=2**70,
        published_at=datetime(9999, 12, 31, tzinfo=UTC),
    )
    assert mention.external_id.startswith("sha1:") and len(mention.external_id) == 45
    assert len(mention.title) == 500 and len(mention.summary) == 5000
    assert (mention.url, mention.link_url) == (None, None)
    assert mention.canonical_url == "https://example.com/a"
    assert (mention.score, mention.comments) == (0, 2**63 - 1)
    assert mention.published_at is None
    assert Mention("a", "b", published_at=datetime(2026, 1, 1)).published_at == datetime(
        2026, 1, 1, tzinfo=UTC
    )


# --- control characters in what servers say -------------------------------------------------

CLEAR_AND_LINK = "\x1b[2J\x1b]8;;https://evil.example/\x07Click here\x1b]8;;\x07"
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def test_a_reason_phrase_is_stored_without_escapes(store: Store) -> None:
    with raw_server(f"HTTP/1.1 503 Busy {CLEAR_AND_LINK} [bold red]x[/] {'z' * 5000}\r\n") as url:
        add(store, "hostile", url)
        report = by_source(collect(store, fast_collector(), now=T0))["hostile"]

    error = store.get_source("hostile")["last_error"]
    assert error == report.error
    assert not CONTROL.search(error)
    assert error.startswith("HTTP 503 Busy \\x1b[2J\\x1b]8;;https://evil.example/\\x07Click here")
    assert len(error) <= 300


def test_a_charset_name_is_stored_without_escapes(store: Store) -> None:
    head = f'HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset="bogus{CLEAR_AND_LINK}"\r\n'
    with raw_server(
        head, FEED.replace(b"</channel>", b"<item><title>a</title></item></channel>")
    ) as url:
        add(store, "charset", url)
        report = by_source(collect(store, fast_collector(), now=T0))["charset"]

    error = store.get_source("charset")["last_error"]
    assert report.outcome == "ok"
    assert error.startswith("malformed feed (entries recovered): CharacterEncoding")
    assert "\\x1b[2J" in error and not CONTROL.search(error)


def test_an_api_error_text_is_kept_without_escapes(store: Store, server: HTTPServer) -> None:
    server.expect_request("/api/v1/timelines/tag/dockworkers").respond_with_json(
        {"error": f"Record not found{CLEAR_AND_LINK}\u202egnp.exe"}
    )
    store.upsert_story("port-strike", "Port strike", "dockworkers", now=T0)
    store.upsert_source(
        kind="mastodon", name="m", url=server.url_for("/"), interval_minutes=60, now=T0
    )

    (report,) = collect(store, fast_collector(), now=T0).sources

    error = store.get_source("m")["last_error"]
    assert error == report.error
    assert error.startswith("unparseable feed: the server answered with an error: Record not")
    assert error.endswith("\\u202egnp.exe") and not CONTROL.search(error)


def test_printable() -> None:
    assert printable("a\nb\tc\r\x00\x1b\x7f\x9b\u202e") == "a\\nb\\tc\\r\\x00\\x1b\\x7f\\x9b\\u202e"
    assert printable("plain, ünïcode ✓") == "plain, ünïcode ✓"
    assert printable("x" * 50, 10) == "x" * 9 + "…"
    assert len(printable("\x1b" * 10**6, 100)) == 100
    assert printable(ValueError("bad\x1b")) == "bad\\x1b"
