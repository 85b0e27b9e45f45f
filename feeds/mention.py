"""The record every collector yields: one mention of the news, from one source."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from noisecast.feeds.dates import plausible

TITLE_LIMIT = 500
SUMMARY_LIMIT = 5000
NAME_LIMIT = 300  # author, outlet
ID_LIMIT = 2000  # a longer id is kept as its hash (an index entry has a size limit)
URL_LIMIT = 4000  # a longer "URL" is dropped
COUNT_MAX = 2**63 - 1


def count(value: object) -> int | None:
    """An engagement count as an int in ``0..COUNT_MAX``: negative ones are 0, huge ones
    ``COUNT_MAX``; None for None, NaN, a bool or anything that is not a number. A whole float
    (``12.0``, as some APIs send) counts; a fractional one is cut."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return COUNT_MAX if value > 0 else 0
        value = int(value)
    if not isinstance(value, int):
        return None
    return min(max(value, 0), COUNT_MAX)


def _text(value: object, limit: int) -> str:
    if not isinstance(value, str):
        value = "" if value is None else str(value)
    if len(value) > limit:
        value = value[: limit - 1].rstrip() + "…"
    return value


def web_url(value: object) -> str | None:
    """``value`` if it is an absolute http(s) URL of sane length, else None (``javascript:``,
    ``data:``, a relative path, a megabyte of text)."""
    if not isinstance(value, str) or not value or len(value) > URL_LIMIT:
        return None
    value = value.strip()
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return None
    return value if parts.scheme.lower() in ("http", "https") and parts.hostname else None


def _external_id(value: object) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) > ID_LIMIT:
        return "sha1:" + hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()
    return text


@dataclass(frozen=True, slots=True)
class Mention:
    """One item seen on a source (a feed entry, a post, a toot).

    ``external_id`` is unique within its source (a feed entry's guid, else its link).
    ``outlet`` is the publisher's host for web feeds, or the community (``r/worldnews``,
    ``news.ycombinator.com``, a Mastodon instance) for social sources, where ``url`` is the
    post's permalink and ``link_url`` the page it links to. ``score`` and ``comments`` are the
    engagement (upvotes or points or favourites+boosts; replies). Timestamps are aware UTC.

    Whatever a collector passes is fitted on construction, so that one odd item cannot fail
    its source: the title is cut to 500 characters and the summary to 5,000 (with "…"), an id
    longer than 2,000 characters becomes its SHA-1, URLs that are not http(s) are dropped,
    counts are clamped to ``0..2**63-1`` (None if not numbers) and a date outside
    1990..2099 is dropped (:func:`noisecast.feeds.dates.plausible`).
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

    def __post_init__(self) -> None:
        fit = object.__setattr__  # frozen: the constructor is the one place values change
        fit(self, "external_id", _external_id(self.external_id))
        fit(self, "title", _text(self.title, TITLE_LIMIT))
        fit(self, "summary", _text(self.summary, SUMMARY_LIMIT))
        fit(self, "author", _text(self.author, NAME_LIMIT) or None)
        fit(self, "outlet", _text(self.outlet, NAME_LIMIT) or None)
        fit(self, "url", web_url(self.url))
        fit(self, "canonical_url", web_url(self.canonical_url))
        fit(self, "link_url", web_url(self.link_url))
        fit(self, "score", count(self.score))
        fit(self, "comments", count(self.comments))
        published = self.published_at
        fit(self, "published_at", plausible(published) if isinstance(published, datetime) else None)
