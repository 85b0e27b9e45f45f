"""Reading JSON APIs defensively: a field of the wrong type is absent, never an exception."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from feeds.base import Harvest, HarvestContext, Task, conditional_request
from feeds.mention import Mention

ACCEPT_JSON = (("Accept", "application/json"),)


def read_json(content: bytes) -> tuple[Any, str | None]:
    """The decoded document, or None and why it is not JSON."""
    try:
        return json.loads(content), None
    except json.JSONDecodeError as e:
        return None, f"not JSON: {e.msg} at line {e.lineno} column {e.colno}"
    except UnicodeDecodeError as e:
        return None, f"not JSON: not UTF-8 text ({e.reason} at byte {e.start})"


def as_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_text(value: object) -> str | None:
    """A non-empty stripped string, else None."""
    return (value.strip() or None) if isinstance(value, str) else None


def as_time(value: object) -> datetime | None:
    """An ISO 8601 timestamp as aware UTC (a naive one is taken as UTC), else None."""
    text = as_text(value)
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


async def harvest_json(
    task: Task,
    ctx: HarvestContext,
    url: str,
    read: Callable[[Any], tuple[Sequence[Mention], str | None]],
) -> Harvest:
    """Fetch ``url`` politely (with the task's validators) and read its JSON with ``read``;
    content that is not JSON, or not of the expected shape, becomes the harvest's parse error."""
    result = await ctx.fetcher.fetch(conditional_request(url, ctx.cursor, ACCEPT_JSON))
    if result.content is None:
        return Harvest(task, result)
    document, error = read_json(result.content)
    if error is not None:
        return Harvest(task, result, parser="json", parse_error=error)
    found, error = read(document)
    return Harvest(task, result, found, parser="json", parse_error=error)
