"""Structured logs: every line names its job and the source or story it is about.

``text`` gives readable lines (``2026-11-26T10:00:00Z WARNING collect source=bbc fetch failed``);
``json`` gives one JSON object per line for log shippers. Context goes in ``extra=``:
``log.info("fetched", extra={"job": "collect", "source": name})``.

Text lines carry what feeds and servers send (titles, errors, reason phrases), so every control
character in them is written as an escape (:func:`noisecast.feeds.text.printable`), and a
traceback's lines are indented: a log line can never clear a terminal, plant a link or forge another
record. JSON escapes them by itself.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from noisecast.feeds.text import printable

_NO_LIMIT = 1 << 62

CONTEXT_KEYS = ("job", "source", "story", "url", "worker")
_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def _context(record: logging.LogRecord) -> dict[str, Any]:
    return {
        k: v for k, v in record.__dict__.items() if k not in _RESERVED and not k.startswith("_")
    }


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ctx = _context(record)
        ordered = [k for k in CONTEXT_KEYS if k in ctx] + sorted(set(ctx) - set(CONTEXT_KEYS))
        fields = " ".join(f"{k}={_clean(ctx[k])}" for k in ordered)
        head = f"{_timestamp(record)} {record.levelname:<7} {record.name}"
        line = " ".join(p for p in (head, fields, _clean(record.getMessage())) if p)
        if record.exc_info:
            # Indented: a line break inside an exception's message cannot pass for a record.
            trace = self.formatException(record.exc_info)
            line += "".join(f"\n  {_clean(part)}" for part in trace.splitlines())
        return line


def _clean(value: object) -> str:
    return printable(value, limit=_NO_LIMIT)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_context(record),
        }
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


def configure_logging(
    level: str = "WARNING", fmt: str = "text", stream: TextIO | None = None
) -> None:
    """Send noisecast's logs to ``stream`` (stderr) in the chosen format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger("noisecast")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
