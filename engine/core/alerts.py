"""Alert rules (issue 13): skeleton, filled in next."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from noisecast.engine.errors import AlertRuleError

__all__ = [
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


@dataclass(frozen=True, slots=True)
class Condition:
    kind: str
    op: str
    value: float
    hours: int | None
    text: str

    def describe(self) -> str:
        raise NotImplementedError


def parse_condition(text: str) -> Condition:
    raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    condition: Condition
    to: tuple[str, ...]
    stories: tuple[str, ...] | None = None
    tag: str = ""
    repeat_hours: int = 24
    send_resolved: bool = True
    enabled: bool = True

    def covers(self, slug: str, tags: Sequence[str]) -> bool:
        raise NotImplementedError


def rule_from_dict(
    d: Mapping[str, Any], *, destinations: Mapping[str, str] | None = None
) -> Rule:
    raise NotImplementedError


def rule_to_dict(rule: Rule) -> dict[str, Any]:
    raise NotImplementedError


@dataclass(frozen=True, slots=True)
class StoryFacts:
    slug: str
    title: str
    hour: datetime
    tags: tuple[str, ...] = ()
    score: float | None = None
    level: str | None = None
    scores_before: Mapping[int, float] = field(default_factory=dict)
    drivers: str = ""
    low_confidence: bool = False
    confidence_note: str = ""
    forecast_id: int | None = None
    prob_rising: float | None = None
    hedge_word: str | None = None
    approved_forecast_id: int | None = None
    approved_text: str = ""
    emerging: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AlertState:
    rule: str
    slug: str
    firing: bool = False
    since: datetime | None = None
    notified_at: datetime | None = None
    evaluated_hour: datetime | None = None
    ref: str = ""


@dataclass(frozen=True, slots=True)
class Silence:
    id: int
    starts_at: datetime
    ends_at: datetime
    rule: str | None = None
    slug: str | None = None

    def mutes(self, rule: str, slug: str, at: datetime) -> bool:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class AlertEvent:
    key: str
    rule: str
    slug: str
    kind: str
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
) -> tuple[list[AlertEvent], list[AlertState]]:
    raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Message:
    destination: str
    title: str
    body: str
    keys: tuple[str, ...]
    idempotency_key: str


def group_messages(destination: str, events: Sequence[AlertEvent]) -> Message:
    raise NotImplementedError


def parse_quiet_hours(text: str) -> tuple[time, time]:
    raise NotImplementedError


def quiet_until(quiet_hours: str, timezone: str, at: datetime) -> datetime | None:
    raise NotImplementedError


def backoff(attempt: int, *, base: float, cap: float) -> timedelta:
    raise NotImplementedError
