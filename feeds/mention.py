"""The record every collector yields: one mention of the news, from one source."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Mention:
    """One item seen on a source (a feed entry, a post, a toot).

    ``external_id`` is unique within its source (a feed entry's guid, else its link).
    ``outlet`` is the publisher's host for web feeds, or the community (``r/worldnews``,
    ``news.ycombinator.com``, a Mastodon instance) for social sources, where ``url`` is the
    post's permalink and ``link_url`` the page it links to. ``score`` and ``comments`` are the
    engagement (upvotes or points or favourites+boosts; replies). Timestamps are aware UTC.
    """

    external_id: str
    title: str
    url: str | None = None
    canonical_url: str | None = None
    summary: str = ""
    author: str | None = None
    outlet: str | None = None
    published_at: datetime | None = None
    score: int | None = None
    comments: int | None = None
    link_url: str | None = None
