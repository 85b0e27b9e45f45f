"""Checking a new web feed before it is added: one fetch, and feed autodiscovery on a homepage.

``noisecast sources add URL`` fetches ``URL`` once through the collector's own fetcher
(:class:`noisecast.feeds.http.PoliteFetcher`, with its limits and its refusal of private addresses)
and parses it with :func:`noisecast.feeds.parse.parse_feed`. A feed is accepted as it is. A web page
is read for ``<link rel="alternate" type="application/rss+xml" href="...">`` (Atom, RDF and JSON
Feed too); the first such link is fetched and checked in turn, and becomes the source's URL. An
unreachable network is not an error (the source is added unchecked, and says so); a server that
answers with an error, or a page without a feed, is.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin

from noisecast.engine.config import CollectorSettings
from noisecast.engine.errors import ConfigError
from noisecast.engine.jobs.collect import politeness
from noisecast.feeds.http import FetchRequest, FetchResult, PoliteFetcher, address_refusal
from noisecast.feeds.parse import parse_feed

# Link types that announce a feed, and the source kind each one is.
FEED_TYPES = {
    "application/rss+xml": "rss",
    "application/rdf+xml": "rss",
    "application/atom+xml": "atom",
    "application/feed+json": "rss",
}
_UNREACHABLE = frozenset({"timeout", "network"})


@dataclass(frozen=True, slots=True)
class FeedLink:
    url: str
    kind: str  # rss or atom, from the link's type
    title: str | None


@dataclass(frozen=True, slots=True)
class FeedCheck:
    """What one checking fetch found. ``url`` is the feed to add (the discovered one when
    ``page`` is set); ``reachable`` is False when the network did not answer."""

    url: str
    reachable: bool
    page: str | None = None  # the homepage the feed was discovered on
    kind: str | None = None  # from the discovered link's type
    title: str | None = None
    entries: int = 0
    note: str | None = None  # why it could not be checked


class _LinkFinder(HTMLParser):
    def __init__(self, base: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base = base
        self.links: list[FeedLink] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "base":
            href = dict(attrs).get("href")
            if href:
                self.base = urljoin(self.base, href.strip())
            return
        if tag != "link":
            return
        values = {k.lower(): (v or "") for k, v in attrs}
        rel = values.get("rel", "").lower().split()
        kind = FEED_TYPES.get(values.get("type", "").split(";")[0].strip().lower())
        href = values.get("href", "").strip()
        if "alternate" in rel and kind and href:
            title = values.get("title", "").strip() or None
            self.links.append(FeedLink(urljoin(self.base, href), kind, title))


def feed_links(html: bytes | str, base_url: str) -> list[FeedLink]:
    """The feeds a web page announces with ``<link rel="alternate" type=...>``, in page order,
    as absolute URLs (relative to the page's ``<base>`` or ``base_url``)."""
    text = html if isinstance(html, str) else html.decode("utf-8", "replace")
    finder = _LinkFinder(base_url)
    finder.feed(text)
    finder.close()
    unique: dict[str, FeedLink] = {}
    for link in finder.links:
        unique.setdefault(link.url, link)
    return list(unique.values())


def check_address(url: str, collector: CollectorSettings) -> None:
    """Refuse a URL whose host is (or resolves to) a link-local, metadata or private address
    that ``[collector] allow_private_networks`` does not allow."""
    problem = address_refusal(url, collector.allow_private_networks)
    if problem:
        raise ConfigError(f"sources add: {url}: {problem}")


def check_feed(url: str, collector: CollectorSettings) -> FeedCheck:
    """Fetch ``url`` once; accept a feed, discover one on a web page, refuse anything else.

    Raises ConfigError naming the URL and what to do; returns ``reachable=False`` when the
    network did not answer (a timeout, a refused connection, a name that does not resolve)."""
    check_address(url, collector)
    return asyncio.run(_check(url, collector))


async def _check(url: str, collector: CollectorSettings) -> FeedCheck:
    async with PoliteFetcher(politeness(collector)) as fetcher:
        result = await fetcher.fetch(FetchRequest(url))
        if result.error_kind in _UNREACHABLE:
            return FeedCheck(url, reachable=False, note=result.error)
        content = _content(url, result)
        parsed = parse_feed(content, url=result.url, content_type=result.content_type)
        if parsed.entries or not parsed.malformed:
            return FeedCheck(url, True, title=parsed.title, entries=len(parsed.entries))
        links = feed_links(content, result.url) if _looks_like_html(result, content) else []
        if not links:
            why = (
                "a web page without a feed link"
                if _looks_like_html(result, content)
                else (f"not a feed ({parsed.error or 'nothing readable'})")
            )
            raise ConfigError(
                f"sources add: {url}: {why}. Give the feed's own URL, or add --no-check to add "
                "it unchecked"
            )
        link = links[0]
        check_address(link.url, collector)
        found = await fetcher.fetch(FetchRequest(link.url))
        if found.error_kind in _UNREACHABLE:
            return FeedCheck(link.url, False, page=url, kind=link.kind, note=found.error)
        content = _content(link.url, found, page=url)
        parsed = parse_feed(content, url=found.url, content_type=found.content_type)
        if not parsed.entries and parsed.malformed:
            raise ConfigError(
                f"sources add: {url} links to {link.url}, which is not a feed "
                f"({parsed.error or 'nothing readable'}); give the feed's own URL"
            )
        return FeedCheck(
            link.url,
            True,
            page=url,
            kind=link.kind,
            title=parsed.title or link.title,
            entries=len(parsed.entries),
        )


def _content(url: str, result: FetchResult, *, page: str | None = None) -> bytes:
    """The body of a successful fetch, or a ConfigError saying what the server answered."""
    if result.error_kind is not None or result.content is None:
        where = f"{page} links to {url}, which" if page else url
        raise ConfigError(
            f"sources add: {where} could not be fetched: {result.error or 'no content'}. "
            "Check the URL, or add --no-check to add it unchecked"
        )
    return result.content


def _looks_like_html(result: FetchResult, content: bytes) -> bool:
    if "html" in (result.content_type or "").lower():
        return True
    head = content[:2048].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head
