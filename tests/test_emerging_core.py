"""The pure emerging-story core (engine.core.emerging): hourly frames of clusters, owners,
proposals scored against the tracked stories' pool, suggested queries measured with the real
matcher (on real labelled headlines too), and terms that complete a tracked story's query."""

from __future__ import annotations

import csv
import random
import statistics
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noisecast.engine.core._emerging_query import Corpus, doc_terms, suggest_for, term_text
from noisecast.engine.core.aggregate import aggregate_hourly
from noisecast.engine.core.emerging import (
    EmergingParams,
    MemberRow,
    cluster_hourly,
    owner_story,
    propose,
    suggest_query,
    suggest_terms,
)
from noisecast.engine.core.match import check_query, parse_query
from noisecast.engine.core.score import ScoreParams, noise_level
from noisecast.engine.schema import COLLECTED, HOUR, UNHEALTHY

H = timedelta(hours=1)
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)  # the hour scored
START = NOW - 200 * H

DAM = [
    "Dam fails above Valle Verde, thousands evacuated",
    "Valle Verde dam failure: rescuers search flooded villages",
    "Thousands flee as Valle Verde dam collapses after storms",
    "Valle Verde dam burst floods farmland, officials say",
    "Engineers warned of cracks in Valle Verde dam months ago",
    "Valle Verde dam collapse: death toll rises to 12",
    "Why the Valle Verde dam failed",
    "Valle Verde flooding: what we know about the dam break",
    "Army joins rescue after Valle Verde dam gives way",
    "Valle Verde dam: villagers describe wall of water",
]
BACKGROUND = [
    "Central bank holds rates steady as inflation cools",
    "Storms bring heavy rain to the north, flood warnings issued",
    "Thousands march in the capital over pension reform",
    "Officials say new bridge will open next year",
    "Farmland prices rise for a third year",
    "Football: late goal sinks the champions",
    "Rescuers free hikers stranded on mountain",
    "New smartphone goes on sale with a bigger screen",
    "Villages vote on wind farm plans",
    "Engineers test self-driving buses in the city centre",
] * 3


def row(
    mid: int,
    cluster: int,
    title: str,
    at: datetime,
    *,
    outlet: str | None = None,
    kind: str = "rss",
    group: int | None = None,
    engagement: int = 0,
    stories: tuple[str, ...] = (),
    summary: str | None = None,
) -> MemberRow:
    return MemberRow(
        mention_id=mid,
        cluster=cluster,
        title=title,
        summary=summary,
        url=f"https://news{mid % 7}.example/a/{mid}",
        outlet=outlet if outlet is not None else f"outlet{mid % 6}.example",
        kind=kind,
        published_at=at,
        group_id=group,
        engagement=engagement,
        stories=stories,
    )


def dam_cluster(cluster: int = 7, first_id: int = 1000, at: datetime = NOW) -> list[MemberRow]:
    """A burst: 10 headlines from 6 outlets within the scored hour and the 3 before it."""
    return [
        row(first_id + i, cluster, title, at - (i % 4) * H + 5 * timedelta(minutes=i))
        for i, title in enumerate(DAM)
    ]


def tracked_hourly(stories: int = 5, level: int = 2) -> pd.DataFrame:
    """The tracked stories' hourly frame: a steady trickle over the last 200 hours."""
    rows = []
    for s in range(stories):
        for h in range(0, 200, 2):
            rows.append(
                {
                    "story": f"story-{s}",
                    "mention_id": s * 1000 + h,
                    "group_id": None,
                    "kind": "rss",
                    "outlet": f"o{h % 3}",
                    "when": START + h * H,
                    "engagement": 0.0,
                }
            )
    frame = pd.DataFrame(rows)
    hourly = aggregate_hourly(frame, START, NOW + H, [f"story-{s}" for s in range(stories)])
    hourly["mentions"] *= level
    return hourly


def no_health() -> pd.DataFrame:
    return pd.DataFrame(
        {HOUR: pd.Series([], dtype="datetime64[us, UTC]"), COLLECTED: [], UNHEALTHY: []}
    )


def run(members, *, background=None, params=None, hourly=None):
    if background is None:
        background = [(t, "") for t in BACKGROUND]
    return propose(
        members,
        background,
        tracked_hourly() if hourly is None else hourly,
        no_health(),
        ScoreParams(),
        NOW,
        params or EmergingParams(),
    )


# --- score.py's reference pool -----------------------------------------------------------------


def test_noise_level_default_pool_is_unchanged_and_a_pool_ignores_other_stories() -> None:
    hourly = tracked_hourly()
    hours = pd.date_range(NOW - 10 * H, NOW, freq="h")
    before = noise_level(hourly, no_health(), ScoreParams(), hours)
    pd.testing.assert_frame_equal(
        before, noise_level(hourly, no_health(), ScoreParams(), hours, reference_stories=None)
    )
    everyone = sorted(hourly["story"].unique())
    pd.testing.assert_frame_equal(
        before,
        noise_level(hourly, no_health(), ScoreParams(), hours, reference_stories=everyone),
    )
    # an outsider ten times as loud as any story: scored, but the bar stays where it was
    loud = hourly[hourly["story"] == "story-0"].assign(story="outsider")
    loud["mentions"] *= 10
    both = pd.concat([hourly, loud], ignore_index=True)
    pooled = noise_level(both, no_health(), ScoreParams(), hours, reference_stories=everyone)
    stories = pooled[pooled["story"] != "outsider"].reset_index(drop=True)
    same = before.reset_index(drop=True)
    pd.testing.assert_series_equal(stories["score"], same["score"])
    unpooled = noise_level(both, no_health(), ScoreParams(), hours)
    story_1 = unpooled[unpooled["story"] == "story-1"]["score"].to_numpy()
    assert (story_1 < same[same["story"] == "story-1"]["score"].to_numpy()).all()


# --- hourly frames and owners ------------------------------------------------------------------


def test_cluster_hourly_counts_a_syndicated_group_once_in_its_first_hour() -> None:
    rows = [
        row(1, 3, "Wire copy", NOW - 2 * H, outlet="a", group=99),
        row(2, 3, "Wire copy", NOW - H, outlet="b", group=99, engagement=5),
        row(3, 3, "Wire copy", NOW, outlet="c", group=99),
        row(99, 3, "Own piece", NOW, outlet="d"),  # mention id 99 is not group 99
    ]
    hourly = cluster_hourly(rows, NOW - 2 * H, NOW + H).set_index("hour")
    assert list(hourly["story"].unique()) == ["cluster:3"]
    assert hourly["mentions"].tolist() == [1, 0, 1]  # the copy at NOW adds nothing
    assert hourly["outlets"].tolist() == [1, 1, 2]
    assert hourly["engagement"].tolist() == [0.0, 5.0, 0.0]
    assert hourly["mentions_rss"].sum() == 2


def test_owner_story_is_the_majority_story_counting_groups_once() -> None:
    t = NOW
    rows = [
        row(1, 1, "a", t, stories=("gox",)),
        row(2, 1, "b", t, group=5),
        row(3, 1, "b", t, group=5, stories=("gox",)),  # a group is matched if any copy is
        row(4, 1, "c", t),
        row(5, 1, "d", t, group=6),
        row(6, 1, "d", t, group=6),
        row(7, 1, "d", t, group=6),
    ]
    assert owner_story(rows, 0.5) == "gox"  # 2 of 4 counted mentions
    assert owner_story(rows, 0.6) is None
    assert owner_story([row(1, 1, "a", t, stories=("b", "a"))], 0.5) == "a"  # ties: by slug
    assert owner_story([], 0.5) is None


# --- proposals ---------------------------------------------------------------------------------


def test_a_loud_untracked_cluster_is_proposed_with_a_query_that_matches_it() -> None:
    (p,) = run(dam_cluster())
    assert p.cluster == 7 and p.size == 10 and p.outlets == 6
    assert p.score >= 25 and p.level in {"Low", "Moderate", "High", "Very high"}
    assert sum(p.components.values()) == pytest.approx(p.score)
    assert p.history[-1] == (NOW, pytest.approx(p.score))
    assert p.history[0][0] == NOW - 3 * H  # from the first mention's hour
    assert p.first_seen == NOW - 3 * H + 15 * timedelta(minutes=1)
    query = check_query(p.suggestion.query)
    assert all(query.matches(t) for t in DAM)
    assert not any(query.matches(t) for t in BACKGROUND)
    assert p.suggestion.quality.recall == 1.0 and p.suggestion.quality.precision == 1.0
    assert p.title in DAM and len(p.headlines) == 8
    assert [h.outlet for h in p.headlines[:6]] == list(
        dict.fromkeys(h.outlet for h in p.headlines[:6])
    )


def test_a_thousand_tiny_clusters_or_many_loud_ones_leave_a_clusters_score_alone() -> None:
    """The tracked stories run at 3 mentions an hour, above the pool's floor: without the
    tracked pool, 1,000 one-mention clusters would pull the 95th percentile down to the floor
    and 30 busier clusters would push it up."""
    hourly = tracked_hourly(level=6)
    wide = EmergingParams(min_mentions=1, min_outlets=1, min_score=20.0, max_proposals=5000)
    alone = run(dam_cluster(), params=wide, hourly=hourly)[0].score
    tiny = [row(10_000 + i, 100 + i, f"Item number {i}", NOW - (i % 30) * H) for i in range(1000)]
    busy = [
        row(50_000 + 1000 * c + i, 2000 + c, f"Busy {c} update {i}", NOW - (i % 150) * H)
        for c in range(20)
        for i in range(600)
    ]
    for extra in (tiny, busy):
        proposals = run(dam_cluster() + extra, params=wide, hourly=hourly)
        assert {p.cluster: p.score for p in proposals}[7] == pytest.approx(alone, abs=1e-9)


def test_the_pool_is_the_tracked_stories_so_a_busier_newsroom_sets_a_higher_bar() -> None:
    quiet = run(dam_cluster(), hourly=tracked_hourly(level=1))[0].score
    busy = run(dam_cluster(), hourly=tracked_hourly(level=4))[0].score
    assert busy < quiet


def test_a_cluster_owned_by_a_tracked_story_is_not_proposed() -> None:
    owned = [replace(r, stories=("dam",)) if i < 5 else r for i, r in enumerate(dam_cluster())]
    assert run(owned) == []
    fewer = [replace(r, stories=("dam",)) if i < 4 else r for i, r in enumerate(dam_cluster())]
    assert [p.cluster for p in run(fewer)] == [7]  # 4 of 10 is below tracked_share


def test_syndicated_copies_count_once_towards_min_mentions() -> None:
    wire = [
        row(i, 8, "Valle Verde dam fails", NOW - (i % 3) * H, outlet=f"paper{i}", group=42)
        for i in range(12)
    ]
    assert run(wire) == []
    (p,) = run(wire, params=EmergingParams(min_mentions=1, min_score=0.0))
    assert p.size == 1 and p.outlets == 12


def test_thresholds_order_and_limit() -> None:
    big = dam_cluster(1, 1000)
    small = dam_cluster(2, 2000)[:6]
    one_outlet = [replace(r, outlet="same.example") for r in dam_cluster(3, 3000)]
    few = dam_cluster(4, 4000)[:4]
    old = dam_cluster(5, 5000, at=NOW - 40 * H)
    proposals = run(big + small + one_outlet + few + old)
    assert [p.cluster for p in proposals] == [1, 2]  # loudest first; the others fall short
    assert proposals[0].score > proposals[1].score
    assert [p.cluster for p in run(big + small, params=EmergingParams(max_proposals=1))] == [1]
    assert run(big, params=EmergingParams(min_score=99.0)) == []
    assert [p.cluster for p in run(one_outlet, params=EmergingParams(min_outlets=1))] == [3]


def test_mentions_after_the_hour_are_not_counted() -> None:
    later = [replace(r, published_at=NOW + 2 * H) for r in dam_cluster()]
    assert run(later) == []


def test_the_title_is_the_most_central_headline_whatever_the_order() -> None:
    titles = [
        "Valle Verde dam fails",
        "Valle Verde dam fails, villages flooded",
        "Valle Verde dam fails: villages flooded, army called in",
        "Dam",
        "Villages flooded",
    ]
    members = [row(i, 1, t, NOW - (i % 2) * H) for i, t in enumerate(titles)]
    firsts = set()
    for seed in range(5):
        shuffled = members[:]
        random.Random(seed).shuffle(shuffled)
        (p,) = run(shuffled)
        firsts.add(p.title)
    assert firsts == {"Valle Verde dam fails, villages flooded"}
    twins = [row(i, 1, "Same words here", NOW - i * H) for i in range(5)]
    (p,) = run(twins)
    assert p.headlines[0].mention_id == 4  # a tie goes to the earliest


def test_the_background_may_hold_the_clusters_own_mentions() -> None:
    docs = [(t, "") for t in DAM] + [(t, "") for t in BACKGROUND]
    (p,) = run(dam_cluster(), background=docs)
    assert p.suggestion.quality.precision == 1.0
    assert p.suggestion.quality.recent_matches == 0


# --- suggested queries -------------------------------------------------------------------------


def test_suggest_query_ands_an_anchor_when_no_single_term_is_precise() -> None:
    cluster = [
        ("Apple recalls chargers in Europe", ""),
        ("Apple charger recall widens", ""),
        ("Apple recalls faulty chargers", ""),
        ("Apple announces charger recall", ""),
    ]
    background = [
        ("Apple unveils new laptop", ""),
        ("Apple shares rise", ""),
        ("Carmaker announces recall of SUVs", ""),
        ("Toy maker recalls chargers", ""),
        ("Phone charger prices fall", ""),
        ("Apple store opens in Rome", ""),
    ] * 3
    s = suggest_query(cluster, background)
    query = check_query(s.query)
    assert " " in s.query and s.quality.precision == 1.0 and s.quality.recall == 1.0
    assert all(query.matches(t, d) for t, d in cluster)
    assert s.terms and all(term.strip('"') in s.query for term in s.terms)


def test_suggest_query_writes_phrases_in_quotes_and_never_bare_operators() -> None:
    cluster = [("Mt. Gox files for bankruptcy", ""), ("Mt Gox halts withdrawals", "")] * 3
    background = [("Mountain rescue on Mt. Everest", ""), ("Gox is a word", "")]
    s = suggest_query(cluster, background)
    assert '"mt gox"' in s.query
    tricky = [('Vote or not: title: "AND" (OR) zebra*', ""), ("NOT and or OR", "")] * 4
    s = suggest_query(tricky, background)
    assert check_query(s.query).matches(*tricky[0])


WORDISH = st.lists(
    st.sampled_from([*"abcxyz ÉéüßİI'’.-:\"()*01", "OR", "AND", "NOT", "title:", " s ", " "]),
    max_size=30,
).map("".join)


@settings(max_examples=150, deadline=None)
@given(WORDISH, WORDISH, WORDISH)
def test_a_term_is_in_a_mentions_terms_exactly_when_its_query_matches(title, summary, other):
    """What makes the greedy search's counts the matcher's: ``doc_terms`` holds a term exactly
    when the query of that term alone matches the mention (title and summary kept apart)."""
    terms = set(doc_terms(title, summary))
    for term in terms | set(doc_terms(other, "")) | set(doc_terms(title + " " + summary, "")):
        query = check_query(term_text(term))
        assert query.matches(title, summary) == (term in terms), term


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=8),
    st.lists(st.text(max_size=40), max_size=8),
)
def test_suggest_query_gives_a_valid_query_or_says_why_not(cluster, background) -> None:
    try:
        s = suggest_query([(t, "") for t in cluster], [(t, "") for t in background])
    except ValueError as e:
        assert "no term a query could use" in str(e) or "no mentions" in str(e)
        return
    query = check_query(s.query)
    hits = sum(query.matches(t) for t in cluster)
    assert s.quality.cluster_matches == hits >= 1
    assert 0 < s.quality.recall <= 1 and 0 < s.quality.precision <= 1


def test_suggested_queries_on_real_headlines(shared_data: Path) -> None:
    """Every story of >= 10 headlines in news-aggregator-clusters (38 of them): the suggested
    query against the rest of the file. Measured: median F1 0.964, mean 0.919; lowest 0.34 (a
    SXSW story whose headlines share no word the other stories lack). Held out (query built on
    a random half of each story and of the rest, measured on the other half): median 0.947,
    mean 0.884. On news-story-clusters (11 stories of >= 10): median 0.952, held out 0.940."""
    path = shared_data / "news-aggregator-clusters" / "news_aggregator_clusters_dev.csv"
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    by_story = defaultdict(list)
    for r in rows:
        by_story[r["STORY"]].append((r["TITLE"], ""))
    everything = Corpus.of([(r["TITLE"], "") for r in rows])  # tokenized once
    f1s = []
    for docs in by_story.values():
        if len(docs) < 10:
            continue
        s = suggest_for(Corpus.of(docs), everything.without(docs))
        q = s.quality
        check_query(s.query)
        f1s.append(
            2 * q.precision * q.recall / (q.precision + q.recall) if q.cluster_matches else 0
        )
    assert len(f1s) >= 30
    assert statistics.median(f1s) >= 0.9, sorted(f1s)


# --- terms for tracked stories -----------------------------------------------------------------

GOX_MATCHED = [
    "Mt. Gox files for US bankruptcy protection",
    "Bitcoin exchange Mt. Gox files for bankruptcy in the US",
    "Mt. Gox CEO Mark Karpeles apologises to customers",
    "Hackers attack blog of Mt. Gox bitcoin exchange CEO",
    "Mt Gox gets US bankruptcy protection, halting lawsuits",
]
GOX_MISSED = [
    "MtGox files for US bankruptcy protection to put lawsuits on hold",
    "MtGox bitcoin database leaked online as hackers crowdsource clues",
    "The saga continues: MtGox files for bankruptcy in the US",
    "Karpeles says lost bitcoins may never be found",
    "Japanese police question Karpeles over missing coins",
]
GOX_BACKGROUND = [
    "Bitcoin price climbs after weekend slump",
    "Is bitcoin a currency? Japan says no, but it is taxable",
    "Bankruptcy filings fall to a seven-year low",
    "US court hears airline bankruptcy case",
    "Hackers steal card data from retailer",
    "Bitcoin ATM opens in Vancouver",
    "Singer files for divorce",
    "Retailer files for US bankruptcy",
] * 2


def test_suggest_terms_adds_the_mentions_the_query_misses_and_nothing_else() -> None:
    members = [row(i, 5, t, NOW, stories=("mt-gox",)) for i, t in enumerate(GOX_MATCHED)] + [
        row(100 + i, 5, t, NOW) for i, t in enumerate(GOX_MISSED)
    ]
    background = [(t, "") for t in GOX_BACKGROUND]
    terms = suggest_terms("mt-gox", '"mt gox"', members, background)
    assert [t.term for t in terms] == ["mtgox", "karpeles"]
    assert [t.adds for t in terms] == [3, 2]
    assert all(t.adds_elsewhere == 0 and t.story == "mt-gox" and t.cluster == 5 for t in terms)
    assert [h.mention_id for h in terms[0].samples] == [100, 101, 102]
    widened = parse_query('("mt gox") OR ' + " OR ".join(t.term for t in terms))
    assert all(widened.matches(t) for t in GOX_MATCHED + GOX_MISSED)
    assert not any(widened.matches(t) for t in GOX_BACKGROUND)


def test_suggest_terms_has_nothing_to_add_when_the_query_matches_all() -> None:
    members = [row(i, 5, t, NOW, stories=("mt-gox",)) for i, t in enumerate(GOX_MATCHED)]
    assert suggest_terms("mt-gox", '"mt gox"', members, []) == []


def test_suggest_terms_on_the_real_mt_gox_story(shared_data: Path) -> None:
    """The Mt. Gox story of news-aggregator-clusters (67 headlines), tracked by '"mt gox"':
    28 headlines say "MtGox" or only "bitcoin exchange". Measured: bitcoin (adds 16),
    bankruptcy (12), mtgox (4), none matching any of the other 3,304 headlines."""
    path = shared_data / "news-aggregator-clusters" / "news_aggregator_clusters_dev.csv"
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    story = next(r["STORY"] for r in rows if "Mt. Gox" in r["TITLE"])
    query = parse_query('"mt gox"')
    members = [
        row(int(r["ID"]), 1, r["TITLE"], NOW, outlet=r["PUBLISHER"],
            stories=("mt-gox",) if query.matches(r["TITLE"]) else ())
        for r in rows
        if r["STORY"] == story
    ]  # fmt: skip
    background = [(r["TITLE"], "") for r in rows if r["STORY"] != story]
    terms = suggest_terms("mt-gox", '"mt gox"', members, background)
    assert "mtgox" in [t.term for t in terms]
    for t in terms:
        widened = check_query(f'("mt gox") OR {t.term}')
        assert t.adds_elsewhere == 0 == sum(widened.matches(d) for d, _ in background)
        assert t.adds >= 2 and t.samples


def test_a_corpus_made_once_gives_the_same_answers_as_plain_docs() -> None:
    members = [row(i, 5, t, NOW, stories=("mt-gox",)) for i, t in enumerate(GOX_MATCHED)] + [
        row(100 + i, 5, t, NOW) for i, t in enumerate(GOX_MISSED)
    ]
    docs = [(t, "") for t in GOX_BACKGROUND + GOX_MISSED]
    corpus = Corpus.of(docs)
    assert Corpus.of(corpus) is corpus and list(corpus) == docs and corpus[0] == docs[0]
    assert suggest_terms("mt-gox", '"mt gox"', members, corpus) == suggest_terms(
        "mt-gox", '"mt gox"', members, docs
    )
    assert run(dam_cluster(), background=Corpus.of([(t, "") for t in BACKGROUND])) == run(
        dam_cluster()
    )
