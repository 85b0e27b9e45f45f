"""Mastodon: the public hashtag timelines of one instance (``GET /api/v1/timelines/tag/:tag``).

The source URL is the instance (``https://mastodon.social``). Each run reads, once per distinct
hashtag, the latest ``limit`` public statuses tagged with it: the tags of ``options.tags`` for
the stories listed there, and for every other active story tags derived from its search terms
(``"port strike" OR dockworkers`` -> ``portstrike``, ``dockworkers``). Two stories that share a
tag fetch it once. Which story a status belongs to is decided later, like for every source, by
matching it against each story's full query.

A mention is one status. A boost (``reblog`` set) stands for the status it boosts, so a post
boosted twice is one mention. The external id is the status's ``uri``, which is the same on
every instance; ``outlet`` is the author's home instance (the community), ``score`` favourites
plus boosts and ``comments`` replies. A 429 answer's ``X-RateLimit-Reset`` is read by the
fetcher as the time to wait (see :mod:`noisecast.feeds.http`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, field_validator

from noisecast.feeds.base import Harvest, HarvestContext, SourceInfo, StoryInfo, Task
from noisecast.feeds.jsonapi import as_int, as_text, as_time, harvest_json, read_items
from noisecast.feeds.mention import Mention
from noisecast.feeds.parse import SUMMARY_LIMIT, _plain_text
from noisecast.feeds.registry import register
from noisecast.feeds.searchterms import positive_terms
from noisecast.feeds.urls import canonical_url, outlet_host

TITLE_LIMIT = 200
_HASHTAG = re.compile(r"\w+")  # letters, digits and underscores, in any script
MIN_WORD = 3


class MastodonOptions(BaseModel):
    """``options`` of a ``mastodon`` source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tags: dict[str, list[str]] = Field(default_factory=dict)  # story slug -> hashtags
    max_derived_tags: int = Field(3, ge=0, le=10)  # for stories not in ``tags``
    limit: int = Field(40, ge=1, le=40)  # statuses per timeline request (Mastodon's maximum)
    local: bool = False  # only statuses posted on this instance

    @field_validator("tags")
    @classmethod
    def _hashtags(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for slug, tags in value.items():
            names: list[str] = []
            for tag in tags:
                name = tag.strip().removeprefix("#").lower()
                if not _HASHTAG.fullmatch(name):
                    raise ValueError(
                        f"{slug}: {tag!r} is not a hashtag (letters, digits and _ only, "
                        "with or without the leading #)"
                    )
                if name not in names:
                    names.append(name)
            out[slug] = names
        return out


# --- tags for a story --------------------------------------------------------------------------


def _fold(text: str) -> str:
    """Lower case without accents: ``Grève`` -> ``greve``."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def derive_tags(search: str, *, limit: int) -> list[str]:
    """Hashtags for a story's search terms, in order: a quoted phrase is one tag with its spaces
    removed, a word is a tag; folded to lower-case letters and digits. Tags shorter than three
    characters, operators, ``NOT`` clauses and prefixes (``climat*``) give none."""
    tags: list[str] = []
    for term in positive_terms(search):
        if len(tags) >= limit:
            break
        if term.endswith("*"):
            continue
        tag = "".join(ch for ch in _fold(term) if ch.isalnum())
        if len(tag) >= MIN_WORD and tag not in tags:
            tags.append(tag)
    return tags


def story_tags(options: MastodonOptions, story: StoryInfo) -> list[str]:
    """The hashtags configured for ``story``, else derived from its search terms."""
    if story.slug in options.tags:
        return options.tags[story.slug]
    return derive_tags(story.search or story.query, limit=options.max_derived_tags)


# --- statuses to mentions ----------------------------------------------------------------------


def shorten(text: str, limit: int = TITLE_LIMIT) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, with "…" if cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if text[limit - 1] != " " and " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip() + "…"


_HASHTAG_IN_TEXT = re.compile(r"#(\w+)")
_CAMEL_BREAK = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def hashtag_words(text: str) -> str:
    """The words of CamelCase hashtags, so that ``#PortStrike`` can match "port strike":
    ``"Day 3 #PortStrike #AIAct"`` -> ``"Port Strike AI Act"``. One-word tags add nothing."""
    split = (_CAMEL_BREAK.sub(" ", tag) for tag in _HASHTAG_IN_TEXT.findall(text))
    return " ".join(words for words in split if " " in words)


def status_mention(status: Mapping[str, Any]) -> Mention | None:
    """One status (the boosted one, for a boost) as a Mention; None without an id."""
    boosted = status.get("reblog")
    if isinstance(boosted, dict):
        status = boosted
    external_id = as_text(status.get("uri")) or as_text(status.get("id"))
    if external_id is None:
        return None
    account = status.get("account")
    account = account if isinstance(account, dict) else {}
    card = status.get("card")
    card = card if isinstance(card, dict) else {}
    warning = _plain_text(status.get("spoiler_text"), True)
    body = _plain_text(status.get("content"), True)
    text = " ".join(part for part in (warning, body) if part)
    url = as_text(status.get("url")) or as_text(status.get("uri"))
    favourites = as_int(status.get("favourites_count"))
    boosts = as_int(status.get("reblogs_count"))
    return Mention(
        external_id=external_id,
        title=shorten(text) or _plain_text(card.get("title")) or (url or ""),
        url=url,
        canonical_url=canonical_url(url),
        summary=" ".join(part for part in (text, hashtag_words(text)) if part)[:SUMMARY_LIMIT],
        author=as_text(account.get("acct")),
        outlet=outlet_host(as_text(account.get("url"))) or outlet_host(url),
        published_at=as_time(status.get("created_at")),
        score=None if favourites is None and boosts is None else (favourites or 0) + (boosts or 0),
        comments=as_int(status.get("replies_count")),
        link_url=as_text(card.get("url")),
    )


def read_statuses(document: Any) -> tuple[list[Mention], str | None]:
    """The mentions of a timeline response, and what was wrong with it, if anything."""
    if isinstance(document, dict) and isinstance(document.get("error"), str):
        return [], f"the server answered with an error: {document['error']}"
    if not isinstance(document, list):
        return [], f"expected a JSON array of statuses, got {type(document).__name__}"
    read, skipped = read_items(
        document, lambda status: status_mention(status) if isinstance(status, dict) else None,
        "status",
    )  # fmt: skip
    found: dict[str, Mention] = {}
    for mention in read:
        found.setdefault(mention.external_id, mention)  # a post boosted twice is one mention
    if skipped:
        return list(found.values()), (
            f"{skipped} of {len(document)} statuses skipped (not an object with a uri or id)"
        )
    return list(found.values()), None


# --- the collector -----------------------------------------------------------------------------


@register("mastodon")
class MastodonCollector:
    """One hashtag timeline per distinct tag of the active stories, on one instance."""

    kind: ClassVar[str] = "mastodon"
    Options: ClassVar[type[MastodonOptions]] = MastodonOptions
    default_url: ClassVar[str | None] = None

    def tasks(self, source: SourceInfo, stories: Sequence[StoryInfo]) -> list[Task]:
        options: MastodonOptions = source.options
        instance = source.url.rstrip("/")
        query = f"?limit={options.limit}" + ("&local=true" if options.local else "")
        tags: list[str] = []
        for story in stories:
            tags.extend(t for t in story_tags(options, story) if t not in tags)
        return [
            Task(
                key=f"tag:{tag}",
                url=f"{instance}/api/v1/timelines/tag/{quote(tag, safe='')}{query}",
                params={"tag": tag},
            )
            for tag in tags
        ]

    async def harvest(self, task: Task, ctx: HarvestContext) -> Harvest:
        return await harvest_json(task, ctx, task.url, read_statuses)
