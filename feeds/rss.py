"""RSS, RDF and Atom feeds: parsed entries become mentions.

The external id is the entry's guid, else its link, else a hash of its title and date (so that
an entry with neither is still stored once). The outlet is the publisher's host, taken from the
entry's link, else from the feed's own link, else from the URL we fetched.
"""

from __future__ import annotations

import hashlib

from feeds.mention import Mention
from feeds.parse import FeedEntry, ParsedFeed, parse_feed
from feeds.urls import canonical_url, outlet_host

KINDS = ("rss", "atom")


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
