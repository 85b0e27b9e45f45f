"""What every collector is: a kind, its options, the tasks a source needs, and how to run one.

A *source* is a row of ``sources`` (a feed, a subreddit set, a search API). Each collection run
asks its collector for *tasks*: one for a plain feed; one per subreddit listing and one per
active story for per-story search. Each task is run (network I/O only) and yields a
:class:`Harvest`: what the server said, the mentions found, and state to keep for next time.
Everything after that (deciding the schedule, storing, matching) is shared by all kinds.

A new kind is one module in ``feeds/`` with a class that has ``kind``, ``Options``, ``tasks``
and ``harvest``, decorated with :func:`noisecast.feeds.registry.register`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from noisecast.feeds.http import FetchRequest, FetchResult, PoliteFetcher
from noisecast.feeds.mention import Mention


class NoOptions(BaseModel):
    """A kind without options of its own: any key given is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """The part of a ``sources`` row a collector needs; ``options`` already validated."""

    id: int
    kind: str
    name: str
    url: str
    options: Any


@dataclass(frozen=True, slots=True)
class StoryInfo:
    """An active story. ``search`` is its query as plain search terms for a source's own
    search (no NOT clauses, no fields); our matcher still checks every result."""

    slug: str
    title: str
    query: str
    search: str = ""


@dataclass(frozen=True, slots=True)
class Task:
    """One request (or one API call) for a source. ``key`` is stable across runs: ``""`` for
    the source's own URL, ``"story:<slug>"`` for a per-story search feed (``#2``... for the
    second and later searches of one story on Hacker News), ``"search:<slug>"`` and
    ``"r/<name>/new"`` on Reddit, ``"tag:<tag>"`` on Mastodon. Validators and cursors are
    kept per (source, key)."""

    key: str
    url: str
    story: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Cursor:
    """What we kept from the last successful run of a task."""

    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    state: Mapping[str, Any] = field(default_factory=dict)


def conditional_request(
    url: str, cursor: Cursor, extra_headers: tuple[tuple[str, str], ...] = ()
) -> FetchRequest:
    """A GET of ``url`` that sends the validators this task's cursor kept."""
    return FetchRequest(
        url=url,
        etag=cursor.etag,
        last_modified=cursor.last_modified,
        body_hash=cursor.body_hash,
        extra_headers=extra_headers,
    )


@dataclass(frozen=True, slots=True)
class Harvest:
    """What one task produced. ``state`` (if not None) replaces the cursor's state."""

    task: Task
    result: FetchResult
    mentions: Sequence[Mention] = ()
    parser: str | None = None
    parse_error: str | None = None
    state: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class HarvestContext:
    fetcher: PoliteFetcher
    source: SourceInfo
    cursor: Cursor
    now: datetime
    secrets: Any = (
        None  # noisecast.engine.config.Secrets; typed loosely to keep feeds/ free of engine/
    )


class Collector(Protocol):
    kind: ClassVar[str]
    Options: ClassVar[type[BaseModel]]
    default_url: ClassVar[str | None]

    def tasks(self, source: SourceInfo, stories: Sequence[StoryInfo]) -> list[Task]:
        """The tasks this source needs now, given the active stories."""
        ...

    async def harvest(self, task: Task, ctx: HarvestContext) -> Harvest:
        """Run one task. Network and content problems are reported in the Harvest, not raised."""
        ...
