"""The demo cycle's social side: Hacker News submissions and Mastodon statuses, as their APIs
return them.

Pure: no I/O, no clock (``now`` is an argument), one seeded ``random.Random`` of its own, so
adding posts leaves the cycle's articles exactly as they were.

**Volume follows the story, a little late.** A post shares one of the story's original
articles (never a syndicated copy, never filler): each article is shared on a platform with
that story's probability (:data:`SHARES`), after a lag of ``LAGS[platform]`` plus an
exponential delay. So a platform's hourly volume is the story's article curve, thinned and
shifted a few hours: the breaking story reaches social media two or three hours after the
first reports, the spike's posts fade after its articles do.

**Hacker News** submits only articles whose headline alone matches the story's query (a
submission is a headline and a link; Algolia searches the headline). **Mastodon** statuses
carry the story's CamelCase hashtag (``#PortStrike``), which is what the collector asks for
(``/api/v1/timelines/tag/portstrike``) and what lets the matcher read "port strike" in it.

**Engagement.** A Hacker News item's points and comments climb to their final values over its
first :data:`RAMP_HOURS` hours, and the collector sees them climb: it asks again for the items
of its ``lookback_hours`` (the demo's 12 > 6 + the longest interval, so each item is read at its
final value by the end, whatever the fetch schedule). A Mastodon status is read only while it is
among the newest of its hashtag, for a time that depends on the schedule, so it carries its
final favourites, boosts and replies from the start: a rerun of the demo, fetching on another
schedule, stores the same values.
"""

from __future__ import annotations

import bisect
import html
import random
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from noisecast.engine.core.match import parse_query, tokenize
from noisecast.engine.demo._catalogue import _v

__all__ = [
    "HN_HOST",
    "PLATFORMS",
    "HackerNewsIndex",
    "SocialPost",
    "TagIndex",
    "algolia_matches",
    "engagement_at",
    "generate_posts",
    "hacker_news_hit",
    "mastodon_timeline",
    "story_tags",
]

PLATFORMS = ("hackernews", "mastodon")
HN_HOST = "news.ycombinator.com"
RAMP_HOURS = 6.0  # engagement reaches its final value this long after posting
# Hours before anyone posts a link (fixed part, then an exponential with this mean).
LAGS = {"hackernews": (1.0, 1.5), "mastodon": (0.5, 1.0)}
# Per story: the chance that one of its articles is shared on (Hacker News, Mastodon).
SHARES: dict[str, tuple[float, float]] = {
    "port-strike": (0.05, 0.25),
    "elden-flood": (0.05, 0.22),
    "city-budget": (0.02, 0.10),
    "northmere-breach": (0.35, 0.5),  # a bank's data breach: Hacker News cares
    "saltmarsh-rovers": (0.0, 0.60),  # the fans are on Mastodon, not on Hacker News
}
# Per story: the CamelCase hashtags the demo's Mastodon source follows (a status carries one of
# them; folded, each reads as words of the story's query), then hashtags it may carry as well.
TAGS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "port-strike": (("PortStrike",), ("Porthaven", "Dockworkers")),
    "elden-flood": (("RiverElden",), ("Flooding", "ClimateCrisis")),
    "city-budget": (("CityBudget",), ("Porthaven",)),
    "northmere-breach": (("DataBreach", "NorthmereLeak"), ("Infosec", "Banking")),
    "saltmarsh-rovers": (("SaltmarshRovers",), ("COYR",)),
}
INSTANCES = (
    "mastodon.porthaven.example",
    "social.westmarch.example",
    "toot.elden.example",
    "infosec.example",
    "fosstodon.example",
)
HANDLES = _v(
    "harbourwatcher | quaysidekate | eldenvalleyfarmer | westmarchdad | porthaven_pete | "
    "tidewaiter | nordic_net | bytesmith | civic_ines | rovers_til_i_die | marshlaner | "
    "greenmarsh | sandbagsam | ledgerlou | cryptoclaire | nullpointer | opendata_ola | "
    "harbourlights | cafe_on_quay | commuter_cal"
)
HN_HANDLES = _v(
    "tptacek_fan | kernelpanic | throwaway_4411 | dang_it | rustacean | pg_reader | "
    "datahoarder | secengineer | opsguy | lurker99 | ycombinatrix | zerodayz"
)
REACTIONS: dict[str, tuple[str, ...]] = {
    "port-strike": (
        "Ships queuing off Porthaven again.",
        "Solidarity with the dockers.",
        "Empty shelves at the corner shop already.",
        "Quay Street is eerily quiet this morning.",
    ),
    "elden-flood": (
        "Sandbags out on our street.",
        "The Elden is higher than I've ever seen it.",
        "Stay safe, everyone by the river.",
        "Fields under water all the way to Millbrook.",
    ),
    "city-budget": (
        "Council meeting tonight, worth going.",
        "Read the small print on this one.",
        "Libraries again?",
    ),
    "northmere-breach": (
        "Change your passwords, people.",
        "Got the email from Northmere just now.",
        "How was this not caught sooner?",
        "Check your statements.",
        "Another bank, another breach.",
    ),
    "saltmarsh-rovers": (
        "Marsh Lane forever.",
        "Up the Rovers!",
        "Not sure about this stadium plan.",
        "Big news for the club.",
    ),
}
GENERIC = ("Worth a read:", "Wow.", "Not surprised.", "This.", "Thread below.", "")


class Article(Protocol):
    """What a post needs of an article (``noisecast.engine.demo.cycle.DemoArticle``)."""

    @property
    def story(self) -> str | None: ...
    @property
    def title(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def published(self) -> datetime: ...
    @property
    def canonical_url(self) -> str | None: ...


@dataclass(frozen=True)
class SocialPost:
    """One Hacker News submission or one Mastodon status, with its final engagement."""

    platform: str  # "hackernews" | "mastodon"
    story: str
    id: str  # HN objectID; Mastodon status id (a snowflake: milliseconds << 16)
    author: str
    host: str  # Mastodon: the author's home instance; HN: news.ycombinator.com
    text: str  # HN: the submission's title; Mastodon: the status as plain text
    link: str  # the article shared
    link_title: str
    tags: tuple[str, ...]  # Mastodon hashtags as written (CamelCase); () on HN
    published: datetime  # UTC, whole seconds
    score: int  # final points (HN) or favourites (Mastodon)
    comments: int  # final comments (HN) or replies (Mastodon)
    boosts: int = 0  # final boosts (Mastodon)

    @property
    def url(self) -> str:
        if self.platform == "hackernews":
            return f"https://{HN_HOST}/item?id={self.id}"
        return f"https://{self.host}/@{self.author}/{self.id}"


def story_tags(story: str) -> list[str]:
    """The hashtags the demo's Mastodon source follows for ``story``, lower case."""
    return [tag.lower() for tag in TAGS[story][0]] if story in TAGS else []


def generate_posts(
    articles: Iterable[Article],
    queries: Mapping[str, str],
    end: datetime,
    seed: int,
) -> tuple[SocialPost, ...]:
    """The social posts that share ``articles`` before ``end``, sorted by time; ``queries``
    (story slug -> query) decides which headlines Hacker News can carry."""
    rng = random.Random(f"{seed}/social")
    parsed = {slug: parse_query(query) for slug, query in queries.items()}
    posts: list[SocialPost] = []
    hn_id = rng.randrange(40_000_000, 41_000_000)
    for article in articles:
        story = article.story
        if story is None or article.canonical_url is not None or story not in SHARES:
            continue
        for platform, share in zip(PLATFORMS, SHARES[story], strict=True):
            if rng.random() >= share:
                continue
            fixed, mean = LAGS[platform]
            lag = timedelta(hours=fixed + rng.expovariate(1 / mean))
            published = (article.published + lag).replace(microsecond=0)
            if published >= end:
                continue
            if platform == "hackernews":
                if not parsed[story].matches(article.title):
                    continue
                hn_id += rng.randint(3, 400)
                points = min(900, int(rng.paretovariate(1.1) * 3))
                posts.append(
                    SocialPost(
                        "hackernews",
                        story,
                        str(hn_id),
                        rng.choice(HN_HANDLES),
                        HN_HOST,
                        article.title,
                        article.url,
                        article.title,
                        (),
                        published,
                        points,
                        int(points * rng.uniform(0.1, 0.9)),
                    )
                )
            else:
                posts.append(_status(rng, story, article, published))
    posts.sort(key=lambda p: (p.published, p.platform, p.id))
    return tuple(posts)


def _status(rng: random.Random, story: str, article: Article, published: datetime) -> SocialPost:
    followed, extra = TAGS[story]
    tags = (rng.choice(followed),) + ((rng.choice(extra),) if rng.random() < 0.4 else ())
    words = [rng.choice(REACTIONS[story] + GENERIC), article.title]
    text = " ".join(w for w in words if w)
    status_id = (int(published.timestamp() * 1000) << 16) | rng.randrange(1 << 16)
    favourites = min(400, int(rng.paretovariate(1.3) * 2) - 2 + rng.randint(0, 3))
    return SocialPost(
        "mastodon",
        story,
        str(status_id),
        rng.choice(HANDLES),
        rng.choice(INSTANCES),
        text,
        article.url,
        article.title,
        tags,
        published,
        favourites,
        rng.randint(0, 2) + favourites // 8,
        int(favourites * rng.uniform(0.1, 0.5)),
    )


def engagement_at(final: int, published: datetime, now: datetime, *, start: int = 0) -> int:
    """``final`` reached linearly over :data:`RAMP_HOURS` from ``start`` at ``published``."""
    age = (now - published) / timedelta(hours=RAMP_HOURS)
    return max(start, round(final * min(1.0, max(0.0, age))))


# --- Mastodon: GET /api/v1/timelines/tag/:tag -------------------------------------------------


class TagIndex:
    """Per lower-case hashtag, its statuses in time order: the timelines, cheap to slice."""

    def __init__(self, posts: Iterable[SocialPost]) -> None:
        self._by_tag: dict[str, tuple[list[datetime], list[SocialPost]]] = {}
        for post in posts:
            if post.platform != "mastodon":
                continue
            for tag in post.tags:
                times, items = self._by_tag.setdefault(tag.lower(), ([], []))
                times.append(post.published)
                items.append(post)

    def timeline(self, tag: str, now: datetime, limit: int) -> list[SocialPost]:
        """The newest ``limit`` statuses tagged ``tag`` posted at or before ``now``, newest
        first: what the public tag timeline shows at ``now``."""
        times, items = self._by_tag.get(tag.lower(), ([], []))
        end = bisect.bisect_right(times, now)
        return items[max(0, end - limit) : end][::-1]


def mastodon_timeline(statuses: Iterable[SocialPost], now: datetime) -> list[dict[str, Any]]:
    """Statuses as Mastodon's REST API writes them (the fields the collector reads, and the
    usual others), engagement as it stands at ``now``."""
    return [_status_json(s, now) for s in statuses]


def _status_json(post: SocialPost, now: datetime) -> dict[str, Any]:
    hashtags = " ".join(
        f'<a href="https://{post.host}/tags/{t.lower()}" class="mention hashtag" rel="tag">'
        f"#<span>{html.escape(t)}</span></a>"
        for t in post.tags
    )
    content = f"<p>{html.escape(post.text)}</p><p>{hashtags}</p>"  # the link is in the card
    return {
        "id": post.id,
        "created_at": _iso_ms(post.published),
        "in_reply_to_id": None,
        "sensitive": False,
        "spoiler_text": "",
        "visibility": "public",
        "language": "en",
        "uri": f"https://{post.host}/users/{post.author}/statuses/{post.id}",
        "url": post.url,
        "replies_count": post.comments,
        "reblogs_count": post.boosts,
        "favourites_count": post.score,
        "content": content,
        "reblog": None,
        "account": {
            "id": str(zlib.crc32(f"{post.author}@{post.host}".encode())),
            "username": post.author,
            "acct": f"{post.author}@{post.host}",
            "display_name": post.author.replace("_", " ").title(),
            "url": f"https://{post.host}/@{post.author}",
        },
        "media_attachments": [],
        "mentions": [],
        "tags": [
            {"name": t.lower(), "url": f"https://{post.host}/tags/{t.lower()}"} for t in post.tags
        ],
        "emojis": [],
        "card": {"url": post.link, "title": post.link_title, "description": "", "type": "link"},
    }


def _iso_ms(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


# --- Hacker News: Algolia's GET /api/v1/search_by_date -----------------------------------------


def _terms(query: str) -> list[list[str]]:
    """Algolia's reading of a query: quoted phrases and words, each a list of tokens."""
    terms: list[list[str]] = []
    for i, part in enumerate(query.split('"')):
        if i % 2:  # inside quotes: one phrase
            if tokens := tokenize(part):
                terms.append(tokens)
        else:
            terms.extend([t] for t in tokenize(part))
    return terms


def algolia_matches(query: str, text: str) -> bool:
    """Every word and every quoted phrase of ``query`` is in ``text`` (folded, word-bounded).
    Like Algolia with typo tolerance and prefixes off; an empty query matches everything."""
    tokens = tokenize(text)
    joined = f" {' '.join(tokens)} "
    return all(f" {' '.join(term)} " in joined for term in _terms(query))


class HackerNewsIndex:
    """The Hacker News posts, tokenized once, answering Algolia searches."""

    def __init__(self, posts: Iterable[SocialPost]) -> None:
        self._posts = sorted(
            (p for p in posts if p.platform == "hackernews"), key=lambda p: (p.published, p.id)
        )
        self._words = [f" {' '.join(tokenize(p.text))} " for p in self._posts]
        self._by_query: dict[str, list[SocialPost]] = {}  # query -> matching posts, in time order

    def _matching(self, query: str) -> list[SocialPost]:
        found = self._by_query.get(query)
        if found is None:
            terms = [f" {' '.join(term)} " for term in _terms(query)]
            found = [
                post
                for post, words in zip(self._posts, self._words, strict=True)
                if all(term in words for term in terms)
            ]
            self._by_query[query] = found  # the same list whichever thread computes it
        return found

    def search(
        self,
        *,
        query: str,
        now: datetime,
        since: int | None,
        hits_per_page: int,
        by_date: bool = True,
    ) -> dict[str, Any]:
        """An Algolia HN Search response: the posts matching ``query`` created after ``since``
        (epoch seconds, exclusive) and at or before ``now``; newest first (``by_date``) or by
        points."""
        matching = self._matching(query)
        end = bisect.bisect_right([p.published for p in matching], now)
        found = [p for p in matching[:end] if since is None or p.published.timestamp() > since][
            ::-1
        ]
        if not by_date:
            found.sort(key=lambda p: (engagement_at(p.score, p.published, now), p.id), reverse=True)
        hits = [hacker_news_hit(p, now) for p in found[:hits_per_page]]
        return {
            "hits": hits,
            "nbHits": len(found),
            "page": 0,
            "nbPages": 1 if found else 0,
            "hitsPerPage": hits_per_page,
            "exhaustiveNbHits": True,
            "query": query,
            "params": f"query={query}&hitsPerPage={hits_per_page}",
            "processingTimeMS": 1,
        }


def hacker_news_hit(post: SocialPost, now: datetime) -> dict[str, Any]:
    """One post as an Algolia hit, points and comments as they stand at ``now``."""
    return {
        "created_at": _iso_ms(post.published),
        "created_at_i": int(post.published.timestamp()),
        "title": post.text,
        "url": post.link,
        "author": post.author,
        "points": engagement_at(post.score, post.published, now, start=1),
        "story_text": None,
        "comment_text": None,
        "num_comments": engagement_at(post.comments, post.published, now),
        "story_id": None,
        "story_title": None,
        "story_url": None,
        "parent_id": None,
        "_tags": ["story", f"author_{post.author}", f"story_{post.id}"],
        "objectID": post.id,
    }
