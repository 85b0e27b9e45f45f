"""noisecast.feeds.parse: real feeds parse as feedparser reads them, and no input makes parse_feed
raise."""

from __future__ import annotations

import ast
import csv
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from noisecast.feeds.dates import parse_date
from noisecast.feeds.parse import FeedEntry, ParsedFeed, parse_feed, parse_with_feedparser
from tests.conftest import SHARED_DATA, require


def shared_data_dir() -> Path:
    """../shared/data: skips the calling test when it is absent, fails it when CI is set."""
    require(
        (SHARED_DATA / "news-feeds").is_dir() and (SHARED_DATA / "feed-corpus").is_dir(),
        f"../shared/data is absent: {SHARED_DATA} should hold news-feeds/ and feed-corpus/",
    )
    return SHARED_DATA


@pytest.fixture(scope="module")
def data_dir() -> Path:
    return shared_data_dir()


def manifest(dataset: str) -> list[dict[str, str]]:
    """The rows of one dataset's manifest, or none when the data is absent (collection time)."""
    try:
        folder = shared_data_dir() / dataset
    except (pytest.skip.Exception, pytest.fail.Exception):
        return []
    with (folder / "manifest.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def params(rows: list[dict[str, str]], key: str) -> list[object]:
    """One parameter per row, or a single one that reaches the data_dir fixture (which skips or
    fails) when the data is absent."""
    return [pytest.param(row, id=row[key]) for row in rows] or [pytest.param({}, id="no-data")]


NEWS = manifest("news-feeds")
CORPUS = manifest("feed-corpus")


def utc(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def entry_keys(feed: ParsedFeed) -> list[tuple[str | None, str | None, str, datetime | None]]:
    return [(e.guid, e.link, " ".join(e.title.split()), e.published) for e in feed.entries]


# --- the real news feeds ------------------------------------------------------------------


@pytest.mark.parametrize("row", params(NEWS, "file"))
def test_news_feed_matches_manifest(data_dir: Path, row: dict[str, str]) -> None:
    content = (data_dir / "news-feeds" / row["file"]).read_bytes()
    feed = parse_feed(content, url=row["feed_link"] or None)

    assert len(feed.entries) == int(row["n_entries"])
    assert all(e.title or e.link for e in feed.entries)
    assert all(e.link is None or e.link.startswith(("http://", "https://")) for e in feed.entries)
    assert all(len(e.summary) <= 2000 for e in feed.entries)
    assert feed.malformed is (row["feedparser_bozo"] == "1")
    assert bool(feed.error) is feed.malformed
    dates = [e.published for e in feed.entries if e.published is not None]
    assert all(d.tzinfo is UTC for d in dates)
    if row["earliest_entry"]:
        assert dates
        assert min(dates) == utc(row["earliest_entry"])
        assert max(dates) == utc(row["latest_entry"])
    else:
        assert not dates


@pytest.mark.parametrize("row", params(NEWS, "file"))
def test_news_feed_entries_equal_feedparser(data_dir: Path, row: dict[str, str]) -> None:
    content = (data_dir / "news-feeds" / row["file"]).read_bytes()
    url = row["feed_link"] or None
    assert entry_keys(parse_feed(content, url=url)) == entry_keys(
        parse_with_feedparser(content, url=url)
    )


def test_fast_path_serves_most_news_feeds(data_dir: Path) -> None:
    """37 of 42 take the fast path. feedparser reads the other 5: a wrong encoding, an
    undefined entity, an Atom link given as text and two descriptions holding unescaped
    markup. Odd date formats stay on the fast path: feedparser's own date parser reads them."""
    parsers = {
        row["file"]: parse_feed((data_dir / "news-feeds" / row["file"]).read_bytes()).parser
        for row in NEWS
    }
    assert sum(p == "fastfeedparser" for p in parsers.values()) >= 37
    assert parsers["rbren__uolNoticias.rss"] == "feedparser"  # not the UTF-8 it declares
    assert parsers["feeder__rss_myanimelist.xml"] == "feedparser"  # undefined entity
    assert parsers["rsparser__kc0011.rss"] == "fastfeedparser"  # "2020/1/10 14:33:00"
    assert parsers["prof18__feed-test-xsl.xml"] == "fastfeedparser"  # "... 06:00:00 BST"
    assert parsers["prof18__feed-mismatched-html-tags.xml"] == "feedparser"  # naked <em>


def test_error_names_the_place(data_dir: Path) -> None:
    feed = parse_feed((data_dir / "news-feeds" / "feeder__rss_myanimelist.xml").read_bytes())
    assert feed.error == "undefined entity at line 97, column 121"  # where &uuml; is
    assert len(feed.entries) == 20  # feedparser's lenient parser still reads them


def test_naked_markup_in_description_is_kept(data_dir: Path) -> None:
    path = data_dir / "news-feeds" / "prof18__feed-mismatched-html-tags.xml"
    (entry,) = parse_feed(path.read_bytes()).entries
    assert entry.summary.startswith("L'Ordine dei Giganti: è arrivato il DLC di Indy - Keeper,")


def test_blank_lines_before_declaration_are_malformed_but_read(data_dir: Path) -> None:
    content = (data_dir / "news-feeds" / "feedjira__TechCrunch.xml").read_bytes()
    feed = parse_feed(content)
    assert feed.malformed
    assert feed.error == "XML declaration not at start of document at line 2, column 0"
    assert len(feed.entries) == 20


# --- the feedparser test corpus -----------------------------------------------------------

# parse_feed reads these differently from feedparser on purpose.
ENTRIES_DIFFER = {
    "json/example.json": "JSON Feed: fastfeedparser reads it, feedparser 6.0 finds no entries",
    "wellformed/rss/item_category_image.xml": "feedparser takes a <title> nested in <category>",
}


def content_type(row: dict[str, str]) -> str | None:
    name, _, value = row.get("http_headers", "").partition(":")
    return value.strip() if name.strip().lower() == "content-type" else None


@pytest.mark.parametrize("row", params(CORPUS, "path"))
def test_corpus_document(data_dir: Path, row: dict[str, str]) -> None:
    content = (data_dir / "feed-corpus" / row["path"]).read_bytes()
    feed = parse_feed(content, url="http://example.com/feed/", content_type=content_type(row))

    assert isinstance(feed, ParsedFeed)
    assert all(isinstance(e, FeedEntry) for e in feed.entries)
    assert bool(feed.error) is feed.malformed
    if not row["http_headers"] and row["expect_bozo"]:
        assert feed.malformed is (row["expect_bozo"] == "true"), feed.error
    if row["path"] not in ENTRIES_DIFFER:
        reference = parse_with_feedparser(
            content, url="http://example.com/feed/", content_type=content_type(row)
        )
        assert entry_keys(feed) == entry_keys(reference)


def test_corpus_documents_that_differ_still_differ(data_dir: Path) -> None:
    for path in ENTRIES_DIFFER:
        content = (data_dir / "feed-corpus" / path).read_bytes()
        assert entry_keys(parse_feed(content)) != entry_keys(parse_with_feedparser(content))


_RE_EXPECTED_TEXT = re.compile(
    r"not bozo and (feed\['title'\]|entries\[0\]\['description'\]) == ('[^'<&]*')$"
)
EXACT = [row for row in CORPUS if _RE_EXPECTED_TEXT.match(row["expect"])]


@pytest.mark.parametrize("row", params(EXACT, "path"))
def test_corpus_text_is_decoded(data_dir: Path, row: dict[str, str]) -> None:
    """feed title or first summary equals the manifest's expected Unicode string."""
    match = _RE_EXPECTED_TEXT.match(row["expect"])
    assert match is not None
    expected = ast.literal_eval(match.group(2))
    content = (data_dir / "feed-corpus" / row["path"]).read_bytes()
    feed = parse_feed(content, content_type=content_type(row))
    assert not feed.malformed
    if match.group(1).startswith("feed"):
        assert feed.title == expected
    else:
        assert feed.entries[0].summary == expected


def test_euc_kr_title_is_decoded(data_dir: Path) -> None:
    row = next(r for r in CORPUS if r["path"] == "encoding/euc-kr.xml")
    assert row["expect"] == r"not bozo and feed['title'] == '\ub144'"
    feed = parse_feed((data_dir / "feed-corpus" / row["path"]).read_bytes())
    assert feed.title == "\ub144"


# --- exact values -------------------------------------------------------------------------

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Example &amp; Co</title><link>https://example.com/</link>
<item>
  <title><![CDATA[<b>Big</b>   news &amp; <i>more</i>]]></title>
  <link>/story/1?a=1&amp;b=2</link>
  <guid isPermaLink="false">  story-1  </guid>
  <description><![CDATA[<p>First paragraph.</p><p>Second&nbsp;one.</p><script>x()</script>]]>
  </description>
  <pubDate>Mon, 06 Sep 2010 00:01:00 +0200</pubDate>
  <author>ed@example.com (Ed)</author>
</item>
<item><title>No link</title><guid isPermaLink="true">https://example.com/story/2</guid></item>
</channel></rss>"""


@pytest.mark.parametrize("malformed", [False, True], ids=["fast path", "feedparser"])
def test_values_are_normalised(malformed: bool) -> None:
    # An undefined entity sends the same feed down the feedparser path.
    content = RSS.replace(b"Co</title>", b"Co&eacute;</title>") if malformed else RSS
    feed = parse_feed(content, url="https://example.com/feeds/all.xml")

    assert feed.parser == ("feedparser" if malformed else "fastfeedparser")
    assert feed.malformed is malformed
    first, second = feed.entries
    assert first.title == "Big news & more"
    assert first.link == "https://example.com/story/1?a=1&b=2"
    assert first.guid == "story-1"
    assert first.summary == "First paragraph. Second one."  # &nbsp; is whitespace too
    assert first.published == datetime(2010, 9, 5, 22, 1, tzinfo=UTC)
    assert first.author is not None and "ed@example.com" in first.author
    assert second.link == "https://example.com/story/2"
    assert second.summary == ""
    assert second.published is None


def test_summary_is_cut_at_2000_characters() -> None:
    body = "word " * 1000
    content = RSS.replace(b"<p>First paragraph.</p>", f"<p>{body}</p>".encode())
    assert len(parse_feed(content).entries[0].summary) == 2000


def test_items_without_guid_have_none() -> None:
    content = RSS.replace(b'<guid isPermaLink="false">  story-1  </guid>', b"")
    feed = parse_feed(content)
    assert feed.parser == "fastfeedparser"
    assert [e.guid for e in feed.entries] == [None, "https://example.com/story/2"]


def test_charset_from_content_type_header() -> None:
    content = '<rss version="2.0"><channel><item><title>Café</title></item></channel></rss>'
    feed = parse_feed(content.encode("iso-8859-1"), content_type="text/xml; charset=iso-8859-1")
    assert feed.entries[0].title == "Café"
    assert not feed.malformed


def test_utf16_with_bom() -> None:
    content = RSS.replace(b'encoding="utf-8"', b'encoding="utf-16"').decode().encode("utf-16")
    feed = parse_feed(content)
    assert feed.entries[0].title == "Big news & more"
    assert not feed.malformed


def test_json_feed() -> None:
    content = b"""{"version": "https://jsonfeed.org/version/1.1", "title": "J",
      "items": [{"id": "1", "url": "https://example.com/1", "title": "One",
                 "date_published": "2024-01-02T03:04:05+01:00"}]}"""
    (entry,) = parse_feed(content).entries
    assert (entry.link, entry.title) == ("https://example.com/1", "One")
    assert entry.published == datetime(2024, 1, 2, 2, 4, 5, tzinfo=UTC)


# --- dates, whatever today is ---------------------------------------------------------------

# Days that differ in century, year, month and day; the 1st of a month and the 10th too, the
# day the kc0011 feed says (a reading that took only the day from the clock shows there).
CLOCKS = [
    datetime(2026, 12, 4, 9, 30, tzinfo=UTC),
    datetime(2027, 1, 1, 0, 0, tzinfo=UTC),
    datetime(2020, 1, 10, 14, 33, tzinfo=UTC),
    datetime(2031, 6, 30, 23, 59, tzinfo=UTC),
    datetime(2099, 11, 15, 12, 0, tzinfo=UTC),
    datetime(2101, 2, 28, 6, 0, tzinfo=UTC),
]


@pytest.fixture(params=CLOCKS, ids=[c.strftime("%Y-%m-%d") for c in CLOCKS])
def frozen_clock(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The wall clock as feedparser's date handlers read it (``time.gmtime()``, ``time.time()``)
    stopped at one instant."""
    instant: datetime = request.param
    stamp = instant.timestamp()
    real_gmtime, real_localtime = time.gmtime, time.localtime
    monkeypatch.setattr(time, "time", lambda: stamp)
    monkeypatch.setattr(
        time, "gmtime", lambda secs=None: real_gmtime(stamp if secs is None else secs)
    )
    monkeypatch.setattr(
        time, "localtime", lambda secs=None: real_localtime(stamp if secs is None else secs)
    )
    assert time.gmtime()[:3] == (instant.year, instant.month, instant.day)
    return instant


DATES = {
    "2020/1/10 14:33:00": datetime(2020, 1, 10, 14, 33, tzinfo=UTC),  # kc0011
    "2020/01/10 14:33": datetime(2020, 1, 10, 14, 33, tzinfo=UTC),
    "2020/1/10": datetime(2020, 1, 10, tzinfo=UTC),
    "2020.1.10 14:33:00": datetime(2020, 1, 10, 14, 33, tzinfo=UTC),
    "2020-1-10 14:33:00 +0800": datetime(2020, 1, 10, 6, 33, tzinfo=UTC),
    "2020/1/10T14:33:00Z": datetime(2020, 1, 10, 14, 33, tzinfo=UTC),
    "2020-01-10T14:33:00+01:00": datetime(2020, 1, 10, 13, 33, tzinfo=UTC),
    "20200110": datetime(2020, 1, 10, tzinfo=UTC),
    "Fri, 10 Jan 2020 14:33:00 GMT": datetime(2020, 1, 10, 14, 33, tzinfo=UTC),
    "10 Jan 2020": datetime(2020, 1, 10, tzinfo=UTC),
    "Fri Jan 10 14:33:00 2020": datetime(2020, 1, 10, 14, 33, tzinfo=UTC),
    "2004-július-13T9:15-05:00": datetime(2004, 7, 13, 14, 15, tzinfo=UTC),
    # What leaves out the year, month or day is refused, never completed from today.
    "2020": None,
    "2020-05": None,
    "2020/05": None,
    "2020-123": None,
    "--05-10": None,
    "---10": None,
    "1/10/2020": None,
    "03-12-25": None,
    "14:33:00": None,
    "2020/13/10": None,
    # Years nobody publishes in: refused without raising.
    "9999-12-31T23:59:59Z": None,
    "Fri, 31 Dec 9999 23:59:59 GMT": None,
    "1970-01-01T00:00:00Z": None,
    "0001-01-01": None,
}


def test_dates_never_come_from_the_clock(frozen_clock: datetime) -> None:
    got = {text: parse_date(text) for text in DATES}
    assert got == DATES


KC0011_LIKE = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>kc</title><link>http://www.kc0011.net</link>
<item><title>One</title><link>http://www.kc0011.net/1</link>
<pubDate>2020/1/10 14:33:00</pubDate></item>
<item><title>Two</title><link>http://www.kc0011.net/2</link>
<pubDate>2020/1/10 14:03:00</pubDate></item>
</channel></rss>"""


@pytest.mark.parametrize("malformed", [False, True], ids=["fast path", "feedparser"])
def test_year_month_day_feed_under_any_clock(frozen_clock: datetime, malformed: bool) -> None:
    content = KC0011_LIKE.replace(b"<title>kc", b"<title>kc&eacute;") if malformed else KC0011_LIKE
    feed = parse_feed(content)
    assert feed.parser == ("feedparser" if malformed else "fastfeedparser")
    assert [e.published for e in feed.entries] == [
        datetime(2020, 1, 10, 14, 33, tzinfo=UTC),
        datetime(2020, 1, 10, 14, 3, tzinfo=UTC),
    ]


def test_kc0011_under_any_clock(frozen_clock: datetime) -> None:
    row = next(r for r in NEWS if r["file"] == "rsparser__kc0011.rss")
    content = (shared_data_dir() / "news-feeds" / row["file"]).read_bytes()
    want = (utc(row["earliest_entry"]), utc(row["latest_entry"]))
    assert want == (
        datetime(2020, 1, 10, 14, 3, tzinfo=UTC),
        datetime(2020, 1, 10, 14, 33, tzinfo=UTC),
    )
    for feed in (parse_feed(content), parse_with_feedparser(content)):
        dates = [e.published for e in feed.entries]
        assert None not in dates
        assert (min(dates), max(dates)) == want  # type: ignore[type-var]


# --- garbage --------------------------------------------------------------------------------

GARBAGE = {
    "empty": b"",
    "blank": b" \n\t ",
    "binary": b"\x00\xff" * 100,
    "html page": b"<!DOCTYPE html><html><head><title>Hi</title></head><body><p>x<br></body></html>",
    "xhtml page": b"<html><head><title>Hi</title></head><body><p>x</p></body></html>",
    "truncated": RSS[: len(RSS) // 2],
    "a file name": b"/etc/passwd",
    "a url": b"http://127.0.0.1:9/feed.xml",
    "not xml": b"just some text",
}


@pytest.mark.parametrize("content", list(GARBAGE.values()), ids=list(GARBAGE))
def test_garbage_is_malformed(content: bytes) -> None:
    feed = parse_feed(content)
    assert feed.malformed
    assert feed.error
    assert feed.entries == () or content == GARBAGE["truncated"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=400))
def test_never_raises_on_bytes(data: bytes) -> None:
    feed = parse_feed(data, content_type="text/xml; charset=bogus")
    assert bool(feed.error) is feed.malformed


@settings(max_examples=150, deadline=None)
@given(cut=st.integers(0, len(RSS)), junk=st.binary(max_size=8))
def test_never_raises_on_damaged_feed(cut: int, junk: bytes) -> None:
    feed = parse_feed(RSS[:cut] + junk + RSS[cut + len(junk) :])
    assert isinstance(feed.entries, tuple)
