"""Hacker News, searched per story through the Algolia HN Search API (``/search_by_date``).

Each run asks, for every active story, for the items of the last ``lookback_hours`` that match
the story's search terms, newest first: items already stored come back too, so their points and
comment counts keep updating (``mention_engagement`` keeps the history).

Algolia reads a query as words that must all be present, with ``"quoted phrases"``; it has no
``OR`` (the word "OR" would be searched for like any other) and no parentheses. So a story's
search is expanded into its alternatives, and each alternative is one request:
``(strike OR walkout) "port of X"`` asks for ``strike "port of X"``, then for
``walkout "port of X"``. A story with one alternative has the task key ``story:<slug>``; one
with several has ``story:<slug>#1``, ``story:<slug>#2``, ... (at most ``max_searches``).
Our matcher still checks every hit against the story's full query.

A mention is one HN item: ``url`` is its discussion page, ``link_url`` the page it links to
(none for Ask HN), ``score`` its points and ``comments`` its comment count.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field

from noisecast.feeds.base import Harvest, HarvestContext, SourceInfo, StoryInfo, Task
from noisecast.feeds.dates import from_timestamp
from noisecast.feeds.jsonapi import as_int, as_text, as_time, harvest_json, read_items
from noisecast.feeds.mention import Mention
from noisecast.feeds.parse import SUMMARY_LIMIT, _plain_text
from noisecast.feeds.registry import register
from noisecast.feeds.searchterms import alternatives
from noisecast.feeds.urls import canonical_url

log = logging.getLogger("noisecast.feeds.hackernews")

ITEM_URL = "https://news.ycombinator.com/item?id={}"
OUTLET = "news.ycombinator.com"


class HackerNewsOptions(BaseModel):
    """``options`` of a ``hackernews`` source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tags: str = "story"  # Algolia tag filter: story, comment, ask_hn, show_hn, (story,poll), ...
    hits_per_page: int = Field(100, ge=1, le=1000)
    lookback_hours: int = Field(48, ge=1)  # items this recent are asked for again, for engagement
    max_searches: int = Field(4, ge=1, le=16)  # requests per story (alternatives of its OR)


# --- hits to mentions ---------------------------------------------------------------------------


def _when(hit: Mapping[str, Any]) -> datetime | None:
    return from_timestamp(as_int(hit.get("created_at_i"))) or as_time(hit.get("created_at"))


def hit_mention(hit: Mapping[str, Any]) -> Mention | None:
    """One Algolia hit as a Mention; None without an ``objectID``."""
    object_id = hit.get("objectID")
    if isinstance(object_id, float) and object_id.is_integer():  # never NaN or infinity
        object_id = int(object_id)
    if isinstance(object_id, int) and not isinstance(object_id, bool):
        object_id = str(object_id)
    if not isinstance(object_id, str) or not object_id.strip():
        return None
    object_id = object_id.strip()
    item = ITEM_URL.format(object_id)
    # A comment hit (tags=comment) has no title of its own: it speaks in its story's thread.
    title = _plain_text(hit.get("title")) or _plain_text(hit.get("story_title"))
    body = hit.get("story_text") or hit.get("comment_text")
    return Mention(
        external_id=object_id,
        title=title,
        url=item,
        canonical_url=canonical_url(item),
        summary=_plain_text(body, True, SUMMARY_LIMIT),
        author=as_text(hit.get("author")),
        outlet=OUTLET,
        published_at=_when(hit),
        score=as_int(hit.get("points")),
        comments=as_int(hit.get("num_comments")),
        link_url=as_text(hit.get("url")) or as_text(hit.get("story_url")),
    )


def read_hits(document: Any) -> tuple[list[Mention], str | None]:
    """The mentions of a ``/search`` response, and what was wrong with it, if anything."""
    if not isinstance(document, dict):
        return [], f"expected a JSON object with hits, got {type(document).__name__}"
    hits = document.get("hits")
    if hits is None:
        return [], "hits missing"
    if not isinstance(hits, list):
        return [], f"hits is not a list but {type(hits).__name__}"
    found, skipped = read_items(
        hits, lambda hit: hit_mention(hit) if isinstance(hit, dict) else None, "hit"
    )
    if skipped:
        return found, f"{skipped} of {len(hits)} hits skipped (not an object with an objectID)"
    return found, None


# --- the collector -----------------------------------------------------------------------------


@register("hackernews")
class HackerNewsCollector:
    """One Algolia search per story (per alternative of its search terms), newest first."""

    kind: ClassVar[str] = "hackernews"
    Options: ClassVar[type[HackerNewsOptions]] = HackerNewsOptions
    default_url: ClassVar[str | None] = "https://hn.algolia.com/api/v1"

    def tasks(self, source: SourceInfo, stories: Sequence[StoryInfo]) -> list[Task]:
        options: HackerNewsOptions = source.options
        base = source.url.rstrip("/")
        out: list[Task] = []
        for story in stories:
            search = story.search or story.query
            queries = alternatives(search, limit=options.max_searches + 1)
            if len(queries) > options.max_searches:
                log.warning(
                    "story %s has more than %d alternatives; searching the first %d "
                    "(raise options.max_searches, or narrow the query)",
                    story.slug,
                    options.max_searches,
                    options.max_searches,
                    extra={"source": source.name, "story": story.slug},
                )
                queries = queries[: options.max_searches]
            for n, query in enumerate(queries, start=1):
                params = {
                    "query": query,
                    "tags": options.tags,
                    "hitsPerPage": options.hits_per_page,
                }
                out.append(
                    Task(
                        key=f"story:{story.slug}"
                        if len(queries) == 1
                        else f"story:{story.slug}#{n}",
                        url=f"{base}/search_by_date?{urlencode(params)}",
                        story=story.slug,
                        params={"query": query},
                    )
                )
        return out

    async def harvest(self, task: Task, ctx: HarvestContext) -> Harvest:
        options: HackerNewsOptions = ctx.source.options
        since = ctx.now - timedelta(hours=options.lookback_hours)
        window = urlencode({"numericFilters": f"created_at_i>{int(since.timestamp())}"})
        return await harvest_json(task, ctx, f"{task.url}&{window}", read_hits)
