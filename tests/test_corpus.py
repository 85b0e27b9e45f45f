"""The whole feedparser corpus (695 documents, ill-formed and odd encodings included) through
the collector over loopback HTTP: nothing raises, nothing feedparser reads is lost.

One source per file, each served with its manifest's HTTP header when it has one (most are a
Content-Type whose charset the parse must honour), and with no Content-Type at all otherwise,
as in feedparser's own test harness. SQLite only, to keep it quick.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from pathlib import Path
from typing import Any

import feedparser
import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select
from werkzeug import Request, Response

from noisecast.engine.jobs.collect import collect
from noisecast.engine.store import Store
from noisecast.engine.store.tables import fetches, mentions, sources
from tests.conftest import T0, fast_collector

OUTCOMES = {"ok", "error", "unchanged", "not_modified"}

# Files feedparser reads entries from (with a link or an id) that yield no mention here, and
# why. Empty: every such file gives at least one mention.
NO_MENTION_EXPECTED: dict[str, str] = {}


@pytest.fixture(scope="module")
def corpus(shared_data: Path) -> list[dict[str, Any]]:
    root = shared_data / "feed-corpus"
    with (root / "manifest.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["body"] = (root / row["path"]).read_bytes()
        name, _, value = row["http_headers"].partition(":")
        row["headers"] = {name.strip(): value.strip()} if row["http_headers"] else {}
    return rows


def feedparser_ids(row: dict[str, Any]) -> int:
    """Entries with a link or an id, as feedparser reads the file with the same headers."""
    headers = {k.lower(): v for k, v in row["headers"].items()} or None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # feedparser warns on some of these on purpose
        parsed = feedparser.parse(io.BytesIO(row["body"]), response_headers=headers)
    return sum(1 for e in parsed.entries if e.get("link") or e.get("id"))


def test_the_whole_corpus_goes_through_the_collector(
    sqlite_store: Store, server: HTTPServer, corpus: list[dict[str, Any]]
) -> None:
    store = sqlite_store
    assert len(corpus) == 695
    by_path = {row["path"]: row for row in corpus}

    def handler(request: Request) -> Response:
        row = by_path[request.path.removeprefix("/c/")]
        response = Response(row["body"], status=200, headers=row["headers"])
        if not any(k.lower() == "content-type" for k in row["headers"]):
            del response.headers["Content-Type"]
        return response

    server.expect_request(re.compile(r"^/c/")).respond_with_handler(handler)
    for row in corpus:
        store.upsert_source(
            kind="rss",
            name=row["path"],
            url=server.url_for(f"/c/{row['path']}"),
            interval_minutes=60,
            now=T0,
        )

    report = collect(store, fast_collector(concurrency=16), now=T0, force=True)

    assert len(server.log) == len(corpus)
    assert all(
        ("Content-Type" in response.headers) == ("Content-type" in by_path[r.path[3:]]["headers"])
        for r, response in server.log
    )
    outcomes = {r.source: r.outcome for r in report.sources}
    assert set(outcomes) == set(by_path)
    assert {name: o for name, o in outcomes.items() if o not in OUTCOMES} == {}
    with store.engine.connect() as conn:
        per_source = select(sources.c.name, func.count(fetches.c.id)).outerjoin(fetches)
        fetched = dict(conn.execute(per_source.group_by(sources.c.name)).all())
        per_source = select(sources.c.name, func.count(mentions.c.id)).outerjoin(mentions)
        stored = dict(conn.execute(per_source.group_by(sources.c.name)).all())
        last_error = dict(conn.execute(select(sources.c.name, sources.c.last_error)).all())
    assert {name: n for name, n in fetched.items() if n != 1} == {}

    readable = {row["path"] for row in corpus if feedparser_ids(row) >= 1}
    assert len(readable) >= 60  # a sanity floor: the corpus has 61 such files
    lost = {path: stored[path] for path in readable if stored[path] == 0}
    assert lost.keys() == NO_MENTION_EXPECTED.keys(), {
        path: (outcomes[path], last_error[path]) for path in lost
    }

    bozo_with_entries = [
        row["path"]
        for row in corpus
        if row["expect_bozo"] == "true" and not row["headers"] and stored[row["path"]] > 0
    ]
    assert len(bozo_with_entries) >= 6
    assert {
        path: last_error[path]
        for path in bozo_with_entries
        if "malformed" not in (last_error[path] or "")
    } == {}

    # And no false alarms: what feedparser reads as well-formed is ok, with no error kept.
    well_formed = [row["path"] for row in corpus if row["expect_bozo"] == "false"]
    assert len(well_formed) == 612
    assert {
        path: (outcomes[path], last_error[path])
        for path in well_formed
        if outcomes[path] != "ok" or last_error[path] is not None
    } == {}
