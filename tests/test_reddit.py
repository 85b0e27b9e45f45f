"""The reddit collector, replaying real Reddit API conversations through praw itself.

The cassettes in ../shared/data/reddit-cassettes are praw's own integration-test recordings
(VCR.py layout). They replay with ``record_mode="none"``, so a request that is not on the tape
fails instead of reaching the network. Failures (429, 503, 403, a redirect, bad credentials)
are cassettes written here in the same layout, around the real token exchange. Nothing of ours
is mocked; the only patch is prawcore's retry back-off (0-6 s of sleep) in the 5xx test.
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import praw
import prawcore
import pytest
import vcr
from praw.models import Submission
from pydantic import ValidationError
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select
from werkzeug import Request, Response

from noisecast.engine.config import ConfigError, Secrets, SourceSettings, check_source_options
from noisecast.engine.core.decider import HARD, SOFT, TEMPORARY, failure_grade
from noisecast.engine.jobs.collect import collect
from noisecast.engine.store import Store
from noisecast.engine.store.tables import fetches, mention_engagement, mentions
from noisecast.feeds.base import Cursor, Harvest, HarvestContext, SourceInfo, StoryInfo, Task
from noisecast.feeds.http import PoliteFetcher, Politeness
from noisecast.feeds.reddit import (
    CLIENTS,
    LimitedRequestor,
    RedditClients,
    RedditCollector,
    RedditOptions,
    RequestLimiter,
    describe,
    fetch_failure,
    to_mention,
)
from noisecast.feeds.registry import collector_class
from tests.conftest import LOOPBACK, SHARED_DATA, T0, fast_collector, require

CASSETTES = SHARED_DATA / "reddit-cassettes"
NEW = "TestSubredditListings.test_new.json"  # r/askreddit/new, 100 self posts
SEARCH = "TestSubreddit.test_search.json"  # r/all search "praw oauth search", 6 results
ALL_NEW = "TestSubredditStreams.test_submissions.json"  # page 1 is r/all/new: link posts too
TOP = "TestSubredditListings.test_top.json"  # 4 posts by deleted accounts
NO_ITEMS = "TestListingGenerator.test_no_items.json"  # a real empty Listing (of a redditor)
NEW_URI = "https://oauth.reddit.com/r/askreddit/new?raw_json=1&limit=100"
SECRETS = Secrets(reddit_client_id="x", reddit_client_secret="y", reddit_user_agent="test")


# --- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def cassettes() -> Path:
    require(CASSETTES.is_dir(), f"{CASSETTES} is absent: the Reddit tests need ../shared")
    return CASSETTES


@pytest.fixture(autouse=True)
def fresh_clients() -> Iterator[None]:
    """Each test starts with no praw client, no cached token and an empty rate window."""
    CLIENTS.clear()
    yield
    CLIENTS.clear()


def recorder(directory: Path) -> vcr.VCR:
    return vcr.VCR(
        cassette_library_dir=str(directory),
        record_mode="none",
        match_on=["method", "scheme", "host", "port", "path", "query"],
        serializer="json",
    )


def tape(name: str) -> dict[str, Any]:
    return json.loads((CASSETTES / name).read_text(encoding="utf-8"))


def body(interaction: dict[str, Any]) -> Any:
    return json.loads(interaction["response"]["body"]["string"])


def source(**options: Any) -> SourceInfo:
    return SourceInfo(1, "reddit", "reddit", "https://www.reddit.com", RedditOptions(**options))


def listing_task(name: str = "askreddit") -> Task:
    return RedditCollector().tasks(source(subreddits=[name], search=False), [])[0]


def harvest(
    task: Task,
    src: SourceInfo,
    *,
    secrets: Secrets | None = SECRETS,
    collector: RedditCollector | None = None,
) -> Harvest:
    async def run() -> Harvest:
        async with PoliteFetcher(
            Politeness(user_agent="noisecast-tests/0.1", allow_private_networks=LOOPBACK)
        ) as fetcher:
            ctx = HarvestContext(fetcher, src, Cursor(), T0, secrets)
            return await (collector or RedditCollector()).harvest(task, ctx)

    return asyncio.run(run())


def write_cassette(
    path: Path, responses: list[tuple[int, dict[str, str], str]], uri: str = NEW_URI
) -> str:
    """The real token exchange, then ``responses`` (status, headers, body) to GET ``uri``."""
    token = tape(NEW)["interactions"][0]
    interactions = [token] + [
        {
            "request": {"method": "GET", "uri": uri, "headers": {}, "body": None},
            "response": {
                "status": {"code": status, "message": ""},
                "headers": {"Content-Type": ["application/json"]}
                | {k: [v] for k, v in headers.items()},
                "body": {"string": text},
                "url": uri,
            },
        }
        for status, headers, text in responses
    ]
    path.write_text(json.dumps({"version": 1, "interactions": interactions}), encoding="utf-8")
    return path.name


# --- listings and search, replayed ---------------------------------------------------------


def test_new_listing_gives_the_100_recorded_submissions(cassettes: Path) -> None:
    recorded = tape(NEW)
    children = body(recorded["interactions"][1])["data"]["children"]
    first = children[0]["data"]
    recorded_at = datetime.fromisoformat(recorded["recorded_at"]).replace(tzinfo=UTC)

    with recorder(cassettes).use_cassette(NEW) as cassette:
        h = harvest(listing_task(), source(subreddits=["askreddit"], search=False))
        assert cassette.all_played  # the token request and one page of 100

    assert (h.result.ok, h.result.status, h.result.content) == (True, 200, None)
    assert h.result.url == "https://www.reddit.com/r/askreddit/new"
    assert h.result.bytes_read > 100_000
    assert len(h.mentions) == 100
    assert len({m.external_id for m in h.mentions}) == 100
    for m in h.mentions:
        assert m.external_id.startswith("t3_")
        assert m.title
        assert m.url and m.url.startswith("https://www.reddit.com/r/AskReddit/comments/")
        assert m.canonical_url == m.url
        assert m.outlet == f"r/{first['subreddit']}" == "r/AskReddit"
        assert m.link_url is None  # AskReddit is all self posts
        assert m.published_at is not None and m.published_at.tzinfo is UTC
        assert recorded_at - timedelta(days=1) < m.published_at <= recorded_at
        assert isinstance(m.score, int) and m.score >= 0
        assert isinstance(m.comments, int) and m.comments >= 0
    m = h.mentions[0]
    assert m.external_id == first["name"]
    assert (m.title, m.score, m.comments) == (first["title"], first["score"], first["num_comments"])
    assert m.author == first["author"]
    assert m.published_at == datetime.fromtimestamp(first["created_utc"], UTC)
    assert m.url == "https://www.reddit.com" + first["permalink"]


def test_search_replays_the_recorded_query(cassettes: Path) -> None:
    recorded = tape(SEARCH)["interactions"][1]
    asked = parse_qs(urlsplit(recorded["request"]["uri"]).query)
    assert (asked["q"], asked["sort"], asked["t"], asked["syntax"], asked["limit"]) == (
        ["praw oauth search"],
        ["relevance"],
        ["all"],
        ["cloudsearch"],
        ["1024"],  # what praw sends for limit=None
    )
    src = source(
        search_in=["all"], sort="relevance", time_filter="all", syntax="cloudsearch", limit=None
    )
    story = StoryInfo("praw", "PRAW", query="praw AND oauth", search="praw oauth search")
    (task,) = RedditCollector().tasks(src, [story])

    with recorder(cassettes).use_cassette(SEARCH) as cassette:
        h = harvest(task, src)
        assert cassette.all_played

    expected = [c["data"] for c in body(recorded)["data"]["children"]]
    assert h.result.ok and len(h.mentions) == 6
    assert [m.external_id for m in h.mentions] == [d["name"] for d in expected]
    assert [m.outlet for m in h.mentions] == [f"r/{d['subreddit']}" for d in expected]
    # Search permalinks carry ?ref=search_posts; the mention's URL is the plain permalink.
    assert all(d["permalink"].endswith("?ref=search_posts") for d in expected)
    assert all(m.url and "?" not in m.url for m in h.mentions)


def test_an_all_listing_links_to_the_pages_its_posts_share(cassettes: Path) -> None:
    """Page 1 of r/all/new (a stream's recording): link posts keep the URL they point to."""
    first_page = tape(ALL_NEW)["interactions"][1]
    assert urlsplit(first_page["request"]["uri"]).path == "/r/all/new"
    posts = {c["data"]["name"]: c["data"] for c in body(first_page)["data"]["children"]}

    with recorder(cassettes).use_cassette(ALL_NEW):
        h = harvest(listing_task("all"), source(subreddits=["all"], search=False))

    assert h.result.ok and len(h.mentions) == 100
    for m in h.mentions:
        data = posts[m.external_id]
        assert m.link_url == (None if data["is_self"] else data["url"])
    assert sum(m.link_url is not None for m in h.mentions) == 58
    assert len({m.outlet for m in h.mentions}) > 20  # r/all: the community of each post


def test_an_empty_listing_is_a_success_with_nothing(cassettes: Path, tmp_path: Path) -> None:
    empty = tape(NO_ITEMS)["interactions"][1]["response"]["body"]["string"]
    name = write_cassette(tmp_path / "empty.json", [(200, {}, empty)])
    with recorder(tmp_path).use_cassette(name):
        h = harvest(listing_task(), source(subreddits=["askreddit"], search=False))
    assert h.result.ok and h.result.status == 200 and h.mentions == []


def test_deleted_authors_are_none(cassettes: Path) -> None:
    reddit = praw.Reddit(client_id="x", client_secret="y", user_agent="test", check_for_async=False)
    children = body(tape(TOP)["interactions"][1])["data"]["children"]
    found = [to_mention(Submission(reddit, _data=c["data"])) for c in children]
    deleted = [c["data"]["name"] for c in children if c["data"]["author"] == "[deleted]"]
    assert len(deleted) == 4
    assert [m.external_id for m in found if m.author is None] == deleted


def test_one_praw_client_per_credentials_keeps_its_token(cassettes: Path, tmp_path: Path) -> None:
    """A second task reuses the client and its token: a tape without a token request plays."""
    src = source(subreddits=["askreddit"], search=False)
    with recorder(cassettes).use_cassette(NEW):
        assert harvest(listing_task(), src).result.ok
    no_token = tape(NEW)
    no_token["interactions"] = no_token["interactions"][1:]
    (tmp_path / "no_token.json").write_text(json.dumps(no_token), encoding="utf-8")
    with recorder(tmp_path).use_cassette("no_token.json") as cassette:
        h = harvest(listing_task(), src)
        assert cassette.play_count == 1
    assert h.result.ok and len(h.mentions) == 100
    assert CLIENTS.limiter("x").in_window() == 3  # token, listing, listing


# --- tasks and options -----------------------------------------------------------------------


def test_tasks_are_one_per_subreddit_and_one_search_per_story() -> None:
    stories = [
        StoryInfo("port-strike", "Port strike", '"port strike" NOT opinion', '"port strike"'),
        StoryInfo("budget", "Budget", "budget", ""),
    ]
    src = source(subreddits=["worldnews", "news"], search_in=["news", "europe"])
    tasks = RedditCollector().tasks(src, stories)

    assert [t.key for t in tasks] == [
        "r/worldnews/new",
        "r/news/new",
        "search:port-strike",
        "search:budget",
    ]
    assert tasks[0].url == "https://www.reddit.com/r/worldnews/new"
    assert tasks[2].story == "port-strike"
    assert tasks[2].params["query"] == '"port strike"'
    assert tasks[3].params["query"] == "budget"  # no plain search terms: the query itself
    assert tasks[2].url == (
        "https://www.reddit.com/r/news+europe/search?"
        "q=%22port+strike%22&sort=new&t=day&restrict_sr=1"
    )
    assert describe(tasks[1]) == "r/news new posts"
    assert "r/news+europe" in describe(tasks[2]) and "port-strike" in describe(tasks[2])
    assert RedditCollector().tasks(source(subreddits=["news"], search=False), stories) == [tasks[1]]


def test_the_registry_knows_reddit() -> None:
    assert collector_class("reddit") is RedditCollector
    assert RedditCollector.default_url == "https://www.reddit.com"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"subreddits": ["r/news"]}, "'r/news' is not a subreddit name"),
        ({"subreddits": ["a"]}, "'a' is not a subreddit name"),
        ({"subreddits": ["x" * 22]}, "is not a subreddit name"),
        ({"search_in": ["news!"]}, "search_in: 'news!' is not a subreddit name"),
        ({"subreddits": ["News", "news"]}, "'news' is listed twice"),
        ({"subreddits": [], "search": False}, "nothing to collect"),
        ({"limit": 0}, "greater than or equal to 1"),
        ({"limit": 1001}, "less than or equal to 1000"),
        ({"sort": "rising"}, "'new', 'relevance', 'hot', 'top' or 'comments'"),
        ({"subreddit": ["news"]}, "Extra inputs are not permitted"),
    ],
)
def test_bad_options_are_refused_with_the_reason(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        RedditOptions.model_validate(options)
    assert isinstance(raised.value, ValueError)
    assert message in str(raised.value)


def test_config_names_the_source_and_key_of_a_bad_subreddit() -> None:
    bad = SourceSettings(kind="reddit", name="reddit", options={"subreddits": ["r/news"]})
    assert bad.endpoint == "https://www.reddit.com"
    with pytest.raises(ConfigError) as raised:
        check_source_options((bad,), "config.toml")
    assert "config.toml: sources[0].options.subreddits" in str(raised.value)
    assert "without 'r/'" in str(raised.value)


# --- failures --------------------------------------------------------------------------------

RATELIMIT_BODY = json.dumps(
    {
        "reason": "RATELIMIT",
        "explanation": "Looks like you've been doing that a lot. Take a break for 2 minutes.",
        "fields": ["ratelimit"],
    }
)


@pytest.mark.parametrize(
    ("responses", "status", "retry_after", "grade", "words"),
    [
        ([(429, {"Retry-After": "120"}, "{}")], 429, 120.0, SOFT, "too many requests"),
        ([(429, {"x-ratelimit-reset": "300"}, "{}")], 429, 300.0, SOFT, "retry after 300 s"),
        ([(503, {}, "")] * 3, 503, None, SOFT, "server error"),  # prawcore retried twice
        ([(403, {}, '{"reason": "private"}')], 403, None, HARD, "private"),
        ([(404, {}, '{"reason": "banned"}')], 404, None, SOFT, "banned"),
        (
            [(302, {"Location": "https://www.reddit.com/subreddits/search.json?q=x"}, "")],
            404,
            None,
            SOFT,
            "no such subreddit",
        ),
        ([(400, {}, RATELIMIT_BODY)], 429, 120.0, SOFT, "RATELIMIT"),
    ],
    ids=["429", "429-reset", "503", "403", "404", "redirect", "api-ratelimit"],
)
def test_reddit_errors_become_fetch_results(
    cassettes: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    responses: list[tuple[int, dict[str, str], str]],
    status: int,
    retry_after: float | None,
    grade: float,
    words: str,
) -> None:
    monkeypatch.setattr(prawcore.sessions.FiniteRetryStrategy, "_sleep_seconds", lambda _: None)
    name = write_cassette(tmp_path / "error.json", responses)
    with recorder(tmp_path).use_cassette(name) as cassette:
        h = harvest(listing_task(), source(subreddits=["askreddit"], search=False))
        assert cassette.all_played  # the token, then every recorded answer (503: 3 tries)

    r = h.result
    assert (r.status, r.error_kind, r.retry_after_seconds) == (status, "http", retry_after)
    assert r.error and r.error.startswith("r/askreddit new posts: ") and words in r.error
    assert r.url == "https://www.reddit.com/r/askreddit/new" and r.content is None
    assert h.mentions == ()
    assert failure_grade(r, parse_failed=False) == grade


def test_rejected_credentials_name_the_variables(cassettes: Path, tmp_path: Path) -> None:
    recorded = tape(NEW)
    refused = copy.deepcopy(recorded["interactions"][0])
    refused["response"]["status"] = {"code": 401, "message": "Unauthorized"}
    refused["response"]["body"] = {"string": '{"message": "Unauthorized", "error": 401}'}
    (tmp_path / "refused.json").write_text(
        json.dumps({"version": 1, "interactions": [refused]}), encoding="utf-8"
    )
    with recorder(tmp_path).use_cassette("refused.json"):
        h = harvest(listing_task(), source(subreddits=["askreddit"], search=False))
    assert (h.result.status, h.result.error_kind) == (401, "http")
    assert h.result.error and "refused the app's credentials" in h.result.error
    assert "NOISECAST_REDDIT_CLIENT_ID and NOISECAST_REDDIT_CLIENT_SECRET" in h.result.error
    assert failure_grade(h.result, parse_failed=False) == HARD


def test_a_request_that_cannot_be_made_is_a_network_error(tmp_path: Path) -> None:
    """Only the token is on the tape: the listing request fails below praw, as offline."""
    name = write_cassette(tmp_path / "token_only.json", [])
    with recorder(tmp_path).use_cassette(name):
        h = harvest(listing_task(), source(subreddits=["askreddit"], search=False))
    assert (h.result.status, h.result.error_kind) == (None, "network")
    assert h.result.error and h.result.error.startswith("r/askreddit new posts: network: ")
    assert failure_grade(h.result, parse_failed=False) == TEMPORARY


@pytest.mark.parametrize(
    ("secrets", "missing"),
    [
        (None, "NOISECAST_REDDIT_CLIENT_ID and NOISECAST_REDDIT_CLIENT_SECRET"),
        (Secrets(), "NOISECAST_REDDIT_CLIENT_ID and NOISECAST_REDDIT_CLIENT_SECRET"),
        (Secrets(reddit_client_id="x"), "set NOISECAST_REDDIT_CLIENT_SECRET "),
    ],
)
def test_missing_credentials_say_what_to_set(secrets: Secrets | None, missing: str) -> None:
    h = harvest(listing_task(), source(subreddits=["askreddit"]), secrets=secrets)
    assert (h.result.status, h.result.error_kind) == (None, "internal")
    assert h.result.error and h.result.error.startswith("r/askreddit new posts: ")
    assert missing in h.result.error


def test_every_request_has_a_timeout_even_when_prawcore_asks_for_longer(
    server: HTTPServer,
) -> None:
    def slow(request: Request) -> Response:
        time.sleep(1.0)
        return Response("{}", content_type="application/json")

    server.expect_request("/slow").respond_with_handler(slow)
    requestor = LimitedRequestor(
        limiter=RequestLimiter(), timeout=0.2, user_agent="noisecast-tests/0.1"
    )
    started = time.monotonic()
    with pytest.raises(prawcore.RequestException) as raised:
        requestor.request("GET", server.url_for("/slow"), timeout=16.0)  # prawcore's default
    assert time.monotonic() - started < 0.9
    task = listing_task()
    result = fetch_failure(raised.value, url=task.url, what=describe(task), now=T0)
    assert (result.status, result.error_kind) == (None, "timeout")
    assert result.error and result.error.startswith("r/askreddit new posts: timeout: ")


# --- the rate limit --------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_101st_request_in_a_minute_waits_for_the_first_to_leave_the_window() -> None:
    clock = FakeClock()
    limiter = RequestLimiter(100, 60.0, clock=clock, sleep=clock.sleep)
    for i in range(100):
        clock.now = i * 0.1  # 100 requests over the first 10 seconds
        assert limiter.acquire() == 0.0
    assert limiter.in_window() == 100
    clock.now = 30.0
    assert limiter.acquire() == pytest.approx(30.0)  # until t=60, when t=0 leaves
    assert clock.now == pytest.approx(60.0)
    assert limiter.acquire() == pytest.approx(0.1)  # the next slot frees at t=60.1
    clock.now = 200.0
    assert limiter.in_window() == 0
    assert limiter.acquire() == 0.0


def test_the_limiter_holds_across_threads() -> None:
    limiter = RequestLimiter(5, 0.3)
    starts: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(3):
            limiter.acquire()
            with lock:
                starts.append(time.monotonic())

    threads = [threading.Thread(target=work) for _ in range(4)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    starts.sort()
    assert len(starts) == 12
    assert starts[-1] - began >= 0.6 - 0.01  # 5 at once, 5 after one window, 2 after two
    for i in range(len(starts) - 5):  # no 6 starts inside one window (less thread jitter)
        assert starts[i + 5] - starts[i] >= 0.25


def test_praw_requests_go_through_the_limiter(cassettes: Path) -> None:
    """One request a minute: the token at t=0, so the listing waits until t=60."""
    clock = FakeClock()
    clients = RedditClients(1, clock=clock, sleep=clock.sleep)
    with recorder(cassettes).use_cassette(NEW):
        h = harvest(
            listing_task(),
            source(subreddits=["askreddit"], search=False),
            collector=RedditCollector(clients),
        )
    assert h.result.ok and len(h.mentions) == 100
    assert clock.slept == [60.0]


# --- end to end: collect into SQLite ---------------------------------------------------------


def test_collect_stores_reddit_mentions_and_their_engagement(
    cassettes: Path, sqlite_store: Store, tmp_path: Path
) -> None:
    store = sqlite_store
    store.upsert_source(
        kind="reddit",
        name="reddit",
        url="https://www.reddit.com",
        interval_minutes=60,
        now=T0,
        settings={"options": {"subreddits": ["askreddit"], "search": False}},
    )

    def run(now: datetime, cassette: Path) -> int:
        with recorder(cassette.parent).use_cassette(cassette.name, allow_playback_repeats=True):
            report = collect(store, fast_collector(), now=now, force=True, secrets=SECRETS)
        (src,) = report.sources
        assert (src.outcome, src.http_status, src.items_seen, src.error) == ("ok", 200, 100, None)
        return src.items_new

    def counts() -> tuple[int, int, int]:
        with store.engine.connect() as conn:
            return (
                conn.scalar(select(func.count()).select_from(mentions)) or 0,
                conn.scalar(select(func.count()).select_from(mention_engagement)) or 0,
                conn.scalar(select(func.count()).select_from(fetches)) or 0,
            )

    assert run(T0, cassettes / NEW) == 100
    assert counts() == (100, 100, 1)
    with store.engine.connect() as conn:
        kinds = conn.execute(select(mentions.c.kind).distinct()).scalars().all()
        fetch = conn.execute(select(fetches)).one()
    assert kinds == ["reddit"]
    assert (fetch.outcome, fetch.http_status, fetch.items_new, fetch.url) == (
        "ok",
        200,
        100,
        "https://www.reddit.com/r/askreddit/new",
    )

    assert run(T0 + timedelta(hours=1), cassettes / NEW) == 0
    assert counts() == (100, 100, 2)  # same counts: no new engagement rows

    changed = tape(NEW)
    listing = body(changed["interactions"][1])
    post = listing["data"]["children"][0]["data"]
    post["score"] += 41
    changed["interactions"][1]["response"]["body"]["string"] = json.dumps(listing)
    (tmp_path / "changed.json").write_text(json.dumps(changed), encoding="utf-8")

    assert run(T0 + timedelta(hours=2), tmp_path / "changed.json") == 0
    assert counts() == (100, 101, 3)
    with store.engine.connect() as conn:
        mention_id, score = conn.execute(
            select(mentions.c.id, mentions.c.score).where(mentions.c.external_id == post["name"])
        ).one()
        history = conn.execute(
            select(mention_engagement.c.observed_at, mention_engagement.c.score)
            .where(mention_engagement.c.mention_id == mention_id)
            .order_by(mention_engagement.c.observed_at)
        ).all()
    assert score == post["score"]
    assert history == [(T0, post["score"] - 41), (T0 + timedelta(hours=2), post["score"])]


def test_the_collect_command_reads_the_credentials_from_the_environment(
    cassettes: Path, tmp_path: Path
) -> None:
    """`noisecast collect` through the real entry point: the Reddit credentials come from
    NOISECAST_REDDIT_* (or the secrets file), never from config, and reach the collector."""
    from click.testing import CliRunner

    from noisecast.engine.cli import cli

    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "n.db"}"\n\n'
        '[[sources]]\nkind = "reddit"\nname = "reddit"\n'
        '[sources.options]\nsubreddits = ["askreddit"]\nsearch = false\n',
        encoding="utf-8",
    )
    runner = CliRunner()
    base = {"NOISECAST_CONFIG": str(config)}
    assert runner.invoke(cli, ["init"], env=base).exit_code == 0
    secrets = {
        "NOISECAST_REDDIT_CLIENT_ID": "x",
        "NOISECAST_REDDIT_CLIENT_SECRET": "y",
        "NOISECAST_REDDIT_USER_AGENT": "test",
    }
    with recorder(cassettes).use_cassette(NEW, allow_playback_repeats=True):
        without = runner.invoke(cli, ["collect", "--force", "--json"], env=base)
        CLIENTS.clear()
        result = runner.invoke(cli, ["collect", "--force", "--json"], env={**base, **secrets})
    assert without.exit_code == 1, without.output  # a source failed
    (refused,) = json.loads(without.stdout)["sources"]
    assert "NOISECAST_REDDIT_CLIENT_ID" in refused["error"]
    assert result.exit_code == 0, result.output
    (src,) = json.loads(result.stdout)["sources"]
    assert (src["outcome"], src["items_seen"], src["items_new"]) == ("ok", 100, 100)
