"""What the benchmarks feed noisecast: the real news feeds, and story queries built from them.

Shared by ``bench/ingest.py`` and ``bench/match_bench.py`` so both measure the same workload.
"""

from __future__ import annotations

import random
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
NEWS_FEEDS = DATA / "news-feeds"

_STOP = """the and for with from that this into over after about have will what when your their
more than they been were says said just like also amid could would should which while there
where other most some only news new how why who"""
STOPWORDS = frozenset(_STOP.split())


def news_feed_docs() -> list[tuple[str, bytes]]:
    """(file name, bytes) of every real feed capture, in a stable order."""
    if not NEWS_FEEDS.is_dir():
        sys.exit(f"{NEWS_FEEDS} is absent: the benchmarks need ../shared/data beside the repo")
    return [
        (p.name, p.read_bytes())
        for p in sorted(NEWS_FEEDS.iterdir())
        if p.suffix in (".xml", ".rss", ".atom")
    ]


def vocabulary(titles: list[str], size: int = 600) -> list[str]:
    """The commonest words of real headlines (folded, 4+ letters, no stopwords)."""
    from engine.match import tokenize

    counts = Counter(
        w for t in titles for w in tokenize(t) if len(w) >= 4 and w.isalpha() and w not in STOPWORDS
    )
    return [w for w, _ in counts.most_common(size)]


def story_queries(titles: list[str], n: int = 1000, seed: int = 7) -> dict[str, str]:
    """``n`` editor-like queries over the headlines' vocabulary: words, phrases, OR groups,
    NOT, prefixes and ``title:``, in the proportions a newsroom might use."""
    from engine.match import tokenize

    rng = random.Random(seed)
    words = vocabulary(titles)
    bigrams = [
        f"{a} {b}"
        for t in titles
        for a, b in zip(tokenize(t), tokenize(t)[1:], strict=False)
        if len(a) >= 4 and len(b) >= 4 and a not in STOPWORDS and b not in STOPWORDS
    ] or ["climate summit"]

    def word() -> str:  # names and topics: past the very commonest words, as editors pick
        return words[min(30 + int(rng.expovariate(1 / 200)), len(words) - 1)]

    forms = [
        lambda: f"{word()} AND ({word()} OR {word()})",
        lambda: f'"{rng.choice(bigrams)}"',
        lambda: f'"{rng.choice(bigrams)}" OR ({word()} {word()})',
        lambda: f"{word()} {word()} NOT {word()}",
        lambda: f"title:{word()} OR ({word()[:5]}* AND {word()})",
        lambda: f'("{rng.choice(bigrams)}" OR {word()}) NOT title:({word()} OR {word()})',
    ]
    return {f"story-{i:04d}": rng.choice(forms)() for i in range(n)}
