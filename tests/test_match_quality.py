"""Story matching on real headlines: one editor's query per story, scored against the labels.

``news-story-clusters`` holds 719 headlines of March 2014 (UCI News Aggregator), labelled with
the 12 stories the aggregator grouped them into; five are close market reports. Each query is
what an editor would write from the story's gist: its names and key phrases, and a NOT where a
sibling story would otherwise be caught. Every headline (a title, no summary) is matched against
all 12 stories at once; a headline counts as predicted for each story whose query matches it.
Six more stories are held back for evaluation, so the queries must not be tuned to quirks.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from noisecast.engine.core.match import StoryMatcher
from tests.conftest import SHARED_DATA, require

DATA = SHARED_DATA / "news-story-clusters" / "news_aggregator_story_subset_dev.csv"
MIN_MACRO_F1 = 0.9

STORY_QUERIES: dict[str, str] = {
    # Fed's Charles Plosser: weather hit jobs, the taper pace may be too slow
    "ddUyU0VZz0BRneMioxUPQVP6sIxvM": "plosser OR (fed taper*)",
    # ECB: Noyer on the strong euro, bad-loan hurdles for the bank test, EU banking union
    "dPhGU51DcrolUIMxbRm0InaHGA2XM": (
        'ecb OR noyer OR euro OR eurozone OR "euro zone" OR "banking union" OR "bank union"'
        ' OR "failing banks"'
    ),
    # eBay rejects Carl Icahn's board nominees and the PayPal spin-off
    "dxyGGb4iN9Cs9aMZTKQpJeoiQfruM": "ebay OR icahn OR donahoe",
    # McDonald's February sales fall, blamed on the weather
    "d4lvRcSzuglGdFMmqvT6ZGcG8vDlM": '"McDonald\'s" OR mcdonalds',
    # US stock market: Wall Street edges lower after the S&P record, futures (not the AP report)
    "dchKRTV8vDviyCMH_lfUDTuFThh_M": (
        '("wall street" OR "wall st" OR dow OR "S&P 500" OR nasdaq OR "stock market"'
        ' OR "US stocks" OR "major averages" OR (futures NOT (oil OR crude OR copper)))'
        ' NOT ("discouraging news" OR "gloomy news")'
    ),
    # A Metro-North track worker is struck and killed by a train in Harlem
    "dEMAAHOiiULKoTMlQ5PeakjabUaYM": '"Metro-North" OR (mta (worker OR employee))',
    # Americans ride public transit in record numbers, highest since 1956
    "dccIdMgK1mPz2OMPNMfHccPwCkkaM": (
        'transit OR ridership OR "public transportation" OR "public transport" OR trimet'
        " OR apta OR bus OR buses"
    ),
    # Stocks and oil slip on discouraging news (China, Japan data) from Asia
    "dJbOm1zHMJJGWuMjXPV4nRnytnmrM": (
        '"news from Asia" OR "Asia news" OR "discouraging news" OR "gloomy news"'
        " OR ((oil OR crude OR brent OR wti OR japan OR nikkei) NOT (copper OR ukraine OR russia))"
    ),
    # The Ukraine crisis: Russian gas, energy policy, sanctions, and the Australian dollar
    "dzARZ-2rFA_38RMsnccLUHtF-_42M": (
        "ukrain* OR russia* OR putin OR crimea* OR gazprom OR gas OR lng OR sanctions"
        ' OR pipeline* OR energy OR aust OR "Australian dollar"'
    ),
    # Chiquita and Fyffes merge into the world's biggest banana company
    "d2OyTeAXDFQpb3M9Cr_Ftde6Ig0aM": "chiquita* OR fyffes OR banana*",
    # Weak China exports hit world stocks, copper and the yuan; Chaori's bond default
    "dn8H6sYjpAZnsgM2qvfMRDttKqhXM": (
        'copper OR yuan OR "world stocks" OR chaori OR ((china OR chinese OR "Hong Kong"'
        ' OR shanghai OR csi300 OR "Hang Seng" OR default)'
        ' NOT (oil OR crude OR "wall street" OR futures OR "stock market"))'
    ),
    # Titanfall launches on Xbox One at 792p
    "dw0Jnfj8vEPaLZM8TQMSCbVaYeyrM": "titanfall OR respawn OR xbox",
}


def load_headlines(path: Path) -> list[tuple[str, str]]:
    """(title, story) of every headline."""
    with path.open(newline="", encoding="utf-8") as f:
        return [(row["TITLE"], row["STORY"]) for row in csv.DictReader(f)]


def score(
    headlines: list[tuple[str, str]], matcher: StoryMatcher
) -> dict[str, tuple[float, float, float, int]]:
    """Precision, recall, F1 and size of every story of the matcher."""
    hits: Counter[str] = Counter()
    predicted: Counter[str] = Counter()
    actual = Counter(story for _, story in headlines)
    for title, story in headlines:
        found = matcher.match(title)
        predicted.update(found.keys())
        hits[story] += story in found
    scores = {}
    for story in matcher.queries:
        precision = hits[story] / predicted[story] if predicted[story] else 0.0
        recall = hits[story] / actual[story]
        f1 = 2 * precision * recall / (precision + recall) if hits[story] else 0.0
        scores[story] = (precision, recall, f1, actual[story])
    return scores


def table(scores: dict[str, tuple[float, float, float, int]], macro_f1: float) -> str:
    lines = [f"{'story':<30} {'size':>4} {'P':>6} {'R':>6} {'F1':>6}"]
    for story, (precision, recall, f1, size) in scores.items():
        lines.append(f"{story:<30} {size:>4} {precision:6.3f} {recall:6.3f} {f1:6.3f}")
    lines.append(f"{'macro-average F1':<30} {'':>4} {'':>6} {'':>6} {macro_f1:6.3f}")
    return "\n".join(lines)


def test_story_queries_find_their_stories_among_all_twelve() -> None:
    require((SHARED_DATA / "news-story-clusters").is_dir(), f"{DATA.parent} is absent")
    headlines = load_headlines(DATA)
    assert {story for _, story in headlines} == set(STORY_QUERIES)
    scores = score(headlines, StoryMatcher(STORY_QUERIES))
    macro_f1 = sum(f1 for _, _, f1, _ in scores.values()) / len(scores)
    report = table(scores, macro_f1)
    print(f"\n{report}")
    assert macro_f1 >= MIN_MACRO_F1, f"macro F1 {macro_f1:.3f} < {MIN_MACRO_F1}\n{report}"
