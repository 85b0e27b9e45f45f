"""What one fetch asked for and what it produced: plain records, no I/O, so that the pure
decider (:mod:`noisecast.engine.core.decider`) can read them without the HTTP client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ErrorKind", "FetchRequest", "FetchResult"]

ErrorKind = Literal[
    "timeout",
    "network",
    "http",
    "too_large",
    "redirects",
    "invalid_url",
    "refused_address",
    "internal",
]


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """What we know about a URL from the last time: its validators and body hash."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    extra_headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one attempt produced. ``content`` is set only when there is something new to parse."""

    url: str
    status: int | None
    content: bytes | None = None
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    bytes_read: int = 0
    not_modified: bool = False
    unchanged: bool = False
    permanent_url: str | None = None
    # Reached through a temporary redirect (302/303/307): what the final URL answered says
    # nothing permanent about the URL asked for (a 410 there must not disable it).
    temporary_redirect: bool = False
    retry_after_seconds: float | None = None
    error_kind: ErrorKind | None = None
    error: str | None = None
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.error_kind is None
