"""The Alerts pages' shaping: rules in words, silences with the time they have left, recent
alerts with each destination's delivery state, failing destinations, the audit trail with only
what changed, and the forms' values read and checked. Pure: the rows come from the Store
(``engine/store/_alerts.py``), the rules' meaning from :mod:`noisecast.engine.core.alerts`,
times are arguments.

Everything here is text for autoescaped templates: nothing is marked safe."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from noisecast.engine.core.review import ReviewInputError

__all__ = [
    "FORM_FIELDS",
    "MAX_AUDIT",
    "MAX_RECENT",
    "MAX_SILENCE_HOURS",
    "SILENCE_HOURS",
    "alert_rows",
    "audit_rows",
    "check_silence",
    "definition_from_form",
    "destinations_of",
    "duration",
    "failing_rows",
    "field_of",
    "rule_form_values",
    "rule_rows",
    "silence_rows",
    "stories_in_words",
]

MAX_RECENT = 50  # recent alerts listed
MAX_AUDIT = 100  # audit rows listed
MAX_SILENCE_HOURS = 720  # 30 days
SILENCE_HOURS = (1, 4, 12, 24, 72, 168, 720)  # offered in the form (any 1..720 is taken)
MAX_REASON = 500
# The form fields an error message may name (its first word, before the colon).
FORM_FIELDS = {
    "name",
    "scope",
    "stories",
    "tag",
    "when",
    "to",
    "repeat_hours",
    "send_resolved",
    "enabled",
    "rule",
    "story",
    "hours",
    "reason",
}
_ALIASES = {"slug": "story", "condition": "when", "destinations": "to", "repeat": "repeat_hours"}
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_KINDS = {"firing": "fired", "reminder": "reminder", "resolved": "resolved"}
_STATUS = {
    "sent": "sent",
    "pending": "pending",
    "sending": "sending",
    "failed": "failed",
    "muted": "muted",
}
# The keys of a rule's definition and of a silence, in the order the audit trail lists them.
_AUDIT_KEYS = (
    "when",
    "stories",
    "tag",
    "to",
    "repeat_hours",
    "send_resolved",
    "enabled",
    "rule",
    "slug",
    "starts_at",
    "ends_at",
    "reason",
    "ended_at",
    "ended_by",
    "origin",
)
_AUDIT_NAMES = {
    "when": "condition",
    "to": "destinations",
    "repeat_hours": "repeat",
    "send_resolved": "resolved message",
    "slug": "story",
    "starts_at": "from",
    "ends_at": "until",
    "ended_at": "ended",
    "ended_by": "ended by",
}


def _time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def _value(key: str, value: Any) -> str:
    """A definition's or silence's value as the audit trail shows it."""
    if value is None or value == "" or value == [] or value == ():
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key == "repeat_hours" and isinstance(value, int):
        return f"every {value} h"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, datetime):
        return _time(value)
    if isinstance(value, str) and len(value) >= 16 and value[4:5] == "-" and "T" in value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        return _time(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))
    return " ".join(str(value).split())


def duration(delta_seconds: float) -> str:
    """A span in the words the pages use: "45 min", "3 h 20 min", "2 d 4 h"."""
    minutes = max(0, int(delta_seconds // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    days, hours = divmod(hours, 24)
    return f"{days} d" + (f" {hours} h" if hours else "")


def field_of(message: str) -> str:
    """Which form field an error is about: its first word, before the colon
    (``when: …``, ``alerts.rules[0].to: …``, ``Hours: …``); "" when it names none."""
    head = message.split(":", 1)[0].strip().lower() if ":" in message else ""
    head = re.sub(r"\[\d+\]", "", head).rsplit(".", 1)[-1].replace(" ", "_")
    head = _ALIASES.get(head, head)
    return head if head in FORM_FIELDS else ""


def destinations_of(settings: Any) -> list[dict[str, str]]:
    """The configured destinations (``[alerts.destinations.NAME]``), by name: name,
    audience, quiet hours and their time zone. URLs are secrets: never here."""
    found = getattr(getattr(settings, "alerts", None), "destinations", None) or {}
    return [
        {
            "name": str(name),
            "audience": str(d.audience),
            "quiet_hours": str(d.quiet_hours or ""),
            "timezone": str(d.timezone or "UTC"),
        }
        for name, d in sorted(found.items())
    ]


# --- rules -----------------------------------------------------------------------------------


def _stories_of(definition: Mapping[str, Any]) -> list[str]:
    stories = definition.get("stories", "all")
    if stories in (None, "all"):
        return []
    if isinstance(stories, str):
        return [stories]
    return [str(s) for s in stories]


def stories_in_words(definition: Mapping[str, Any]) -> str:
    """Which stories a rule covers: "all stories", "port-strike, breach", "stories tagged
    “politics”"."""
    tag = str(definition.get("tag") or "")
    if tag:
        return f"stories tagged “{tag}”"
    listed = _stories_of(definition)
    return ", ".join(listed) if listed else "all stories"


def _describe(rule: Any, definition: Mapping[str, Any]) -> str:
    condition = getattr(rule, "condition", None)
    if condition is not None:
        return str(condition.describe())
    return str(definition.get("when", ""))


def rule_rows(rules: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rules as the Alerts page lists them: name, the condition in words and as written,
    the stories, destinations, repeat, resolved message, enabled, origin and who changed it
    last."""
    rows = []
    for r in rules:
        definition = r.get("definition") or {}
        rows.append(
            {
                "name": r["name"],
                "condition": _describe(r.get("rule"), definition),
                "when": str(definition.get("when", "")),
                "stories": stories_in_words(definition),
                "to": [str(t) for t in definition.get("to") or ()],
                "repeat_hours": definition.get("repeat_hours", 24),
                "send_resolved": bool(definition.get("send_resolved", True)),
                "enabled": bool(r.get("enabled", definition.get("enabled", True))),
                "origin": r.get("origin") or "app",
                "version": r.get("version"),
                "updated_by": r.get("updated_by"),
                "updated_at": r.get("updated_at"),
                "error": r.get("error"),
            }
        )
    return rows


def rule_form_values(definition: Mapping[str, Any] | None) -> dict[str, Any]:
    """The rule form's values: a stored definition's, or a new rule's defaults."""
    d = definition or {}
    listed = _stories_of(d)
    tag = str(d.get("tag") or "")
    return {
        "name": str(d.get("name", "")),
        "scope": "tag" if tag else ("list" if listed else "all"),
        "stories": listed,
        "tag": tag,
        "when": str(d.get("when", "")),
        "to": [str(t) for t in d.get("to") or ()],
        "repeat_hours": str(d.get("repeat_hours", 24)),
        "send_resolved": bool(d.get("send_resolved", True)),
        "enabled": bool(d.get("enabled", True)),
    }


def definition_from_form(
    form: Mapping[str, Any], *, known_stories: Iterable[str]
) -> dict[str, Any]:
    """A rule's definition (the keys of ``[[alerts.rules]]``) from the form; what only the
    form can get wrong is checked here (ReviewInputError naming the field), the rest by
    :func:`noisecast.engine.core.alerts.rule_from_dict` when the Store saves it."""
    name = str(form.get("name", "")).strip().lower()
    if not _NAME.match(name):
        raise ReviewInputError(
            f"name: {name[:70]!r} is not a rule name. Use 1 to 64 lower-case letters, digits "
            "and hyphens, starting with a letter or digit (e.g. desk-high)."
            if name
            else "name: required. Give the rule a short name such as desk-high."
        )
    scope = str(form.get("scope", "all"))
    stories: str | list[str] = "all"
    tag = ""
    if scope == "list":
        chosen = [str(s).strip() for s in form.get("stories") or () if str(s).strip()]
        if not chosen:
            raise ReviewInputError("stories: choose at least one story, or cover all stories.")
        known = set(known_stories)
        unknown = [s for s in chosen if s not in known]
        if unknown:
            raise ReviewInputError(
                f"stories: there is no story {unknown[0][:70]!r} (see `noisecast stories list`)."
            )
        stories = list(dict.fromkeys(chosen))
    elif scope == "tag":
        tag = " ".join(str(form.get("tag", "")).split())
        if not tag:
            raise ReviewInputError(
                "tag: required when the rule covers the stories with a tag "
                '(the tags of [[stories]] in config.toml, e.g. "politics").'
            )
    elif scope != "all":
        raise ReviewInputError("scope: choose all stories, some stories or a tag.")
    text = str(form.get("repeat_hours", "")).strip()
    try:
        repeat = int(text)
    except ValueError:
        raise ReviewInputError(
            f"repeat_hours: {text[:20]!r} is not a whole number of hours; give one of at least 1."
        ) from None
    return {
        "name": name,
        "stories": stories,
        "tag": tag,
        "when": " ".join(str(form.get("when", "")).split()),
        "to": [str(t) for t in dict.fromkeys(form.get("to") or ())],
        "repeat_hours": repeat,
        "send_resolved": bool(form.get("send_resolved")),
        "enabled": bool(form.get("enabled")),
    }


# --- silences --------------------------------------------------------------------------------


def _target(rule: str | None, slug: str | None) -> str:
    if rule and slug:
        return f"rule “{rule}” for story “{slug}”"
    if rule:
        return f"rule “{rule}”, every story"
    return f"story “{slug}”, every rule"


def silence_rows(silences: Iterable[Mapping[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Silences with what they mute in words and the time they have left, ending soonest
    first."""
    rows = [
        {
            **s,
            "target": _target(s.get("rule"), s.get("slug")),
            "left": duration((s["ends_at"] - now).total_seconds()),
        }
        for s in silences
    ]
    return sorted(rows, key=lambda r: (r["ends_at"], r["id"]))


def check_silence(
    rule: str,
    story: str,
    hours: str,
    reason: str,
    *,
    rules: Iterable[str],
    stories: Iterable[str],
) -> tuple[str | None, str | None, int, str]:
    """A silence as an editor asked for it: (rule or None, story slug or None, hours,
    reason); ReviewInputError naming the field otherwise."""
    rule_ = rule.strip() or None
    slug = story.strip() or None
    if rule_ is None and slug is None:
        raise ReviewInputError("rule: choose a rule or a story to mute (or both).")
    if rule_ is not None and rule_ not in set(rules):
        raise ReviewInputError(f"rule: there is no alert rule {rule_[:70]!r}.")
    if slug is not None and slug not in set(stories):
        raise ReviewInputError(f"story: there is no story {slug[:70]!r}.")
    text = hours.strip()
    try:
        span = int(text)
    except ValueError:
        span = 0
    if not 1 <= span <= MAX_SILENCE_HOURS:
        raise ReviewInputError(
            f"hours: give a whole number of hours from 1 to {MAX_SILENCE_HOURS} (30 days)"
            + (f", not {text[:20]!r}." if text else ".")
        )
    said = " ".join(reason.split())
    if not said:
        raise ReviewInputError("reason: required. Say why, for the editors who see it later.")
    if len(said) > MAX_REASON:
        raise ReviewInputError(f"reason: keep it under {MAX_REASON} characters.")
    return rule_, slug, span, said


# --- alerts, destinations, audit -------------------------------------------------------------


def _delivery(d: Mapping[str, Any]) -> dict[str, Any]:
    status = str(d.get("status") or "pending")
    attempts = int(d.get("attempts") or 0)
    error = " ".join(str(d.get("last_error") or "").split())
    if status == "sent":
        detail = f"at {_time(d.get('sent_at'))}"
    elif status == "muted":
        detail = "recorded, not sent (a silence)"
    elif status == "failed":
        detail = f"after {attempts} attempt{'s' if attempts != 1 else ''}: {error or 'no error'}"
    elif status == "sending":
        detail = "being sent now"
    else:
        after = f" after {attempts} failed" if attempts else ""
        detail = f"next attempt {_time(d.get('next_attempt_at'))}{after}"
        if error:
            detail += f": {error}"
    return {
        "destination": d.get("destination"),
        "status": _STATUS.get(status, status),
        "detail": detail,
    }


def alert_rows(alerts: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Recent alerts with each destination's delivery state in words (sent at; pending with
    the next attempt; failed with the error; muted)."""
    return [
        {
            **a,
            "kind_name": _KINDS.get(str(a.get("kind")), str(a.get("kind"))),
            "deliveries": [_delivery(d) for d in a.get("deliveries") or ()],
        }
        for a in alerts
    ]


def failing_rows(health: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The destinations reported failing: name, the last error, since when nothing got
    through (the last success, or never), how many attempts in a row failed, what waits."""
    return [
        {
            "destination": h.get("destination"),
            "last_error": " ".join(str(h.get("last_error") or "unknown error").split()),
            "last_ok_at": h.get("last_ok_at"),
            "last_attempt_at": h.get("last_attempt_at"),
            "failures": int(h.get("consecutive_failures") or 0),
            "pending": int(h.get("pending") or 0),
        }
        for h in health
        if h.get("failing")
    ]


def _flat(snapshot: Any) -> dict[str, Any]:
    """A rule's or silence's audit snapshot as one level of keys: a rule's definition (its
    ``when``, ``to``, …) with its enabled state and origin beside them; ids, names and
    versions left out (the row names them)."""
    if not isinstance(snapshot, Mapping):
        return {}
    out = dict(snapshot.get("definition") or {})
    out.update((k, v) for k, v in snapshot.items() if k != "definition")
    for key in ("name", "id", "version"):
        out.pop(key, None)
    return out


def audit_rows(audit: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The audit trail of rules and silences: who, when, what, and only the values that
    changed (before and after; a creation: what it says; a deletion: what it said)."""
    rows = []
    for a in audit:
        before, after = _flat(a.get("before")), _flat(a.get("after"))
        keys = [k for k in _AUDIT_KEYS if k in before or k in after]
        keys += sorted(k for k in {*before, *after} if k not in _AUDIT_KEYS)
        if before and after:
            keys = [k for k in keys if before.get(k) != after.get(k)]
        else:  # created or deleted: what it says, without the empty values
            only = before or after
            keys = [k for k in keys if only.get(k) not in (None, "", [], ())]
        rows.append(
            {
                "at": a.get("at"),
                "editor": a.get("editor"),
                "action": a.get("action"),
                "target": a.get("target"),
                "name": a.get("name"),
                "before": [(_AUDIT_NAMES.get(k, k), _value(k, before.get(k))) for k in keys]
                if before
                else [],
                "after": [(_AUDIT_NAMES.get(k, k), _value(k, after.get(k))) for k in keys]
                if after
                else [],
            }
        )
    return rows
