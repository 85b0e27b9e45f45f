"""Turn feed bytes into entries: fastfeedparser when it is safe, feedparser otherwise.

``parse_feed`` never raises on any input bytes. A document that cannot be read comes back with
no entries, ``malformed=True`` and an error string, so a collector can record the error on the
feed's row and go on with the next feed.
"""

# Measured with feedparser 6.0.14, fastfeedparser 0.6.5 and lxml 6.1, comparing entries as this
# module reduces them (count, link, plain-text title, UTC date to the second):
# - news-feeds, 42 real feeds: fastfeedparser alone gives feedparser's entries for 37; 11 more
#   differ in guid only (it sets id = link when an item has none). The 5 that differ:
#   UOL declares UTF-8 but is windows-1252 (11 titles with U+FFFD); dates "2020/1/10 14:33:00"
#   (feedparser: 2020-11-01 00:00), "06:00:00 BST" (feedparser: +00:00, fastfeedparser: +01:00),
#   "Friday, January 29, 2021 04:42 PM" (feedparser: none, fastfeedparser: 04:42); and an Atom
#   <link rel="enclosure">URL</link>, whose text feedparser makes the entry link.
# - feed-corpus, 695 feedparser test documents: fastfeedparser finds entries in 336, 304 as
#   feedparser does. The others: no declared encoding (chardet/), XHTML or base64 titles, Atom
#   entries without an alternate link, media:title before title, two <updated>, a link taken
#   from <guid isPermaLink="false">, and naked markup, xhtml:body or fullitem as the summary.
# Rule: fastfeedparser's entries are used only when (1) the Content-Type, if given, is XML with
# no other charset than the document's; (2) libxml2 reads the document strictly with an empty
# error log (well-formed, encoding right, namespaces declared) and it has no xml:base; (3) no
# entry has any of the shapes above; (4) fastfeedparser finds as many entries as the tree
# holds. The tree also tells which entries have a guid and a summary, and gives the raw text of
# any date that is neither RFC 822 (English names, known zone) nor ISO 8601, which is then read
# by feedparser's date handlers through noisecast.feeds.dates.parse_date (which refuses a reading
# that takes a field from the clock: feedparser's "2020/1/10 14:33:00" is the 1st of the current
# month). Otherwise feedparser parses the document; its dates too are read from their raw text
# by noisecast.feeds.dates, so both paths give the same dates.
# Result: 37 of 42 news feeds take the fast path (34 before odd dates were read with
# feedparser's date parser) and all 42 give feedparser's entries, guids included; parse_feed
# runs 5.8x faster than feedparser there (64 ms against 373 ms a pass, bench/parse_bench.py).
# In feed-corpus 693 of 695 give feedparser's entries (see tests).
# Measured and not kept: reading entries straight from the lxml tree instead of fastfeedparser
# reached 30 ms a pass with all 42 equal, but meant ~1,100 lines re-implementing feedparser's
# element rules against its private tables; we keep the library and its fallback instead.

from __future__ import annotations

import codecs
import html
import io
import re
import xml.sax
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from email.message import Message
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import urljoin, urlsplit

import fastfeedparser
import feedparser
from lxml import etree

from noisecast.feeds.dates import from_iso, parse_date
from noisecast.feeds.text import printable

SUMMARY_LIMIT = 2000


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One entry of a feed, as plain text. ``published`` is timezone-aware UTC."""

    guid: str | None
    link: str | None
    title: str
    summary: str
    author: str | None
    published: datetime | None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A parsed document. ``parser`` names the library that produced the entries."""

    title: str | None
    link: str | None
    entries: tuple[FeedEntry, ...]
    parser: str
    malformed: bool
    error: str | None


# --- text and values --------------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    (
        *("address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt"),
        *("figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header"),
        *("hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr"),
        "ul",
    )
)
# Linear on any input: an unclosed script or comment runs to the end, a tag stops at "<".
_RE_DROP = re.compile(r"<(script|style)\b.*?(?:</\1\s*>|\Z)|<!--.*?(?:-->|\Z)", re.I | re.S)
_RE_TAG = re.compile(r"</?([a-zA-Z][\w:.-]*)(?:\s[^<>]*)?/?>|<![^<>]*>|<\?[^<>]*>")
_RE_LOOKS_HTML = re.compile(r"</?[a-zA-Z][\w:.-]*(?:\s[^<>]*)?/?>|&#?\w+;")


# feedparser reads C1 control characters as the windows-1252 characters they were meant to be.
_C1_TO_CP1252 = {
    c: bytes([c]).decode("cp1252")
    for c in range(0x80, 0xA0)
    if c not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)
}
_RE_C1 = re.compile("[\x80-\x9f]")


def _tag_space(match: re.Match[str]) -> str:
    name = match.group(1)
    return " " if name is None or name.lower() in _BLOCK_TAGS else ""


def _plain_text(value: object, is_html: bool | None = None, limit: int | None = None) -> str:
    """HTML to one line of text: tags dropped, entities decoded, whitespace collapsed.

    ``is_html=None`` guesses from the value: a tag or an entity reference means HTML.
    """
    if not isinstance(value, str) or not value:
        return ""
    if is_html is None:
        is_html = _RE_LOOKS_HTML.search(value) is not None
    if is_html:
        if limit is not None:
            value = value[: limit * 20]  # markup-heavy HTML still yields `limit` characters
        value = html.unescape(_RE_TAG.sub(_tag_space, _RE_DROP.sub(" ", value)))
    if _RE_C1.search(value):
        value = value.translate(_C1_TO_CP1252)
    text = " ".join(value.split())
    return text[:limit] if limit is not None else text


def _optional_text(value: object) -> str | None:
    return _plain_text(value) or None


def _absolute_link(value: object, base: str | None) -> str | None:
    """``value`` resolved against ``base``; None unless the result is an http(s) URL."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        link = urljoin(base, value.strip()) if base else value.strip()
        parts = urlsplit(link)
    except ValueError:
        return None
    return link if parts.scheme in ("http", "https") and parts.netloc else None


# --- feedparser -------------------------------------------------------------------------------


def _html_type(detail: object) -> bool | None:
    if isinstance(detail, Mapping):
        return "html" in (detail.get("type") or "")
    return None


def _entry_from_feedparser(entry: dict[str, Any], base: str | None) -> FeedEntry:
    summary, summary_html = entry.get("summary"), _html_type(entry.get("summary_detail"))
    if not summary and entry.get("content"):
        summary, summary_html = entry["content"][0].get("value"), None
    return FeedEntry(
        guid=(entry.get("id") or "").strip() or None,
        link=_absolute_link(entry.get("link"), base),
        title=_plain_text(entry.get("title"), _html_type(entry.get("title_detail"))),
        summary=_plain_text(summary, summary_html, SUMMARY_LIMIT),
        author=_optional_text(entry.get("author")),
        # The raw texts, not feedparser's *_parsed: its date parser fills missing fields from
        # the clock (see noisecast.feeds.dates). dict.get: FeedParserDict maps a missing updated to
        # published, warning.
        published=parse_date(dict.get(entry, "published"))
        or parse_date(dict.get(entry, "updated")),
    )


def _describe(exc: object, content: bytes) -> str:
    if isinstance(exc, xml.sax.SAXParseException):
        # feedparser puts its own XML declaration on a line before a document without one.
        head = content[:64].replace(b"\x00", b"").removeprefix(b"\xef\xbb\xbf")
        shift = 0 if head.lstrip(b"\xfe\xff").startswith(b"<?xml") else 1
        line = max(1, (exc.getLineNumber() or 1) - shift)
        where = f"line {line}, column {exc.getColumnNumber()}"
        return f"{exc.getMessage()} at {where}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def parse_with_feedparser(
    content: bytes, *, url: str | None = None, content_type: str | None = None
) -> ParsedFeed:
    """Parse with feedparser alone: the reference, and the fallback of ``parse_feed``."""
    if not content.strip():
        return ParsedFeed(None, None, (), "feedparser", True, "empty document")
    headers = {"content-type": content_type} if content_type else None
    try:
        # A stream, never the bytes: feedparser opens bytes that name a file or URL.
        result = feedparser.parse(io.BytesIO(content), response_headers=headers)
        feed, raw_entries = result.get("feed", {}), result.get("entries", [])
        entries = tuple(_entry_from_feedparser(e, url) for e in raw_entries)
    except Exception as e:  # a feedparser bug on odd input must not stop the collector
        return ParsedFeed(
            None, None, (), "feedparser", True, printable(f"feedparser failed: {e!r}")
        )
    exc = result.get("bozo_exception")
    # A wrong Content-Type header is the server's problem, not the document's.
    error = _describe(exc, content) if result.get("bozo") and not _is_header_only(exc) else None
    if error is None and not entries and not result.get("version"):
        root = _RE_ROOT.search(content[:4096])
        if not feed or (root and root.group(1).lower() in (b"html", b"xhtml:html")):
            error = "not a feed: no RSS, RDF, Atom or CDF document found"
    return ParsedFeed(
        title=_optional_text(feed.get("title")),
        link=_absolute_link(feed.get("link"), url),
        entries=entries,
        parser="feedparser",
        malformed=error is not None,
        error=printable(error) if error else None,  # it can quote the document (a charset)
    )


_RE_ROOT = re.compile(rb"<([A-Za-z_][\w:.-]*)")


def _is_header_only(exc: object) -> bool:
    return isinstance(exc, feedparser.NonXMLContentType)


# --- fastfeedparser and when to trust it ------------------------------------------------------

_RE_RFC822 = re.compile(
    r"((Mon|Tue|Wed|Thu|Fri|Sat|Sun),\s*)?\d{1,2}\s+"
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+\d{4}\s+\d{1,2}:\d{2}(:\d{2})?\s+"
    r"([+-]\d{4}|GMT|UTC?|Z|[ECMP][SD]T)",
    re.I,
)
_RE_ISO8601 = re.compile(
    r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?", re.I
)
_DATE_LOCALS = frozenset(("pubdate", "published", "updated", "issued", "modified", "date"))
_TEXT_LOCALS = frozenset(("title", "description", "summary"))
_UNREAD_LOCALS = frozenset(("body", "fullitem"))  # xhtml:body and fullitem content
_SINGLE_LOCALS = _DATE_LOCALS | _TEXT_LOCALS | {"guid", "id"}
_ATOM_NAMESPACES = ("http://www.w3.org/2005/Atom", "http://purl.org/atom/ns#")
_RDF_ABOUT = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}about"
_XML_TYPES = ("/xml", "+xml")


def _codec(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return name.lower()


@lru_cache(maxsize=4096)
def _split(tag: str) -> tuple[str, str]:
    namespace, _, local = tag[1:].rpartition("}") if tag[:1] == "{" else ("", "", tag)
    return namespace, local


def _children(element: Any, local: str) -> list[Any]:
    return [c for c in element if isinstance(c.tag, str) and _split(c.tag)[1] == local]


def _entry_elements(root: Any) -> list[Any]:
    """The item/entry elements fastfeedparser reads, in document order."""
    kind = _split(root.tag)[1]
    if kind == "rss":
        channels = _children(root, "channel")
        items = _children(channels[0], "item") if channels else []
        return items or [e for e in root.iter() if isinstance(e.tag, str) and e.tag == "item"]
    if kind == "RDF":
        return _children(root, "item")
    if kind == "feed":
        return _children(root, "entry")
    return []


class _Shape(NamedTuple):
    """What the tree says about one entry, which fastfeedparser's output does not."""

    has_id: bool  # a guid, an Atom id or rdf:about; else fastfeedparser's id is the link
    has_summary: bool  # else fastfeedparser's description is a 512-character cut of the content
    # Raw (published, updated) texts when a date is neither RFC 822 nor ISO 8601: such dates
    # are read by noisecast.feeds.dates.parse_date (feedparser's handlers, never filled from the
    # clock).
    odd_dates: tuple[str | None, str | None] | None = None


# Which element feeds feedparser's ``published`` and which its ``updated``.
_PUBLISHED_LOCALS = ("pubdate", "published", "issued")
_UPDATED_LOCALS = ("updated", "modified", "date")


def _entry_blocker(entry: Any, is_atom: bool) -> tuple[str | None, _Shape]:
    """Why fastfeedparser may read this entry differently from feedparser (None if it reads
    it the same), and the entry's shape."""
    texts: dict[str, str] = {}
    odd_dates = False
    has_id, has_summary = bool(entry.get(_RDF_ABOUT)), False
    rss_link, permalink_guid, alternate = False, True, False
    for child in entry:
        if not isinstance(child.tag, str):
            continue
        namespace, local = _split(child.tag)
        name = local.lower()
        text = (child.text or "").strip()
        # fastfeedparser reads the first child of each local name, feedparser mostly the last
        # one of its own namespace (media:title before title, two <updated>).
        if name in _SINGLE_LOCALS and texts.setdefault(name, text) != text:
            return f"entry has two <{local}> that differ", _NO_SHAPE
        if name in _UNREAD_LOCALS:
            return f"entry has <{local}>, which only feedparser reads", _NO_SHAPE
        if name in _TEXT_LOCALS and (
            len(child) or child.get("mode") == "base64" or "xhtml" in child.get("type", "")
        ):
            return f"entry <{local}> holds markup or base64", _NO_SHAPE
        if name in ("description", "summary"):
            has_summary = has_summary or bool(text)
        elif (
            name in _DATE_LOCALS
            and text
            and not (_RE_RFC822.fullmatch(text) or _RE_ISO8601.fullmatch(text))
        ):
            odd_dates = True
        elif name in ("guid", "id") and (text or len(child)):  # an entity reference counts
            has_id = True
            permalink_guid = child.get("isPermaLink", "true") == "true"
        elif name == "link" and is_atom and namespace in _ATOM_NAMESPACES:
            if not child.get("href"):
                return "Atom link without href", _NO_SHAPE
            alternate = alternate or child.get("rel", "alternate") == "alternate"
        elif name == "link" and not namespace:
            if rss_link:
                return "entry has more than one <link>", _NO_SHAPE
            rss_link = True
    if is_atom and not alternate:
        return "Atom entry without an alternate link", _NO_SHAPE
    if not is_atom and not rss_link and not permalink_guid:
        return "item without link has a guid that is not a permalink", _NO_SHAPE
    dates = None
    if odd_dates:
        dates = (
            next((texts[n] for n in _PUBLISHED_LOCALS if texts.get(n)), None),
            next((texts[n] for n in _UPDATED_LOCALS if texts.get(n)), None),
        )
    return None, _Shape(has_id, has_summary, dates)


_NO_SHAPE = _Shape(False, False)


def _fast_path_blocker(
    content: bytes, content_type: str | None
) -> tuple[str | None, tuple[_Shape, ...]]:
    """Why the fast path cannot be trusted for this document (None if it can), and the shape
    of each entry in the tree."""
    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True)
        root = etree.fromstring(content, parser)
    except Exception as e:
        return f"not well-formed for libxml2: {e}", ()
    if len(parser.error_log):
        return f"libxml2 reports {parser.error_log[0].message}", ()
    if content_type:
        message = Message()
        message["content-type"] = content_type
        charset = message.get_param("charset")
        encoding = root.getroottree().docinfo.encoding or "utf-8"
        if not message.get_content_type().endswith(_XML_TYPES) or (
            isinstance(charset, str) and _codec(charset) != _codec(encoding)
        ):
            return f"Content-Type {content_type!r} overrides the document", ()
    if b"xml:base" in content:
        return "xml:base", ()
    entries = _entry_elements(root)
    if not entries:
        return "no entries in the tree", ()
    is_atom = _split(root.tag)[0] in _ATOM_NAMESPACES
    shapes = []
    for entry in entries:
        reason, shape = _entry_blocker(entry, is_atom)
        if reason:
            return reason, ()
        shapes.append(shape)
    return None, tuple(shapes)


def _entry_from_fast(entry: Mapping[str, Any], base: str | None, shape: _Shape) -> FeedEntry:
    summary = entry.get("description")
    if not shape.has_summary and entry.get("content"):
        summary = entry["content"][0].get("value")
    return FeedEntry(
        guid=((entry.get("id") or "").strip() or None) if shape.has_id else None,
        link=_absolute_link(entry.get("link"), base),
        title=_plain_text(entry.get("title")),
        summary=_plain_text(summary, None, SUMMARY_LIMIT),
        author=_optional_text(entry.get("author")),
        published=(
            parse_date(shape.odd_dates[0]) or parse_date(shape.odd_dates[1])
            if shape.odd_dates
            else from_iso(entry.get("published") or entry.get("updated"))
        ),
    )


def parse_with_fastfeedparser(
    content: bytes, *, url: str | None = None, shapes: tuple[_Shape, ...] | None = None
) -> ParsedFeed | None:
    """Parse with fastfeedparser alone; None when it raises or finds no entries.

    ``shapes`` (from the tree) corrects ids and summaries; without it every id is kept and
    the description is the summary. None too when ``shapes`` counts other entries.
    """
    try:
        result = fastfeedparser.parse(content)
        feed, raw_entries = result.get("feed", {}), result.get("entries", [])
        if shapes is not None and len(shapes) != len(raw_entries):
            return None
        shapes = shapes or (_Shape(True, True),) * len(raw_entries)
        entries = tuple(
            _entry_from_fast(e, url, shape) for e, shape in zip(raw_entries, shapes, strict=True)
        )
    except Exception:  # ValueError on non-feeds, lxml errors, and bugs on odd input
        return None
    if not entries:
        return None
    return ParsedFeed(
        title=_optional_text(feed.get("title")),
        link=_absolute_link(feed.get("link"), url),
        entries=entries,
        parser="fastfeedparser",
        malformed=False,
        error=None,
    )


def parse_feed(
    content: bytes, *, url: str | None = None, content_type: str | None = None
) -> ParsedFeed:
    """Parse feed bytes into entries; never raises.

    ``url`` is where the feed was fetched from (relative links are resolved against it) and
    ``content_type`` the HTTP Content-Type header (its charset counts, as in feedparser).
    """
    original = content
    stripped = content.lstrip()
    if stripped[:1] == b"{":  # JSON Feed, which feedparser 6.0 does not read
        fast = parse_with_fastfeedparser(content, url=url)
        if fast is not None:
            return fast
    # Blank lines before the XML declaration (a common server bug) make the document
    # malformed, but it is read like the same document without them.
    defect = None
    if len(stripped) < len(content) and stripped.startswith(b"<?xml"):
        skipped = len(content) - len(stripped)
        line, column = (
            content.count(b"\n", 0, skipped) + 1,
            skipped - content.rfind(b"\n", 0, skipped) - 1,
        )
        defect = f"XML declaration not at start of document at line {line}, column {column}"
        content = stripped
    blocker, shapes = _fast_path_blocker(content, content_type)
    if blocker is None:
        fast = parse_with_fastfeedparser(content, url=url, shapes=shapes)
        if fast is not None:
            return replace(fast, malformed=True, error=defect) if defect else fast
    return parse_with_feedparser(original, url=url, content_type=content_type)
