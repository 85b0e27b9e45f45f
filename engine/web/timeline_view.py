"""The story Timeline as the review pages show it: each entry with what is published beside
what noisecast now proposes, its evidence in a few words, and the audit events as "what
changed". Shaping only: the entries come from the Store (``engine/store/_timeline.py``) and the
rules that make them from :mod:`noisecast.engine.core.timeline`.

Everything here is text for autoescaped templates: nothing is marked safe, and a link is
rendered only by the templates' ``safe_url`` check."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from noisecast.engine.core.review import ReviewInputError

__all__ = [
    "JOB_ACTOR",
    "KIND_NAMES",
    "MAX_QUEUE",
    "entry_rows",
    "event_rows",
    "evidence_summary",
    "form_time",
    "group_pending",
]

MAX_QUEUE = 100  # pending entries the queue lists at most
JOB_ACTOR = "noisecast"  # who the hourly job's events name (engine/store/_timeline.py)
# What each rule of engine/core/timeline.py is called on the review pages.
KIND_NAMES = {
    "first_seen": "first seen",
    "first_major": "first major outlet",
    "social_pickup": "social pickup",
    "level": "level change",
    "quiet": "back to quiet",
    "peak": "peak",
    "editor": "editor's entry",
}
_LONG = 160  # characters of a value shown in the history before it is cut

# What the evidence of a rule (engine/core/timeline.py) says, in the order an editor reads it;
# other keys follow with their own names. Keys that repeat the entry (its time, link, outlet
# host) or are internal (ids) are left out.
_LABELS = {
    "outlet": "outlet",
    "kind": "via",
    "major": "major outlet",
    "score": "score",
    "level": "level",
    "outlets": "outlets",
    "posts": "social posts",
    "platforms": "platforms",
    "baseline": "usual posts/hour",
    "threshold": "threshold",
    "top": "top post",
    "hour": "hour",
    "since": "loud since",
    "mentions": "mentions",
}
_HIDDEN = {
    "mention_id",
    "mention_ids",
    "ids",
    "when",
    "url",
    "major_host",
    "name",
    "target",
    "outlets_hours",
    "version",
    "key",
}
# The fields of an entry an event's before/after may hold, in the order the history lists them.
_FIELDS = (
    "status",
    "at",
    "title",
    "text",
    "link",
    "published_at",
    "published_title",
    "published_text",
    "published_link",
    "evidence",
)
_FIELD_NAMES = {
    "at": "time",
    "published_title": "published title",
    "published_text": "published text",
    "published_at": "published time",
    "published_link": "published link",
}


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.1f}".removesuffix(".0")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = " ".join(str(value).split())
    parsed = _iso_time(text)
    if parsed is not None:
        return parsed.strftime("%Y-%m-%d %H:%M UTC")
    return text if len(text) <= _LONG else text[: _LONG - 1] + "…"


def _iso_time(text: str) -> datetime | None:
    """An ISO time as the JSON of an event or evidence holds it ("2026-11-25T14:00:00+00:00"),
    else None (a plain word or number is not a time)."""
    if len(text) < 16 or text[4:5] != "-" or "T" not in text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _value(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_scalar(v)}" for k, v in list(value.items())[:6] if v is not None)
    if isinstance(value, (list, tuple)):
        shown = [_scalar(v) for v in value[:6] if not isinstance(v, (Mapping, list, tuple))]
        more = len(value) - 6
        return ", ".join(shown) + (f" and {more} more" if more > 0 else "")
    return _scalar(value)


def _special(key: str, value: Any, evidence: Mapping[str, Any]) -> str | None:
    """The keys whose value reads better with a word: the top post's engagement, an hour as
    its span, outlets over their hours."""
    if key == "top" and isinstance(value, Mapping):
        engagement = value.get("engagement")
        return None if engagement is None else f"{_scalar(engagement)} points and comments"
    if key == "hour" and isinstance(value, str) and (start := _iso_time(value)):
        return f"{start:%Y-%m-%d %H:00}–{(start.hour + 1) % 24:02d}:00 UTC"
    if key == "outlets" and isinstance(evidence.get("outlets_hours"), int):
        return f"{_scalar(value)} in {evidence['outlets_hours']} h"
    return ""


def evidence_summary(evidence: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """The evidence of an entry as (label, value) pairs for one compact line: known keys
    first, then the rest by name; what repeats the entry, ids and empty values left out
    (a list of mention ids as its count), lists cut at six."""
    if not isinstance(evidence, Mapping):
        return []
    keys = [k for k in _LABELS if k in evidence]
    keys += sorted(k for k in evidence if k not in _LABELS)
    out = []
    for key in keys:
        value = evidence[key]
        if key in _HIDDEN or key.endswith("_id") or value is None or value in ("", [], {}):
            if key in ("mention_ids", "ids") and isinstance(value, list) and value:
                out.append(("mentions cited", f"{len(value):,}"))
            continue
        shown = _special(key, value, evidence)
        if shown == "":
            shown = _value(value)
        if shown:
            out.append((_LABELS.get(key, key.replace("_", " ")), shown))
    return out


def entry_rows(entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The story view's entries: each with ``evidence_items``; ``pending`` when it waits for
    review (proposed, or changed since reviewed); ``edited`` when the published copy differs
    from the proposal; ``form`` (the values the edit form starts from: what is
    published, unless there is a newer proposal to review) and the ``actions`` its status
    allows."""
    rows = []
    for entry in entries:
        status = entry["status"]
        changed = bool(entry.get("needs_review"))
        published = {
            "at": entry.get("published_at"),
            "title": entry.get("published_title"),
            "text": entry.get("published_text"),
            "link": entry.get("published_link"),
        }
        proposal = {k: entry.get(k) for k in ("at", "title", "text", "link")}
        edited = status == "approved" and published != proposal
        start = published if status == "approved" and not changed else proposal
        actions: tuple[str, ...]
        if status == "proposed" or changed:
            actions = ("approve", "edit", "hide")
        elif status == "approved":
            actions = ("edit", "hide")
        else:  # hidden, nothing new: it may be published again
            actions = ("approve", "edit")
        rows.append(
            {
                **entry,
                "kind_name": KIND_NAMES.get(entry["kind"], str(entry["kind"]).replace("_", " ")),
                "changed": changed,
                "pending": status == "proposed" or changed,
                "edited": edited,
                "published": published,
                "form": start,
                "actions": actions,
                "evidence_items": evidence_summary(entry.get("evidence")),
            }
        )
    return rows


def _shown(key: str, value: Any) -> str:
    if value is None or value == "" or value == {}:
        return "—"
    if key == "evidence" and isinstance(value, Mapping):
        return "; ".join(f"{label} {v}" for label, v in evidence_summary(value)) or "—"
    return _scalar(value)


def _describe(values: Mapping[str, Any], keys: Sequence[str]) -> list[tuple[str, str]]:
    return [(_FIELD_NAMES.get(k, k), _shown(k, values.get(k))) for k in keys]


def event_rows(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The audit events of a story's entries for the review history: who (``by_job``: the
    hourly job), what, when, the entry's title, and only the fields that changed (before and
    after)."""
    rows = []
    for event in events:
        before = event.get("before") if isinstance(event.get("before"), Mapping) else {}
        after = event.get("after") if isinstance(event.get("after"), Mapping) else {}
        assert isinstance(before, Mapping) and isinstance(after, Mapping)
        if before:
            known = [k for k in _FIELDS if k in before or k in after]
            changed = [k for k in known if before.get(k) != after.get(k)]
        else:  # proposed or added: what it says
            changed = [k for k in ("at", "title", "text", "link") if after.get(k)]
        title = (
            after.get("published_title")
            or after.get("title")
            or before.get("title")
            or event.get("entry_title")
            or event.get("title")
            or event.get("key")
            or ""
        )
        rows.append(
            {
                "at": event.get("at"),
                "actor": event.get("actor"),
                "by_job": event.get("actor") == JOB_ACTOR,
                "action": event.get("action"),
                "note": event.get("note"),
                "entry_id": event.get("entry_id"),
                "entry": _scalar(title) if title else "",
                "before": _describe(before, changed) if before else [],
                "after": _describe(after, changed),
            }
        )
    return rows


def group_pending(entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Pending entries (newest first) grouped by story, in the order each story first
    appears: ``slug``, ``title``, ``entries``."""
    groups: dict[str, dict[str, Any]] = {}
    for entry in entries:
        slug = str(entry["slug"])
        group = groups.setdefault(
            slug, {"slug": slug, "title": entry.get("story_title") or slug, "entries": []}
        )
        group["entries"].append(entry)
    return list(groups.values())


def form_time(value: str) -> datetime:
    """The time an editor typed (``YYYY-MM-DDTHH:MM`` from a datetime-local field, or with a
    space, seconds, or an offset) as aware UTC; a time without an offset is UTC."""
    text = value.strip()
    if not text:
        raise ReviewInputError("Time: required. Give the date and time (UTC) it happened.")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ReviewInputError(
            f"Time: {text[:40]!r} is not a date and time. Write it as YYYY-MM-DD HH:MM (UTC)."
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
