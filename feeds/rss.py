"""RSS, RDF and Atom feeds: parsed entries become mentions.

The external id is the entry's guid, else its link, else a hash of its title and date (so that
an entry with neither is still stored once). The outlet is the publisher's host, taken from the
entry's link, else from the feed's own link, else from the URL we fetched.

A source URL with ``{query}`` in it is a per-story search feed (a news search RSS endpoint): it
is fetched once per active story, with that story's search terms URL-encoded in its place.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import ClassVar
from urllib.parse import quote_plus

from noisecast.feeds.base import (
    Harvest,
    HarvestContext,
    NoOptions,
    SourceInfo,
    StoryInfo,
    Task,
    conditional_request,
)
from noisecast.feeds.mention import Mention
from noisecast.feeds.parse import FeedEntry, ParsedFeed, parse_feed
from noisecast.feeds.registry import register
from noisecast.feeds.text import printable
from noisecast.feeds.urls import canonical_url, outlet_host

KINDS = ("rss", "atom")
QUERY_SLOT = "{query}"


def entry_id(entry: FeedEntry) -> str | None:
    """The id that is stable across fetches: guid, else link, else title and date."""
    if entry.guid:
        return entry.guid
    if entry.link:
        return entry.link
    if entry.title:
        stamp = entry.published.isoformat() if entry.published else ""
        return "sha1:" + hashlib.sha1(f"{entry.title}\n{stamp}".encode()).hexdigest()
    return None


def to_mentions(feed: ParsedFeed, feed_url: str) -> list[Mention]:
    """Every entry that has an id and some text, as a Mention."""
    fallback_outlet = outlet_host(feed.link) or outlet_host(feed_url)
    out: list[Mention] = []
    for entry in feed.entries:
        ext = entry_id(entry)
        if ext is None:
            continue
        out.append(
            Mention(
                external_id=ext[:2000],
                title=entry.title or (entry.link or ""),
                url=entry.link,
                canonical_url=canonical_url(entry.link),
                summary=entry.summary,
                author=entry.author,
                outlet=outlet_host(entry.link) or fallback_outlet,
                published_at=entry.published,
            )
        )
    return out


def read_feed(
    content: bytes, *, url: str, content_type: str | None = None
) -> tuple[list[Mention], ParsedFeed]:
    """Parse feed bytes fetched from ``url``; never raises on bad content."""
    parsed = parse_feed(content, url=url, content_type=content_type)
    return to_mentions(parsed, url), parsed


@register(*KINDS)
class FeedCollector:
    """A web feed, or a search feed fetched once per story when its URL has ``{query}``."""

    kind: ClassVar[str] = "rss"
    Options: ClassVar[type[NoOptions]] = NoOptions
    default_url: ClassVar[str | None] = None

    def tasks(self, source: SourceInfo, stories: Sequence[StoryInfo]) -> list[Task]:
        if QUERY_SLOT not in source.url:
            return [Task(key="", url=source.url)]
        return [
            Task(
                key=f"story:{story.slug}",
                url=source.url.replace(QUERY_SLOT, quote_plus(story.search or story.query)),
                story=story.slug,
            )
            for story in stories
        ]

    async def harvest(self, task: Task, ctx: HarvestContext) -> Harvest:
        result = await ctx.fetcher.fetch(conditional_request(task.url, ctx.cursor))
        if result.content is None:
            return Harvest(task, result)
        found, parsed = read_feed(result.content, url=result.url, content_type=result.content_type)
        error = printable(parsed.error or "malformed feed") if parsed.malformed else None
        return Harvest(task, result, found, parser=parsed.parser, parse_error=error)
