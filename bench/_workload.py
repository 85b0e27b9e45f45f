"""What the benchmarks feed noisecast: the real news feeds, and story queries built from them.

Shared by ``bench/ingest.py`` and ``bench/match_bench.py`` so both measure the same workload.
"""

from __future__ import annotations

import csv
import random
import sys
from collections import Counter
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

from noisecast.engine.core.match import tokenize
from noisecast.feeds.parse import parse_feed

ROOT = Path(__file__).resolve().parents[1]
NEWS_FEEDS = ROOT.parent / "shared" / "data" / "news-feeds"


def news_feed_docs() -> list[tuple[str, bytes]]:
    """(file name, bytes) of every real feed capture, in manifest order."""
    if not NEWS_FEEDS.is_dir():
        sys.exit(f"{NEWS_FEEDS} is absent: the benchmarks need ../shared/data beside the repo")
    with (NEWS_FEEDS / "manifest.csv").open(newline="", encoding="utf-8") as f:
        names = [row["file"] for row in csv.DictReader(f)]
    return [(name, (NEWS_FEEDS / name).read_bytes()) for name in names]


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
    return [(e.title, e.summary) for _, doc in news_feed_docs() for e in parse_feed(doc).entries]


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


def generate_queries(titles: list[str], n: int, seed: int, uniform: bool = False) -> dict[str, str]:
    """``n`` story queries of mixed shapes, seeded. Words and pairs are drawn as often as titles
    hold them, or, if ``uniform``, all alike (most of them are then in one title only)."""
    rng = random.Random(seed)
    words, pairs = vocabulary(titles)
    word_list = sorted(words)  # sorted: a set's order changes from run to run
    word_weights = [1 if uniform else words[w] for w in word_list]
    pair_list = sorted(pairs)
    pair_weights = [1 if uniform else pairs[p] for p in pair_list]

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
