"""Text logs carry what servers send: control characters are written as escapes."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from noisecast.engine.logs import configure_logging

HOSTILE = "HTTP 500 \x1b[2J\x1b]8;;http://evil.example\x07click\x1b]8;;\x07\r\nforged line"


@pytest.fixture
def restore() -> Iterator[None]:
    root = logging.getLogger("noisecast")
    saved = (root.handlers[:], root.level, root.propagate)
    yield
    root.handlers[:], root.propagate = saved[0], saved[2]
    root.setLevel(saved[1])


@pytest.mark.usefixtures("restore")
def test_text_logs_escape_control_characters() -> None:
    out = io.StringIO()
    configure_logging("INFO", "text", out)
    log = logging.getLogger("noisecast.collect")
    log.warning("fetch failed: %s", HOSTILE, extra={"job": "collect", "source": "a\x1bb"})
    try:
        raise ValueError(HOSTILE)
    except ValueError:
        log.exception("boom", extra={"job": "collect"})
    text = out.getvalue()
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text
    first = text.splitlines()[0]
    assert first.endswith(
        "WARNING noisecast.collect job=collect source=a\\x1bb fetch failed: HTTP 500 "
        "\\x1b[2J\\x1b]8;;http://evil.example\\x07click\\x1b]8;;\\x07\\r\\nforged line"
    )
    assert not any(line.startswith("forged line") for line in text.splitlines())
    assert "ValueError: HTTP 500 \\x1b[2J" in text


@pytest.mark.usefixtures("restore")
def test_json_logs_keep_the_text_as_it_was() -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", out)
    logging.getLogger("noisecast.collect").warning("%s", HOSTILE, extra={"job": "collect"})
    line = out.getvalue()
    assert "\x1b" not in line  # JSON escapes control characters itself
    assert json.loads(line)["message"] == HOSTILE
