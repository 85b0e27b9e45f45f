"""Text from outside made safe to store and print: no control characters, a bounded length.

A server's reason phrase, a charset name, an error message that quotes a response: any of them
can carry terminal escapes (``ESC [ 2 J`` clears the screen, OSC 8 plants links) or be a
megabyte long. :func:`printable` is applied where such text enters an error or a column;
markup (rich's ``[bold]``) is escaped where it is printed.
"""

from __future__ import annotations

import re

DEFAULT_LIMIT = 1000

# C0 controls (newline and tab included), DEL, C1 controls, and the bidirectional overrides
# and isolates that reorder what a terminal shows (U+202A-U+202E, U+2066-U+2069).
_RE_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object, limit: int = DEFAULT_LIMIT) -> str:
    """``text`` on one line with every control character written as an escape (``\\n``,
    ``\\x1b``, ``\\u202e``), cut to at most ``limit`` characters (ending in "…" when cut).
    Not a string: its ``str()``."""
    value = text if isinstance(text, str) else str(text)
    if len(value) > limit * 4:  # never escape a megabyte to keep a thousand characters
        value = value[: limit * 4]
    value = _RE_UNPRINTABLE.sub(_escape, value)
    if len(value) > limit:
        value = value[: max(limit - 1, 0)] + "…"
    return value
