"""The polite HTTP fetcher every collector shares.

One GET per call, with: a User-Agent naming noisecast and the operator; connect and read
timeouts (feedparser has none of its own); a cap on the decoded body (a gzip bomb stops at the
cap too); conditional GET (``If-None-Match``, else ``If-Modified-Since``) plus a body hash for
servers that answer 200 with the same bytes; redirects followed by hand so that a permanent
one (301/308) can move the stored URL and a temporary one (302/307) cannot; the address of
every request and every redirect hop checked (:func:`ip_refusal`: never link-local or cloud
metadata, private networks only when ``[collector] allow_private_networks`` lists them);
``Retry-After`` read as seconds or an HTTP date; and per-host limits (at most N requests in
flight per host, and a minimum gap between request starts).

Nothing here decides what a failure means for the source's schedule: :class:`FetchResult`
describes what happened and :mod:`noisecast.engine.core.decider` turns it into the next due time.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import httpx

from noisecast.feeds import _decoding
from noisecast.feeds.addresses import (
    address_refusal as address_refusal,  # public here too (sources add)
)
from noisecast.feeds.addresses import host_refusal, peer_address, resolve
from noisecast.feeds.addresses import ip_refusal as ip_refusal
from noisecast.feeds.result import ErrorKind, FetchRequest, FetchResult
from noisecast.feeds.text import printable

PERMANENT_REDIRECTS = frozenset({301, 308})
TEMPORARY_REDIRECTS = frozenset({302, 303, 307})


@dataclass(frozen=True, slots=True)
class Politeness:
    """The limits a fetcher keeps; built from ``[collector]`` in config."""

    user_agent: str
    timeout_seconds: float = 20.0
    connect_timeout_seconds: float = 10.0
    max_body_bytes: int = 10_000_000
    per_host_concurrency: int = 1
    per_host_min_gap_seconds: float = 1.0
    max_redirects: int = 5
    deadline_seconds: float = 60.0
    # CIDRs of private networks a feed may resolve to (see [collector] allow_private_networks)
    allow_private_networks: tuple[str, ...] = ()


def unusable_url(url: str) -> str | None:
    """Why ``url`` cannot be fetched (not http(s), no host, a bad port), or None if it can."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as e:
        return f"invalid URL {url!r}: {e}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"not an http(s) URL: {url!r}"
    return None


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def parse_rate_limit_reset(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds until an ``X-RateLimit-Reset`` given as an ISO 8601 time or epoch seconds."""
    if not value:
        return None
    value = value.strip()
    now = now or datetime.now(UTC)
    try:
        when = (
            datetime.fromtimestamp(float(value), UTC)
            if value.replace(".", "", 1).isdigit()
            else datetime.fromisoformat(value.replace("Z", "+00:00"))
        )
    except (ValueError, OverflowError, OSError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


@dataclass
class _HostGate:
    semaphore: asyncio.Semaphore
    min_gap: float
    last_start: float = -1e9
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def __aenter__(self) -> None:
        await self.semaphore.acquire()
        async with self.lock:
            wait = self.last_start + self.min_gap - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self.last_start = time.monotonic()

    async def __aexit__(self, *exc: object) -> None:
        self.semaphore.release()


class PoliteFetcher:
    """Fetch URLs over one shared ``httpx.AsyncClient`` while keeping per-host limits."""

    def __init__(self, politeness: Politeness, client: httpx.AsyncClient | None = None) -> None:
        self.politeness = politeness
        self._own_client = client is None
        self.client = client or httpx.AsyncClient(
            headers={
                "User-Agent": politeness.user_agent,
                "Accept": (
                    "application/rss+xml, application/atom+xml, application/rdf+xml, "
                    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
                ),
                "Accept-Encoding": "gzip, deflate",
            },
            timeout=httpx.Timeout(
                politeness.timeout_seconds, connect=politeness.connect_timeout_seconds
            ),
            follow_redirects=False,
            event_hooks={"response": [_take_location]},
        )
        self._gates: dict[str, _HostGate] = {}

    async def __aenter__(self) -> PoliteFetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own_client:
            await self.client.aclose()

    def _gate(self, url: str) -> _HostGate:
        host = (urlsplit(url).hostname or "").lower()
        gate = self._gates.get(host)
        if gate is None:
            gate = _HostGate(
                asyncio.Semaphore(self.politeness.per_host_concurrency),
                self.politeness.per_host_min_gap_seconds,
            )
            self._gates[host] = gate
        return gate

    async def fetch(self, request: FetchRequest) -> FetchResult:
        """One polite GET of ``request.url``, following up to ``max_redirects`` redirects."""
        started = time.monotonic()
        result = await self._fetch(request)
        elapsed = int((time.monotonic() - started) * 1000)
        return replace(result, duration_ms=elapsed)

    async def _fetch(self, request: FetchRequest) -> FetchResult:
        url = request.url
        permanent: str | None = None
        all_permanent = True
        headers = dict(request.extra_headers)
        if request.etag:
            headers["If-None-Match"] = request.etag
        elif request.last_modified:
            headers["If-Modified-Since"] = request.last_modified
        for _hop in range(self.politeness.max_redirects + 1):
            problem = unusable_url(url)
            if problem:
                return FetchResult(
                    url=url, status=None, error_kind="invalid_url", error=printable(problem)
                )
            try:
                async with self._gate(url), asyncio.timeout(self.politeness.deadline_seconds):
                    refusal = await self._address_refusal(url)
                    if refusal:
                        return _failed(url, "refused_address", refusal, permanent)
                    result, location = await self._get_once(url, headers, request.body_hash)
            except (httpx.TimeoutException, TimeoutError) as e:
                what = type(e).__name__ if isinstance(e, httpx.TimeoutException) else "deadline"
                limit = (
                    f"{self.politeness.deadline_seconds:g} s for the whole request"
                    if what == "deadline"
                    else f"{self.politeness.timeout_seconds:g} s"
                )
                return _failed(url, "timeout", f"timed out ({what}, {limit})", permanent)
            except httpx.HTTPError as e:  # transport, protocol and content-decoding errors
                return _failed(url, "network", printable(f"{type(e).__name__}: {e}"), permanent)
            except httpx.InvalidURL as e:  # a URL urlsplit accepts and httpx does not
                return _failed(
                    url, "invalid_url", printable(f"invalid URL {url!r}: {e}"), permanent
                )
            if location is None:
                if permanent:
                    result = replace(result, permanent_url=permanent)
                return result if all_permanent else replace(result, temporary_redirect=True)
            all_permanent = all_permanent and result.status in PERMANENT_REDIRECTS
            try:
                url = urljoin(url, location)
            except ValueError as e:  # "http://[::1" and the like
                problem = printable(f"invalid URL {location!r}: {e}")
                return _failed(location, "invalid_url", problem, permanent)
            if all_permanent:
                permanent = url
        return _failed(
            url, "redirects", f"more than {self.politeness.max_redirects} redirects", permanent
        )

    async def _address_refusal(self, url: str) -> str | None:
        """Why the host of ``url`` may not be fetched (see :func:`ip_refusal`), or None."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = await resolve(host, port)
        return host_refusal(host, addresses, self.politeness.allow_private_networks)

    async def _get_once(
        self, url: str, headers: dict[str, str], old_hash: str | None
    ) -> tuple[FetchResult, str | None]:
        cap = self.politeness.max_body_bytes
        async with self.client.stream("GET", url, headers=headers) as response:
            # The address actually connected to: a name that resolved to a public address for
            # the check above and to another one for the connection (DNS rebinding) is caught
            # here, before anything it sent is read.
            peer = peer_address(response)
            refusal = host_refusal(
                urlsplit(url).hostname or "", [peer] if peer else [],
                self.politeness.allow_private_networks,
            )  # fmt: skip
            if refusal:
                return _failed(url, "refused_address", refusal, None), None
            status = response.status_code
            location = response.extensions.get(_LOCATION) or response.headers.get("Location")
            if status in PERMANENT_REDIRECTS | TEMPORARY_REDIRECTS:
                if location:
                    return FetchResult(url=url, status=status), location
                return FetchResult(
                    url=url,
                    status=status,
                    error_kind="http",
                    error=f"HTTP {status} redirect without a Location header",
                ), None
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is None and status in (429, 503):  # Mastodon and others say when
                retry_after = parse_rate_limit_reset(response.headers.get("X-RateLimit-Reset"))
            if status == 304:
                return FetchResult(url=url, status=304, not_modified=True), None
            if status >= 400:
                return (
                    FetchResult(
                        url=url,
                        status=status,
                        retry_after_seconds=retry_after,
                        error_kind="http",
                        # The reason phrase is the server's text: no escapes reach a terminal.
                        error=printable(f"HTTP {status} {response.reason_phrase}".strip(), 300),
                    ),
                    None,
                )
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > cap:
                return _too_large(url, status, int(declared), cap), None
            # Decoded here, not by httpx, which inflates a network chunk whole: the cap holds
            # inside every layer of a stacked compression bomb (see noisecast.feeds._decoding).
            chunks: list[bytes] = []
            size = 0
            try:
                body = _decoding.decoder(
                    _decoding.codings(response.headers.get("Content-Encoding"))
                )
                async for raw in response.aiter_raw():
                    for piece in body.decode(raw):
                        size += len(piece)
                        if size > cap:
                            return _too_large(url, status, size, cap), None
                        chunks.append(piece)
            except _decoding.DecodingError as e:
                return _failed(url, "network", printable(str(e), 300), None), None
        content = b"".join(chunks)
        digest = hashlib.sha256(content).hexdigest()
        common = {
            "url": url,
            "status": status,
            "body_hash": digest,
            "bytes_read": size,
            "etag": response.headers.get("ETag"),
            "last_modified": response.headers.get("Last-Modified"),
            "content_type": response.headers.get("Content-Type"),
        }
        if old_hash is not None and digest == old_hash:
            return FetchResult(**common, unchanged=True), None
        return FetchResult(**common, content=content), None


_LOCATION = "noisecast.location"


async def _take_location(response: httpx.Response) -> None:
    """Move a redirect's Location out of httpx's sight: even when not following redirects,
    httpx builds the next request from it and raises on one it cannot parse
    (``javascript:alert(1)``). We follow redirects by hand and judge the URL ourselves."""
    location = response.headers.get("Location")
    if location is not None:
        response.extensions = {**response.extensions, _LOCATION: location}
        del response.headers["Location"]


def _too_large(url: str, status: int, size: int, cap: int) -> FetchResult:
    return FetchResult(
        url=url,
        status=status,
        bytes_read=size,
        error_kind="too_large",
        error=f"body larger than max_body_bytes ({cap:,} bytes); stopped at {size:,}",
    )


def _failed(url: str, kind: ErrorKind, message: str, permanent: str | None) -> FetchResult:
    return FetchResult(
        url=url, status=None, error_kind=kind, error=printable(message), permanent_url=permanent
    )
