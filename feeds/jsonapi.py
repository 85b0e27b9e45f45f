"""Reading JSON APIs defensively: a field of the wrong type is absent, never an exception.

One odd item never costs the others: an integer of thousands of digits is read as infinity
(then clamped or dropped like any count), ``NaN``/``Infinity`` are floats the readers refuse
where they want ids or counts, a value nested deeper than :data:`MAX_DEPTH` is read as null
(so only the item holding it is damaged), and :func:`read_items` skips an item whose reading
raises, counting it in the harvest's parse error.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from noisecast.feeds.base import Harvest, HarvestContext, Task, conditional_request
from noisecast.feeds.dates import plausible
from noisecast.feeds.mention import Mention
from noisecast.feeds.text import printable

log = logging.getLogger("noisecast.feeds.jsonapi")

ACCEPT_JSON = (("Accept", "application/json"),)
MAX_DEPTH = 64  # API items are a few levels deep; deeper values are read as null
MAX_INT_DIGITS = 30  # more digits than any real count or id: read as infinity

_RE_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def _bounded_int(text: str) -> int | float:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        return float("-inf") if text.startswith("-") else float("inf")
    return int(text)


def flatten_deep(text: str, max_depth: int = MAX_DEPTH) -> str:
    """``text`` with every array or object that opens deeper than ``max_depth`` replaced by
    ``null``: what ``json.loads`` cannot read without running out of stack, made readable.
    One linear pass (strings are skipped whole, so brackets inside them do not count)."""
    parts: list[str] = []
    depth = 0
    cut_from = -1  # where the container being dropped starts
    kept_to = 0
    for match in _RE_JSON_TOKEN.finditer(text):
        token = match.group()
        if token[0] == '"':
            continue
        if token in "[{":
            depth += 1
            if depth == max_depth + 1 and cut_from < 0:
                cut_from = match.start()
        else:
            if depth == max_depth + 1 and cut_from >= 0:
                parts.append(text[kept_to:cut_from])
                parts.append("null")
                kept_to = match.end()
                cut_from = -1
            depth -= 1
    if cut_from >= 0:  # unbalanced: the rest is dropped and the document stays invalid
        parts.append(text[kept_to:cut_from])
        kept_to = len(text)
    parts.append(text[kept_to:])
    return "".join(parts)


def read_json(content: bytes) -> tuple[Any, str | None]:
    """The decoded document, or None and why it is not JSON."""
    try:
        # As json.loads reads bytes (UTF-8, -16 or -32 by their first bytes), but decoded
        # here so that a document too deep to read can be read again.
        text = content.decode(json.detect_encoding(content), "surrogatepass")
    except UnicodeDecodeError as e:
        return None, f"not JSON: not UTF-8 text ({e.reason} at byte {e.start})"
    try:
        try:
            return json.loads(text, parse_int=_bounded_int), None
        except RecursionError:
            return json.loads(flatten_deep(text), parse_int=_bounded_int), None
    except json.JSONDecodeError as e:
        return None, f"not JSON: {e.msg} at line {e.lineno} column {e.colno}"
    except (ValueError, RecursionError) as e:
        return None, f"not JSON: {e}"


Item = TypeVar("Item")


def read_items(
    items: Iterable[Any], read: Callable[[Any], Item | None], what: str
) -> tuple[list[Item], int]:
    """``read`` applied to each item; an item it returns None for, or that makes it raise, is
    skipped. Returns the items read and how many were skipped."""
    found: list[Item] = []
    skipped = 0
    for item in items:
        try:
            value = read(item)
        except Exception:  # one odd item must not cost the others; logged for a fix
            log.warning("skipped a %s that could not be read", what, exc_info=True)
            value = None
        if value is None:
            skipped += 1
        else:
            found.append(value)
    return found, skipped


def as_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_text(value: object) -> str | None:
    """A non-empty stripped string, else None."""
    return (value.strip() or None) if isinstance(value, str) else None


def as_time(value: object) -> datetime | None:
    """An ISO 8601 timestamp as aware UTC (a naive one is taken as UTC), if plausible
    (:func:`noisecast.feeds.dates.plausible`), else None."""
    text = as_text(value)
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return plausible(when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC))
    except (ValueError, OverflowError):
        return None


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
        return Harvest(task, result, parser="json", parse_error=printable(error))
    found, error = read(document)  # an error can quote the server ("error": "...")
    return Harvest(
        task, result, found, parser="json", parse_error=printable(error) if error else None
    )
