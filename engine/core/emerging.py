"""Emerging stories: the loud event clusters no tracked story owns, as proposals with a query.

Pure: records and frames in, records out; no I/O, no clock. The store gives each live
cluster's mentions as :class:`MemberRow` records (engine.jobs.emerging builds them); this module
decides which clusters to propose, how loud they are and what query would track them, and which
terms would complete a tracked story's query.

**Counting.** A syndicated group (rows sharing ``group_id``; a row without one is its own
group) counts once everywhere here: in a cluster's size, in its ``min_mentions``, in the share
that decides its owner, and in the documents a query is measured on (the group's first row,
earliest ``published_at`` then lowest ``mention_id``). The hourly frame counts a group once in
its first hour and adds every copy's outlet and engagement in its own hour, exactly as the
stories' hourly rows do (:func:`cluster_hourly` calls ``engine.core.aggregate``).

**Owner.** A cluster belongs to the tracked story that at least ``tracked_share`` of its counted
mentions are matched to (:func:`owner_story`); a group is matched to a story when any of its
rows is. An owned cluster is never proposed; its unmatched mentions feed
:func:`suggest_terms` for that story.

**Score.** A cluster's noise score is ``engine.core.score.noise_level`` on its hourly frame,
with the reference pool taken from the tracked stories' hourly rows only
(``reference_stories``): a cluster's 60 means what a story's 60 means, and any number of small
clusters leaves the bar where the stories put it.

**Proposals.** Clusters with no owner, at least ``min_mentions`` counted mentions and
``min_outlets`` distinct outlets, scored at ``hour`` at least ``min_score``; loudest first (ties:
more mentions, then the lower cluster id), at most ``max_proposals``. The title is the most
central headline: the highest cosine to the centroid of the cluster's TF-IDF title vectors
(ties: earliest, then lowest mention id). Headlines are the most central first, one per outlet
before any outlet's second.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer

from noisecast.engine.core._emerging_query import (
    Corpus,
    QueryQuality,
    QuerySuggestion,
    doc_terms,
    suggest_for,
    suggest_query,
    term_text,
)
from noisecast.engine.core.aggregate import aggregate_hourly
from noisecast.engine.core.match import parse_query
from noisecast.engine.core.score import ScoreParams, noise_level
from noisecast.engine.schema import (
    AS_OF,
    COMPONENTS,
    ENGAGEMENT,
    GROUP,
    HOURLY_COLUMNS,
    KIND,
    LEVEL,
    MENTION,
    OUTLET,
    SCORE,
    STORY,
    WHEN,
)

__all__ = [
    "Corpus",
    "EmergingParams",
    "Headline",
    "MemberRow",
    "Proposal",
    "QueryQuality",
    "QuerySuggestion",
    "TermSuggestion",
    "cluster_hourly",
    "cluster_story",
    "owner_story",
    "propose",
    "suggest_query",
    "suggest_terms",
]

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class MemberRow:
    """One mention of a cluster, as the store gives it."""

    mention_id: int
    cluster: int
    title: str
    summary: str | None
    url: str | None
    outlet: str | None  # outlet host/name as stored
    kind: str  # source kind: rss|atom|reddit|hackernews|mastodon
    published_at: datetime  # aware UTC (first-seen clamp already applied)
    group_id: int | None  # syndication group; copies of one group count once
    engagement: int  # latest engagement (score + comments) or 0
    stories: tuple[str, ...]  # slugs of tracked stories this mention is matched to


@dataclass(frozen=True)
class EmergingParams:
    """What makes a cluster a proposal (``[emerging]`` in config.toml gives most of them)."""

    min_mentions: int = 5
    min_outlets: int = 2
    min_score: float = 25.0
    max_proposals: int = 20
    tracked_share: float = 0.5
    headlines: int = 8  # top headlines kept per proposal
    history_hours: int = 48
    query_terms: int = 4  # terms in a suggested query at most

    def __post_init__(self) -> None:
        problems = []
        for name in ("min_mentions", "max_proposals", "headlines", "history_hours", "query_terms"):
            if getattr(self, name) < 1:
                problems.append(f"{name}: expected at least 1, got {getattr(self, name)}")
        if self.min_outlets < 0:
            problems.append(f"min_outlets: expected at least 0, got {self.min_outlets}")
        if not 0 < self.tracked_share <= 1:
            problems.append(f"tracked_share: expected a share in (0, 1], got {self.tracked_share}")
        if problems:
            raise ValueError("EmergingParams: " + "; ".join(problems))


@dataclass(frozen=True)
class Headline:
    """A headline shown with a proposal or a suggested term."""

    mention_id: int
    title: str
    url: str | None
    outlet: str | None
    published_at: datetime


@dataclass(frozen=True)
class Proposal:
    """A loud cluster no tracked story owns, with the query suggested to track it."""

    cluster: int
    title: str  # the most central headline
    headlines: tuple[Headline, ...]  # most central first, distinct outlets preferred
    size: int  # counted mentions (groups once)
    outlets: int
    first_seen: datetime
    last_seen: datetime
    score: float  # noise score at `hour`
    level: str
    components: dict[str, float]  # contribution per component
    history: tuple[tuple[datetime, float], ...]  # (hour, score) over the last history_hours
    suggestion: QuerySuggestion


@dataclass(frozen=True)
class TermSuggestion:
    """A term that, ORed into a tracked story's query, adds its cluster's unmatched mentions."""

    story: str  # slug
    cluster: int
    term: str  # a word or "quoted phrase" in the query language, OR-able to the query
    adds: int  # unmatched cluster mentions it would add (groups once)
    adds_elsewhere: int  # background mentions outside the cluster it would also add
    samples: tuple[Headline, ...]  # up to 3 of the mentions it adds


# --- counting -------------------------------------------------------------------------------


def _group_key(row: MemberRow) -> tuple[str, int]:
    return ("g", row.group_id) if row.group_id is not None else ("m", row.mention_id)


def _counted(members: Sequence[MemberRow]) -> list[tuple[MemberRow, list[MemberRow]]]:
    """Each syndicated group once: (its first row, all its rows), in first-row order."""
    groups: dict[tuple[str, int], list[MemberRow]] = {}
    for row in sorted(members, key=lambda r: (r.published_at, r.mention_id)):
        groups.setdefault(_group_key(row), []).append(row)
    return [(rows[0], rows) for rows in groups.values()]


def cluster_story(cluster: int) -> str:
    """The story name a cluster's hourly rows carry: ``cluster:<id>``."""
    return f"cluster:{cluster}"


def cluster_hourly(members: Sequence[MemberRow], start: datetime, end: datetime) -> pd.DataFrame:
    """The hourly frame of every cluster in ``members`` over the hours of ``[start, end)``,
    story ``cluster:<id>``, built by ``engine.core.aggregate.aggregate_hourly`` (the stories'
    own rules: a group once, in its first hour; outlets and engagement of every copy)."""
    frame = pd.DataFrame(
        {
            STORY: [cluster_story(r.cluster) for r in members],
            MENTION: [r.mention_id for r in members],
            # group ids and mention ids are separate namespaces: keep them apart
            GROUP: [
                f"g{r.group_id}" if r.group_id is not None else f"m{r.mention_id}" for r in members
            ],
            KIND: [r.kind for r in members],
            OUTLET: [r.outlet for r in members],
            WHEN: pd.to_datetime([r.published_at for r in members], utc=True),
            ENGAGEMENT: [float(r.engagement) for r in members],
        }
    )
    stories = sorted({r.cluster for r in members})
    return aggregate_hourly(frame, start, end, [cluster_story(c) for c in stories])


def owner_story(members_of_one_cluster: Sequence[MemberRow], tracked_share: float) -> str | None:
    """The tracked story that at least ``tracked_share`` of the cluster's counted mentions are
    matched to (a group is matched when any of its rows is), else None. Ties between stories
    go to the first slug in alphabetical order."""
    counted = _counted(members_of_one_cluster)
    if not counted:
        return None
    votes: Counter[str] = Counter()
    for _, rows in counted:
        votes.update({slug for row in rows for slug in row.stories})
    if not votes:
        return None
    slug, n = min(votes.items(), key=lambda kv: (-kv[1], kv[0]))
    return slug if n >= tracked_share * len(counted) else None


# --- headlines ------------------------------------------------------------------------------


def _central_order(rows: Sequence[MemberRow]) -> list[MemberRow]:
    """Rows by cosine to the TF-IDF centroid of their titles, highest first (ties: earliest,
    then lowest mention id)."""
    if len(rows) < 2:
        return list(rows)
    titles = [r.title for r in rows]
    try:
        vectors = TfidfVectorizer(analyzer=lambda t: doc_terms(t)).fit_transform(titles)
    except ValueError:  # no usable term in any title
        return sorted(rows, key=lambda r: (r.published_at, r.mention_id))
    centroid = np.asarray(vectors.mean(axis=0)).ravel()
    norm = float(np.linalg.norm(centroid))
    cosine = vectors @ centroid / norm if norm else np.zeros(len(rows))
    ranked = sorted(
        range(len(rows)),
        key=lambda i: (-round(float(cosine[i]), 12), rows[i].published_at, rows[i].mention_id),
    )
    return [rows[i] for i in ranked]


def _headline(row: MemberRow) -> Headline:
    return Headline(row.mention_id, row.title, row.url, row.outlet, row.published_at)


def _headlines(central: Sequence[MemberRow], limit: int) -> tuple[Headline, ...]:
    """One per outlet first (most central first), then the rest; at most ``limit``."""
    seen: set[str | None] = set()
    first: list[MemberRow] = []
    later: list[MemberRow] = []
    for row in central:
        key = row.outlet.casefold() if row.outlet else None
        (later if key in seen and key is not None else first).append(row)
        seen.add(key)
    return tuple(_headline(r) for r in (first + later)[:limit])


# --- proposals ------------------------------------------------------------------------------


def propose(
    members: Sequence[MemberRow],
    background_docs: Sequence[tuple[str, str]],
    tracked_hourly: pd.DataFrame,
    health: pd.DataFrame,
    score_params: ScoreParams,
    hour: datetime,
    params: EmergingParams,
) -> list[Proposal]:
    """The proposals at ``hour`` (a whole UTC hour, scored like the stories' rows of that
    hour); the module docstring gives the rules. ``members``: every live cluster's rows (only
    those before the end of ``hour`` count). ``background_docs``: recent mentions as
    (title, summary), against which queries are measured (each cluster's own mentions are
    taken out of it first; pass a :class:`Corpus` to tokenize it once for several calls).
    ``tracked_hourly`` and ``health``: the frames the stories' scores use, for the reference
    pool."""
    end = pd.Timestamp(hour).tz_convert("UTC").floor("h") + HOUR
    by_cluster: dict[int, list[MemberRow]] = {}
    for row in members:
        if pd.Timestamp(row.published_at) < end:
            by_cluster.setdefault(row.cluster, []).append(row)
    eligible: dict[int, list[tuple[MemberRow, list[MemberRow]]]] = {}
    for cluster, rows in by_cluster.items():
        counted = _counted(rows)
        outlets = {r.outlet.casefold() for r in rows if r.outlet}
        if len(counted) < params.min_mentions or len(outlets) < params.min_outlets:
            continue
        if owner_story(rows, params.tracked_share) is not None:
            continue
        eligible[cluster] = counted
    if not eligible:
        return []
    scores = _scores(
        [r for c in eligible for r in by_cluster[c]],
        tracked_hourly,
        health,
        score_params,
        end,
        params,
    )
    now = scores[scores[AS_OF] == end - HOUR].set_index(STORY)
    by_story = {str(k): v for k, v in scores.groupby(STORY, observed=True, sort=False)}
    loud = [
        c
        for c in eligible
        if cluster_story(c) in now.index and now.at[cluster_story(c), SCORE] >= params.min_score
    ]
    loud.sort(key=lambda c: (-now.at[cluster_story(c), SCORE], -len(eligible[c]), c))
    background = Corpus.of(background_docs) if loud else Corpus((), (), ())
    return [
        _proposal(
            c, eligible[c], by_cluster[c], background, by_story[cluster_story(c)], now, params
        )
        for c in loud[: params.max_proposals]
    ]


def _scores(
    rows: Sequence[MemberRow],
    tracked_hourly: pd.DataFrame,
    health: pd.DataFrame,
    score_params: ScoreParams,
    end: pd.Timestamp,
    params: EmergingParams,
) -> pd.DataFrame:
    """noise_level of the clusters over the history hours, pooled on the tracked stories."""
    first = min(pd.Timestamp(r.published_at) for r in rows).tz_convert("UTC").floor("h")
    start = min(first, end - params.history_hours * HOUR)
    hourly = cluster_hourly(rows, start, end)
    tracked = tracked_hourly.loc[:, list(HOURLY_COLUMNS)]
    stories = [str(s) for s in tracked[STORY].unique()]
    frame = pd.concat([tracked, hourly.loc[:, list(HOURLY_COLUMNS)]], ignore_index=True)
    frame[STORY] = frame[STORY].astype("str")
    hours = pd.date_range(end - params.history_hours * HOUR, end - HOUR, freq="h")
    scores = noise_level(frame, health, score_params, hours, reference_stories=stories)
    scores = scores[scores[STORY].astype("str").str.startswith("cluster:")]
    return scores.assign(**{STORY: scores[STORY].astype("str")})


def _proposal(
    cluster: int,
    counted: list[tuple[MemberRow, list[MemberRow]]],
    rows: list[MemberRow],
    background: Corpus,
    own: pd.DataFrame,
    now: pd.DataFrame,
    params: EmergingParams,
) -> Proposal:
    name = cluster_story(cluster)
    heads = [first for first, _ in counted]
    central = _central_order(heads)
    outside = background.without([(r.title, r.summary or "") for r in rows])
    suggestion = suggest_for(
        Corpus.of([(r.title, r.summary) for r in heads]), outside, max_terms=params.query_terms
    )
    own = own.sort_values(AS_OF)
    first_seen = min(r.published_at for r in rows)
    start = pd.Timestamp(first_seen).tz_convert("UTC").floor("h")
    history = tuple(
        (t.to_pydatetime(), round(float(s), 6))
        for t, s in zip(own[AS_OF], own[SCORE], strict=True)
        if t >= start
    )
    row = now.loc[name]
    return Proposal(
        cluster=cluster,
        title=central[0].title,
        headlines=_headlines(central, params.headlines),
        size=len(counted),
        outlets=len({r.outlet.casefold() for r in rows if r.outlet}),
        first_seen=first_seen,
        last_seen=max(r.published_at for r in rows),
        score=float(row[SCORE]),
        level=str(row[LEVEL]),
        components={c: float(row[f"{c}_contribution"]) for c in COMPONENTS},
        history=history,
        suggestion=suggestion,
    )


# --- terms for tracked stories --------------------------------------------------------------


def suggest_terms(
    story: str,
    query: str,
    members_of_cluster: Sequence[MemberRow],
    background_docs: Sequence[tuple[str, str]],
    *,
    max_terms: int = 3,
) -> list[TermSuggestion]:
    """Terms that would add the cluster's mentions the story's query misses, without adding
    others: each term is a word or phrase of the unmatched mentions that matches at least two of
    them (or the only one) and at most a quarter as many background mentions the query does not
    already match. Chosen greedily by the unmatched mentions they newly cover (less twice what
    they add elsewhere), so the second term covers what the first missed. A counted mention is
    matched when any row of its group is matched to ``story`` or the query matches it. Once
    the unmatched mentions are covered, the remaining places go to alternatives that add none
    elsewhere and share no word with a term already chosen (``mtgox`` beside ``bitcoin``): each
    suggestion is an option the editor may take alone. ``background_docs``: as in
    :func:`propose` (a :class:`Corpus` made once serves every cluster of the hour)."""
    compiled = parse_query(query)
    counted = _counted(members_of_cluster)
    unmatched = [
        first
        for first, rows in counted
        if not any(story in r.stories or compiled.matches(r.title, r.summary or "") for r in rows)
    ]
    if not unmatched or max_terms < 1:
        return []
    background = Corpus.of(background_docs).without(
        [(r.title, r.summary or "") for r in members_of_cluster]
    )
    terms_of = [set(doc_terms(r.title, r.summary)) for r in unmatched]
    elsewhere: Counter[str] = Counter()
    candidates = set().union(*terms_of)
    for doc, terms in zip(background.docs, background.terms, strict=True):
        found = candidates.intersection(terms)
        if found and not compiled.matches(*doc):
            elsewhere.update(found)
    support = 1 if len(unmatched) == 1 else 2
    covers = {t: {i for i, ts in enumerate(terms_of) if t in ts} for t in candidates}
    usable = {
        t: docs
        for t, docs in covers.items()
        if len(docs) >= support and 4 * elsewhere[t] <= len(docs)
    }
    chosen: list[str] = []
    covered: set[int] = set()
    words: set[str] = set()
    while len(chosen) < max_terms and usable:
        term = min(
            usable,
            key=lambda t: (
                -(len(usable[t] - covered) - 2 * elsewhere[t]),
                0 if usable[t] - covered else t.count(" "),  # alternatives: words first
                -(len(usable[t]) - 2 * elsewhere[t]),
                elsewhere[t],
                len(t),
                t,
            ),
        )
        docs = usable.pop(term)
        if not docs - covered and (elsewhere[term] or words.intersection(term.split())):
            continue  # adds nothing new: only a clean alternative on other words is offered
        chosen.append(term)
        covered |= docs
        words.update(term.split())
    return [
        TermSuggestion(
            story=story,
            cluster=unmatched[0].cluster,
            term=term_text(t),
            adds=len(covers[t]),
            adds_elsewhere=elsewhere[t],
            samples=tuple(_headline(unmatched[i]) for i in sorted(covers[t])[:3]),
        )
        for t in chosen
    ]
