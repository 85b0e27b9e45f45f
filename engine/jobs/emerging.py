"""Emerging stories (issue 14): the jobs around the online clusterer and the proposals.

- :func:`cluster_new_mentions` (``engine/jobs/_cluster_run.py``) after every collection run
  (``noisecast collect``, the scheduler's collect job, the demo) and at the start of each cycle:
  every stored mention joins an event cluster once.
- :func:`update_emerging`, in the cycle after the newest hour is scored: the live clusters'
  mentions (:meth:`Store.cluster_members`) go through
  :func:`noisecast.engine.core.emerging.propose` (pure: clusters no tracked story owns, scored
  with the stories' noise level against the tracked stories' pool) into
  :meth:`Store.sync_proposals`; clusters a tracked story owns give that story's query
  suggestions (:func:`~noisecast.engine.core.emerging.suggest_terms`).
- Editors' actions, each a conditional update on the version the editor saw with an audit row
  (a stale version raises :class:`~noisecast.engine.core.review.ReviewConflict`, an unknown id
  :class:`NotFound`): :func:`track_proposal` creates the story (its rematch back-fills its
  matches) and scores its hours back to its first mention at once; :func:`merge_proposal` ORs
  terms into a story's query; :func:`dismiss_proposal`; :func:`add_suggested_term`.

Scores written for a new or widened story are that story's alone (:meth:`Store.
write_story_scores`): the other stories' stored scores, and the cycle's low-confidence marks,
are left as they were.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import pandas as pd

from noisecast.engine.config import Settings, StorySettings, validate
from noisecast.engine.core.emerging import (
    EmergingParams,
    MemberRow,
    owner_story,
    propose,
    suggest_terms,
)
from noisecast.engine.core.match import check_query
from noisecast.engine.core.review import ReviewConflict, ReviewInputError
from noisecast.engine.core.score import ScoreParams, noise_level
from noisecast.engine.errors import AlreadyExistsError, ConfigError
from noisecast.engine.jobs._cluster_run import (
    ClusterRunReport,
    cluster_after_collection,
    cluster_new_mentions,
    forget_cached,
    loaded_clusterer,
)
from noisecast.engine.jobs.catalog import add_story
from noisecast.engine.jobs.noise import _score_rows, refresh_hourly, scoring_frames
from noisecast.engine.schema import floor_hour
from noisecast.engine.store import Store

__all__ = [
    "ClusterRunReport",
    "EmergingReport",
    "NotFound",
    "add_suggested_term",
    "cluster_after_collection",
    "cluster_new_mentions",
    "dismiss_proposal",
    "emerging_params",
    "forget_cached",
    "merge_proposal",
    "track_proposal",
    "update_emerging",
]

log = logging.getLogger("noisecast.emerging")
JOB = "emerging"
BACKGROUND = 5000  # recent mentions a suggested query is measured against
HOUR = timedelta(hours=1)


class NotFound(ReviewInputError):
    """No proposal or suggestion with that id (the web answers 404)."""


@dataclass(frozen=True, slots=True)
class EmergingReport:
    hour: datetime
    clusters: int  # live clusters of two or more mentions read
    proposals: int
    suggestions: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "hour": self.hour.isoformat(),
            "clusters": self.clusters,
            "proposals": self.proposals,
            "suggestions": self.suggestions,
        }


def emerging_params(settings: Settings) -> EmergingParams:
    e = settings.emerging
    return EmergingParams(
        min_mentions=e.min_mentions,
        min_outlets=e.min_outlets,
        min_score=e.min_score,
        max_proposals=e.max_proposals,
        tracked_share=e.tracked_share,
    )


def _score_params(settings: Settings) -> ScoreParams:
    return ScoreParams.from_settings(cast(Any, settings.scoring))  # frozen pydantic model


def _tracked_frames(
    store: Store, settings: Settings, start: datetime, end: datetime
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The active stories' hourly frame and the collection health over the lookback before
    ``start`` to ``end``, as :func:`~noisecast.engine.jobs.noise.update_noise` reads them."""
    since = start - timedelta(hours=_score_params(settings).lookback_hours)
    return scoring_frames(store, settings, since, end)


# --- the hourly update ------------------------------------------------------------------------


def update_emerging(
    store: Store, settings: Settings, hour: datetime, *, now: datetime
) -> EmergingReport:
    """Propose the loud clusters no tracked story owns at ``hour`` (a completed hour) and
    suggest terms for the tracked stories that own a cluster; store both (see the module's
    docstring). Idempotent: the same hour twice writes the same rows."""
    hour = floor_hour(hour)
    end = hour + HOUR
    params = emerging_params(settings)
    clusterer = loaded_clusterer(store, settings)
    summaries = clusterer.clusters(min_size=2)
    cluster_of = {m: s.id for s in summaries for m in s.mention_ids}
    members = [
        MemberRow(cluster=cluster_of[r["mention_id"]], **r)
        for r in store.cluster_members(sorted(cluster_of))
    ]
    window = timedelta(hours=settings.emerging.window_hours)
    background = [(t, s) for _, t, s in store.recent_docs(end - window, end, limit=BACKGROUND)]
    hourly, health, _ = _tracked_frames(store, settings, hour, end)
    proposals = propose(members, background, hourly, health, _score_params(settings), hour, params)
    store.sync_proposals(hour, proposals, now=now)
    queries = {s["slug"]: s["query"] for s in store.list_stories("active")}
    by_cluster: dict[int, list[MemberRow]] = {}
    for row in members:
        by_cluster.setdefault(row.cluster, []).append(row)
    suggestions = []
    for rows in by_cluster.values():
        owner = owner_story(rows, params.tracked_share)
        if owner is not None and owner in queries:
            suggestions += suggest_terms(owner, queries[owner], rows, background)
    store.sync_query_suggestions(hour, suggestions, now=now)
    report = EmergingReport(hour, len(summaries), len(proposals), len(suggestions))
    log.info(
        "emerging: %d proposals, %d query suggestions from %d clusters",
        report.proposals,
        report.suggestions,
        report.clusters,
        extra={"job": JOB, "hour": hour.isoformat()},
    )
    return report


# --- a story's score history at once ---------------------------------------------------------


def score_story_history(
    store: Store, settings: Settings, slug: str, *, since: datetime | None, now: datetime
) -> int:
    """Score one story at every completed hour from ``since`` (default: its first matched
    mention) to the hour before ``now``, with the same inputs and pool as the cycle's scores,
    and store its scores alone. Returns how many hours were scored."""
    story_id = store.story_id(slug)
    first = store.story_first_mention(story_id)
    if since is None or (first is not None and first > since):
        since = first
    end = floor_hour(now)
    if since is None or floor_hour(since) >= end:
        return 0
    start = max(floor_hour(since), end - timedelta(days=max(settings.matching.rematch_days, 1)))
    refresh_hourly(store)  # the rematch logged its changes: the story's hourly rows first
    hourly, health, slugs = _tracked_frames(store, settings, start, end)
    if slug not in slugs:
        return 0
    targets = list(pd.date_range(start, end, freq="h", inclusive="left"))
    scores = noise_level(hourly, health, _score_params(settings), hours=targets)
    scores = scores[scores["story"] == slug]
    recent = store.mention_frame(start - timedelta(hours=6), end, stories_only=[slug])
    rows = _score_rows(scores, recent)
    for r in rows:
        r.pop("story")
    store.write_story_scores(story_id, rows, [t.to_pydatetime() for t in targets])
    return len(rows)


# --- editors' actions -------------------------------------------------------------------------


def _proposal_at(store: Store, proposal_id: int, expected_version: int) -> dict[str, Any]:
    """The proposal, if it is still proposed at ``expected_version``."""
    found = store.proposal(proposal_id)
    if found is None:
        raise NotFound(f"there is no emerging proposal {proposal_id}")
    if found["version"] != expected_version or found["status"] != "proposed":
        raise ReviewConflict(_changed(store, found, expected_version))
    return found


def _changed(store: Store, found: dict[str, Any], expected_version: int) -> str:
    events = store.proposal_events(int(found["id"]))
    who = ""
    if events:
        e = events[0]
        who = f" ({e['action']} by {e['actor']} at {e['at']:%Y-%m-%d %H:%M} UTC)"
    if found["status"] != "proposed":
        story = f" as {found['story_slug']!r}" if found.get("story_slug") else ""
        return (
            f"Proposal {found['id']} was changed since you looked: it is now "
            f"{found['status']}{story}{who}. Nothing was changed; reload to see it."
        )
    return (
        f"Proposal {found['id']} was changed since you looked (version {found['version']}, "
        f"you saw {expected_version}): the hourly update gave it new numbers{who}. Nothing "
        "was changed; reload and decide on what it says now."
    )


def _set_status(
    store: Store,
    proposal: dict[str, Any],
    expected_version: int,
    status: str,
    *,
    actor: str,
    action: str,
    story_id: int | None = None,
    note: str = "",
    now: datetime,
) -> None:
    done = store.set_proposal_status(
        int(proposal["id"]),
        expected_version,
        status,
        actor=actor,
        action=action,
        story_id=story_id,
        note=note,
        now=now,
    )
    if not done:
        again = store.proposal(int(proposal["id"])) or proposal
        raise ReviewConflict(_changed(store, again, expected_version))


def track_proposal(
    store: Store,
    settings: Settings,
    proposal_id: int,
    *,
    slug: str,
    title: str,
    query: str,
    actor: str,
    expected_version: int,
    now: datetime,
) -> str:
    """Track a proposal as a new story ``slug``: the story is created (its rematch finds its
    mentions of the last ``matching.rematch_days`` days), scored at every completed hour back to
    its first mention, and the proposal marked tracked (audited). Nothing is created when the
    proposal changed since ``expected_version``, the query does not parse
    (:class:`~noisecast.engine.errors.QueryError`) or the slug is taken
    (:class:`~noisecast.engine.errors.AlreadyExistsError`). Returns the slug."""
    proposal = _proposal_at(store, proposal_id, expected_version)
    check_query(query)
    validate(StorySettings, {"slug": slug, "title": title, "query": query}, "emerging track")
    if slug in {s["slug"] for s in store.list_stories()}:
        raise AlreadyExistsError(
            f"story {slug!r} exists: choose another slug, or merge the proposal into it"
        )
    add_story(store, settings, slug, title, query, now=now)
    story_id = store.story_id(slug)
    _set_status(
        store,
        proposal,
        expected_version,
        "tracked",
        actor=actor,
        action="track",
        story_id=story_id,
        note=f"tracked as {slug!r} with query {query}",
        now=now,
    )
    hours = score_story_history(store, settings, slug, since=None, now=now)
    log.info(
        "proposal %d tracked as %r by %s (%d hours scored)",
        proposal_id,
        slug,
        actor,
        hours,
        extra={"job": JOB, "story": slug},
    )
    return slug


def widened_query(query: str, terms: Sequence[str]) -> str:
    """``(<query>) OR term1 OR term2``, each term as written (a word or a "quoted phrase")."""
    extra = [t.strip() for t in terms if t.strip()]
    if not extra:
        raise ConfigError("terms: give at least one term to add to the story's query")
    return " OR ".join([f"({query})", *extra])


def _widen(
    store: Store,
    settings: Settings,
    slug: str,
    terms: Sequence[str],
    *,
    since: datetime,
    now: datetime,
) -> str:
    story = next((s for s in store.list_stories() if s["slug"] == slug), None)
    if story is None:
        raise NotFound(f"there is no story {slug!r} (see `noisecast stories list`)")
    query = widened_query(str(story["query"]), terms)
    check_query(query)
    add_story(store, settings, slug, str(story["title"]), query, now=now, replace=True)
    score_story_history(store, settings, slug, since=since, now=now)
    return query


def merge_proposal(
    store: Store,
    settings: Settings,
    proposal_id: int,
    *,
    story_slug: str,
    terms: Sequence[str],
    actor: str,
    expected_version: int,
    now: datetime,
) -> str:
    """Merge a proposal into a tracked story: ``terms`` are ORed into its query (rematched,
    its hours since the proposal's first mention scored again), and the proposal marked merged
    (audited). Returns the story's new query."""
    proposal = _proposal_at(store, proposal_id, expected_version)
    since = min(proposal["first_seen"], now - timedelta(hours=settings.emerging.window_hours))
    query = _widen(store, settings, story_slug, terms, since=since, now=now)
    _set_status(
        store,
        proposal,
        expected_version,
        "merged",
        actor=actor,
        action="merge",
        story_id=store.story_id(story_slug),
        note=f"merged into {story_slug!r}: query {query}",
        now=now,
    )
    return query


def dismiss_proposal(
    store: Store,
    proposal_id: int,
    *,
    actor: str,
    expected_version: int,
    note: str = "",
    now: datetime,
) -> None:
    """Dismiss a proposal: its cluster is never proposed again (audited, with the note)."""
    proposal = _proposal_at(store, proposal_id, expected_version)
    _set_status(
        store,
        proposal,
        expected_version,
        "dismissed",
        actor=actor,
        action="dismiss",
        note=note,
        now=now,
    )


def add_suggested_term(
    store: Store, settings: Settings, suggestion_id: int, *, actor: str, now: datetime
) -> str:
    """OR a suggested term into its story's query (rematched, the story's hours of the emerging
    window scored again) and mark it added. Returns the story's new query."""
    found = store.query_suggestion(suggestion_id)
    if found is None:
        raise NotFound(f"there is no query suggestion {suggestion_id}")
    if found["status"] != "proposed":
        raise ReviewConflict(
            f"The term {found['term']} was already {found['status']} by "
            f"{found['updated_by'] or 'someone'}: nothing was changed."
        )
    slug = str(found["story_slug"])
    check_query(widened_query(str(found["story_query"]), [found["term"]]))
    if not store.set_query_suggestion_status(suggestion_id, "added", actor=actor, now=now):
        raise ReviewConflict(
            f"The term {found['term']} was changed since you looked: nothing was changed."
        )
    since = now - timedelta(hours=settings.emerging.window_hours)
    query = _widen(store, settings, slug, [found["term"]], since=since, now=now)
    log.info(
        "term %s added to %r by %s", found["term"], slug, actor, extra={"job": JOB, "story": slug}
    )
    return query
