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

import json
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field

from feeds.base import Harvest, HarvestContext, SourceInfo, StoryInfo, Task
from feeds.http import FetchRequest
from feeds.mention import Mention
from feeds.parse import SUMMARY_LIMIT, _plain_text
from feeds.registry import register
from feeds.urls import canonical_url

log = logging.getLogger("noisecast.feeds.hackernews")

ITEM_URL = "https://news.ycombinator.com/item?id={}"
OUTLET = "news.ycombinator.com"
ACCEPT_JSON = (("Accept", "application/json"),)

_TOKEN = re.compile(r'"[^"]*"?|\(|\)|[^\s()"]+')


class HackerNewsOptions(BaseModel):
    """``options`` of a ``hackernews`` source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tags: str = "story"  # Algolia tag filter: story, comment, ask_hn, show_hn, (story,poll), ...
    hits_per_page: int = Field(100, ge=1, le=1000)
    lookback_hours: int = Field(48, ge=1)  # items this recent are asked for again, for engagement
    max_searches: int = Field(4, ge=1, le=16)  # requests per story (alternatives of its OR)


# --- a story's search as Algolia queries ------------------------------------------------------


def alternatives(search: str, *, limit: int) -> list[str]:
    """The query's alternatives, each a string of terms that must all match.

    ``(ukraine OR kyiv) "peace talks"`` -> ``['ukraine "peace talks"', 'kyiv "peace talks"']``.
    ``AND`` joins, ``OR`` separates, parentheses group; a ``NOT`` and its operand are dropped
    (Algolia's ``-word`` would exclude a phrase our query allows elsewhere), and a trailing ``*``
    is dropped (Algolia matches the last word as a prefix anyway). Stops after ``limit``.
    """
    parser = _Alternatives(_balanced(_TOKEN.findall(search)), limit)
    found: list[str] = []
    for terms in parser.expression():
        text = " ".join(terms)
        if text and text not in found:
            found.append(text)
    return found[:limit]


def _balanced(tokens: list[str]) -> list[str]:
    """The tokens without a ``)`` that closes nothing."""
    out: list[str] = []
    depth = 0
    for token in tokens:
        if token == ")":
            if depth == 0:
                continue
            depth -= 1
        elif token == "(":
            depth += 1
        out.append(token)
    return out


class _Alternatives:
    """Recursive descent over query tokens into a disjunction of conjunctions (lists of terms)."""

    def __init__(self, tokens: list[str], limit: int) -> None:
        self.tokens = tokens
        self.limit = limit
        self.i = 0

    def _peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def expression(self) -> list[tuple[str, ...]]:
        out = self.conjunction()
        while self._peek() == "OR":
            self.i += 1
            out = (out + self.conjunction())[: self.limit + 1]
        return out

    def conjunction(self) -> list[tuple[str, ...]]:
        out: list[tuple[str, ...]] = [()]
        while (token := self._peek()) not in (None, "OR", ")"):
            if token == "AND":
                self.i += 1
                continue
            part = self.primary()
            if part is not None:
                out = [a + b for a in out for b in part][: self.limit + 1]
        return out

    def primary(self) -> list[tuple[str, ...]] | None:
        """One operand; None for one that adds nothing (a NOT clause, a bare ``*``)."""
        token = self.tokens[self.i]
        self.i += 1
        if token == "NOT":
            if self._peek() is not None and self._peek() not in ("OR", ")"):
                self.primary()
            return None
        if token == "(":
            inner = self.expression()
            if self._peek() == ")":
                self.i += 1
            return inner
        term = token.rstrip("*")
        if term.lower().startswith("title:"):
            term = term[len("title:") :]
        if not term or term == '""':
            return None
        return [(term,)]


# --- hits to mentions ---------------------------------------------------------------------------


def read_json(content: bytes) -> tuple[Any, str | None]:
    """The decoded document, or None and why it is not JSON."""
    try:
        return json.loads(content), None
    except json.JSONDecodeError as e:
        return None, f"not JSON: {e.msg} at line {e.lineno} column {e.colno}"
    except UnicodeDecodeError as e:
        return None, f"not JSON: not UTF-8 text ({e.reason} at byte {e.start})"


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: object) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def _when(hit: Mapping[str, Any]) -> datetime | None:
    stamp = _int(hit.get("created_at_i"))
    if stamp is not None:
        try:
            return datetime.fromtimestamp(stamp, UTC)
        except (OverflowError, OSError, ValueError):
            pass
    created = _text(hit.get("created_at"))
    if created:
        try:
            when = datetime.fromisoformat(created.replace("Z", "+00:00"))
        except ValueError:
            return None
        return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    return None


def hit_mention(hit: Mapping[str, Any]) -> Mention | None:
    """One Algolia hit as a Mention; None without an ``objectID``."""
    object_id = hit.get("objectID")
    if isinstance(object_id, int | float) and not isinstance(object_id, bool):
        object_id = str(int(object_id))
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
        author=_text(hit.get("author")),
        outlet=OUTLET,
        published_at=_when(hit),
        score=_int(hit.get("points")),
        comments=_int(hit.get("num_comments")),
        link_url=_text(hit.get("url")) or _text(hit.get("story_url")),
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
    found: list[Mention] = []
    skipped = 0
    for hit in hits:
        mention = hit_mention(hit) if isinstance(hit, dict) else None
        if mention is None:
            skipped += 1
        else:
            found.append(mention)
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
        request = FetchRequest(
            url=f"{task.url}&{window}",
            etag=ctx.cursor.etag,
            last_modified=ctx.cursor.last_modified,
            body_hash=ctx.cursor.body_hash,
            extra_headers=ACCEPT_JSON,
        )
        result = await ctx.fetcher.fetch(request)
        if result.content is None:
            return Harvest(task, result)
        document, error = read_json(result.content)
        if error is not None:
            return Harvest(task, result, parser="json", parse_error=error)
        found, error = read_hits(document)
        return Harvest(task, result, found, parser="json", parse_error=error)
