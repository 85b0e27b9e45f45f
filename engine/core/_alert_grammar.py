"""An alert rule's condition (``when = 'level >= "High"'``): its grammar and its words. Pure.

=============================  =========  ==============================================
condition                      kind       holds when
=============================  =========  ==============================================
``level >= "High"``            level      the level is High or above (ops ``>=``, ``>``, ``==``)
``score >= 70``                score      the score (0-100) is at least 70 (ops ``>=``, ``>``)
``jump >= 20 in 6h``           jump       the score now minus the score 6 hours ago
``rising >= 0.7``              rising     the newest forecast's probability of rising
``forecast approved``          approved   a forecast newly approved (once per forecast)
``unhealthy``                  unhealthy  the hour is low-confidence because sources failed
``emerging``                   emerging   an emerging story proposed (issue 14)
=============================  =========  ==============================================

Keywords are case-insensitive; level names are quoted and spelled as in
:data:`noisecast.engine.schema.LEVELS` (any case). Anything else raises
:class:`~noisecast.engine.errors.AlertRuleError` with the 0-based ``position`` of the problem
(the message counts characters from 1, as an editor does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from noisecast.engine.errors import AlertRuleError
from noisecast.engine.schema import LEVELS

__all__ = ["KINDS", "Condition", "parse_condition"]

KINDS = ("level", "score", "jump", "rising", "approved", "unhealthy", "emerging")
MAX_JUMP_HOURS = 48
_UNITS = ("h", "hour", "hours")  # StoryFacts.scores_before holds 1..48 hours ago

_OPS = {
    "level": (">=", ">", "=="),
    "score": (">=", ">"),
    "jump": (">=", ">"),
    "rising": (">=", ">"),
}
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<op>>=|==|>|<=|<|!=|=)
      | (?P<num>\d+(?:\.\d+)?|\.\d+)(?P<unit>h(?:ours?)?\b)?
      | (?P<word>[A-Za-z_]+)
      | (?P<str>"[^"]*"|'[^']*')
      | (?P<open>["'])
      | (?P<other>\S)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed condition. ``value``: the threshold (a level as its index in LEVELS);
    ``hours``: a jump's lookback; ``text``: what the editor wrote (stripped), so that
    ``parse_condition(c.text) == c``."""

    kind: str
    op: str
    value: float
    hours: int | None
    text: str

    @property
    def level(self) -> str:
        """A level condition's level name ("High")."""
        return LEVELS[int(self.value)]

    @property
    def floor_level(self) -> str:
        """The lowest level that satisfies a level condition (``> "Moderate"``: High)."""
        return LEVELS[int(self.value) + (1 if self.op == ">" else 0)]

    def describe(self) -> str:
        """The condition in words: "level reaches High", "score jumps by 20 in 6 hours"."""
        more = "more than " if self.op == ">" else ""
        if self.kind == "level":
            if self.op == "==":
                return f"level is {self.level}"
            return f"level reaches {self.floor_level}"
        if self.kind == "score":
            return (
                f"score goes above {_num(self.value)}"
                if more
                else f"score reaches {_num(self.value)}"
            )
        if self.kind == "jump":
            return f"score jumps by {more}{_num(self.value)} in {_hours(self.hours or 0)}"
        if self.kind == "rising":
            return f"forecast chance of rising is {more or 'at least '}{self.value:.0%}"
        return {
            "approved": "a forecast is approved",
            "unhealthy": "the story's data is unhealthy (sources failed)",
            "emerging": "an emerging story is proposed",
        }[self.kind]

    def holds(self, number: float) -> bool:
        """Whether ``number`` (a level's index, a score, a jump, a probability) meets it."""
        if self.op == ">":
            return number > self.value
        if self.op == "==":
            return number == self.value
        return number >= self.value


def parse_condition(text: str) -> Condition:
    """Parse a rule's ``when``; raise AlertRuleError naming the position of the problem."""
    if not isinstance(text, str):
        raise AlertRuleError(f"expected a condition in quotes, got {text!r}", position=0)
    source = text.strip()
    offset = len(text) - len(text.lstrip())
    return _Parser(source, text, offset).parse()


class _Parser:
    def __init__(self, source: str, original: str, offset: int) -> None:
        self.source, self.original, self.offset = source, original, offset
        self.tokens = list(self._tokens())
        self.i = 0

    def _tokens(self) -> list[tuple[str, str, int]]:
        out: list[tuple[str, str, int]] = []
        for m in _TOKEN.finditer(self.source):
            if m.group("num") is not None:
                out.append(("num", m.group("num"), m.start("num")))
                if m.group("unit"):
                    out.append(("unit", m.group("unit"), m.start("unit")))
                continue
            kind = m.lastgroup or "other"
            out.append((kind, m.group(kind), m.start(kind)))
        return out

    # -- helpers --------------------------------------------------------------------------------
    def error(self, what: str, pos: int | None = None) -> AlertRuleError:
        at = len(self.source) if pos is None else pos
        where = self.offset + at
        shown = "the end" if at >= len(self.source) else f"character {where + 1}"
        return AlertRuleError(f"{what} at {shown} of {self.original!r}", position=where)

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, kind: str, expected: str) -> tuple[str, str, int]:
        token = self.peek()
        if token is None or token[0] != kind:
            found = "nothing" if token is None else repr(token[1])
            raise self.error(
                f"expected {expected}, found {found}", None if token is None else token[2]
            )
        self.i += 1
        return token

    def word(self, *words: str, expected: str) -> str:
        token = self.take("word", expected)
        low = token[1].lower()
        if words and low not in words:
            raise self.error(f"expected {expected}, found {token[1]!r}", token[2])
        return low

    # -- grammar --------------------------------------------------------------------------------
    def parse(self) -> Condition:
        if not self.tokens:
            raise AlertRuleError(
                "empty condition: write one such as 'level >= \"High\"' or 'score >= 70'",
                position=0,
            )
        first = self.peek()
        assert first is not None
        if first[0] != "word" or first[1].lower() not in (
            *_OPS,
            "forecast",
            "unhealthy",
            "emerging",
        ):
            raise self.error(
                "expected level, score, jump, rising, 'forecast approved', unhealthy or "
                f"emerging, found {first[1]!r}",
                first[2],
            )
        kind = self.word(expected="a condition")
        if kind == "forecast":
            self.word("approved", expected="'approved' after 'forecast'")
            cond = Condition("approved", "", 0.0, None, self.source)
        elif kind in ("unhealthy", "emerging"):
            cond = Condition(kind, "", 0.0, None, self.source)
        else:
            cond = self.compare(kind)
        token = self.peek()
        if token is not None:
            raise self.error(f"unexpected {token[1]!r} after the condition", token[2])
        return cond

    def compare(self, kind: str) -> Condition:
        ops = _OPS[kind]
        token = self.peek()
        words = " or ".join(", ".join(ops).rsplit(", ", 1))
        if token is None or token[0] != "op" or token[1] not in ops:
            found = "nothing" if token is None else repr(token[1])
            pos = None if token is None else token[2]
            raise self.error(f"expected {words} after {kind!r}, found {found}", pos)
        op = self.take("op", words)[1]
        if kind == "level":
            return self.level(op)
        num_token = self.take("num", f"a number after '{kind} {op}'")
        value = float(num_token[1])
        hours: int | None = None
        if kind == "score" and not 0 <= value <= 100:
            raise self.error(f"a score is between 0 and 100, not {num_token[1]}", num_token[2])
        if kind == "rising" and not 0 <= value <= 1:
            raise self.error(
                f"a probability is between 0 and 1 (0.7 for 70%), not {num_token[1]}", num_token[2]
            )
        if kind == "jump":
            if not 0 < value <= 100:
                raise self.error(
                    f"a jump is above 0 and at most 100, not {num_token[1]}", num_token[2]
                )
            self.word("in", expected="'in' and a number of hours (jump >= 20 in 6h)")
            hours_token = self.take("num", "a number of hours (in 6h)")
            if "." in hours_token[1] or not 1 <= int(hours_token[1]) <= MAX_JUMP_HOURS:
                raise self.error(
                    f"hours are a whole number from 1 to {MAX_JUMP_HOURS}, not {hours_token[1]}",
                    hours_token[2],
                )
            hours = int(hours_token[1])
            unit = self.peek()  # "6h", "6 h", "6 hours" or just "6"
            if unit is not None and (
                unit[0] == "unit" or (unit[0] == "word" and unit[1].lower() in _UNITS)
            ):
                self.i += 1
        return Condition(kind, op, value, hours, self.source)

    def level(self, op: str) -> Condition:
        token = self.peek()
        names = ", ".join(f'"{n}"' for n in LEVELS)
        if token is None or token[0] != "str":
            found = "nothing" if token is None else repr(token[1])
            if token is not None and token[0] == "open":
                raise self.error("unclosed quote", token[2])
            raise self.error(
                f"expected a level in quotes ({names}), found {found}",
                None if token is None else token[2],
            )
        self.i += 1
        name = token[1][1:-1].strip()
        index = next((i for i, n in enumerate(LEVELS) if n.lower() == name.lower()), None)
        if index is None:
            raise self.error(f"unknown level {name!r}: expected one of {names}", token[2])
        if op == ">" and index == len(LEVELS) - 1:
            raise self.error(f'nothing is above "{LEVELS[-1]}": write >= instead', token[2])
        return Condition("level", op, float(index), None, self.source)


def _num(value: float) -> str:
    return f"{value:g}"


def _hours(n: int) -> str:
    return "1 hour" if n == 1 else f"{n} hours"
