"""Time ``engine.match.StoryMatcher`` with 1,000 generated story queries on real feed entries.

Usage: ``python bench/match_bench.py [--stories N] [--repeat N] [--seed S]``

The entries are every entry of ``../shared/data/news-feeds`` (640, parsed with
``feeds.parse.parse_feed``); each mention is its title and summary (up to 2,000 characters).
The queries are seeded and drawn from the words and word pairs of those titles, weighted by how
many titles hold them, in the shapes editors write: words, phrases, OR groups, NOT, prefixes and
``title:``. A pass matches every entry; the best of ``--repeat`` passes is reported.

- "match": ``StoryMatcher.match``, the path the collector takes; "first pass" is one pass of a
  new matcher, whose caches (if any) start empty.
- "naive": the same tokenized mention, but every query evaluated (no candidate index), measured
  in the same run; "speed-up" is naive over match. Both must give the same stories.
- The split times the matcher's three steps apart: tokenizing and folding the mention
  (``_Doc``), finding candidate stories (``StoryMatcher._candidates``) and evaluating them.
  They use private names of ``engine.match`` on purpose, to see inside one call.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

from engine.match import StoryMatcher, _Doc, tokenize
from feeds.parse import parse_feed

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "news-feeds"

# Function words of the feeds' main languages; editors do not anchor a story on them.
STOPWORDS = frozenset(
    " ".join(
        [
            "the and for with from that this what your you are was were has have had not but can",
            "will how why who when where which about after into over more most than just new now",
            "its our out all one two get gets got been being their they them there here off via",
            "der die das und von mit fur auf ist ein eine den dem des bei nach wie wird sich auch",
            "aus les une pour par sur dans est pas qui que avec aux para com uma dos por mais como",
            "sem nos het een van voor met zijn niet ook och att det som har med till inte amp",
        ]
    ).split()
)


def load_entries() -> list[tuple[str, str]]:
    """(title, summary) of every entry of every news-feeds file, in manifest order."""
    with (DATA_DIR / "manifest.csv").open(newline="", encoding="utf-8") as f:
        files = [DATA_DIR / row["file"] for row in csv.DictReader(f)]
    return [(e.title, e.summary) for path in files for e in parse_feed(path.read_bytes()).entries]


def vocabulary(titles: list[str]) -> tuple[Counter[str], Counter[tuple[str, str]]]:
    """Content words and adjacent word pairs of the titles, each with how many titles hold it."""
    words: Counter[str] = Counter()
    pairs: Counter[tuple[str, str]] = Counter()

    def content(word: str) -> bool:
        return len(word) >= 3 and not word.isdigit() and word not in STOPWORDS

    for title in titles:
        tokens = tokenize(title)
        words.update({t for t in tokens if content(t)})
        pairs.update({(a, b) for a, b in pairwise(tokens) if content(a) and content(b)})
    return words, pairs


def generate_queries(titles: list[str], n: int, seed: int) -> dict[str, str]:
    """``n`` story queries of mixed shapes, seeded."""
    rng = random.Random(seed)
    words, pairs = vocabulary(titles)
    word_list, word_weights = list(words), list(words.values())
    pair_list, pair_weights = list(pairs), list(pairs.values())

    def word() -> str:
        return rng.choices(word_list, word_weights)[0]

    def phrase() -> str:
        return '"' + " ".join(rng.choices(pair_list, pair_weights)[0]) + '"'

    def prefix() -> str:
        stem = word()
        return stem[: max(4, len(stem) - rng.randint(1, 3))] + "*"

    def group(k: int) -> str:
        terms = (rng.choice([word, word, word, phrase, prefix])() for _ in range(k))
        return "(" + " OR ".join(terms) + ")"

    shapes: list[Callable[[], str]] = [
        lambda: f"{word()} {word()}",
        lambda: f"{word()} OR {word()}",
        lambda: f"{group(rng.randint(2, 4))} {word()}",
        lambda: f"{phrase()} OR {word()}",
        lambda: f"{word()} NOT {word()}",
        lambda: f"{prefix()} {word()}",
        lambda: f"title:{group(2)} {word()}",
        lambda: f"{phrase()} {group(2)} NOT title:{word()}",
        lambda: f"{group(3)} {group(2)} NOT ({word()} OR {phrase()})",
    ]
    return {f"story-{i:04d}": rng.choice(shapes)() for i in range(n)}


def naive_match(matcher: StoryMatcher, title: str, summary: str) -> dict[str, list[str]]:
    """Every query evaluated on one tokenized mention: the reference without an index."""
    doc = _Doc(title, summary)
    return {
        slug: query._found(doc) for slug, query in matcher.queries.items() if query._evaluate(doc)
    }


def best_pass(run: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def first_pass(queries: dict[str, str], entries: list[tuple[str, str]]) -> float:
    """Seconds for one pass of a new matcher, before anything it learns on the way is warm."""
    matcher = StoryMatcher(queries)
    start = time.perf_counter()
    for title, summary in entries:
        matcher.match(title, summary)
    return time.perf_counter() - start


def split(matcher: StoryMatcher, entries: list[tuple[str, str]], repeat: int) -> list[float]:
    """Best-of-``repeat`` seconds per pass for tokenizing, candidate lookup and evaluation."""
    best = [float("inf")] * 3
    for _ in range(repeat):
        spent = [0.0, 0.0, 0.0]
        clock = time.perf_counter
        for title, summary in entries:
            t0 = clock()
            doc = _Doc(title, summary)
            t1 = clock()
            candidates = matcher._candidates(doc)
            t2 = clock()
            for slug in candidates:
                query = matcher.queries[slug]
                if query._evaluate(doc):
                    query._found(doc)
            t3 = clock()
            spent[0] += t1 - t0
            spent[1] += t2 - t1
            spent[2] += t3 - t2
        best = [min(b, s) for b, s in zip(best, spent, strict=True)]
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=1000, help="story queries to generate")
    parser.add_argument("--repeat", type=int, default=5, help="passes (best is kept)")
    parser.add_argument("--seed", type=int, default=20140310, help="seed of the queries")
    args = parser.parse_args(argv)
    if not DATA_DIR.is_dir():
        print(f"error: {DATA_DIR} is absent; put ../shared/data beside it.", file=sys.stderr)
        return 2
    repeat = max(1, args.repeat)
    entries = load_entries()
    queries = generate_queries([title for title, _ in entries], args.stories, args.seed)
    start = time.perf_counter()
    matcher = StoryMatcher(queries)
    build = time.perf_counter() - start
    n = len(entries)

    fast = [matcher.match(t, s) for t, s in entries]
    slow = [naive_match(matcher, t, s) for t, s in entries]
    if fast != slow:
        wrong = sum(a != b for a, b in zip(fast, slow, strict=True))
        print(f"error: match and naive disagree on {wrong} of {n} mentions", file=sys.stderr)
        return 1
    candidates = sum(len(matcher._candidates(_Doc(t, s))) for t, s in entries) / n
    hits = sum(map(len, fast)) / n

    t_match = best_pass(lambda: [matcher.match(t, s) for t, s in entries], repeat)
    t_first = first_pass(queries, entries)
    t_naive = best_pass(lambda: [naive_match(matcher, t, s) for t, s in entries], repeat)
    t_doc, t_lookup, t_eval = split(matcher, entries, repeat)

    def us(seconds: float) -> str:
        return f"{seconds / n * 1e6:8.2f} µs/mention"

    chars = sum(len(t) + len(s) for t, s in entries) / n
    print(f"{n} mentions ({chars:.0f} chars on average), {len(queries)} stories, best of {repeat}")
    print(f"build matcher     {build * 1000:8.1f} ms")
    print(f"match             {us(t_match)}  ({n / t_match:,.0f} mentions/s)")
    print(f"  first pass      {us(t_first)}  (a new matcher)")
    print(f"naive (all)       {us(t_naive)}  speed-up {t_naive / t_match:.1f}x")
    print(f"  tokenize/fold   {us(t_doc)}")
    print(f"  candidates      {us(t_lookup)}")
    print(f"  evaluate        {us(t_eval)}")
    print(f"candidates        {candidates:8.1f} stories/mention, {hits:.2f} matches/mention")
    return 0


if __name__ == "__main__":
    sys.exit(main())
