"""The hourly Timeline update: for each active story, read its mentions and stored scores,
propose its entries (:func:`noisecast.engine.core.timeline.propose_timeline`, pure) and sync
them into the store (:meth:`Store.sync_timeline`), which keeps an entry's identity, writes
nothing when its evidence is unchanged and audits every change.

Run by the hourly cycle after the newest hour is scored (``engine/jobs/cycle.py``) and by the
demo after each simulated hour. Idempotent: running it twice with the same data changes
nothing. One story's failure is logged with the story and the others go on.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from noisecast.engine.config import Settings
from noisecast.engine.core.timeline import TimelineParams, propose_timeline
from noisecast.engine.store import Store

log = logging.getLogger("noisecast.timeline")
JOB = "timeline"


def update_timeline(store: Store, settings: Settings, *, now: datetime) -> dict[str, Any]:
    """Propose and sync the Timeline of every active story from what is stored before
    ``now``. Returns the counts over all stories (``stories``, ``created``, ``updated``,
    ``unchanged``) and the slugs whose update failed (``failed``; logged)."""
    params = TimelineParams.from_settings(settings)
    totals: dict[str, Any] = {"stories": 0, "created": 0, "updated": 0, "unchanged": 0}
    failed: list[str] = []
    for story in store.list_stories("active"):
        slug = str(story["slug"])
        try:
            mentions = store.timeline_mentions(int(story["id"]), now)
            scores = store.timeline_scores(int(story["id"]), now)
            counts = store.sync_timeline(
                int(story["id"]), propose_timeline(mentions, scores, params), now=now
            )
        except Exception as e:  # one story's failure is not the others'
            failed.append(slug)
            log.warning(
                "timeline of story %r not updated: %s: %s",
                slug,
                type(e).__name__,
                e,
                extra={"job": JOB, "story": slug},
            )
            continue
        totals["stories"] += 1
        for key in ("created", "updated", "unchanged"):
            totals[key] += counts[key]
    totals["failed"] = failed
    if totals["created"] or totals["updated"] or failed:
        log.info(
            "timeline: %d entries proposed, %d updated over %d stories%s",
            totals["created"],
            totals["updated"],
            totals["stories"],
            f"; failed: {', '.join(failed)}" if failed else "",
            extra={"job": JOB},
        )
    return totals
