"""A simulated news cycle, rendered as real RSS 2.0 and Atom 1.0 documents.

Pure: no I/O, no clock (``start`` and ``now`` are arguments), one seeded ``random.Random``.
The same ``(start, hours, seed)`` always gives the same articles, guids and feed bytes.

Each story has an expected hourly mention rate that draws its life cycle (``shape``). The
number of original articles in an hour is Poisson with that rate, and each goes to an outlet
that covers the story, in proportion to the outlet's output. Wire articles are sometimes
re-published by 1-3 other outlets minutes later under the same title (their own guid and URL,
``canonical_url`` pointing at the wire's). Original titles are unique across the cycle, so two
articles share a title only when one is a syndicated copy of the other.

The setting is fictional: the port city of Porthaven on the River Elden, its council, its
bank (Northmere) and its football club (Saltmarsh Rovers). Hosts end in ``.example``.
"""

from __future__ import annotations

import bisect
import html
import math
import random
import re
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import cached_property
from urllib.parse import urlsplit

from noisecast.engine.demo._catalogue import (
    AUTHORS,
    FILLER,
    OUTLETS,
    STORIES,
    UNTRACKED,
    OutletProfile,
    StoryText,
)
from noisecast.engine.demo.social import SocialPost, generate_posts

__all__ = [
    "SHAPES",
    "DemoArticle",
    "DemoOutlet",
    "DemoStory",
    "NewsCycle",
    "generate_cycle",
    "render_feed",
]

SHAPES = ("spike", "slow_burn", "steady", "late_breaker", "noise", "emerging")
FILLER_RATE = 16.0  # expected filler articles (weather, sport, culture...) per hour, all outlets
SYNDICATION_P = 0.4  # chance that a wire article is re-published by other outlets
SCOOPS = ("blog", "trade")  # the kinds of outlet that break a late breaker
_DC = "http://purl.org/dc/elements/1.1/"
_ATOM = "http://www.w3.org/2005/Atom"


@dataclass(frozen=True)
class DemoStory:
    slug: str
    title: str
    query: str
    shape: str  # one of SHAPES


@dataclass(frozen=True)
class DemoOutlet:
    slug: str
    name: str
    host: str
    format: str  # "rss" | "atom"


@dataclass(frozen=True)
class DemoArticle:
    """One article at one outlet. ``summary`` is an HTML fragment, as in an RSS description."""

    outlet: str  # DemoOutlet.slug
    story: str | None  # DemoStory.slug; None for filler that matches no story
    guid: str
    url: str
    title: str
    summary: str
    author: str
    published: datetime  # UTC, whole seconds
    canonical_url: str | None = None  # for a syndicated copy: the wire original's URL


@dataclass(frozen=True)
class NewsCycle:
    start: datetime
    hours: int
    stories: tuple[DemoStory, ...]
    outlets: tuple[DemoOutlet, ...]
    articles: tuple[DemoArticle, ...]  # sorted by published
    posts: tuple[SocialPost, ...] = ()  # Hacker News and Mastodon, sorted by published
    # Stories published but never configured (issue 14): what the Emerging tab should find.
    untracked: tuple[DemoStory, ...] = ()

    @cached_property
    def _by_outlet(self) -> dict[str, tuple[list[datetime], list[DemoArticle]]]:
        index: dict[str, tuple[list[datetime], list[DemoArticle]]] = {
            o.slug: ([], []) for o in self.outlets
        }
        for article in self.articles:
            times, items = index[article.outlet]
            times.append(article.published)
            items.append(article)
        return index

    def outlet(self, slug: str) -> DemoOutlet:
        for outlet in self.outlets:
            if outlet.slug == slug:
                return outlet
        raise KeyError(f"unknown demo outlet {slug!r}; known: {[o.slug for o in self.outlets]}")

    def visible(self, outlet: str, now: datetime, limit: int = 30) -> list[DemoArticle]:
        """The outlet's newest ``limit`` articles published at or before ``now``, newest first.

        What a real feed shows at ``now``: a sliding window, so older articles drop off.
        """
        if outlet not in self._by_outlet:
            raise KeyError(f"unknown demo outlet {outlet!r}; see NewsCycle.outlets")
        times, items = self._by_outlet[outlet]
        end = bisect.bisect_right(times, now)
        return items[max(0, end - limit) : end][::-1]


# --- catalogue --------------------------------------------------------------------------------


# --- generation -------------------------------------------------------------------------------


def _rate(shape: str, h: float, when: datetime) -> float:
    """Expected original articles per hour, all outlets together, ``h`` hours into the cycle."""
    if shape == "spike":  # port strike: rumours, a burst peaking at hour 10, then a trickle
        if h < 7:
            return 0.3
        if h < 10:
            return 42.0 * ((h - 7) / 3) ** 2 + 0.3
        return 42.0 * math.exp(-(h - 10) / 6) + 0.3
    if shape == "slow_burn":  # river flood: slow, accelerating
        return 0.6 * math.exp(h / 21)
    if shape == "steady":  # city budget: flat, with the newsroom's daily rhythm
        return 7.5 * _daily(when, 0.6)
    if shape == "late_breaker":  # bank breach: nothing until hour 54, then a sharp rise
        # (and one scoop by a specialist the hour before: see generate_cycle)
        return 0.0 if h < 54 else 3.0 + 2.0 * (h - 54)
    if shape == "emerging":  # a chip export ban nobody tracks: from hour 46, up to 8 an hour
        return 0.0 if h < 46 else min(1.5 + 0.4 * (h - 46), 8.0)
    if shape == "filler":
        return FILLER_RATE * _daily(when, 0.5)
    raise ValueError(f"unknown story shape {shape!r}; use one of {SHAPES}")


def _daily(when: datetime, amplitude: float) -> float:
    """A newsroom's day: busiest mid-afternoon (UTC), quietest before dawn. Mean 1."""
    hour = when.hour + when.minute / 60
    return 1.0 + amplitude * math.sin(2 * math.pi * (hour - 9) / 24)


def _rates(shape: str, start: datetime, hours: int, rng: random.Random) -> list[float]:
    if shape == "noise":  # a bursty trickle: gamma-mixed Poisson, mean 0.5 an hour
        return [0.5 * rng.gammavariate(0.4, 2.5) for _ in range(hours)]
    return [_rate(shape, h + 0.5, start + timedelta(hours=h, minutes=30)) for h in range(hours)]


def _poisson(rng: random.Random, lam: float) -> int:
    """Knuth's multiplication method; exact, and quick for the rates used here (< 60)."""
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _fill(template: str, slots: dict[str, tuple[str, ...]], rng: random.Random, day: int) -> str:
    """Fill ``{name}`` placeholders: a slot's vocabulary, or one of the built-in numbers."""

    def pick(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in slots:
            return rng.choice(slots[name])
        if name == "day":
            return str(day)
        if name == "n":
            return str(rng.randint(3, 60))
        if name == "k":
            return f"{rng.randint(2, 95) * 1000:,}"
        if name == "m":
            return str(rng.randint(2, 40))
        if name == "pct":
            return f"{rng.randint(1, 14)}.{rng.randint(0, 9)}"
        if name == "temp":
            return str(rng.randint(-3, 16))
        if name == "clock":
            return f"{rng.randint(5, 22):02d}:{rng.choice(('00', '15', '30', '45'))}"
        raise KeyError(f"demo template {template!r} uses unknown slot {{{name}}}")

    return re.sub(r"\{(\w+)\}", pick, template)


def _write(
    texts: tuple[StoryText, ...], rng: random.Random, hour: int, seen: set[str]
) -> tuple[str, str, str]:
    """(title, summary HTML, section) for an article at ``hour``; the title is new to the cycle."""
    day = hour // 24 + 1
    for _ in range(200):
        text = rng.choice(texts)
        late = text.late_from is not None and hour >= text.late_from
        title = _fill(rng.choice(text.late_titles if late else text.titles), text.slots, rng, day)
        if title not in seen:
            break
    else:  # vocabulary nearly exhausted: number the edition, as live pages do
        base, edition = title, 2
        while (title := f"{base} – update {edition}") in seen:
            edition += 1
    seen.add(title)
    template = rng.choice(text.late_summaries if late else text.summaries)
    summary = html.escape(_fill(template, text.slots, rng, day), quote=False)
    if rng.random() < 0.15:
        label = rng.choice(("Update:", "Breaking:", "Analysis:", "Exclusive:"))
        summary = f"<b>{label}</b> {summary}"
    return title, summary, rng.choice(text.sections)


def _slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60]


@dataclass
class _Draft:
    outlet: str
    story: str | None
    title: str
    summary: str
    author: str
    published: datetime
    section: str
    original: _Draft | None = None  # set on syndicated copies
    url: str = ""  # assigned once all drafts are in time order


def generate_cycle(start: datetime, hours: int = 72, seed: int = 20261126) -> NewsCycle:
    """Simulate ``hours`` hours of news from ``start`` (timezone-aware), deterministic per seed.

    ``start`` is converted to UTC and truncated to whole seconds.
    """
    if start.tzinfo is None:
        raise ValueError("generate_cycle needs an aware start, e.g. datetime(..., tzinfo=UTC)")
    if hours < 1:
        raise ValueError(f"generate_cycle needs hours >= 1, got {hours}")
    start = start.astimezone(UTC).replace(microsecond=0)
    end = start + timedelta(hours=hours)
    rng = random.Random(seed)
    staff = {p.slug: rng.sample(AUTHORS, p.staff) for p in OUTLETS}

    drafts: list[_Draft] = []
    seen_titles: set[str] = set()
    topics: list[tuple[str | None, str, tuple[StoryText, ...]]] = [
        (s.slug, s.shape, (s.text,)) for s in STORIES
    ]
    topics.append((None, "filler", FILLER))
    for story, shape, texts in topics:
        drafts += _drafts(story, shape, texts, start, hours, rng, staff, seen_titles)
    # The untracked stories draw from their own random stream, after everything else: the
    # tracked stories' and the filler's articles are the same with or without them.
    apart = random.Random(f"{seed}/untracked")
    extra: list[_Draft] = []
    for spec in UNTRACKED:
        extra += _drafts(
            spec.slug, spec.shape, (spec.text,), start, hours, apart, staff, seen_titles
        )
    extra_ids = {id(d) for d in extra}
    drafts = sorted(drafts + extra, key=lambda d: (d.published, d.outlet, d.title))
    profiles = {p.slug: p for p in OUTLETS}
    last_id = {p.slug: rng.randrange(100_000, 9_000_000) for p in OUTLETS}  # CMS-style ids
    apart_id = {p.slug: apart.randrange(20_000_000, 30_000_000) for p in OUTLETS}
    articles = []
    for d in drafts:
        profile = profiles[d.outlet]
        if id(d) in extra_ids:  # their own id range: the others' ids stay as they were
            apart_id[d.outlet] += apart.randint(1, 37)
            article_id = apart_id[d.outlet]
        else:
            last_id[d.outlet] += rng.randint(1, 37)
            article_id = last_id[d.outlet]
        d.url = (
            f"https://{profile.host}/{d.section}/{d.published:%Y/%m/%d}/"
            f"{_slugify(d.title)}-{article_id}"
        )
        if profile.format == "rss":
            guid = f"https://{profile.host}/?p={article_id}"
        else:
            guid = f"tag:{profile.host},{start:%Y-%m-%d}:article-{article_id}"
        canonical = d.original.url if d.original else None  # originals sort first: url is set
        articles.append(
            DemoArticle(
                d.outlet, d.story, guid, d.url, d.title, d.summary, d.author, d.published, canonical
            )
        )
    stories = tuple(DemoStory(s.slug, s.title, s.query, s.shape) for s in STORIES)
    outlets = tuple(DemoOutlet(p.slug, p.name, p.host, p.format) for p in OUTLETS)
    posts = generate_posts(articles, {s.slug: s.query for s in stories}, end, seed)
    untracked = tuple(DemoStory(s.slug, s.title, s.query, s.shape) for s in UNTRACKED)
    return NewsCycle(start, hours, stories, outlets, tuple(articles), posts, untracked)


def _drafts(
    story: str | None,
    shape: str,
    texts: tuple[StoryText, ...],
    start: datetime,
    hours: int,
    rng: random.Random,
    staff: dict[str, list[str]],
    seen_titles: set[str],
) -> list[_Draft]:
    """One topic's articles over the cycle (and their syndicated copies)."""
    end = start + timedelta(hours=hours)
    drafts: list[_Draft] = []
    covering = [p for p in OUTLETS if p.covers.get(story or "filler", 0.0) > 0]
    weights = [p.weight * p.covers[story or "filler"] for p in covering]
    scoopers = [(p, w) for p, w in zip(covering, weights, strict=True) if p.kind in SCOOPS]
    rates = _rates(shape, start, hours, rng)
    for h, lam in enumerate(rates):
        # A late breaker is broken by a specialist (a blog, a trade title) an hour before
        # the wires and the papers pick it up.
        scoop = shape == "late_breaker" and lam == 0 and h + 1 < hours and rates[h + 1] > 0
        for _ in range(1 if scoop and scoopers else _poisson(rng, lam)):
            if scoop:
                outlet = rng.choices([p for p, _ in scoopers], [w for _, w in scoopers])[0]
            else:
                outlet = rng.choices(covering, weights)[0]
            published = start + timedelta(hours=h, seconds=rng.randrange(3600))
            title, summary, section = _write(texts, rng, h, seen_titles)
            author = rng.choice(staff[outlet.slug])
            draft = _Draft(outlet.slug, story, title, summary, author, published, section)
            drafts.append(draft)
            if outlet.kind == "wire" and rng.random() < SYNDICATION_P:
                drafts.extend(_syndicate(draft, outlet, covering, rng, end))
    return drafts


def _syndicate(
    draft: _Draft,
    wire: OutletProfile,
    covering: list[OutletProfile],
    rng: random.Random,
    end: datetime,
) -> list[_Draft]:
    """1-3 papers or stations re-publish a wire article 2-90 minutes later, same title."""
    takers = [p for p in covering if p.kind in ("national", "local", "trade")]
    copies = []
    for taker in rng.sample(takers, min(len(takers), rng.randint(1, 3))):
        published = draft.published + timedelta(minutes=rng.randint(2, 90))
        if published < end:
            summary = f"{draft.summary} ({html.escape(wire.name, quote=False)})"
            copies.append(
                _Draft(
                    taker.slug,
                    draft.story,
                    draft.title,
                    summary,
                    draft.author,
                    published,
                    draft.section,
                    original=draft,
                )
            )
    return copies


# --- rendering --------------------------------------------------------------------------------


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrib)
    if text is not None:
        element.text = text
    return element


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rfc822(dt: datetime) -> str:
    return format_datetime(dt.astimezone(UTC), usegmt=True)


def render_feed(cycle: NewsCycle, outlet: DemoOutlet, now: datetime, limit: int = 30) -> bytes:
    """The outlet's feed as it would read at ``now``: its newest ``limit`` articles.

    The bytes depend only on the visible articles (the feed's own dates are the newest
    article's), so a server may cache them per visible set.
    """
    items = cycle.visible(outlet.slug, now, limit)
    updated = items[0].published if items else cycle.start
    if outlet.format == "rss":
        wires = {o.host: o.name for o in cycle.outlets}
        root = _render_rss(outlet, items, updated, wires)
    else:
        root = _render_atom(outlet, items, updated)
    ET.indent(root)
    xml = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    assert isinstance(xml, bytes)  # for the type checker: an encoding other than "unicode"
    return xml


def _render_rss(
    outlet: DemoOutlet, items: list[DemoArticle], updated: datetime, wires: dict[str, str]
) -> ET.Element:
    # Namespace declarations written as plain attributes: no global ET.register_namespace.
    rss = ET.Element("rss", {"version": "2.0", "xmlns:dc": _DC})
    channel = _sub(rss, "channel")
    _sub(channel, "title", outlet.name)
    _sub(channel, "link", f"https://{outlet.host}/")
    _sub(channel, "description", f"The latest from {outlet.name}")
    _sub(channel, "language", "en-gb")
    _sub(channel, "lastBuildDate", _rfc822(updated))
    _sub(channel, "generator", "noisecast demo")
    _sub(channel, "ttl", "60")
    for a in items:
        item = _sub(channel, "item")
        _sub(item, "title", a.title)
        _sub(item, "link", a.url)
        _sub(item, "guid", a.guid, isPermaLink="false")
        _sub(item, "description", a.summary)  # HTML, escaped by ElementTree
        _sub(item, "pubDate", _rfc822(a.published))
        _sub(item, "dc:creator", a.author)
        if a.canonical_url:  # RSS has no canonical link: <source> names the wire and its copy
            wire = wires.get(urlsplit(a.canonical_url).hostname or "", "Wire")
            _sub(item, "source", wire, url=a.canonical_url)
    return rss


def _render_atom(outlet: DemoOutlet, items: list[DemoArticle], updated: datetime) -> ET.Element:
    feed = ET.Element("feed", {"xmlns": _ATOM, "xml:lang": "en-gb"})
    _sub(feed, "title", outlet.name)
    _sub(feed, "id", f"tag:{outlet.host},2026:feed")
    _sub(feed, "updated", _iso(updated))
    _sub(feed, "link", rel="alternate", type="text/html", href=f"https://{outlet.host}/")
    _sub(feed, "generator", "noisecast demo")
    for a in items:
        entry = _sub(feed, "entry")
        _sub(entry, "id", a.guid)
        _sub(entry, "title", a.title, type="text")
        _sub(entry, "link", rel="alternate", type="text/html", href=a.url)
        if a.canonical_url:
            _sub(entry, "link", rel="via", type="text/html", href=a.canonical_url)
        _sub(entry, "published", _iso(a.published))
        _sub(entry, "updated", _iso(a.published))
        author = _sub(entry, "author")
        _sub(author, "name", a.author)
        _sub(entry, "summary", a.summary, type="html")
    return feed
