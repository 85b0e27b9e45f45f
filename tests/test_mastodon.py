"""Mastodon hashtag timelines, served from 127.0.0.1 as an instance would.

The statuses follow the documented Status entity (id, uri, url, created_at, HTML content,
spoiler_text, account, counts, card, reblog, tags, ...). Time is injected: ``now`` is T0.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select

from noisecast.engine.jobs.collect import collect
from noisecast.engine.store import Store
from noisecast.engine.store.tables import (
    fetches,
    mention_engagement,
    mentions,
    stories,
    story_mentions,
)
from noisecast.feeds.base import Harvest, SourceInfo, Task
from noisecast.feeds.mastodon import (
    MastodonCollector,
    MastodonOptions,
    derive_tags,
    hashtag_words,
    shorten,
)
from noisecast.feeds.mention import Mention
from noisecast.feeds.registry import collector_class
from tests.collectors import run_harvest, source_info, story_info
from tests.conftest import T0, fast_collector

HOUR = timedelta(hours=1)
TAG = "/api/v1/timelines/tag/"
PORT_STRIKE = '"port strike" OR dockworkers'
REUTERS = "https://www.reuters.com/world/europe/rotterdam-dockworkers-strike-2026-11-20/"


def account(acct: str, url: str, name: str) -> dict[str, Any]:
    username = acct.split("@")[0]
    return {
        "id": str(abs(hash(acct)) % 10**17),
        "username": username,
        "acct": acct,
        "display_name": name,
        "locked": False,
        "bot": False,
        "discoverable": True,
        "group": False,
        "created_at": "2022-11-07T00:00:00.000Z",
        "note": "",
        "url": url,
        "avatar": "https://files.mastodon.social/accounts/avatars/missing.png",
        "followers_count": 1204,
        "following_count": 311,
        "statuses_count": 5120,
        "last_status_at": "2026-11-20",
        "emojis": [],
        "fields": [],
    }


def status(**fields: Any) -> dict[str, Any]:
    """A public status with every documented key; ``fields`` override."""
    base: dict[str, Any] = {
        "in_reply_to_id": None,
        "in_reply_to_account_id": None,
        "sensitive": False,
        "spoiler_text": "",
        "visibility": "public",
        "language": "en",
        "replies_count": 0,
        "reblogs_count": 0,
        "favourites_count": 0,
        "edited_at": None,
        "reblog": None,
        "application": {"name": "Web", "website": None},
        "media_attachments": [],
        "mentions": [],
        "tags": [],
        "emojis": [],
        "card": None,
        "poll": None,
    }
    return base | fields


HASHTAG = (
    '<a href="https://mastodon.social/tags/PortStrike" class="mention hashtag" rel="tag">'
    "#<span>PortStrike</span></a>"
)
ROTTERDAM = status(
    id="113520418331552810",
    created_at="2026-11-20T10:41:12.000Z",
    uri="https://mastodon.social/users/portlabourwatch/statuses/113520418331552810",
    url="https://mastodon.social/@portlabourwatch/113520418331552810",
    replies_count=4,
    reblogs_count=17,
    favourites_count=29,
    content=(
        f"<p>Day 3 of the {HASHTAG}: dockworkers in Rotterdam &amp; Antwerp say they won&#39;t"
        " return until the automation deal is off the table.</p>"
        f'<p><a href="{REUTERS}" target="_blank" rel="nofollow noopener noreferrer"'
        ' translate="no"><span class="invisible">https://www.</span><span class="ellipsis">'
        'reuters.com/world/europe/rotte</span><span class="invisible">rdam-dockworkers-strike'
        "-2026-11-20/</span></a></p>"
    ),
    account=account(
        "portlabourwatch", "https://mastodon.social/@portlabourwatch", "Port Labour Watch"
    ),
    tags=[{"name": "portstrike", "url": "https://mastodon.social/tags/portstrike"}],
    card={
        "url": REUTERS,
        "title": "Dockworkers at the Port of Rotterdam walk out over automation plans",
        "description": "Unions say the walkout will last until the plan is withdrawn.",
        "type": "link",
        "author_name": "",
        "author_url": "",
        "provider_name": "Reuters",
        "provider_url": "",
        "html": "",
        "width": 400,
        "height": 225,
        "image": None,
        "embed_url": "",
    },
)
HAMBURG = status(
    id="113520377154420967",
    created_at="2026-11-20T10:30:41.000Z",
    uri="https://norden.social/users/hafenblick/statuses/113520377009876543",
    url="https://norden.social/@hafenblick/113520377009876543",
    language="de",
    spoiler_text="Streik / port strike",
    reblogs_count=3,
    favourites_count=8,
    content=(
        "<p>Hamburger Hafen: Auch die Dockworkers in Hamburg schließen sich dem Streik an –"
        " „Solidarität über Grenzen“ 🚢<br>Port strike now spans three countries.</p>"
    ),
    account=account("hafenblick@norden.social", "https://norden.social/@hafenblick", "Hafen"),
)
# A Misskey note seen through Mastodon: its url is null, its uri is the permalink.
YOKOHAMA = status(
    id="113520455520099881",
    created_at="2026-11-20T10:50:40.000Z",
    uri="https://misskey.io/notes/9x3k2m1p0a",
    url=None,
    language="ja",
    replies_count=1,
    reblogs_count=2,
    favourites_count=5,
    content="<p>港湾ストライキ port strike solidarity from Yokohama ✊</p>",
    account=account("minato_rodo@misskey.io", "https://misskey.io/@minato_rodo", "港湾"),
)
LE_HAVRE = status(
    id="113520266712345678",
    created_at="2026-11-20T10:02:36.000Z",
    uri="https://mastodon.social/users/lehavre_live/statuses/113520266712345678",
    url="https://mastodon.social/@lehavre_live/113520266712345678",
    replies_count=2,
    favourites_count=6,
    content=(
        f"<p>Picket line report from the {HASHTAG} in Le Havre, day three. The cranes are"
        " still, the gates are closed, and the coffee is terrible but plentiful. Families"
        " brought soup at noon and the crowd sang until the shift change at two. More"
        " tomorrow, weather permitting, from the north gate.</p>"
    ),
    account=account("lehavre_live", "https://mastodon.social/@lehavre_live", "Le Havre Live"),
)


def boost(of: dict[str, Any], booster: str, boost_id: str) -> dict[str, Any]:
    """A reblog wrapper, as a timeline shows a boost."""
    return status(
        id=boost_id,
        created_at="2026-11-20T11:05:00.000Z",
        uri=f"https://fosstodon.org/users/{booster}/statuses/{boost_id}/activity",
        url=None,
        content="",
        account=account(f"{booster}@fosstodon.org", f"https://fosstodon.org/@{booster}", booster),
        reblog=copy.deepcopy(of),
    )


def body(statuses: list[dict[str, Any]]) -> bytes:
    return json.dumps(statuses, ensure_ascii=False).encode()


def source(url: str, **options: Any) -> SourceInfo:
    return source_info("mastodon", url, "m", **options)


story = story_info


def harvest(task: Task, src: SourceInfo, now: datetime = T0) -> Harvest:
    return run_harvest(task, src, now)


def one_task(
    server: HTTPServer, tag: str = "portstrike", **options: Any
) -> tuple[Task, SourceInfo]:
    src = source(server.url_for("/"), tags={"s": [tag]}, **options)
    (task,) = MastodonCollector().tasks(src, [story("s", "anything")])
    return task, src


# --- options, tags and tasks --------------------------------------------------------------------


def test_registered_without_a_default_url() -> None:
    cls = collector_class("mastodon")
    assert cls is MastodonCollector
    assert cls.default_url is None


def test_options_normalise_hashtags_and_have_bounds() -> None:
    options = MastodonOptions(tags={"port-strike": ["#PortStrike", "portstrike", "Grève"]})
    assert options.tags == {"port-strike": ["portstrike", "grève"]}
    assert (options.limit, options.local, options.max_derived_tags) == (40, False, 3)
    for bad in ({"limit": 41}, {"limit": 0}, {"instance": "x"}, {"max_derived_tags": -1}):
        with pytest.raises(ValidationError):
            MastodonOptions(**bad)
    with pytest.raises(ValidationError, match="'port strike' is not a hashtag"):
        MastodonOptions(tags={"port-strike": ["port strike"]})


@pytest.mark.parametrize(
    ("search", "tags"),
    [
        (PORT_STRIKE, ["portstrike", "dockworkers"]),
        ('(ukraine OR kyiv) "peace talks" summit', ["ukraine", "kyiv", "peacetalks"]),
        ('"Grève des dockers" Zürich', ["grevedesdockers", "zurich"]),
        ("AI AND EU regulation", ["regulation"]),
        ("climat* title:(summit OR cop29)", ["summit", "cop29"]),
        ("strike NOT (sport OR football) docks", ["strike", "docks"]),
        ("covid-19 U.S. covid-19", ["covid19"]),
    ],
)
def test_tags_derived_from_search_terms(search: str, tags: list[str]) -> None:
    assert derive_tags(search, limit=3) == tags


def test_one_task_per_distinct_tag(server: HTTPServer) -> None:
    src = source(
        "https://mastodon.social/",
        tags={"dock-safety": ["dockworkers", "#Hafenstreik", "Grève"]},
        limit=20,
        local=True,
    )
    tasks = MastodonCollector().tasks(
        src,
        [
            story("port-strike", PORT_STRIKE),
            story("dock-safety", "crane accident"),
            story("marseille", '"grève des dockers" Marseille NOT title:opinion'),
        ],
    )

    base = "https://mastodon.social/api/v1/timelines/tag/"
    assert [(t.key, t.url, t.story, dict(t.params)) for t in tasks] == [
        ("tag:portstrike", base + "portstrike?limit=20&local=true", None, {"tag": "portstrike"}),
        ("tag:dockworkers", base + "dockworkers?limit=20&local=true", None, {"tag": "dockworkers"}),
        ("tag:hafenstreik", base + "hafenstreik?limit=20&local=true", None, {"tag": "hafenstreik"}),
        ("tag:grève", base + "gr%C3%A8ve?limit=20&local=true", None, {"tag": "grève"}),
        (
            "tag:grevedesdockers",
            base + "grevedesdockers?limit=20&local=true",
            None,
            {"tag": "grevedesdockers"},
        ),
        ("tag:marseille", base + "marseille?limit=20&local=true", None, {"tag": "marseille"}),
    ]


def test_a_story_listed_with_no_tags_is_not_searched() -> None:
    src = source("https://mastodon.social", tags={"quiet": []}, max_derived_tags=1)
    tasks = MastodonCollector().tasks(src, [story("quiet", "whatever"), story("b", "dockworkers")])
    assert [t.url for t in tasks] == [
        "https://mastodon.social/api/v1/timelines/tag/dockworkers?limit=40"
    ]


def test_titles_are_cut_at_a_word_boundary() -> None:
    assert shorten("short") == "short"
    assert shorten("a" * 200) == "a" * 200
    assert shorten("word " * 50) == ("word " * 40).rstrip() + "…"
    assert shorten("x" * 250) == "x" * 199 + "…"


# --- harvest against the loopback server --------------------------------------------------------


def test_harvest_reads_every_field_and_folds_boosts(server: HTTPServer) -> None:
    timeline = [
        boost(ROTTERDAM, "kai", "113520502298761234"),
        LE_HAVRE,
        ROTTERDAM,
        boost(YOKOHAMA, "mira", "113520488800011122"),
        HAMBURG,
        boost(ROTTERDAM, "jo", "113520490000000001"),
    ]
    server.expect_request(TAG + "portstrike").respond_with_data(
        body(timeline),
        content_type="application/json; charset=utf-8",
        headers={"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "299"},
    )
    task, src = one_task(server, local=True)

    got = harvest(task, src)

    ((request, _),) = server.log
    assert request.args.to_dict() == {"limit": "40", "local": "true"}
    assert request.headers["Accept"] == "application/json"
    assert (got.result.status, got.parser, got.parse_error) == (200, "json", None)
    rotterdam_text = (
        "Day 3 of the #PortStrike: dockworkers in Rotterdam & Antwerp say they won't return until"
        f" the automation deal is off the table. {REUTERS}"
    )
    le_havre_text = (
        "Picket line report from the #PortStrike in Le Havre, day three. The cranes are still,"
        " the gates are closed, and the coffee is terrible but plentiful. Families brought soup"
        " at noon and the crowd sang until the shift change at two. More tomorrow, weather"
        " permitting, from the north gate."
    )
    hamburg_text = (
        "Streik / port strike Hamburger Hafen: Auch die Dockworkers in Hamburg schließen sich"
        " dem Streik an – „Solidarität über Grenzen“ 🚢 Port strike now spans three countries."
    )
    assert list(got.mentions) == [
        Mention(
            external_id=ROTTERDAM["uri"],
            title=(
                "Day 3 of the #PortStrike: dockworkers in Rotterdam & Antwerp say they won't"
                " return until the automation deal is off the table.…"
            ),
            url=ROTTERDAM["url"],
            canonical_url=ROTTERDAM["url"],
            summary=rotterdam_text + " Port Strike",  # the hashtag's words
            author="portlabourwatch",
            outlet="mastodon.social",
            published_at=datetime(2026, 11, 20, 10, 41, 12, tzinfo=UTC),
            score=46,
            comments=4,
            link_url=REUTERS,
        ),
        Mention(
            external_id=LE_HAVRE["uri"],
            title=(
                "Picket line report from the #PortStrike in Le Havre, day three. The cranes are"
                " still, the gates are closed, and the coffee is terrible but plentiful."
                " Families brought soup at noon and the crowd sang…"
            ),
            url=LE_HAVRE["url"],
            canonical_url=LE_HAVRE["url"],
            summary=le_havre_text + " Port Strike",
            author="lehavre_live",
            outlet="mastodon.social",
            published_at=datetime(2026, 11, 20, 10, 2, 36, tzinfo=UTC),
            score=6,
            comments=2,
            link_url=None,
        ),
        Mention(
            external_id="https://misskey.io/notes/9x3k2m1p0a",
            title="港湾ストライキ port strike solidarity from Yokohama ✊",
            url="https://misskey.io/notes/9x3k2m1p0a",
            canonical_url="https://misskey.io/notes/9x3k2m1p0a",
            summary="港湾ストライキ port strike solidarity from Yokohama ✊",
            author="minato_rodo@misskey.io",
            outlet="misskey.io",
            published_at=datetime(2026, 11, 20, 10, 50, 40, tzinfo=UTC),
            score=7,
            comments=1,
            link_url=None,
        ),
        Mention(
            external_id=HAMBURG["uri"],
            title=hamburg_text,
            url=HAMBURG["url"],
            canonical_url=HAMBURG["url"],
            summary=hamburg_text,
            author="hafenblick@norden.social",
            outlet="norden.social",
            published_at=datetime(2026, 11, 20, 10, 30, 41, tzinfo=UTC),
            score=11,
            comments=0,
            link_url=None,
        ),
    ]
    assert all(len(m.title) <= 200 for m in got.mentions)


def test_a_post_without_text_is_titled_by_its_card(server: HTTPServer) -> None:
    bare = {**ROTTERDAM, "content": "", "uri": "https://mastodon.social/users/x/statuses/1"}
    server.expect_request(TAG + "portstrike").respond_with_data(body([bare]))
    task, src = one_task(server)

    (mention,) = harvest(task, src).mentions

    assert mention.title == "Dockworkers at the Port of Rotterdam walk out over automation plans"
    assert mention.summary == ""


def test_an_empty_timeline_is_no_error(server: HTTPServer) -> None:
    server.expect_request(TAG + "portstrike").respond_with_data(b"[]")
    task, src = one_task(server)

    got = harvest(task, src)

    assert (list(got.mentions), got.parse_error, got.result.ok) == ([], None, True)


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (
            b"<html><body>Mastodon is down for maintenance</body></html>",
            "not JSON: Expecting value at line 1 column 1",
        ),
        (
            b'[{"id": "1",',
            "not JSON: Expecting property name enclosed in double quotes at line 1 column 13",
        ),
        (b'{"statuses": []}', "expected a JSON array of statuses, got dict"),
        (
            b'{"error": "This method requires an authenticated user"}',
            "the server answered with an error: This method requires an authenticated user",
        ),
        (b'"ok"', "expected a JSON array of statuses, got str"),
        (
            b'[1, {"content": "<p>no id</p>"}]',
            "2 of 2 statuses skipped (not an object with a uri or id)",
        ),
    ],
)
def test_bad_json_and_wrong_shapes_are_parse_errors(
    server: HTTPServer, payload: bytes, error: str
) -> None:
    server.expect_request(TAG + "portstrike").respond_with_data(payload)
    task, src = one_task(server)

    got = harvest(task, src)

    assert (list(got.mentions), got.parser, got.parse_error) == ([], "json", error)


def test_statuses_without_an_id_are_skipped_and_the_rest_kept(server: HTTPServer) -> None:
    server.expect_request(TAG + "portstrike").respond_with_data(body([{"content": "x"}, HAMBURG]))
    task, src = one_task(server)

    got = harvest(task, src)

    assert [m.external_id for m in got.mentions] == [HAMBURG["uri"]]
    assert got.parse_error == "1 of 2 statuses skipped (not an object with a uri or id)"


def test_429_waits_until_the_rate_limit_resets(server: HTTPServer) -> None:
    reset = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    server.expect_request(TAG + "portstrike").respond_with_data(
        '{"error":"Too many requests"}',
        status=429,
        content_type="application/json",
        headers={
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": reset,
        },
    )
    task, src = one_task(server)

    got = harvest(task, src)

    assert (got.result.status, got.result.error_kind, got.mentions) == (429, "http", ())
    assert got.result.retry_after_seconds is not None
    assert 240 < got.result.retry_after_seconds <= 300


@pytest.mark.parametrize(
    ("status_code", "payload"),
    [
        (500, "Internal Server Error"),
        (503, "Service Unavailable"),
        (404, '{"error":"Record not found"}'),
    ],
)
def test_server_errors_are_fetch_errors(server: HTTPServer, status_code: int, payload: str) -> None:
    server.expect_request(TAG + "portstrike").respond_with_data(payload, status=status_code)
    task, src = one_task(server)

    got = harvest(task, src)

    assert (got.result.status, got.result.error_kind, got.mentions) == (status_code, "http", ())
    assert got.parse_error is None


# --- end to end: collect, match, store, engagement ----------------------------------------------


def serve_timelines(server: HTTPServer, timelines: dict[str, list[dict[str, Any]]]) -> None:
    for tag, statuses in timelines.items():
        server.expect_request(TAG + tag).respond_with_data(
            body(statuses), content_type="application/json"
        )


def stored(store: Store) -> dict[str, dict[str, Any]]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(mentions)).all()
    return {r.external_id: dict(r._mapping) for r in rows}


def test_collect_stores_matches_and_tracks_engagement(store: Store, server: HTTPServer) -> None:
    serve_timelines(
        server,
        {
            "portstrike": [ROTTERDAM, LE_HAVRE, boost(YOKOHAMA, "mira", "113520488800011122")],
            "dockworkers": [boost(ROTTERDAM, "kai", "113520502298761234"), HAMBURG],
        },
    )
    store.upsert_story("port-strike", "Port strike", PORT_STRIKE, now=T0)
    store.upsert_story("dock-safety", "Dock safety", "dockworkers AND safety", now=T0)
    store.upsert_source(
        kind="mastodon",
        name="mastodon-social",
        url=server.url_for("/"),
        interval_minutes=60,
        now=T0,
        settings={"options": {"tags": {"dock-safety": ["dockworkers"]}}},
    )

    (report,) = collect(store, fast_collector(), now=T0).sources

    # port-strike's tags are derived (portstrike, dockworkers); dock-safety's dockworkers is shared.
    assert (report.outcome, report.tasks, report.items_seen, report.items_new) == (
        "ok",
        2,
        4,
        4,
    )  # one post came back from both tags: counted once
    assert sorted(r.path for r, _ in server.log) == [TAG + "dockworkers", TAG + "portstrike"]
    rows = stored(store)
    assert set(rows) == {ROTTERDAM["uri"], LE_HAVRE["uri"], YOKOHAMA["uri"], HAMBURG["uri"]}
    assert {r["kind"] for r in rows.values()} == {"mastodon"}
    assert rows[ROTTERDAM["uri"]]["link_url"] == REUTERS
    assert rows[YOKOHAMA["uri"]]["outlet"] == "misskey.io"
    with store.engine.connect() as conn:
        matched = conn.execute(
            select(stories.c.slug, mentions.c.external_id).select_from(
                story_mentions.join(stories).join(mentions)
            )
        ).all()
        fetch_rows = conn.execute(
            select(fetches.c.url, fetches.c.outcome, fetches.c.items_seen)
        ).all()
    # Le Havre only has the hashtag #PortStrike: its words make the phrase "port strike".
    assert sorted(matched) == sorted(
        [
            ("port-strike", ROTTERDAM["uri"]),
            ("port-strike", LE_HAVRE["uri"]),
            ("port-strike", YOKOHAMA["uri"]),
            ("port-strike", HAMBURG["uri"]),
        ]
    )
    assert sorted((u.rsplit("/", 1)[1], o, n) for u, o, n in fetch_rows) == [
        ("dockworkers?limit=40", "ok", 2),
        ("portstrike?limit=40", "ok", 3),
    ]

    # An hour later the Rotterdam post has more favourites and a reply.
    later = {**ROTTERDAM, "favourites_count": 41, "replies_count": 5}
    server.clear()
    serve_timelines(server, {"portstrike": [later, LE_HAVRE], "dockworkers": [HAMBURG]})

    (again,) = collect(store, fast_collector(), now=T0 + HOUR, force=True).sources

    assert (again.outcome, again.items_new) == ("ok", 0)
    rows = stored(store)
    assert len(rows) == 4
    assert (rows[ROTTERDAM["uri"]]["score"], rows[ROTTERDAM["uri"]]["comments"]) == (58, 5)
    with store.engine.connect() as conn:
        history = conn.execute(
            select(
                mention_engagement.c.observed_at,
                mention_engagement.c.score,
                mention_engagement.c.comments,
            )
            .where(mention_engagement.c.mention_id == rows[ROTTERDAM["uri"]]["id"])
            .order_by(mention_engagement.c.observed_at)
        ).all()
        hamburg_history = conn.execute(
            select(func.count())
            .select_from(mention_engagement)
            .where(mention_engagement.c.mention_id == rows[HAMBURG["uri"]]["id"])
        ).scalar_one()
        fetch_count = conn.execute(select(func.count()).select_from(fetches)).scalar_one()
    assert [tuple(h) for h in history] == [(T0, 46, 4), (T0 + HOUR, 58, 5)]
    assert hamburg_history == 1
    assert fetch_count == 4


def test_a_rate_limited_instance_waits_for_the_reset(store: Store, server: HTTPServer) -> None:
    reset = (datetime.now(UTC) + timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    server.expect_request(TAG + "dockworkers").respond_with_data(
        '{"error":"Too many requests"}',
        status=429,
        content_type="application/json",
        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset},
    )
    store.upsert_story("port-strike", "Port strike", "dockworkers", now=T0)
    store.upsert_source(
        kind="mastodon", name="m", url=server.url_for("/"), interval_minutes=60, now=T0
    )

    (report,) = collect(store, fast_collector(), now=T0).sources

    assert (report.outcome, report.http_status) == ("error", 429)
    assert store.get_source("m")["next_due_at"] >= T0 + timedelta(minutes=19)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Day 3 #PortStrike #LeHavre", "Port Strike Le Havre"),
        ("#portstrike and #COP30 stay whole", ""),
        ("#AIAct vote #EU2026Budget", "AI Act EU2026 Budget"),
        ("no tags here", ""),
    ],
)
def test_camel_case_hashtags_give_their_words(text: str, words: str) -> None:
    assert hashtag_words(text) == words
