"""Time feedparser, fastfeedparser and ``noisecast.feeds.parse.parse_feed`` on the shared feed data.

Usage: ``python bench/parse_bench.py [--repeat N]``

For news-feeds and feed-corpus separately, every file is parsed by each parser; a pass over all
files is timed ``N`` times and the best pass is reported. "speed-up" is feedparser's time over the
parser's, measured in the same run; "same" counts the files whose entries (count, links, titles
and dates, as plain text) equal feedparser's.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path

import fastfeedparser
import feedparser
from rich.console import Console
from rich.table import Table

from noisecast.feeds.parse import (
    ParsedFeed,
    parse_feed,
    parse_with_fastfeedparser,
    parse_with_feedparser,
)

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DATASETS = {"news-feeds": "file", "feed-corpus": "path"}


def load_files(name: str) -> list[bytes]:
    """Every document of one dataset, in manifest order."""
    folder = DATA_DIR / name
    with (folder / "manifest.csv").open(newline="", encoding="utf-8") as f:
        return [(folder / row[DATASETS[name]]).read_bytes() for row in csv.DictReader(f)]


def run_feedparser(content: bytes) -> int:
    return len(feedparser.parse(io.BytesIO(content)).entries)


def run_fastfeedparser(content: bytes) -> int:
    try:
        return len(fastfeedparser.parse(content).entries)
    except Exception:  # it raises on documents it cannot read
        return 0


def run_parse_feed(content: bytes) -> int:
    return len(parse_feed(content).entries)


def best_pass(parse: Callable[[bytes], int], files: list[bytes], repeat: int) -> tuple[float, int]:
    """The fastest of ``repeat`` passes over ``files`` in seconds, and the entries found."""
    best, entries = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        entries = sum(parse(content) for content in files)
        best = min(best, time.perf_counter() - start)
    return best, entries


def same_entries(a: ParsedFeed | None, b: ParsedFeed) -> bool:
    """Same count, links, titles and dates (no result counts as no entries)."""
    entries = a.entries if a is not None else ()
    return [(e.link, e.title, e.published) for e in entries] == [
        (e.link, e.title, e.published) for e in b.entries
    ]


def count_agreement(files: list[bytes]) -> tuple[int, int]:
    """Files where fastfeedparser alone, and where parse_feed, give feedparser's entries."""
    fast = ours = 0
    for content in files:
        reference = parse_with_feedparser(content)
        fast += same_entries(parse_with_fastfeedparser(content), reference)
        ours += same_entries(parse_feed(content), reference)
    return fast, ours


def bench(name: str, repeat: int) -> Table:
    files = load_files(name)
    megabytes = sum(len(content) for content in files) / 1e6
    fast_same, ours_same = count_agreement(files)
    table = Table(title=f"{name}: {len(files)} files, {megabytes:.2f} MB, best of {repeat}")
    for column in ("parser", "files", "entries", "total ms", "MB/s", "speed-up", "same"):
        table.add_column(column, justify="left" if column == "parser" else "right", no_wrap=True)
    runs = [
        ("feedparser", run_feedparser, len(files)),
        ("fastfeedparser", run_fastfeedparser, fast_same),
        ("parse_feed", run_parse_feed, ours_same),
    ]
    reference = 0.0
    for label, parse, agree in runs:
        seconds, entries = best_pass(parse, files, repeat)
        reference = reference or seconds
        table.add_row(
            label,
            str(len(files)),
            str(entries),
            f"{seconds * 1000:.1f}",
            f"{megabytes / seconds:.1f}",
            f"{reference / seconds:.2f}",
            f"{agree}/{len(files)}",
        )
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="passes per parser (best is kept)")
    args = parser.parse_args(argv)
    if not DATA_DIR.is_dir():
        print(
            f"error: {DATA_DIR} is absent. Put the shared data beside the repository "
            "(../shared/data with news-feeds/ and feed-corpus/) and run again.",
            file=sys.stderr,
        )
        return 2
    console = Console()
    for name in DATASETS:
        console.print(bench(name, max(1, args.repeat)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
