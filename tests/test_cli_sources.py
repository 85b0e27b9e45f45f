"""``noisecast sources`` and ``stories``: nothing is silently overwritten, a disabled source can
come back, a homepage's feed is discovered and checked by one real fetch, private addresses are
refused, and ``stories test`` shows what a query would match. Through the real entry point,
against real loopback servers and real feeds from ../shared/data/news-feeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select, update

from noisecast.engine.cli import cli
from noisecast.engine.core.match import parse_query
from noisecast.engine.jobs.catalog import default_source_name
from noisecast.engine.jobs.discovery import feed_links
from noisecast.engine.store import Store
from noisecast.engine.store.tables import mentions, sources

CONFIG = """
[database]
url = "{url}"

[collector]
per_host_min_gap_seconds = 0
jitter_fraction = 0
timeout_seconds = 5
allow_private_networks = {allowed}

[[sources]]
name = "wire"
url = "https://wire.example/feed.xml"

[[stories]]
slug = "port-strike"
title = "Port strike"
query = '"port strike" OR dockworkers'
"""

NOW = "2026-11-20T12:00Z"


def write_config(path: Path, db_url: str, allowed: str = '["127.0.0.0/8"]') -> Path:
    path.write_text(CONFIG.format(url=db_url, allowed=allowed))
    return path


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> Path:
    path = write_config(tmp_path / "config.toml", db_url)
    code, _, err = run(path, "init")
    assert code == 0, err
    return path


def run(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        cli,
        ["--config", str(config), "--now", NOW, *args],
        catch_exceptions=False,
        env={"COLUMNS": "400"},  # no wrapping in tables
    )
    return result.exit_code, result.stdout, result.stderr


def add(config: Path, *args: str) -> dict:  # type: ignore[type-arg]
    code, out, err = run(config, "sources", "add", *args, "--json")
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def listed(config: Path, *args: str) -> dict[str, dict]:  # type: ignore[type-arg]
    code, out, err = run(config, "sources", "list", "--json", *args)
    assert code == 0, err
    return {r["name"]: r for r in json.loads(out)}


# --- names: unique per feed, never overwritten ---------------------------------------------------


def test_default_names_are_unique_per_feed() -> None:
    assert default_source_name("https://feeds.bbci.co.uk/news/world/rss.xml") == (
        "feeds.bbci.co.uk-news-world"
    )
    assert default_source_name("https://feeds.bbci.co.uk/news/uk/rss.xml") == (
        "feeds.bbci.co.uk-news-uk"
    )
    assert default_source_name("https://www.example.org/rss") == "example.org"
    assert default_source_name("https://www.theguardian.com/world/rss") == "theguardian.com-world"


def test_a_second_feed_of_a_site_is_added_beside_the_first(config: Path) -> None:
    world = add(config, "https://feeds.bbc.example/news/world/rss.xml", "--no-check")
    uk = add(config, "https://feeds.bbc.example/news/uk/rss.xml", "--no-check")
    assert (world["name"], world["created"]) == ("feeds.bbc.example-news-world", True)
    assert (uk["name"], uk["created"]) == ("feeds.bbc.example-news-uk", True)
    rows = listed(config)
    assert rows[world["name"]]["url"] == "https://feeds.bbc.example/news/world/rss.xml"
    assert rows[uk["name"]]["url"] == "https://feeds.bbc.example/news/uk/rss.xml"

    # Two feeds whose paths slug alike still get names of their own.
    other = add(config, "https://feeds.bbc.example/news/world/rss.xml?edition=int", "--no-check")
    assert other["name"].startswith("feeds.bbc.example-news-world-") and other["created"]
    assert len(listed(config)) == 4


def test_a_taken_name_or_a_known_feed_is_refused_unless_replace(config: Path) -> None:
    code, _, err = run(config, "sources", "add", "https://other.example/a.xml", "--name", "wire",
                       "--no-check")  # fmt: skip
    assert code == 2
    assert "source 'wire' exists (https://wire.example/feed.xml): add --replace" in err
    assert listed(config)["wire"]["url"] == "https://wire.example/feed.xml"

    code, _, err = run(config, "sources", "add", "https://wire.example/feed.xml", "--no-check")
    assert code == 2 and "is already the source 'wire'" in err
    assert set(listed(config)) == {"wire"}

    replaced = add(config, "https://other.example/a.xml", "--name", "wire", "--replace",
                   "--no-check")  # fmt: skip
    assert replaced["created"] is False
    assert listed(config)["wire"]["url"] == "https://other.example/a.xml"


def test_stories_add_refuses_a_known_slug_unless_replace(config: Path) -> None:
    code, _, err = run(config, "stories", "add", "port-strike", "--title", "Other",
                       "--query", "other")  # fmt: skip
    assert code == 2
    assert "story 'port-strike' exists: add --replace" in err
    _, out, _ = run(config, "stories", "list", "--json")
    assert json.loads(out)[0]["query"] == '"port strike" OR dockworkers'

    run(config, "stories", "archive", "port-strike")
    code, _, err = run(config, "stories", "add", "port-strike", "--title", "Other",
                       "--query", "other")  # fmt: skip
    assert code == 2 and "exists (archived): add --replace" in err

    code, out, err = run(config, "stories", "add", "port-strike", "--title", "Other",
                         "--query", "other", "--replace", "--json")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["created"] is False
    _, out, _ = run(config, "stories", "list", "--json")
    story = json.loads(out)[0]
    assert (story["title"], story["query"], story["status"]) == ("Other", "other", "active")


# --- enable, remove, collect of a disabled source ----------------------------------------------


def test_a_disabled_source_says_so_and_can_be_enabled(
    config: Path, server: HTTPServer, shared_data: Path
) -> None:
    body = (shared_data / "news-feeds" / "rbren__reddit.rss").read_bytes()
    server.expect_request("/feed").respond_with_data(body, content_type="application/rss+xml")
    add(config, server.url_for("/feed"), "--name", "reddit", "--no-check")
    run(config, "sources", "disable", "reddit", "--reason", "too noisy")

    code, _, err = run(config, "collect", "--source", "reddit")
    assert code == 1
    assert "source 'reddit' is disabled since 2026-11-20 12:00 UTC (too noisy)" in err
    assert "`noisecast sources enable reddit`" in err

    code, out, err = run(config, "sources", "enable", "reddit")
    assert code == 0 and "Enabled source reddit" in out, err
    row = listed(config)["reddit"]
    assert row["disabled_at"] is None and row["failures"] == 0
    assert row["next_due_at"].startswith("2026-11-20 12:00")
    code, out, err = run(config, "collect", "--source", "reddit", "--json")
    assert code == 0, err
    assert json.loads(out)["items_new"] == 24


def test_remove_keeps_the_mentions_and_hides_the_source(
    config: Path, server: HTTPServer, shared_data: Path, db_url: str
) -> None:
    body = (shared_data / "news-feeds" / "rbren__reddit.rss").read_bytes()
    server.expect_request("/feed").respond_with_data(body, content_type="application/rss+xml")
    add(config, server.url_for("/feed"), "--name", "reddit", "--no-check")
    assert run(config, "collect", "--source", "reddit")[0] == 0

    code, out, err = run(config, "sources", "remove", "reddit")
    assert code == 0 and "its mentions are kept" in out, err
    store = Store.from_url(db_url)
    try:
        with store.reading() as conn:
            kept = conn.execute(select(func.count()).select_from(mentions)).scalar_one()
        assert kept == 24
    finally:
        store.close()
    assert "reddit" not in listed(config)
    assert listed(config, "--all")["reddit"]["disabled_reason"].startswith("removed")
    _, out, _ = run(config, "status", "--json")
    status = json.loads(out)
    assert (status["sources"], status["sources_removed"]) == (1, 1)
    assert status["mentions"] == 24

    for command in (("collect", "--source", "reddit"), ("sources", "disable", "reddit")):
        code, _, err = run(config, *command)
        assert code == 1 and "source 'reddit' was removed" in err
    code, _, err = run(config, "sources", "add", server.url_for("/feed"), "--name", "reddit",
                       "--no-check")  # fmt: skip
    assert code == 2 and "was removed (its mentions are kept): add --replace" in err

    # Config sync leaves a removed source removed, even one that config lists.
    run(config, "sources", "remove", "wire")
    code, out, _ = run(config, "init", "--json")
    assert code == 0 and json.loads(out)["sources_removed"] == 1
    code, out, _ = run(config, "init")
    assert code == 0 and "1 sources of the config were removed" in out
    assert "wire" not in listed(config)

    code, out, _ = run(config, "sources", "enable", "reddit")
    assert code == 0
    assert listed(config)["reddit"]["disabled_at"] is None


def test_config_enabled_again_reenables_a_source_config_disabled(
    tmp_path: Path, db_url: str
) -> None:
    path = write_config(tmp_path / "config.toml", db_url)
    path.write_text(
        path.read_text().replace('url = "https://wire', 'enabled = false\nurl = "https://wire')
    )
    assert run(path, "init")[0] == 0
    assert listed(path)["wire"]["disabled_reason"] == "disabled in config"
    write_config(path, db_url)
    assert run(path, "init")[0] == 0
    assert listed(path)["wire"]["disabled_at"] is None


# --- autodiscovery and the checking fetch -------------------------------------------------------

HOMEPAGE = """<!DOCTYPE html>
<html lang="de">
<head>
  <meta charset="utf-8">
  <title>heise Developer</title>
  <link rel="stylesheet" href="/style.css">
  <link rel="alternate" type="application/atom+xml" title="heise developer neueste Meldungen"
        href="/developer/rss/news-atom.xml">
  <link rel="alternate" type="application/rss+xml" title="Kommentare" href="/comments.rss">
</head>
<body><h1>heise Developer</h1><p>Nachrichten</p></body>
</html>
"""


def test_feed_links_reads_alternate_links_in_page_order() -> None:
    links = feed_links(HOMEPAGE.encode(), "https://www.heise.example/developer/")
    assert [(link.url, link.kind) for link in links] == [
        ("https://www.heise.example/developer/rss/news-atom.xml", "atom"),
        ("https://www.heise.example/comments.rss", "rss"),
    ]
    assert links[0].title == "heise developer neueste Meldungen"


def test_a_homepage_url_adds_the_feed_it_links_to(
    config: Path, server: HTTPServer, shared_data: Path
) -> None:
    atom = (shared_data / "news-feeds" / "rbren__heise.atom").read_bytes()
    server.expect_request("/developer/").respond_with_data(HOMEPAGE, content_type="text/html")
    server.expect_request("/developer/rss/news-atom.xml").respond_with_data(
        atom, content_type="application/atom+xml"
    )
    code, out, err = run(config, "sources", "add", server.url_for("/developer/"))
    assert code == 0, err
    feed = server.url_for("/developer/rss/news-atom.xml")
    assert f"Found the feed {feed} on {server.url_for('/developer/')}" in out
    assert "Checked: the feed 'heise developer neueste Meldungen' has 15 entries." in out
    assert "Added source 127.0.0.1-developer-news" in out
    row = listed(config)["127.0.0.1-developer-news"]
    assert (row["url"], row["kind"]) == (feed, "atom")


def test_a_feed_url_is_checked_by_one_fetch(
    config: Path, server: HTTPServer, shared_data: Path
) -> None:
    body = (shared_data / "news-feeds" / "rbren__reddit.rss").read_bytes()
    server.expect_request("/r/news/.rss").respond_with_data(body, content_type="text/xml")
    result = add(config, server.url_for("/r/news/.rss"))
    assert result == {
        "name": "127.0.0.1-r-news",
        "url": server.url_for("/r/news/.rss"),
        "kind": "rss",
        "created": True,
        "checked": True,
        "discovered_from": None,
        "entries": 24,
    }
    assert len(server.log) == 1


@pytest.mark.parametrize(
    ("path", "body", "content_type", "status", "expected"),
    [
        ("/page", "<html><head><title>x</title></head><body>no feed</body></html>",
         "text/html", 200, "a web page without a feed link"),
        ("/gone", "", "text/plain", 404, "could not be fetched: HTTP 404"),
        ("/text", "just some words", "text/plain", 200, "not a feed"),
    ],
)  # fmt: skip
def test_what_is_not_a_feed_is_refused_unless_no_check(
    config: Path,
    server: HTTPServer,
    path: str,
    body: str,
    content_type: str,
    status: int,
    expected: str,
) -> None:
    server.expect_request(path).respond_with_data(body, status=status, content_type=content_type)
    code, _, err = run(config, "sources", "add", server.url_for(path))
    assert code == 2 and expected in err and "--no-check" in err
    assert set(listed(config)) == {"wire"}
    result = add(config, server.url_for(path), "--no-check")
    assert result["created"] and not result["checked"]
    assert len(server.log) == 1  # --no-check fetched nothing


def test_an_unreachable_network_adds_the_source_unchecked(config: Path) -> None:
    code, out, err = run(config, "sources", "add", "http://127.0.0.1:9/news.xml")  # closed port
    assert code == 0, err
    assert "Not checked" in out and "Added source 127.0.0.1-news" in out


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata address"),
        ("http://169.254.10.1/feed", "link-local address"),
        ("http://10.1.2.3/feed", "private address"),
        ("http://127.0.0.1:9/feed", "loopback address"),
    ],
)
def test_private_and_link_local_addresses_are_refused(
    tmp_path: Path, db_url: str, url: str, expected: str
) -> None:
    config = write_config(tmp_path / "config.toml", db_url, allowed="[]")
    assert run(config, "init")[0] == 0
    for extra in ((), ("--no-check",)):
        code, _, err = run(config, "sources", "add", url, *extra)
        assert code == 2, err
        assert expected in err
    assert set(listed(config)) == {"wire"}


def test_a_homepage_linking_to_a_private_address_is_refused(
    tmp_path: Path, db_url: str, server: HTTPServer
) -> None:
    config = write_config(tmp_path / "config.toml", db_url, allowed='["127.0.0.0/8"]')
    assert run(config, "init")[0] == 0
    page = '<html><head><link rel="alternate" type="application/rss+xml" href="http://169.254.169.254/x"></head></html>'
    server.expect_request("/").respond_with_data(page, content_type="text/html")
    code, _, err = run(config, "sources", "add", server.url_for("/"))
    assert code == 2 and "169.254.169.254 is a cloud metadata address" in err


# --- stories test -------------------------------------------------------------------------------


def test_stories_test_counts_matches_with_samples_and_stores_nothing(
    config: Path, server: HTTPServer, shared_data: Path, db_url: str
) -> None:
    body = (shared_data / "news-feeds" / "rbren__reddit.rss").read_bytes()
    server.expect_request("/feed").respond_with_data(body, content_type="application/rss+xml")
    add(config, server.url_for("/feed"), "--name", "reddit", "--no-check")
    assert run(config, "collect", "--source", "reddit")[0] == 0
    store = Store.from_url(db_url)
    try:  # the feed is from 2015: make its mentions recent, as if collected this week
        with store.transaction() as conn:
            conn.execute(update(mentions).values(published_at=None))
        with store.reading() as conn:
            texts = conn.execute(select(mentions.c.id, mentions.c.title, mentions.c.summary)).all()
    finally:
        store.close()
    word = "the"
    matching = {i for i, t, s in texts if parse_query(word).matches(t, s or "")}
    expected = len(matching)
    assert expected > 3

    code, out, err = run(config, "stories", "test", f"{word} NOT zzzz", "--samples", "3",
                         "--json")  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert (result["checked"], result["matched"]) == (24, expected)
    assert len(result["samples"]) == 3
    assert {s["id"] for s in result["samples"]} <= matching
    assert {s["source"] for s in result["samples"]} == {"reddit"}

    code, out, err = run(config, "stories", "test", word)
    assert code == 0, err
    assert f"{expected} of 24 mentions of the last 7 days match" in out
    assert "Newest matches" in out

    # A week later, the window holds none of them.
    result = CliRunner().invoke(
        cli,
        ["--config", str(config), "--now", "2026-11-28T12:00Z", "stories", "test", word,
         "--json"],
        env={},
    )  # fmt: skip
    assert json.loads(result.stdout)["matched"] == 0

    _, out, _ = run(config, "stories", "list", "--json")
    assert [s["slug"] for s in json.loads(out)] == ["port-strike"]  # nothing added


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("COP30 or summit", "'or' at 6 is a search word here: did you mean OR?"),
        ("strike and port", "'and' at 7 is a search word here: did you mean AND?"),
        ("NOT football", "only NOT at 0"),
    ],
)
def test_lowercase_operators_and_bare_not_are_refused_with_the_position(
    config: Path, query: str, expected: str
) -> None:
    for command in (("stories", "test", query), ("stories", "add", "x", "--title", "X",
                                                 "--query", query)):  # fmt: skip
        code, _, err = run(config, *command)
        assert code == 2 and expected in err, err
    code, _, err = run(config, "stories", "test", 'COP30 "or" summit')
    assert code == 0, err


def test_sources_list_shows_outside_text_escaped(config: Path, db_url: str) -> None:
    store = Store.from_url(db_url)
    try:
        with store.transaction() as conn:
            conn.execute(
                update(sources).values(
                    last_error="\x1b[2J\x1b]8;;http://evil.example\x07click[/]"
                    "[link=http://evil.example]here[/link]",
                    failures=1,
                )
            )
    finally:
        store.close()
    for command in (("sources", "list"), ("status",)):
        code, out, err = run(config, *command)
        assert code == 0, err
        assert "\x1b" not in out and "\x07" not in out
        assert "[link=http://evil.example]here[/link]" in out
