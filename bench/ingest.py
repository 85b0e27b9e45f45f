"""Ingest benchmark: real feed bytes to matched rows committed in SQLite, against 1,000 stories.

    python bench/ingest.py [--entries 200000] [--stories 1000] [--small 50000]

Measured in one run, on the 42 real feeds of ../shared/data/news-feeds repeated until there are
at least ``--entries`` entries (each repetition is another source, so every entry is new):

(a) raw lxml parsing of the same bytes (the floor: C parsing, no Python per entry);
(b) a feedparser-only pipeline: ``feedparser.parse`` and a dict per entry;
(c) noisecast's full path: ``parse_feed`` -> mentions -> ``StoryMatcher`` (1,000 stories) ->
    ``record_harvests`` (decide, upsert, syndication, matches, fetch rows, source state) in a
    WAL SQLite file, the 42 feeds of a pass written as one batch as ``collect`` writes the
    sources that finish together.

(c) runs in a child process per size, so each size's peak RSS is its own; memory should stay
flat as the input grows. Targets: c/b >= 10 and c/a >= 0.10.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import hashlib
import io
import json
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._workload import generate_queries, news_feed_docs


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def passes_for(entries: int, per_pass: int) -> int:
    return -(-entries // per_pass)


def bench_lxml(docs: list[bytes], passes: int) -> float:
    from lxml import etree

    started = time.perf_counter()
    for _ in range(passes):
        for doc in docs:
            parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=True)
            with contextlib.suppress(etree.XMLSyntaxError):
                etree.fromstring(doc, parser)
    return time.perf_counter() - started


def bench_feedparser(docs: list[bytes], passes: int) -> float:
    import feedparser

    started = time.perf_counter()
    for _ in range(passes):
        for doc in docs:
            parsed = feedparser.parse(io.BytesIO(doc))
            [
                {
                    "id": e.get("id") or e.get("link"),
                    "title": e.get("title", ""),
                    "link": e.get("link"),
                    "summary": e.get("summary", ""),
                    "published": e.get("published_parsed") or e.get("updated_parsed"),
                }
                for e in parsed.entries
            ]
    return time.perf_counter() - started


def full_path(entries: int, stories: int, profile: bool = False) -> dict[str, float]:
    """(c), in this process: returns entries, seconds, matches and peak RSS."""
    from sqlalchemy import func, insert, select

    from noisecast.engine.config import CollectorSettings
    from noisecast.engine.core.match import StoryMatcher
    from noisecast.engine.jobs.collect import record_harvests
    from noisecast.engine.store import Store
    from noisecast.engine.store.tables import sources, story_mentions
    from noisecast.feeds.base import Harvest, Task
    from noisecast.feeds.http import FetchResult
    from noisecast.feeds.parse import parse_feed
    from noisecast.feeds.rss import read_feed

    named = news_feed_docs()
    docs = [d for _, d in named]
    per_pass = sum(len(parse_feed(d).entries) for d in docs)
    passes = passes_for(entries, per_pass)
    titles = [e.title for d in docs for e in parse_feed(d).entries]
    queries = generate_queries(titles, stories, seed=7)
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    settings = CollectorSettings(jitter_fraction=0)

    with tempfile.TemporaryDirectory() as tmp:
        store = Store.from_url(f"sqlite:///{Path(tmp) / 'ingest.db'}")
        store.migrate()
        for slug, query in queries.items():
            store.upsert_story(slug, slug, query, now=now)
        base = {
            "kind": "rss",
            "settings": {},
            "interval_minutes": 60,
            "next_due_at": now,
            "failures": 0.0,
            "consecutive_failures": 0,
            "created_at": now,
            "updated_at": now,
        }
        rows = [
            {**base, "name": f"{name}#{p}", "url": f"https://feeds.example/{p}/{name}"}
            for p in range(passes)
            for name, _ in named
        ]
        with store.transaction() as conn:
            conn.execute(insert(sources), rows)
            ids = dict(conn.execute(select(sources.c.name, sources.c.id)).all())
        matcher = StoryMatcher(queries)
        hashes = [hashlib.sha256(d).hexdigest() for d in docs]

        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        started = time.perf_counter()
        seen = 0
        for p in range(passes):  # a pass: 42 sources finishing together, written as one batch
            batch: list[tuple[dict[str, object], list[Harvest]]] = []
            for (name, doc), digest in zip(named, hashes, strict=True):
                url = f"https://feeds.example/{p}/{name}"
                found, parsed = read_feed(doc, url=url)
                result = FetchResult(url=url, status=200, content=doc, body_hash=digest)
                error = (parsed.error or "malformed") if parsed.malformed else None
                harvest = Harvest(Task("", url), result, found, parsed.parser, error)
                row = {
                    **base,
                    "id": ids[f"{name}#{p}"],
                    "name": f"{name}#{p}",
                    "url": url,
                    "last_success_at": None,
                }
                batch.append((row, [harvest]))
            reports = record_harvests(store, settings, matcher, batch, now=now)
            seen += sum(r.items_new for r in reports)
        elapsed = time.perf_counter() - started
        if profiler:
            profiler.disable()
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(45)
        with store.reading() as conn:
            matched = conn.execute(select(func.count()).select_from(story_mentions)).scalar_one()
        store.close()
    return {
        "entries": seen,
        "seconds": elapsed,
        "matches": matched,
        "peak_rss_mb": peak_rss_mb(),
    }


def run_child(entries: int, stories: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", "--entries", str(entries), "--stories", str(stories)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=200_000)
    ap.add_argument("--small", type=int, default=50_000, help="the smaller size, for memory")
    ap.add_argument("--stories", type=int, default=1000)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument(
        "--profile", action="store_true", help="only (c), once, with a profile of where time goes"
    )
    args = ap.parse_args()
    if args.child or args.profile:
        print(json.dumps(full_path(args.entries, args.stories, profile=args.profile)))
        return

    from rich.console import Console
    from rich.table import Table

    from noisecast.feeds.parse import parse_feed

    docs = [d for _, d in news_feed_docs()]
    per_pass = sum(len(parse_feed(d).entries) for d in docs)
    passes = passes_for(args.entries, per_pass)
    n = passes * per_pass
    console = Console()
    console.print(
        f"{len(docs)} real feeds, {per_pass} entries a pass, {passes} passes = {n:,} entries; "
        f"{args.stories:,} stories"
    )
    a = bench_lxml(docs, passes)
    console.print(f"(a) lxml done in {a:.1f} s")
    b = bench_feedparser(docs, passes)
    console.print(f"(b) feedparser done in {b:.1f} s")
    small = run_child(args.small, args.stories)
    full = run_child(args.entries, args.stories)
    c = full["seconds"]

    table = Table(title="ingest: entries per second (higher is better)")
    for col in ("path", "entries", "seconds", "entries/s", "peak RSS MB"):
        table.add_column(col, justify="left" if col == "path" else "right")
    table.add_row("(a) raw lxml parse", f"{n:,}", f"{a:.1f}", f"{n / a:,.0f}", "")
    table.add_row("(b) feedparser pipeline", f"{n:,}", f"{b:.1f}", f"{n / b:,.0f}", "")
    for label, r in ((f"(c) noisecast, {args.small:,}", small), (f"(c) noisecast, {n:,}", full)):
        table.add_row(
            label,
            f"{r['entries']:,.0f}",
            f"{r['seconds']:.1f}",
            f"{r['entries'] / r['seconds']:,.0f}",
            f"{r['peak_rss_mb']:.0f}",
        )
    console.print(table)
    rate_c = full["entries"] / c
    console.print(
        f"c/b = {rate_c / (n / b):.2f} (target >= 10)   c/a = {rate_c / (n / a):.3f} "
        f"(target >= 0.10)   story matches stored: {full['matches']:,.0f}   "
        f"peak RSS {small['peak_rss_mb']:.0f} MB at {small['entries']:,.0f} entries, "
        f"{full['peak_rss_mb']:.0f} MB at {full['entries']:,.0f}"
    )


if __name__ == "__main__":
    main()
