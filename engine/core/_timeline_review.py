"""Editors' Timeline entries, the pure parts: checking what an editor writes, and the words
the Store records when a proposal changes or an action meets a newer version. Re-exported by
:mod:`noisecast.engine.core.timeline`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from noisecast.engine.core._timeline_frames import utc
from noisecast.engine.core.review import ReviewInputError, safe_url

MAX_TITLE = 120
MAX_TEXT = 600


def _and(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def check_entry(
    title: str, text: str, link: str | None, at: datetime, now: datetime
) -> tuple[str, str, str | None, datetime]:
    """An editor's entry (or edit), trimmed, if it may be published: title 1..120 characters,
    text 1..600, link http(s) or empty, ``at`` aware and not after ``now``. Raises
    :class:`~noisecast.engine.core.review.ReviewInputError` naming the field."""
    title = " ".join(str(title or "").split())
    text = " ".join(str(text or "").split())
    if not title:
        raise ReviewInputError("Title: required. Say what happened in a few words.")
    if len(title) > MAX_TITLE:
        raise ReviewInputError(f"Title: {len(title)} characters; keep it to {MAX_TITLE}.")
    if not text:
        raise ReviewInputError("Text: required. Say what happened in one sentence.")
    if len(text) > MAX_TEXT:
        raise ReviewInputError(f"Text: {len(text):,} characters; keep it to {MAX_TEXT}.")
    address = (link or "").strip()
    checked = safe_url(address) if address else None
    if address and checked is None:
        raise ReviewInputError(
            "Link: use an http:// or https:// address (e.g. https://example.com/story), "
            "or leave it empty."
        )
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise ReviewInputError("Time: give the date and time with its time zone (UTC).")
    at = at.astimezone(UTC)
    if at > now:
        raise ReviewInputError(
            f"Time: {at:%Y-%m-%d %H:%M} UTC is in the future; give when it happened."
        )
    return title, text, checked, at


def _when(value: Any) -> str:
    at = utc(value)
    return f"{at:%Y-%m-%d %H:%M} UTC" if at else "an unknown time"


def change_note(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """What changed in a proposal, for the audit trail: "first seen moved earlier: 2026-11-20
    09:40 UTC -> 2026-11-20 08:15 UTC; text changed". ``before``/``after`` hold at (a datetime
    or ISO text), title, text, link, evidence."""
    parts = []
    old, new = utc(before.get("at")), utc(after.get("at"))
    label = str(before.get("title") or "the entry").lower()
    if old != new and old is not None and new is not None:
        way = "earlier" if new < old else "later"
        parts.append(f"{label} moved {way}: {_when(old)} -> {_when(new)}")
    changed = [k for k in ("title", "text", "link") if before.get(k) != after.get(k)]
    if changed:
        parts.append(f"{_and(changed)} changed")
    if not parts and before.get("evidence") != after.get("evidence"):
        parts.append("evidence changed")
    return "; ".join(parts) or "recomputed"


_DID = {
    "approve": "approved it",
    "edit": "edited and approved it",
    "hide": "hid it",
    "added": "added it",
    "proposed": "proposed it",
    "updated": "updated its proposal",
}


def conflict_message(
    current: Mapping[str, Any] | None, last_event: Mapping[str, Any] | None, *, seen_version: int
) -> str:
    """Why an editor's action on a timeline entry was refused: the entry changed since the
    editor's page showed it (``version`` moved past ``seen_version``); names who did what when
    (``last_event``: actor, action, at)."""
    if current is None:
        return "This timeline entry does not exist. Nothing was changed; reload the story page."
    version = current.get("version")
    if last_event is None:
        who = "Someone changed it"
    else:
        actor = str(last_event.get("actor") or "someone")
        did = _DID.get(str(last_event.get("action")), f"did {last_event.get('action')!r} to it")
        who = f"The hourly update {did}" if actor == "noisecast" else f"{actor} {did}"
        who += f" at {_when(last_event.get('at'))}"
    return (
        f"This timeline entry changed while you were looking at it: {who} (version {version}; "
        f"your page showed version {seen_version}). Nothing was changed; reload the page and "
        "act on it as it is now."
    )
