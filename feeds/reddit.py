"""Reddit: the new posts of chosen subreddits, and one search per active story, through praw.

How it talks to Reddit, and why:

- **Read-only OAuth.** An app's client id and secret (``NOISECAST_REDDIT_*``) get an
  application-only token; nothing is ever written. Without them a task fails with a message
  naming the variables to set.
- **Listing pages, never streams.** ``subreddit.new(limit=...)`` and ``subreddit.search(...)``
  read at most ``limit`` posts, 100 a page. praw's stream generators die on the first 5xx and
  are meant to run forever; a collection run must end.
- **A worker thread.** praw is synchronous, so each task runs in ``asyncio.to_thread``.
  praw is not thread safe ("instances of Reddit are not thread safe", praw's docs), so there
  is one ``praw.Reddit`` per set of credentials for the whole process, and a lock lets one
  task at a time use it. At 100 requests a minute nothing is lost by that.
- **At most 100 requests a minute per client id** (Reddit's free tier, averaged over ten
  minutes; we keep it over every minute). The count is exact, not estimated from ``limit``:
  praw is given a requestor (``requestor_class``) that asks a sliding-window
  :class:`RequestLimiter` before **every** HTTP request, the token request and prawcore's own
  retries included. prawcore's rate limiter, which paces requests from Reddit's
  ``X-Ratelimit-*`` headers, still runs as well.
- **Nothing hangs.** Every request gets the collector's ``timeout_seconds``. (prawcore's
  ``Requestor(timeout=...)`` alone is not enough: ``Session.request`` passes its own default,
  ``PRAWCORE_TIMEOUT`` or 16 s, which wins, so our requestor enforces the timeout itself.)
  prawcore retries a connection error, a timeout and 500/502/503/504/520/522 twice, after
  0-2 s and 2-4 s; a 429 is not retried.
- **Failures are reported, not raised**: as a :class:`~noisecast.feeds.http.FetchResult` that
  :mod:`noisecast.engine.core.decider` grades like any HTTP failure (429 with its Retry-After, 5xx
  and 404 soft, 403 and bad credentials hard, network and timeouts temporary).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, ClassVar, Literal
from urllib.parse import urlencode, urljoin, urlsplit

import praw
import requests
from praw.exceptions import RedditAPIException
from praw.models import Submission
from prawcore import Requestor
from prawcore.exceptions import (
    OAuthException,
    Redirect,
    RequestException,
    ResponseException,
    TooManyRequests,
)
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from noisecast.feeds.base import Harvest, HarvestContext, SourceInfo, StoryInfo, Task
from noisecast.feeds.dates import from_timestamp
from noisecast.feeds.http import ErrorKind, FetchResult, parse_retry_after
from noisecast.feeds.jsonapi import read_items
from noisecast.feeds.mention import Mention, count
from noisecast.feeds.registry import register
from noisecast.feeds.text import printable
from noisecast.feeds.urls import canonical_url

log = logging.getLogger("noisecast.reddit")

REDDIT_URL = "https://www.reddit.com"
REQUESTS_PER_MINUTE = 100
SUMMARY_MAX_CHARS = 2000
TOKEN_PATH = "/api/v1/access_token"
SUBREDDIT_NAME = re.compile(r"[A-Za-z0-9_]{2,21}")
CREDENTIALS = {
    "reddit_client_id": "NOISECAST_REDDIT_CLIENT_ID",
    "reddit_client_secret": "NOISECAST_REDDIT_CLIENT_SECRET",
}
_RATELIMIT_TEXT = re.compile(r"(\d{1,4}) (milliseconds?|seconds?|minutes?)")


def _subreddit_name(value: str, key: str) -> str:
    if not SUBREDDIT_NAME.fullmatch(value):
        raise ValueError(
            f"{key}: {value!r} is not a subreddit name: use its 2 to 21 letters, digits or "
            f"underscores without 'r/' (for example 'worldnews')"
        )
    return value


class RedditOptions(BaseModel):
    """``options`` of a reddit source (see config.toml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subreddits: list[str] = []
    search: bool = True
    search_in: list[str] = ["all"]
    sort: Literal["new", "relevance", "hot", "top", "comments"] = "new"
    time_filter: Literal["hour", "day", "week", "month", "year", "all"] = "day"
    syntax: Literal["lucene", "cloudsearch", "plain"] | None = None
    limit: int | None = Field(100, ge=1, le=1000)

    @field_validator("subreddits", "search_in")
    @classmethod
    def _names(cls, values: list[str], info: ValidationInfo) -> list[str]:
        key = info.field_name or "subreddits"
        seen: set[str] = set()
        for value in values:
            _subreddit_name(value, key)
            if value.lower() in seen:
                raise ValueError(f"{key}: {value!r} is listed twice")
            seen.add(value.lower())
        return values

    @model_validator(mode="after")
    def _something_to_do(self) -> RedditOptions:
        if not self.subreddits and not self.search:
            raise ValueError("nothing to collect: list some subreddits, or set search = true")
        if self.search and not self.search_in:
            raise ValueError("search_in: empty; use ['all'] to search all of Reddit")
        return self


# --- the rate limit ------------------------------------------------------------------------


class RequestLimiter:
    """At most ``max_requests`` request starts in any ``period`` seconds (a sliding window).

    Thread-safe. ``clock`` and ``sleep`` are injectable so tests need not wait.
    """

    def __init__(
        self,
        max_requests: int = REQUESTS_PER_MINUTE,
        period: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_requests < 1 or period <= 0:
            raise ValueError("expected max_requests >= 1 and period > 0")
        self.max_requests = max_requests
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait until a request may start, and count it. Returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                while self._starts and self._starts[0] <= now - self.period:
                    self._starts.popleft()
                if len(self._starts) < self.max_requests:
                    self._starts.append(now)
                    return waited
                wait = self._starts[0] + self.period - now
            self._sleep(wait)
            waited += wait

    def in_window(self) -> int:
        """How many requests started in the last ``period`` seconds."""
        with self._lock:
            now = self._clock()
            return sum(1 for t in self._starts if t > now - self.period)


@dataclass(slots=True)
class Meter:
    """The bytes a client's responses amounted to (reported as the task's ``bytes``)."""

    bytes_read: int = 0


class LimitedRequestor(Requestor):
    """prawcore's requestor, with a rate limiter asked before every request, a timeout that
    always applies, and a count of the bytes received."""

    def __init__(
        self,
        *,
        limiter: RequestLimiter,
        timeout: float,
        meter: Meter | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(timeout=timeout, **kwargs)
        self.limiter = limiter
        self.meter = meter or Meter()

    def request(self, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        self.limiter.acquire()
        response = super().request(
            *args, timeout=min(timeout or self.timeout, self.timeout), **kwargs
        )
        self.meter.bytes_read += len(response.content or b"")
        return response


@dataclass(slots=True)
class RedditClient:
    """One ``praw.Reddit`` and the lock that lets one thread at a time use it."""

    reddit: praw.Reddit
    meter: Meter
    lock: threading.Lock = field(default_factory=threading.Lock)


class RedditClients:
    """The process's praw clients (one per credentials) and rate limiters (one per client id)."""

    def __init__(
        self,
        requests_per_minute: int = REQUESTS_PER_MINUTE,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.requests_per_minute = requests_per_minute
        self._clock = clock
        self._sleep = sleep
        self._clients: dict[tuple[str, str, str, float], RedditClient] = {}
        self._limiters: dict[str, RequestLimiter] = {}
        self._lock = threading.Lock()

    def limiter(self, client_id: str) -> RequestLimiter:
        with self._lock:
            if client_id not in self._limiters:
                self._limiters[client_id] = RequestLimiter(
                    self.requests_per_minute, 60.0, clock=self._clock, sleep=self._sleep
                )
            return self._limiters[client_id]

    def client(
        self, client_id: str, client_secret: str, user_agent: str, timeout: float
    ) -> RedditClient:
        key = (client_id, client_secret, user_agent, timeout)
        limiter = self.limiter(client_id)
        with self._lock:
            if key not in self._clients:
                meter = Meter()
                reddit = praw.Reddit(
                    client_id=client_id,
                    client_secret=client_secret,
                    user_agent=user_agent,
                    check_for_async=False,
                    check_for_updates=False,
                    requestor_class=LimitedRequestor,
                    requestor_kwargs={"limiter": limiter, "meter": meter, "timeout": timeout},
                )
                self._clients[key] = RedditClient(reddit, meter)
            return self._clients[key]

    def clear(self) -> None:
        """Forget every client and limiter (tests)."""
        with self._lock:
            self._clients.clear()
            self._limiters.clear()


CLIENTS = RedditClients()


# --- submissions to mentions ----------------------------------------------------------------


def to_mention(submission: Submission) -> Mention:
    """A submission as a Mention. Reads only the data Reddit sent (no lazy praw fetches)."""
    data = vars(submission)
    permalink = urljoin(REDDIT_URL, urlsplit(data.get("permalink") or "").path)
    link = data.get("url")
    link = urljoin(REDDIT_URL, link) if link else None
    if data.get("is_self") or (link and urlsplit(link).path == urlsplit(permalink).path):
        link = None
    created = data.get("created_utc")
    author = data.get("author")
    subreddit = data.get("subreddit")
    return Mention(
        external_id=submission.fullname,
        title=data.get("title") or "",
        url=permalink,
        canonical_url=canonical_url(permalink),
        summary=(data.get("selftext") or "")[:SUMMARY_MAX_CHARS],
        author=str(author) if author is not None else None,
        outlet=f"r/{subreddit}" if subreddit is not None else None,
        published_at=from_timestamp(created),
        score=count(data.get("score")),
        comments=count(data.get("num_comments")),
        link_url=link,
    )


# --- failures --------------------------------------------------------------------------------


def missing_credentials(secrets: Any) -> list[str]:
    """The environment variables still to set for Reddit, given an
    noisecast.engine.config.Secrets."""
    return [env for name, env in CREDENTIALS.items() if not getattr(secrets, name, None)]


def fetch_failure(e: Exception, *, url: str, what: str, now: datetime) -> FetchResult:
    """What a praw or prawcore exception means, as a FetchResult (never raises)."""
    if isinstance(e, RequestException):
        original = e.original_exception
        kind: Literal["timeout", "network"] = (
            "timeout" if isinstance(original, requests.Timeout) else "network"
        )
        return _failed(url, None, kind, f"{what}: {kind}: {original}")
    if isinstance(e, Redirect):
        return _failed(
            url,
            404,
            "http",
            f"{what}: Reddit redirected to {e.path}, so there is no such subreddit "
            f"(check the names in the source's options)",
        )
    if isinstance(e, ResponseException | OAuthException):
        return _response_failure(e, url=url, what=what, now=now)
    if isinstance(e, RedditAPIException):
        text = "; ".join(f"{i.error_type}: {i.message}" for i in e.items)
        if any(i.error_type == "RATELIMIT" for i in e.items):
            return _failed(
                url, 429, "http", f"{what}: Reddit rate limit: {text}", _ratelimit_seconds(text)
            )
        return _failed(url, 400, "http", f"{what}: Reddit API error: {text}")
    return _failed(url, None, "internal", f"{what}: {type(e).__name__}: {e}")


def _response_failure(
    e: ResponseException | OAuthException, *, url: str, what: str, now: datetime
) -> FetchResult:
    response = e.response
    status = response.status_code
    if urlsplit(response.url or "").path == TOKEN_PATH and status != 429 and status < 500:
        return _failed(
            url,
            status,
            "http",
            f"{what}: Reddit refused the app's credentials (HTTP {status} at {TOKEN_PATH}: "
            f"{e}); check {' and '.join(CREDENTIALS.values())}",
        )
    if status == 429 or isinstance(e, TooManyRequests):
        headers = response.headers
        retry = parse_retry_after(headers.get("retry-after"), now=now)
        if retry is None:
            retry = _seconds(headers.get("x-ratelimit-reset"))
        after = f"; retry after {retry:g} s" if retry is not None else ""
        return _failed(
            url, 429, "http", f"{what}: Reddit says too many requests (HTTP 429){after}", retry
        )
    if status >= 500:
        reason = "Reddit server error"
    elif status == 403:
        reason = "forbidden: the subreddit is private or quarantined"
    elif status == 404:
        reason = "not found: the subreddit is banned or does not exist"
    else:
        reason = str(e)
    return _failed(url, status, "http", f"{what}: HTTP {status} {reason}")


def _failed(
    url: str, status: int | None, kind: ErrorKind, error: str, retry_after: float | None = None
) -> FetchResult:
    return FetchResult(
        url=url,
        status=status,
        error_kind=kind,
        error=printable(error),
        retry_after_seconds=retry_after,
    )


def _seconds(value: str | None) -> float | None:
    """Reddit's ``X-Ratelimit-Reset``: seconds until the window resets."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _ratelimit_seconds(text: str) -> float | None:
    """'... try again in 9 minutes' -> 540.0 (the RATELIMIT error of Reddit's API)."""
    found = _RATELIMIT_TEXT.search(text)
    if not found:
        return None
    unit = found.group(2).rstrip("s")
    return float(found.group(1)) * {"millisecond": 0.001, "second": 1.0, "minute": 60.0}[unit]


# --- the collector ---------------------------------------------------------------------------


@register("reddit")
class RedditCollector:
    """New posts of ``options.subreddits``, and a Reddit search per active story."""

    kind: ClassVar[str] = "reddit"
    Options: ClassVar[type[RedditOptions]] = RedditOptions
    default_url: ClassVar[str | None] = REDDIT_URL

    def __init__(self, clients: RedditClients | None = None) -> None:
        self.clients = clients or CLIENTS

    def tasks(self, source: SourceInfo, stories: Sequence[StoryInfo]) -> list[Task]:
        options: RedditOptions = source.options
        tasks = [
            Task(
                key=f"r/{name}/new",
                url=f"{REDDIT_URL}/r/{name}/new",
                params={"listing": "new", "subreddit": name},
            )
            for name in options.subreddits
        ]
        if options.search:
            where = "+".join(options.search_in)
            for story in stories:
                query = story.search or story.query
                web = {"q": query, "sort": options.sort, "t": options.time_filter}
                if where.lower() != "all":
                    web["restrict_sr"] = "1"
                tasks.append(
                    Task(
                        key=f"search:{story.slug}",
                        url=f"{REDDIT_URL}/r/{where}/search?{urlencode(web)}",
                        story=story.slug,
                        params={"listing": "search", "subreddit": where, "query": query},
                    )
                )
        return tasks

    async def harvest(self, task: Task, ctx: HarvestContext) -> Harvest:
        started = time.monotonic()
        what = describe(task)
        missing = missing_credentials(ctx.secrets)
        if missing:
            return Harvest(
                task,
                _failed(
                    task.url,
                    None,
                    "internal",
                    f"{what}: no Reddit app credentials: set {' and '.join(missing)} "
                    f"(create a 'script' app at https://www.reddit.com/prefs/apps)",
                ),
            )
        options: RedditOptions = ctx.source.options
        politeness = ctx.fetcher.politeness
        try:
            client = self.clients.client(
                ctx.secrets.reddit_client_id,
                ctx.secrets.reddit_client_secret,
                ctx.secrets.reddit_user_agent or politeness.user_agent,
                politeness.timeout_seconds,
            )
            found, bytes_read = await asyncio.to_thread(_read, client, task.params, options)
        except Exception as e:  # reported on the source's row, like any failed fetch
            result = fetch_failure(e, url=task.url, what=what, now=ctx.now)
            if result.error_kind == "internal":  # not Reddit's answer: keep the traceback
                log.warning("reddit task failed: %s", result.error, exc_info=True)
            return Harvest(task, replace(result, duration_ms=_ms_since(started)))
        result = FetchResult(
            url=task.url, status=200, bytes_read=bytes_read, duration_ms=_ms_since(started)
        )
        return Harvest(task, result, found, parser="praw")


def describe(task: Task) -> str:
    """How a task is named in errors: the subreddit, or the story and its search."""
    params = task.params
    if params.get("listing") == "search":
        where, query = params["subreddit"], params["query"]
        return f"Reddit search in r/{where} for story {task.story!r} ({query!r})"
    return f"r/{params.get('subreddit')} new posts"


def _read(
    client: RedditClient, params: Mapping[str, Any], options: RedditOptions
) -> tuple[list[Mention], int]:
    """One listing, page by page (in a worker thread; one task at a time per client)."""
    with client.lock:
        subreddit = client.reddit.subreddit(params["subreddit"])
        listing: Iterable[Submission]
        if params["listing"] == "search":
            kwargs: dict[str, Any] = {
                "sort": options.sort,
                "time_filter": options.time_filter,
                "limit": options.limit,
            }
            if options.syntax is not None:
                kwargs["syntax"] = options.syntax
            listing = subreddit.search(params["query"], **kwargs)
        else:
            listing = subreddit.new(limit=options.limit)
        before = client.meter.bytes_read
        found, _skipped = read_items(
            (s for s in listing if isinstance(s, Submission)), to_mention, "Reddit submission"
        )
        return found, client.meter.bytes_read - before


def _ms_since(started: float) -> int:
    return math.ceil((time.monotonic() - started) * 1000)
