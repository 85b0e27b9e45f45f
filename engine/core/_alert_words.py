"""The words of alerts, in one place: what a desk reads in Slack, Teams or an e-mail. Pure.

A firing says what happened and why, with the numbers: "Port strike reached High (71, up 38
in 6 h; mostly breadth: 16 outlets in the last 6 hours). Forecast: likely to grow." A reminder
says how long it has held: "Port strike still High since 09:00 UTC (6 hours): ...". A resolved
message says where it is now: "Port strike is back below High (now Moderate, 41)."
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from noisecast.engine.core.suggest import BANDS, hedge_word

if TYPE_CHECKING:
    from noisecast.engine.core._alert_grammar import Condition
    from noisecast.engine.core.alerts import StoryFacts

__all__ = [
    "CHANGE_HOURS",
    "change",
    "firing",
    "group",
    "reminder",
    "resolved",
    "several",
    "single",
]

CHANGE_HOURS = 6  # the change a message quotes ("up 38 in 6 h") unless the rule is a jump

_FORECAST = {name: phrase.removeprefix("is ") for _, name, phrase in BANDS}


def firing(cond: Condition, f: StoryFacts) -> tuple[str, str]:
    """(title, text) when the condition starts holding."""
    t = f.title
    if cond.kind == "unhealthy":
        title = f"{t}: data unhealthy at {_clock(f.hour)}"
        return title, (
            f"{t}: the score for {_clock(f.hour)} is low-confidence: {_note(f)}. "
            "`noisecast status` lists the failing sources."
        )
    if cond.kind == "emerging":
        title = f"{t}: emerging story proposed"
        return title, f"{title}: {', '.join(f.emerging)}." if f.emerging else f"{title}."
    if cond.kind == "approved":
        title = f"{t}: forecast approved"
        quoted = f': "{f.approved_text.strip()}"' if f.approved_text.strip() else ""
        now = _now(f)
        return title, f"{title}{quoted}" + (f" ({now})." if now else ".")
    if cond.kind == "level":
        title = f"{t} reached {f.level or cond.floor_level}"
        evidence = _evidence(f, cond, head=_score(f))
    elif cond.kind == "score":
        title = f"{t} crossed a score of {_num(cond.value)}"
        evidence = _evidence(f, cond, head=_now(f))
    elif cond.kind == "jump":
        delta = _delta(f, cond.hours)
        jumped = _num(round(delta)) if delta is not None else f"{_num(cond.value)} or more"
        title = f"{t} jumped {jumped} in {cond.hours} h"
        evidence = _evidence(f, cond, head=_now(f), quote_change=False)
    else:  # rising
        title = f"{t} is forecast to rise"
        evidence = _evidence(f, cond, head="; ".join(x for x in (_chance(f), _now(f)) if x))
    text = (f"{title} ({evidence})." if evidence else f"{title}.") + _forecast(f)
    return title, text + _low_confidence(f, cond)


def reminder(cond: Condition, f: StoryFacts, *, since: datetime | None) -> tuple[str, str]:
    """(title, text) while it still holds, every repeat_hours."""
    title = f"{f.title} still {_state(cond, f)}"
    held = ""
    if since is not None:
        hours = int((f.hour - since).total_seconds() // 3600)
        held = f" since {_when(since, f.hour)} ({_hours(hours)})"
    if cond.kind == "unhealthy":
        return title, f"{title}{held}: {_note(f)}."
    head = _score(f) if cond.kind == "level" else _now(f)
    if cond.kind == "rising":
        head = "; ".join(x for x in (_chance(f), head) if x)
    evidence = _evidence(f, cond, head=head)
    text = f"{title}{held}" + (f": {evidence}." if evidence else ".") + _forecast(f)
    return title, text + _low_confidence(f, cond)


def resolved(cond: Condition, f: StoryFacts) -> tuple[str, str]:
    """(title, text) when it stops holding."""
    t = f.title
    if cond.kind == "level":
        title = (
            f"{t} is no longer {cond.level}"
            if cond.op == "=="
            else f"{t} is back below {cond.floor_level}"
        )
        now = ", ".join(x for x in (f.level, _score(f)) if x)
    elif cond.kind == "score":
        title = (
            f"{t} is back to {_num(cond.value)} or below"
            if cond.op == ">"
            else f"{t} is back below {_num(cond.value)}"
        )
        now = ", ".join(x for x in (_score(f), f.level) if x)
    elif cond.kind == "jump":
        title = f"{t} is no longer up {_num(cond.value)} in {cond.hours} h"
        now = "; ".join(
            x
            for x in (", ".join(x for x in (_score(f), f.level) if x), _change(f, cond.hours))
            if x
        )
    elif cond.kind == "rising":
        title = f"{t} is no longer forecast to rise"
        return title, f"{title} ({_chance(f)})." if f.prob_rising is not None else f"{title}."
    else:  # unhealthy: approved and emerging never resolve
        title = f"{t}'s data is healthy again"
        now = ", ".join(x for x in (_score(f), f.level) if x)
    return title, f"{title} (now {now})." if now else f"{title}."


def single(text: str, link: str, ref: str) -> str:
    """The body of a message that carries one alert."""
    return "\n".join(x for x in (text, link, f"ref: {ref}") if x)


def several(lines: Sequence[tuple[str, str]], ref: str) -> str:
    """The body of a message that carries several alerts: one line each (text, link)."""
    return "\n".join([*(f"- {text} {link}".rstrip() for text, link in lines), f"ref: {ref}"])


def group(titles: Sequence[str], limit: int = 120) -> str:
    """The title of a message that carries several alerts: how many, and as many of their
    titles as fit in ``limit`` characters (a subject line), "and N more" for the rest."""
    head = f"noisecast: {len(titles)} alerts"
    shown: list[str] = []
    for i, title in enumerate(titles):
        rest = len(titles) - i - 1
        more = f"; and {rest} more" if rest else ""
        if len(f"{head}: {'; '.join([*shown, title])}{more}") > limit:
            break
        shown.append(title)
    if not shown:
        return head
    left = len(titles) - len(shown)
    return f"{head}: {'; '.join(shown)}" + (f"; and {left} more" if left else "")


def change(f: StoryFacts, hours: int | None) -> str:
    """ "up 38 in 6 h" (or "down 4", "no change"); "" when the earlier score is unknown."""
    return _change(f, hours)


# --- pieces ------------------------------------------------------------------------------------


def _evidence(f: StoryFacts, cond: Condition, *, head: str, quote_change: bool = True) -> str:
    """ "71, up 38 in 6 h; driven by ..." after a bare score; "now 71, High; up 38 in 6 h;
    driven by ..." after a longer head."""
    change = _change(f, cond.hours) if quote_change else ""
    if head.isdigit() and change:
        head, change = f"{head}, {change}", ""
    return "; ".join(p for p in (head, change, f.drivers.strip()) if p)


def _score(f: StoryFacts) -> str:
    return "" if f.score is None else _num(round(f.score))


def _now(f: StoryFacts) -> str:
    bits = [x for x in (_score(f), f.level) if x]
    return f"now {', '.join(bits)}" if bits else ""


def _chance(f: StoryFacts) -> str:
    return "" if f.prob_rising is None else f"chance of rising {f.prob_rising:.0%}"


def _delta(f: StoryFacts, hours: int | None) -> float | None:
    if f.score is None or not f.scores_before:
        return None
    before = f.scores_before.get(hours or CHANGE_HOURS)
    return None if before is None else f.score - before


def _change(f: StoryFacts, hours: int | None) -> str:
    h = hours or CHANGE_HOURS
    delta = _delta(f, h)
    if delta is None:
        return ""
    step = round(delta)
    if step == 0:
        return f"no change in {h} h"
    return f"{'up' if step > 0 else 'down'} {abs(step)} in {h} h"


def _forecast(f: StoryFacts) -> str:
    word = f.hedge_word
    if word is None and f.prob_rising is not None and 0 <= f.prob_rising <= 1:
        word = hedge_word(f.prob_rising)
    if not word:
        return ""
    return f" Forecast: {_FORECAST.get(word, word)}."


def _low_confidence(f: StoryFacts, cond: Condition) -> str:
    if not f.low_confidence or cond.kind == "unhealthy":
        return ""
    return f" Low confidence: {_note(f)}."


def _note(f: StoryFacts) -> str:
    return f.confidence_note.strip().rstrip(".") or "some of its sources could not be read"


def _state(cond: Condition, f: StoryFacts) -> str:
    if cond.kind == "level":
        return f.level or cond.floor_level
    if cond.kind == "score":
        return f"above {_num(cond.value)}" if cond.op == ">" else f"at {_num(cond.value)} or more"
    if cond.kind == "jump":
        return f"up {_num(cond.value)} or more in {cond.hours} h"
    if cond.kind == "rising":
        return "forecast to rise"
    return "unhealthy"


def _clock(at: datetime) -> str:
    return f"{at:%H:%M} UTC"


def _when(since: datetime, hour: datetime) -> str:
    if since.date() == hour.date():
        return _clock(since)
    return f"{since.day} {since:%b %H:%M} UTC"


def _hours(n: int) -> str:
    return "1 hour" if n == 1 else f"{n} hours"


def _num(value: float) -> str:
    return f"{value:g}"
