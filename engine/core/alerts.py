"""Alert rules (issue 13): which stories are loud enough to tell a desk about, and when. Pure.

The semantics are Prometheus Alertmanager's, per (rule, story):

* **firing**: one event when the rule's condition starts holding;
* **reminder**: while it still holds, one event when at least ``repeat_hours`` have passed since
  the last one actually sent;
* **resolved**: when it stops holding, one event if ``send_resolved`` and a firing was sent;
* **silences**: a muted event is still returned (``silenced_by`` set, so it is recorded), but
  ``notified_at`` does not move, so a firing muted by a silence is sent when the silence ends, if
  the condition still holds. One muted event is recorded per silence, not one per hour;
* ``forecast approved`` and ``emerging`` are point events: one firing per new approved forecast
  (or new proposal), muted or not, and never a reminder or a resolved message.

:func:`evaluate` takes the rules, what the cycle just stored (:class:`StoryFacts`), the stored
:class:`AlertState` rows and the silences, and returns the events and the changed states; the
store writes them in one transaction, and the delivery job sends :func:`group_messages` of them
through Apprise, holding them through a destination's quiet hours (:func:`quiet_until`) and
retrying with :func:`backoff`. The words are in ``_alert_words``, the condition grammar in
``_alert_grammar``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from noisecast.engine.core import _alert_words as words
from noisecast.engine.core._alert_delivery import (
    Message,
    backoff,
    group_messages,
    parse_quiet_hours,
    quiet_until,
)
from noisecast.engine.core._alert_grammar import KINDS, Condition, parse_condition
from noisecast.engine.errors import AlertRuleError
from noisecast.engine.schema import LEVELS

__all__ = [
    "AUDIENCES",
    "EVENT_KINDS",
    "KINDS",
    "AlertEvent",
    "AlertRuleError",
    "AlertState",
    "Condition",
    "Message",
    "Rule",
    "Silence",
    "StoryFacts",
    "backoff",
    "evaluate",
    "group_messages",
    "parse_condition",
    "parse_quiet_hours",
    "quiet_until",
    "rule_from_dict",
    "rule_to_dict",
]

AUDIENCES = ("desk", "admins")
EVENT_KINDS = ("firing", "reminder", "resolved")
RULE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")
_POINT_KINDS = ("approved", "emerging")  # events, not states: no reminder, no resolved
_MUTED = "muted:"  # AlertState.ref of a state kind: a muted event was recorded under this silence


# --- rules -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """One alert rule. ``stories`` None covers every story; ``tag`` narrows to tagged ones."""

    name: str
    condition: Condition
    to: tuple[str, ...]
    stories: tuple[str, ...] | None = None
    tag: str = ""
    repeat_hours: int = 24
    send_resolved: bool = True
    enabled: bool = True

    def covers(self, slug: str, tags: Sequence[str]) -> bool:
        """Whether the rule applies to the story ``slug`` with ``tags``."""
        if self.stories is not None and slug not in self.stories:
            return False
        return not self.tag or self.tag in tags


def rule_from_dict(d: Mapping[str, Any], *, destinations: Mapping[str, str] | None = None) -> Rule:
    """A rule from its fields (those of ``AlertRuleSettings``; other keys are ignored).

    ``destinations`` (name -> audience), when given, checks that every name in ``to`` exists
    and that a data-health rule (``unhealthy``) goes only to "admins". Raises AlertRuleError
    whose message starts with the field ("when: ...", "to: unknown destination 'x'") and whose
    ``field`` names it."""
    if not isinstance(d, Mapping):
        raise AlertRuleError(f"expected a table of rule fields, got {d!r}")
    name = d.get("name")
    if not isinstance(name, str) or not RULE_NAME.match(name):
        raise _bad(
            "name",
            f"{name!r} is not a rule name (lowercase letters, digits and '-', at most 64, "
            "starting with a letter or digit)",
        )
    when = d.get("when")
    if when is None or (isinstance(when, str) and not when.strip()):
        raise _bad("when", "missing: a condition such as 'level >= \"High\"' or 'score >= 70'")
    try:
        condition = parse_condition(when)
    except AlertRuleError as e:
        raise AlertRuleError(f"when: {e}", field="when", position=e.position) from None
    stories = _stories(d.get("stories", "all"))
    tag = d.get("tag") or ""
    if not isinstance(tag, str) or (tag.strip() and not _SLUG.match(tag.strip())):
        raise _bad("tag", f"{tag!r} is not a tag (lowercase letters, digits and '-')")
    tag = tag.strip()
    if tag and stories is not None:
        raise _bad("tag", 'a rule names its stories or a tag, not both: use stories = "all"')
    to = _names(d.get("to"))
    if destinations is not None:
        for dest in to:
            if dest not in destinations:
                known = ", ".join(sorted(destinations)) or "none: add [alerts.destinations.NAME]"
                raise _bad("to", f"unknown destination {dest!r} (known: {known})")
        if condition.kind == "unhealthy":
            for dest in to:
                if destinations[dest] != "admins":
                    raise _bad(
                        "to",
                        f"destination {dest!r} has audience {destinations[dest]!r}: data-health "
                        'alerts (unhealthy) go only to destinations with audience = "admins"',
                    )
    return Rule(
        name=name,
        condition=condition,
        to=to,
        stories=stories,
        tag=tag,
        repeat_hours=_whole(d.get("repeat_hours", 24), "repeat_hours", low=1, high=24 * 365),
        send_resolved=_flag(d.get("send_resolved", True), "send_resolved"),
        enabled=_flag(d.get("enabled", True), "enabled"),
    )


def rule_to_dict(rule: Rule) -> dict[str, Any]:
    """The rule's fields, JSON-able; ``rule_from_dict(rule_to_dict(r)) == r``."""
    return {
        "name": rule.name,
        "stories": "all" if rule.stories is None else list(rule.stories),
        "tag": rule.tag,
        "when": rule.condition.text,
        "to": list(rule.to),
        "repeat_hours": rule.repeat_hours,
        "send_resolved": rule.send_resolved,
        "enabled": rule.enabled,
    }


def _bad(key: str, message: str) -> AlertRuleError:
    return AlertRuleError(f"{key}: {message}", field=key)


def _stories(value: Any) -> tuple[str, ...] | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("all", "")):
        return None
    items = value.replace(",", " ").split() if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise _bad("stories", f'expected "all" or a list of story slugs, got {value!r}')
    for slug in items:
        if not isinstance(slug, str) or not _SLUG.match(slug):
            raise _bad("stories", f"{slug!r} is not a story slug")
    return tuple(dict.fromkeys(items))


def _names(value: Any) -> tuple[str, ...]:
    items = value.replace(",", " ").split() if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise _bad("to", f"expected a list of destination names, got {value!r}")
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise _bad("to", f"{item!r} is not a destination name")
    return tuple(dict.fromkeys(item.strip() for item in items))


def _whole(value: Any, key: str, *, low: int, high: int) -> int:
    try:
        number = int(value) if not isinstance(value, bool | float) else None
    except (TypeError, ValueError):
        number = None
    if number is None or not low <= number <= high:
        raise _bad(key, f"expected a whole number from {low} to {high}, got {value!r}")
    return number


def _flag(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in (
        "true",
        "on",
        "yes",
        "1",
        "false",
        "off",
        "no",
        "0",
    ):
        return value.lower() in ("true", "on", "yes", "1")
    raise _bad(key, f"expected true or false, got {value!r}")


# --- what evaluate reads and writes ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoryFacts:
    """What the cycle just stored for one story and hour (``hour``: the scored hour, UTC)."""

    slug: str
    title: str
    hour: datetime
    tags: tuple[str, ...] = ()
    score: float | None = None
    level: str | None = None
    scores_before: Mapping[int, float] = field(default_factory=dict)  # hours ago -> score
    drivers: str = ""  # "mostly breadth: 16 outlets in the last 6 hours"
    low_confidence: bool = False
    confidence_note: str = ""
    forecast_id: int | None = None
    prob_rising: float | None = None
    hedge_word: str | None = None  # "likely": "Forecast: likely to grow."
    approved_forecast_id: int | None = None  # the newest approved forecast
    approved_text: str = ""
    emerging: tuple[str, ...] = ()  # issue 14: emerging stories proposed from this one


@dataclass(frozen=True, slots=True)
class AlertState:
    """Per (rule, story): whether it is firing, since when, when it was last sent."""

    rule: str
    slug: str
    firing: bool = False
    since: datetime | None = None  # first hour of the current firing
    notified_at: datetime | None = None  # hour of the last firing/reminder sent (not muted)
    evaluated_hour: datetime | None = None  # newest hour evaluated
    ref: str = ""  # approved: the forecast id; emerging: proposals' keys; else a muted marker


@dataclass(frozen=True, slots=True)
class Silence:
    """A mute of one rule, one story, or one rule for one story, from starts_at to ends_at."""

    id: int
    starts_at: datetime
    ends_at: datetime
    rule: str | None = None  # None: any rule
    slug: str | None = None  # None: any story

    def mutes(self, rule: str, slug: str, at: datetime) -> bool:
        """Whether this silence mutes ``rule`` for ``slug`` at ``at``."""
        return (
            (self.rule is None or self.rule == rule)
            and (self.slug is None or self.slug == slug)
            and _utc(self.starts_at) <= _utc(at) < _utc(self.ends_at)
        )


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One alert, recorded whether sent or muted. ``key`` is unique: a redone hour repeats it."""

    key: str  # f"{rule}/{slug}/{hour:%Y%m%dT%H}/{kind}"
    rule: str
    slug: str
    kind: str  # "firing" | "reminder" | "resolved"
    hour: datetime
    title: str
    text: str
    link: str
    to: tuple[str, ...]
    silenced_by: int | None = None
    facts: Mapping[str, Any] = field(default_factory=dict)


def evaluate(
    rules: Sequence[Rule],
    facts: Sequence[StoryFacts],
    states: Mapping[tuple[str, str], AlertState],
    silences: Sequence[Silence],
    *,
    hour: datetime,
    base_url: str,
    now: datetime | None = None,
) -> tuple[list[AlertEvent], list[AlertState]]:
    """The events of ``hour`` and the states that changed (see the module's semantics).

    ``now`` is when the silences are checked (the cycle runs after the hour ends); default
    the end of ``hour``. Disabled rules, stories a rule does not cover, and (rule, story)
    pairs already evaluated at ``hour`` or later give nothing; every pair evaluated returns
    its state (its ``evaluated_hour`` moved), quiet ones included, so that a redone hour is
    refused even when its facts changed in between."""
    hour = _utc(hour)
    at = _utc(now) if now is not None else hour + timedelta(hours=1)
    by_slug = {f.slug: f for f in facts}
    events: list[AlertEvent] = []
    changed: list[AlertState] = []
    for rule in rules:
        if not rule.enabled:
            continue
        for f in by_slug.values():
            if not rule.covers(f.slug, f.tags):
                continue
            old = states.get((rule.name, f.slug))
            state = old or AlertState(rule.name, f.slug)
            if state.evaluated_hour is not None and hour <= _utc(state.evaluated_hour):
                continue
            silence = next((s for s in silences if s.mutes(rule.name, f.slug, at)), None)
            step = _point if rule.condition.kind in _POINT_KINDS else _step
            kind, new = step(rule, f, state, hour, silence)
            new = replace(new, evaluated_hour=hour)
            if kind is not None:
                events.append(_event(rule, f, kind, hour, silence, state, base_url))
            changed.append(new)  # evaluated_hour moved: a redone hour gives nothing
    return events, changed


_Step = tuple[str | None, AlertState]


def _step(
    rule: Rule, f: StoryFacts, state: AlertState, hour: datetime, silence: Silence | None
) -> _Step:
    holds = _holds(rule.condition, f)
    if holds is None:  # unknown this hour (no score yet): no change
        return None, state
    if not holds:
        if not state.firing:
            return None, state
        cleared = AlertState(state.rule, state.slug)
        return (
            "resolved" if rule.send_resolved and state.notified_at is not None else None
        ), cleared
    if not state.firing:
        state = replace(state, firing=True, since=hour, notified_at=None, ref="")
        due: str | None = "firing"
    elif state.notified_at is None:
        due = "firing"  # muted when it started: sent once the silence ends
    elif hour - _utc(state.notified_at) >= timedelta(hours=rule.repeat_hours):
        due = "reminder"
    else:
        due = None
    if due is None:
        return None, state
    if silence is not None:
        marker = f"{_MUTED}{silence.id}"
        if state.ref == marker:
            return None, state  # recorded once under this silence already
        return due, replace(state, ref=marker)
    return due, replace(state, notified_at=hour, ref="")


def _point(
    rule: Rule, f: StoryFacts, state: AlertState, hour: datetime, silence: Silence | None
) -> _Step:
    if rule.condition.kind == "approved":
        ref = "" if f.approved_forecast_id is None else str(f.approved_forecast_id)
        if not ref or ref == state.ref:
            return None, state
    else:  # emerging: fire for a proposal not alerted before (the newest few remembered)
        seen = state.ref.split() if state.ref else []
        new = [k for k in dict.fromkeys(_short_key(p) for p in f.emerging) if k not in seen]
        if not new:
            return None, state
        ref = " ".join([*seen, *new][-_REMEMBERED:])
    notified = state.notified_at if silence is not None else hour
    return "firing", replace(state, firing=False, since=None, notified_at=notified, ref=ref)


_REMEMBERED = 7  # proposals' keys that fit AlertState.ref (64 characters)


def _short_key(item: str) -> str:
    return hashlib.sha256(item.encode("utf-8")).hexdigest()[:8]


def _holds(cond: Condition, f: StoryFacts) -> bool | None:
    if cond.kind == "unhealthy":
        return f.low_confidence
    if cond.kind == "level":
        if f.level not in LEVELS:
            return None
        return cond.holds(float(LEVELS.index(f.level)))
    if cond.kind == "rising":
        return None if f.prob_rising is None else cond.holds(f.prob_rising)
    if f.score is None:
        return None
    if cond.kind == "score":
        return cond.holds(f.score)
    before = f.scores_before.get(cond.hours or 0)  # jump
    return None if before is None else cond.holds(f.score - before)


def _event(
    rule: Rule,
    f: StoryFacts,
    kind: str,
    hour: datetime,
    silence: Silence | None,
    state: AlertState,
    base_url: str,
) -> AlertEvent:
    cond = rule.condition
    if kind == "firing":
        title, text = words.firing(cond, f)
    elif kind == "reminder":
        title, text = words.reminder(cond, f, since=state.since and _utc(state.since))
    else:
        title, text = words.resolved(cond, f)
    since = state.since if kind != "firing" or state.firing else hour
    evidence: dict[str, Any] = {
        "condition": cond.text,
        "score": f.score,
        "level": f.level,
        "change": words.change(f, cond.hours),
        "drivers": f.drivers,
        "prob_rising": f.prob_rising,
        "hedge_word": f.hedge_word,
        "forecast_id": f.forecast_id,
        "approved_forecast_id": f.approved_forecast_id,
        "low_confidence": f.low_confidence,
        "confidence_note": f.confidence_note,
        "since": None if since is None or cond.kind in _POINT_KINDS else _utc(since).isoformat(),
    }
    if f.emerging:
        evidence["emerging"] = list(f.emerging)
    return AlertEvent(
        key=f"{rule.name}/{f.slug}/{hour:%Y%m%dT%H}/{kind}",
        rule=rule.name,
        slug=f.slug,
        kind=kind,
        hour=hour,
        title=title,
        text=text,
        link=f"{base_url.rstrip('/')}/stories/{f.slug}",
        to=rule.to,
        silenced_by=None if silence is None else silence.id,
        facts=evidence,
    )


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
