"""Time ``noisecast.engine.core.match.StoryMatcher`` with 1,000 generated story queries on real feed
entries.

Usage: ``python bench/match_bench.py [--stories N] [--repeat N] [--seed S] [--uniform]``

The entries are every entry of ``../shared/data/news-feeds`` (640, parsed with
``noisecast.feeds.parse.parse_feed``); each mention is its title and summary (up to 2,000
characters). The queries are seeded and drawn from the words and word pairs of those titles,
weighted by how many titles hold them (``--uniform``: not weighted), in the shapes editors write:
words, phrases, OR groups, NOT, prefixes and ``title:``. Weighted, common words ("trump", "anime")
are in many queries and a mention matches 3.3 stories on average; that is the harder case. A pass
matches every entry; the best of ``--repeat`` passes is reported.

- "match": ``StoryMatcher.match``, the path the collector takes; "first pass" is one pass of a
  new matcher, which has still to learn which words start with the queries' prefixes (the
  module's cache of folded characters is warm by then).
- "naive": the same tokenized mention, but every query evaluated (no candidate index), measured
  in the same run; "speed-up" is naive over match. Both must give the same stories.
- The split times the matcher's three steps apart: tokenizing and folding the mention
  (``Doc``), finding candidate stories (``StoryMatcher._candidates``) and evaluating them.
  They use private names of ``noisecast.engine.core.match`` on purpose, to see inside one call.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._workload import generate_queries, load_entries
from noisecast.engine.core.match import Doc, StoryMatcher


def naive_match(matcher: StoryMatcher, title: str, summary: str) -> dict[str, list[str]]:
    """Every query evaluated on one tokenized mention: the reference without an index."""
    doc = Doc(title, summary, matcher._find_stems)
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
            doc = Doc(title, summary, matcher._find_stems)
            t1 = clock()
            candidates = matcher._candidates(doc)
            t2 = clock()
            for i in candidates:
                query = matcher._list[i]
                if query._evaluate(doc):
                    query._found(doc)
            t3 = clock()
            spent[0] += t1 - t0
            spent[1] += t2 - t1
            spent[2] += t3 - t2
        best = [min(b, s) for b, s in zip(best, spent, strict=True)]
    return best


def quality() -> None:
    """The quality row: the editor-written queries of tests/test_match_quality.py on the real
    labelled headlines (UCI story clusters), all twelve stories matched at once."""
    from tests.test_match_quality import DATA, STORY_QUERIES, load_headlines, score

    if not DATA.exists():
        print(f"quality: {DATA} is absent, skipped")
        return
    headlines = load_headlines(DATA)
    started = time.perf_counter()
    scores = score(headlines, StoryMatcher(STORY_QUERIES))
    elapsed = time.perf_counter() - started
    macro_f1 = sum(f1 for _, _, f1, _ in scores.values()) / len(scores)
    precision = sum(p for p, _, _, _ in scores.values()) / len(scores)
    recall = sum(r for _, r, _, _ in scores.values()) / len(scores)
    print(
        f"quality: {len(headlines)} labelled headlines, {len(scores)} stories: macro P "
        f"{precision:.3f} R {recall:.3f} F1 {macro_f1:.3f} ({elapsed * 1000:.0f} ms)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=1000, help="story queries to generate")
    parser.add_argument("--repeat", type=int, default=5, help="passes (best is kept)")
    parser.add_argument("--seed", type=int, default=20140310, help="seed of the queries")
    parser.add_argument(
        "--uniform", action="store_true", help="draw query words uniformly, not by frequency"
    )
    args = parser.parse_args(argv)
    repeat = max(1, args.repeat)
    entries = load_entries()
    queries = generate_queries([t for t, _ in entries], args.stories, args.seed, args.uniform)
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
    candidates = (
        sum(len(matcher._candidates(Doc(t, s, matcher._find_stems))) for t, s in entries) / n
    )
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
    quality()
    return 0


if __name__ == "__main__":
    sys.exit(main())
