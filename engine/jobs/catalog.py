"""What noisecast tracks: sources and stories, from config.toml or added by hand.

Nothing a user adds by hand is silently overwritten: ``add_source`` and ``add_story`` refuse a
name that is taken (:class:`~noisecast.engine.errors.AlreadyExistsError`) unless asked to
``replace``. A removed source keeps its row, disabled with the reason ``REMOVED``, because its
mentions refer to it (and ``mentions.source_id`` cascades on delete); config sync leaves it alone.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from noisecast.engine.config import Settings, SourceSettings, StorySettings, validate
from noisecast.engine.errors import AlreadyExistsError
from noisecast.engine.jobs.discovery import FeedCheck, check_address, check_feed
from noisecast.engine.jobs.rematch import rematch_story
from noisecast.engine.store import Store
from noisecast.engine.store._sources import REMOVED
from noisecast.feeds.urls import outlet_host

FEED_KINDS = ("rss", "atom")
# Path words that say "a feed" rather than which one: left out of default names.
_GENERIC = frozenset(
    {"rss", "rss2", "feed", "noisecast.feeds", "atom", "xml", "rdf", "index", "default"}
)
_SUFFIX = re.compile(r"\.(xml|rss|atom|rdf|php|aspx?|html?|cms|json|jsp)$")
_SLUG_MAX = 40


@dataclass(frozen=True, slots=True)
class SyncReport:
    sources_created: int
    sources_updated: int
    stories_created: int
    stories_updated: int
    rematched: int = 0
    sources_removed: int = 0  # in config, but removed by hand: left removed
    alert_rules_created: int = 0
    alert_rules_updated: int = 0  # config's rules an admin edited are left alone


def sync_from_config(store: Store, settings: Settings, *, now: datetime) -> SyncReport:
    """Create or update every ``[[sources]]`` and ``[[stories]]`` of config in the database.

    Sources and stories that are only in the database (added with the CLI) are left alone, and
    so are sources removed with ``noisecast sources remove``. A source config disabled is
    enabled again when config says ``enabled = true`` once more. Stories get config's tags;
    ``[[alerts.rules]]`` are synced too (Store.sync_alert_rules: a rule an admin edited in the
    review app is left alone).
    """
    counts = [0, 0, 0, 0, 0, 0]
    for src in settings.sources:
        known = store.find_source(src.name)
        if known is not None and known["disabled_reason"] == REMOVED:
            counts[5] += 1
            continue
        _, created = store.upsert_source(
            kind=src.kind,
            name=src.name,
            url=src.endpoint,
            interval_minutes=src.interval_minutes or settings.collector.default_interval_minutes,
            now=now,
            settings={"options": src.options} if src.options else None,
        )
        counts[0 if created else 1] += 1
        if not src.enabled:
            store.disable_source(src.name, reason=CONFIG_DISABLED, now=now)
        elif known is not None and known["disabled_reason"] == CONFIG_DISABLED:
            store.enable_source(src.name, now=now)
    for story in settings.stories:
        change = store.upsert_story(story.slug, story.title, story.query, now=now, tags=story.tags)
        counts[2 if change.created else 3] += 1
        if change.query_changed and settings.matching.rematch_days:
            rematch_story(
                store, story.slug, story.query, now=now, days=settings.matching.rematch_days
            )
            counts[4] += 1
    rules_created, rules_updated = store.sync_alert_rules(settings.alerts.rules, now=now)
    return SyncReport(
        sources_created=counts[0],
        sources_updated=counts[1],
        stories_created=counts[2],
        stories_updated=counts[3],
        rematched=counts[4],
        sources_removed=counts[5],
        alert_rules_created=rules_created,
        alert_rules_updated=rules_updated,
    )


CONFIG_DISABLED = "disabled in config"


def default_source_name(url: str) -> str:
    """A name for a feed: its host and a short slug of its path, without the words that only
    say "feed". ``https://feeds.bbci.co.uk/news/world/rss.xml`` -> ``feeds.bbci.co.uk-news-world``.
    """
    host = outlet_host(url) or "source"
    words: list[str] = []
    for segment in urlsplit(url).path.lower().split("/"):
        for word in re.split(r"[^a-z0-9]+", _SUFFIX.sub("", segment)):
            if word and word not in _GENERIC:
                words.append(word)
    slug = "-".join(words)[:_SLUG_MAX].strip("-")
    return f"{host}-{slug}" if slug else host


@dataclass(frozen=True, slots=True)
class AddedSource:
    name: str
    url: str
    kind: str
    created: bool
    check: FeedCheck | None  # None: not checked (--no-check, or not a web feed)


def add_source(
    store: Store,
    settings: Settings,
    url: str,
    *,
    kind: str | None = None,
    name: str | None = None,
    now: datetime,
    replace: bool = False,
    check: bool = True,
) -> AddedSource:
    """Add one source, checked first (see :mod:`noisecast.engine.jobs.discovery`): a homepage's feed
    is found and added instead. Its name defaults to the feed's host and path
    (:func:`default_source_name`). A taken name is refused unless ``replace``."""
    validate(
        SourceSettings, {"kind": kind or "rss", "name": name or "-", "url": url}, "sources add"
    )
    found: FeedCheck | None = None
    if check and (kind or "rss") in FEED_KINDS and "{query}" not in url:
        found = check_feed(url, settings.collector)
        url = found.url
        kind = kind or found.kind
    else:
        check_address(url.replace("{query}", "q"), settings.collector)
    kind = kind or "rss"
    name = name or _free_name(store, url, replace)
    _, created = store.upsert_source(
        kind=kind,
        name=name,
        url=url,
        interval_minutes=settings.collector.default_interval_minutes,
        now=now,
        exists_ok=replace,
    )
    return AddedSource(name, url, kind, created, found)


def _free_name(store: Store, url: str, replace: bool) -> str:
    """The default name of ``url``; if another feed has it, with a short hash of the URL."""
    name = default_source_name(url)
    same = store.source_names_of(url)
    if same and not replace:
        raise AlreadyExistsError(
            f"{url} is already the source {same[0]!r}: add --replace to replace that one, or "
            "--name to add the same feed under another name"
        )
    if same:
        return same[0]
    if store.find_source(name) is not None:
        return f"{name}-{hashlib.sha1(url.encode()).hexdigest()[:6]}"
    return name


def add_story(
    store: Store,
    settings: Settings,
    slug: str,
    title: str,
    query: str,
    *,
    now: datetime,
    replace: bool = False,
) -> bool:
    """Add a story, or with ``replace`` update and reactivate a known one; rematch the recent
    mentions if its query is new. The query must parse. Returns whether it was created."""
    validate(StorySettings, {"slug": slug, "title": title, "query": query}, "stories add")
    change = store.upsert_story(slug, title, query, now=now, reactivate=True, exists_ok=replace)
    if change.query_changed and settings.matching.rematch_days:
        rematch_story(store, slug, query, now=now, days=settings.matching.rematch_days)
    return change.created
