"""Rematching: when a story is added or its query changes, the stored mentions of the last
``matching.rematch_days`` days are matched against it again, so its history is right at once
instead of only from the next collection on."""

from __future__ import annotations

import heapq
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from noisecast.engine.core.match import StoryMatcher, check_query, parse_query
from noisecast.engine.store import Store

log = logging.getLogger("noisecast.rematch")


@dataclass(frozen=True, slots=True)
class RematchReport:
    story: str
    checked: int
    added: int
    removed: int


def rematch_story(
    store: Store, slug: str, query: str, *, now: datetime, days: int
) -> RematchReport:
    """Match the mentions since ``now - days`` against the story's query; fix its matches."""
    compiled = parse_query(query)
    since = now - timedelta(days=days)
    matched: dict[int, list[str]] = {}
    checked = 0
    for batch in store.mention_texts(since):
        checked += len(batch)
        for mention_id, title, summary in batch:
            if compiled.matches(title, summary or ""):
                matched[mention_id] = compiled.matched_terms(title, summary or "")
    added, removed = store.replace_matches(store.story_id(slug), since, matched, now=now)
    log.info(
        "rematched %d mentions: %d added, %d removed",
        checked,
        added,
        removed,
        extra={"job": "rematch", "story": slug},
    )
    return RematchReport(slug, checked, added, removed)


@dataclass(frozen=True, slots=True)
class QueryPreview:
    query: str
    since: datetime
    checked: int  # stored mentions in the window
    matched: int
    samples: list[dict[str, Any]]  # the newest matches: id, title, url, outlet, source, when


def preview_query(
    store: Store, query: str, *, now: datetime, days: int, samples: int = 10
) -> QueryPreview:
    """How many stored mentions of the last ``days`` days ``query`` matches, through the
    matcher collection uses, with the newest ``samples`` of them. Stores nothing. The query is
    checked as ``stories add`` checks it (`noisecast.engine.core.match.check_query`)."""
    matcher = StoryMatcher({"query": check_query(query)})
    since = now - timedelta(days=days)
    checked = matched = 0
    newest: list[int] = []  # a heap of the largest ids matched (ids grow with time stored)
    for batch in store.mention_texts(since):
        checked += len(batch)
        for mention_id, title, summary in batch:
            if matcher.match(title, summary or ""):
                matched += 1
                if len(newest) < samples:
                    heapq.heappush(newest, mention_id)
                elif samples:
                    heapq.heappushpop(newest, mention_id)
    return QueryPreview(query, since, checked, matched, store.mention_details(newest))
