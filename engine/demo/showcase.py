"""The demo's showcase: one story published the way an editor would publish it.

An editor approves the story's pending forecast and every timeline entry waiting for review,
through the Store's review methods (the ones the review app's buttons call), so the audit trail
(``review_events``, ``timeline_events``) names the editor and the reader's page
(``/stories/<slug>``) shows a Noise Level, a Forecast and a Timeline.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from noisecast.engine.store import Store

__all__ = ["choose_showcase", "publish_showcase"]


def choose_showcase(store: Store, preferred: str) -> str:
    """``preferred`` when it has timeline entries, else the story with the most (a short or
    reseeded demo may not reach the preferred story's news)."""
    counts = {
        s["slug"]: len(store.timeline_entries(int(s["id"]))) for s in store.list_stories("active")
    }
    if counts.get(preferred) or not counts:
        return preferred
    return max(sorted(counts), key=lambda slug: counts[slug])


def publish_showcase(store: Store, preferred: str, *, editor: str, now: datetime) -> dict[str, Any]:
    """Approve the showcase story's newest pending forecast and its timeline entries that wait
    for review (proposed, or changed since approval); entries an editor hid stay hidden.
    Running it again approves only what changed since."""
    slug = choose_showcase(store, preferred)
    story_id = store.story_id(slug)
    pending = store.forecasts_frame(statuses=["pending"], story=slug)
    forecast_id = None
    if not pending.empty:
        forecast_id = int(pending["id"].iloc[-1])  # in time order: the newest
        store.review_forecast(
            forecast_id, action="approve", editor=editor, seen_status="pending", now=now
        )
    approved = 0
    for entry in store.timeline_entries(story_id):
        if entry["status"] == "hidden":
            continue
        if entry["status"] == "proposed" or entry["needs_review"]:
            store.review_timeline_entry(
                int(entry["id"]),
                "approve",
                editor=editor,
                seen_version=int(entry["version"]),
                now=now,
            )
            approved += 1
    published = store.published_timeline(story_id)
    return {
        "slug": slug,
        "editor": editor,
        "forecast_approved": forecast_id,
        "entries_approved": approved,
        "timeline": [
            {"at": e["at"].isoformat(), "kind": e["kind"], "title": e["title"]} for e in published
        ],
    }
