"""A loopback HTTP server that serves a simulated news cycle as real feeds and social APIs.

``GET /feeds/<slug>.xml`` returns the outlet's feed as it reads at the simulated time set with
``set_time``, with the validators a well-behaved publisher sends (``ETag``, ``Last-Modified``),
``304 Not Modified`` for conditional requests, and gzip when the client accepts it. It is the
demo's stand-in for the web: the collector fetches from it exactly as from a real publisher.

The cycle's social posts are served on the real APIs' paths, so the ``mastodon`` and
``hackernews`` collectors read them unchanged: ``GET /api/v1/timelines/tag/<tag>?limit=N``
(a Mastodon instance's public hashtag timeline, with an ``ETag``) and
``GET /api/v1/search_by_date`` / ``GET /api/v1/search`` (Algolia's Hacker News search:
``query``, ``tags``, ``hitsPerPage``, ``numericFilters=created_at_i>T``). Point a ``mastodon``
source at :attr:`DemoFeedServer.base_url` and a ``hackernews`` source at
:attr:`DemoFeedServer.hn_url`.

The server binds to a loopback address only, on an ephemeral port, in a daemon thread.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from noisecast.engine.demo._loopback import LoopbackServer
from noisecast.engine.demo.cycle import DemoOutlet, NewsCycle, render_feed
from noisecast.engine.demo.social import HackerNewsIndex, TagIndex, mastodon_timeline

__all__ = ["DemoFeedServer"]

_CONTENT_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
}
_JSON = "application/json; charset=utf-8"
_TAG_PATH = re.compile(r"/api/v1/timelines/tag/([^/]+)")
_SINCE = re.compile(r"created_at_i>(\d+)")
MASTODON_MAX_LIMIT = 40  # statuses per timeline page, as on a real instance


@dataclass(frozen=True)
class _Rendered:
    """One feed body, ready to send."""

    key: tuple[str, ...]  # guids of the visible articles: the body depends on nothing else
    content_type: str
    body: bytes
    gzipped: bytes
    etag: str  # strong validator of ``body``, quoted
    gzip_etag: str  # of ``gzipped``: another representation, so another strong ETag
    last_modified: datetime | None


class DemoFeedServer(LoopbackServer):
    """Serve every outlet of ``cycle`` at ``{base_url}/feeds/<slug>.xml``.

    Use as a context manager (or ``start()`` / ``stop()``)::

        with DemoFeedServer(cycle) as server:
            server.set_time(cycle.start + timedelta(hours=1))
            httpx.get(server.url_for(outlet))
    """

    def __init__(
        self,
        cycle: NewsCycle,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        limit: int = 30,
    ) -> None:
        super().__init__(host, port)
        self.cycle = cycle
        self.limit = limit
        self._outlets = {o.slug: o for o in cycle.outlets}
        for slug in self._outlets:  # build the cycle's per-outlet index before any thread asks
            cycle.visible(slug, cycle.start, 0)
        self._lock = threading.Lock()
        self._now = cycle.start
        self._requests = 0
        self._cache: dict[str, _Rendered] = {}  # latest rendering per outlet
        self._tags = TagIndex(cycle.posts)
        self._hn = HackerNewsIndex(cycle.posts)

    # --- lifecycle ----------------------------------------------------------------------------

    thread_name = "demo-feed-server"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return _make_handler(self)

    # --- the simulated world ------------------------------------------------------------------

    def url_for(self, outlet: DemoOutlet) -> str:
        return f"{self.base_url}/feeds/{outlet.slug}.xml"

    @property
    def hn_url(self) -> str:
        """The Algolia API's base, as a ``hackernews`` source's url (``.../api/v1``)."""
        return f"{self.base_url}/api/v1"

    def set_time(self, now: datetime) -> None:
        """Move the simulated clock: feeds show what was published at or before ``now``."""
        if now.tzinfo is None:
            raise ValueError("DemoFeedServer.set_time needs a timezone-aware datetime")
        with self._lock:
            self._now = now

    @property
    def now(self) -> datetime:
        with self._lock:
            return self._now

    @property
    def requests(self) -> int:
        """Requests answered so far (any path, any status)."""
        with self._lock:
            return self._requests

    # --- used by the handler ------------------------------------------------------------------

    def _count_request(self) -> None:
        with self._lock:
            self._requests += 1

    def _render(self, slug: str) -> _Rendered | None:
        """The outlet's feed at the current simulated time; None for an unknown outlet."""
        outlet = self._outlets.get(slug)
        if outlet is None:
            return None
        now = self.now
        visible = self.cycle.visible(slug, now, self.limit)
        key = tuple(a.guid for a in visible)
        with self._lock:
            cached = self._cache.get(slug)
        if cached is not None and cached.key == key:
            return cached
        body = render_feed(self.cycle, outlet, now, self.limit)
        digest = hashlib.sha256(body).hexdigest()[:32]
        rendered = _Rendered(
            key=key,
            content_type=_CONTENT_TYPES[outlet.format],
            body=body,
            gzipped=gzip.compress(body, mtime=0),
            etag=f'"{digest}"',
            gzip_etag=f'"{digest}-gzip"',
            last_modified=visible[0].published if visible else None,
        )
        with self._lock:
            self._cache[slug] = rendered
        return rendered

    def _social(self, path: str, query: str) -> tuple[bytes, bool] | None:
        """The JSON body of a social API request and whether it takes an ETag (Mastodon's
        does, Algolia's does not); None for a path that is not one."""
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        now = self.now
        tag = _TAG_PATH.fullmatch(path)
        if tag is not None:
            limit = min(_int(params.get("limit"), 20), MASTODON_MAX_LIMIT)
            statuses = self._tags.timeline(unquote(tag.group(1)), now, max(limit, 1))
            return _json(mastodon_timeline(statuses, now)), True
        if path in ("/api/v1/search_by_date", "/api/v1/search"):
            since = _SINCE.search(params.get("numericFilters", ""))
            document = self._hn.search(
                query=params.get("query", ""),
                now=now,
                since=int(since.group(1)) if since else None,
                hits_per_page=min(max(_int(params.get("hitsPerPage"), 20), 1), 1000),
                by_date=path.endswith("_by_date"),
            )
            return _json(document), False
        return None


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _json(document: object) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _etag_matches(header: str, *etags: str) -> bool:
    """If-None-Match uses weak comparison (RFC 9110 13.1.2): W/ prefixes are ignored."""
    if header.strip() == "*":
        return True
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return any(etag in tags for etag in etags)


def _not_modified_since(header: str, last_modified: datetime | None) -> bool:
    if last_modified is None:
        return False
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return False  # an unparseable date is ignored (RFC 9110 13.1.3)
    if since.tzinfo is None:
        return False
    return last_modified.replace(microsecond=0) <= since


def _accepts_gzip(header: str) -> bool:
    for part in header.split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "x-gzip", "*"):
            q = params.strip().lower().removeprefix("q=")
            try:
                return not params.strip() or float(q) > 0
            except ValueError:
                return True
    return False


def _make_handler(server: DemoFeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "noisecast-demo/1"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the demo prints its own progress

        def date_time_string(self, timestamp: float | None = None) -> str:
            """The Date header tells the simulated time, as a real server tells its own."""
            if timestamp is not None:
                return super().date_time_string(timestamp)
            return format_datetime(server.now.astimezone(UTC), usegmt=True)

        def do_HEAD(self) -> None:
            self._serve(send_body=False)

        def do_GET(self) -> None:
            self._serve(send_body=True)

        def _serve(self, send_body: bool) -> None:
            server._count_request()
            parts = urlsplit(self.path)
            path = parts.path
            if path.startswith("/api/"):
                self._serve_api(path, parts.query, send_body)
                return
            slug = path.removeprefix("/feeds/").removesuffix(".xml")
            rendered = None
            if path.startswith("/feeds/") and path.endswith(".xml") and "/" not in slug:
                rendered = server._render(slug)
            if rendered is None:
                self._send_plain(HTTPStatus.NOT_FOUND, f"no demo feed at {path}\n", send_body)
                return
            use_gzip = _accepts_gzip(self.headers.get("Accept-Encoding", ""))
            inm = self.headers.get("If-None-Match")
            ims = self.headers.get("If-Modified-Since")
            if inm is not None:  # either encoding's tag will do: same content
                fresh = _etag_matches(inm, rendered.etag, rendered.gzip_etag)
            else:
                fresh = ims is not None and _not_modified_since(ims, rendered.last_modified)
            self.send_response(HTTPStatus.NOT_MODIFIED if fresh else HTTPStatus.OK)
            self.send_header("ETag", rendered.gzip_etag if use_gzip else rendered.etag)
            if rendered.last_modified is not None:
                modified = format_datetime(rendered.last_modified.astimezone(UTC), usegmt=True)
                self.send_header("Last-Modified", modified)
            self.send_header("Cache-Control", "max-age=0, must-revalidate")
            self.send_header("Vary", "Accept-Encoding")
            if fresh:
                self.end_headers()
                return
            body = rendered.gzipped if use_gzip else rendered.body
            self.send_header("Content-Type", rendered.content_type)
            if use_gzip:
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if send_body:
                self.wfile.write(body)

        def _serve_api(self, path: str, query: str, send_body: bool) -> None:
            found = server._social(path, query)
            if found is None:
                body = _json({"error": "Record not found"})
                self.send_response(HTTPStatus.NOT_FOUND)
                self.send_header("Content-Type", _JSON)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if send_body:
                    self.wfile.write(body)
                return
            body, with_etag = found
            etag = f'W/"{hashlib.sha256(body).hexdigest()[:32]}"'
            inm = self.headers.get("If-None-Match")
            fresh = with_etag and inm is not None and _etag_matches(inm, etag.removeprefix("W/"))
            self.send_response(HTTPStatus.NOT_MODIFIED if fresh else HTTPStatus.OK)
            if with_etag:
                self.send_header("ETag", etag)
                self.send_header("Cache-Control", "max-age=0, private, must-revalidate")
            if fresh:
                self.end_headers()
                return
            self.send_header("Content-Type", _JSON)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if send_body:
                self.wfile.write(body)

        def _send_plain(self, status: HTTPStatus, text: str, send_body: bool) -> None:
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if send_body:
                self.wfile.write(body)

    return Handler
