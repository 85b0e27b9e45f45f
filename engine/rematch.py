"""Rematching: when a story is added or its query changes, the stored mentions of the last
``matching.rematch_days`` days are matched against it again, so its history is right at once
instead of only from the next collection on."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.match import parse_query
from engine.store import Store

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
