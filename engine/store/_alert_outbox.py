"""The alerts' outbox (issue 13): what the rules read for an hour, the per-(rule, story) state,
events and deliveries written in one transaction, claims, attempts and their reading.

**Outbox.** :meth:`AlertOutboxMixin.write_alerts` writes an evaluation's events, one delivery
per (event, destination) and the rules' new states in one transaction. Events are unique by
their idempotency key and deliveries by (event, destination), so an hour evaluated again writes
nothing twice. **Claims.** :meth:`AlertOutboxMixin.claim_deliveries` takes due deliveries with a
conditional update (``pending`` and due, or ``sending`` with a claim older than
``claim_seconds``: its sender died) under a fresh token, so two senders never both get one;
:meth:`AlertOutboxMixin.finish_deliveries` records the attempt and applies the outcome only to
rows still held under that token. A sender that dies after sending but before marking is retried
after ``claim_seconds``: at-least-once, the message carrying its idempotency key.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update

from noisecast.engine.core.alerts import AlertEvent, AlertState
from noisecast.engine.store._base import StoreBase
from noisecast.engine.store.tables import (
    alert_attempts,
    alert_deliveries,
    alert_events,
    alert_state,
    forecasts,
    noise_scores,
    stories,
)

PENDING, SENDING, SENT, FAILED, MUTED = "pending", "sending", "sent", "failed", "muted"
ERROR_MAX = 1000


class AlertOutboxMixin(StoreBase):
    # --- evaluation: inputs and the outbox ----------------------------------------------------

    def alert_inputs(self, hour: datetime) -> list[dict[str, Any]]:
        """What the rules read for ``hour``, per active story: slug, title, tags, the hour's
        score (score, level, components, low_confidence, confidence_note; None when unscored),
        scores_before (hours ago -> score, 1..48), the newest forecast made by the end of the
        hour (forecast_id, prob_rising, hedge_word) and the newest approved one
        (approved_forecast_id, approved_text)."""
        until = hour + timedelta(hours=1)
        with self.reading() as conn:
            active = conn.execute(
                select(stories.c.id, stories.c.slug, stories.c.title, stories.c.tags)
                .where(stories.c.status == "active")
                .order_by(stories.c.slug)
            ).all()
            scores: dict[int, dict[datetime, Any]] = {}
            for r in conn.execute(
                select(noise_scores).where(
                    noise_scores.c.as_of >= hour - timedelta(hours=48),
                    noise_scores.c.as_of <= hour,
                )
            ):
                scores.setdefault(int(r.story_id), {})[r.as_of] = r
            newest: dict[int, Any] = {}
            approved: dict[int, Any] = {}
            for r in conn.execute(
                select(
                    forecasts.c.id,
                    forecasts.c.story_id,
                    forecasts.c.prob_rising,
                    forecasts.c.hedge_word,
                    forecasts.c.status,
                    forecasts.c.final_text,
                )
                .where(forecasts.c.as_of <= until, forecasts.c.as_of > hour - timedelta(days=7))
                .order_by(forecasts.c.as_of, forecasts.c.id)
            ):
                newest[int(r.story_id)] = r
                if r.status == "approved":
                    approved[int(r.story_id)] = r
        out = []
        for story in active:
            sid = int(story.id)
            by_hour = scores.get(sid, {})
            now_row = by_hour.get(hour)
            before = {}
            for ago in range(1, 49):
                row = by_hour.get(hour - timedelta(hours=ago))
                if row is not None:
                    before[ago] = float(row.score)
            f, a = newest.get(sid), approved.get(sid)
            out.append(
                {
                    "story_id": sid,
                    "slug": story.slug,
                    "title": story.title,
                    "tags": tuple(story.tags or ()),
                    "score": None if now_row is None else float(now_row.score),
                    "level": None if now_row is None else now_row.level,
                    "components": {} if now_row is None else dict(now_row.components or {}),
                    "low_confidence": bool(now_row is not None and now_row.low_confidence),
                    "confidence_note": (now_row.confidence_note or "") if now_row else "",
                    "scores_before": before,
                    "forecast_id": None if f is None else int(f.id),
                    "prob_rising": None
                    if f is None or f.prob_rising is None
                    else float(f.prob_rising),
                    "hedge_word": None if f is None else f.hedge_word,
                    "approved_forecast_id": None if a is None else int(a.id),
                    "approved_text": "" if a is None else (a.final_text or ""),
                }
            )
        return out

    def alert_states(self) -> dict[tuple[str, str], AlertState]:
        query = select(alert_state, stories.c.slug).join(
            stories, stories.c.id == alert_state.c.story_id
        )
        with self.reading() as conn:
            rows = conn.execute(query).all()
        return {
            (r.rule, r.slug): AlertState(
                rule=r.rule,
                slug=r.slug,
                firing=bool(r.firing),
                since=r.since,
                notified_at=r.notified_at,
                evaluated_hour=r.evaluated_hour,
                ref=r.ref or "",
            )
            for r in rows
        }

    def write_alerts(
        self,
        events: Sequence[AlertEvent],
        states: Sequence[AlertState],
        *,
        destinations: Collection[str],
        now: datetime,
    ) -> dict[str, int]:
        """The outbox: events, one delivery per (event, destination in ``destinations``;
        "muted" when a silence held the event) and the new states, in one transaction. An
        event whose key is stored already writes nothing. Returns counts: events, muted,
        deliveries (new rows each)."""
        counts = {"events": 0, "muted": 0, "deliveries": 0}
        slugs = {e.slug for e in events} | {s.slug for s in states}
        with self.transaction() as conn:
            ids = {
                str(r.slug): int(r.id)
                for r in conn.execute(
                    select(stories.c.id, stories.c.slug).where(stories.c.slug.in_(sorted(slugs)))
                )
            }
            for e in events:
                story_id = ids.get(e.slug)
                if story_id is None:
                    continue
                stmt = self.insert(alert_events).values(
                    key=e.key,
                    rule=e.rule,
                    story_id=story_id,
                    kind=e.kind,
                    hour=e.hour,
                    title=e.title,
                    text=e.text,
                    link=e.link,
                    facts=dict(e.facts),
                    silenced_by=e.silenced_by,
                    created_at=now,
                )
                event_id = conn.execute(
                    stmt.on_conflict_do_nothing().returning(alert_events.c.id)
                ).scalar()
                if event_id is None:
                    continue  # written by an earlier run of this hour
                counts["events"] += 1
                counts["muted"] += e.silenced_by is not None
                for name in dict.fromkeys(e.to):
                    if name not in destinations:
                        continue
                    ins = self.insert(alert_deliveries).values(
                        event_id=event_id,
                        destination=name,
                        status=MUTED if e.silenced_by is not None else PENDING,
                        attempts=0,
                        next_attempt_at=now,
                    )
                    made = conn.execute(
                        ins.on_conflict_do_nothing().returning(alert_deliveries.c.id)
                    ).all()
                    counts["deliveries"] += len(made)
            for s in states:
                story_id = ids.get(s.slug)
                if story_id is None:
                    continue
                values = {
                    "firing": s.firing,
                    "since": s.since,
                    "notified_at": s.notified_at,
                    "evaluated_hour": s.evaluated_hour,
                    "ref": s.ref or "",
                }
                stmt = self.insert(alert_state).values(rule=s.rule, story_id=story_id, **values)
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[alert_state.c.rule, alert_state.c.story_id], set_=values
                    )
                )
        return counts

    # --- delivery ----------------------------------------------------------------------------

    def delivery_destinations(self) -> list[str]:
        """Destinations with deliveries waiting (pending or sending)."""
        query = (
            select(alert_deliveries.c.destination)
            .where(alert_deliveries.c.status.in_([PENDING, SENDING]))
            .distinct()
            .order_by(alert_deliveries.c.destination)
        )
        with self.reading() as conn:
            return [str(r) for r in conn.execute(query).scalars()]

    def due_deliveries(self, destination: str, *, now: datetime, claim_seconds: float) -> int:
        """How many deliveries to ``destination`` a sender could claim now."""
        with self.reading() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(alert_deliveries)
                    .where(_claimable(destination, now, claim_seconds))
                ).scalar_one()
            )

    def claim_deliveries(
        self,
        destination: str,
        *,
        now: datetime,
        claim_seconds: float,
        token: str,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """Claim up to ``limit`` due deliveries to ``destination`` under ``token`` (a
        conditional update: a delivery another sender claimed in between is not taken) and
        return them oldest first with their event: delivery_id, attempts, key, rule, slug,
        kind, hour, title, text, link, facts."""
        claimable = _claimable(destination, now, claim_seconds)
        with self.transaction() as conn:
            ids = list(
                conn.execute(
                    select(alert_deliveries.c.id)
                    .where(claimable)
                    .order_by(alert_deliveries.c.id)
                    .limit(limit)
                ).scalars()
            )
            if not ids:
                return []
            conn.execute(
                update(alert_deliveries)
                .where(alert_deliveries.c.id.in_(ids), claimable)
                .values(status=SENDING, claimed_at=now, claim_token=token)
            )
        query = (
            select(
                alert_deliveries.c.id.label("delivery_id"),
                alert_deliveries.c.attempts,
                alert_events.c.key,
                alert_events.c.rule,
                stories.c.slug,
                alert_events.c.kind,
                alert_events.c.hour,
                alert_events.c.title,
                alert_events.c.text,
                alert_events.c.link,
                alert_events.c.facts,
            )
            .join(alert_events, alert_events.c.id == alert_deliveries.c.event_id)
            .join(stories, stories.c.id == alert_events.c.story_id)
            .where(
                alert_deliveries.c.id.in_(ids),
                alert_deliveries.c.claim_token == token,
                alert_deliveries.c.status == SENDING,
            )
            .order_by(alert_deliveries.c.id)
        )
        with self.reading() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def finish_deliveries(
        self,
        *,
        destination: str,
        token: str,
        message_key: str,
        ok: bool,
        error: str | None,
        now: datetime,
        outcomes: Mapping[int, tuple[str, datetime | None]],
    ) -> int:
        """Record one send attempt and apply each delivery's outcome (delivery id -> (status,
        next_attempt_at)), only to deliveries still claimed under ``token``. Returns how many
        were updated (fewer when a claim was taken over after ``claim_seconds``)."""
        error = None if error is None else error[:ERROR_MAX]
        changed = 0
        with self.transaction() as conn:
            conn.execute(
                alert_attempts.insert().values(
                    destination=destination,
                    message_key=message_key,
                    at=now,
                    ok=ok,
                    error=error,
                    delivery_ids=sorted(outcomes),
                )
            )
            for delivery_id, (status, next_at) in outcomes.items():
                values: dict[str, Any] = {
                    "status": status,
                    "attempts": alert_deliveries.c.attempts + 1,
                    "message_key": message_key,
                    "last_error": error,
                    "claim_token": None,
                    "claimed_at": None,
                }
                if status == SENT:
                    values["sent_at"] = now
                if next_at is not None:
                    values["next_attempt_at"] = next_at
                changed += conn.execute(
                    update(alert_deliveries)
                    .where(
                        alert_deliveries.c.id == delivery_id,
                        alert_deliveries.c.claim_token == token,
                        alert_deliveries.c.status == SENDING,
                    )
                    .values(**values)
                ).rowcount
        return changed

    # --- reading -----------------------------------------------------------------------------

    def recent_alerts(self, *, limit: int = 50, slug: str | None = None) -> list[dict[str, Any]]:
        """The newest events with their deliveries' state."""
        query = (
            select(alert_events, stories.c.slug)
            .join(stories, stories.c.id == alert_events.c.story_id)
            .order_by(alert_events.c.id.desc())
            .limit(limit)
        )
        if slug is not None:
            query = query.where(stories.c.slug == slug)
        with self.reading() as conn:
            events = conn.execute(query).all()
            ids = [int(e.id) for e in events]
            deliveries: dict[int, list[dict[str, Any]]] = {}
            if ids:
                for d in conn.execute(
                    select(alert_deliveries)
                    .where(alert_deliveries.c.event_id.in_(ids))
                    .order_by(alert_deliveries.c.destination)
                ):
                    deliveries.setdefault(int(d.event_id), []).append(
                        {
                            k: getattr(d, k)
                            for k in (
                                "destination",
                                "status",
                                "attempts",
                                "last_error",
                                "sent_at",
                                "next_attempt_at",
                            )
                        }
                    )
        keys = ("id", "key", "rule", "slug", "kind", "hour", "title", "text", "link", "created_at")
        return [
            {
                **{k: getattr(e, k) for k in keys},
                "facts": dict(e.facts or {}),
                "silenced": e.silenced_by is not None,
                "silenced_by": e.silenced_by,
                "deliveries": deliveries.get(int(e.id), []),
            }
            for e in events
        ]

    def destination_health(self, *, now: datetime, failing_after: int) -> list[dict[str, Any]]:
        """Per destination that has deliveries or attempts: pending (waiting to be sent), due
        (of those, due now), failed (gave up), consecutive_failures (attempts since the last
        success), failing (at least ``failing_after`` of them), last_error, last_ok_at,
        last_attempt_at."""
        with self.reading() as conn:
            waiting = {
                str(d): (int(n), int(due or 0))
                for d, n, due in conn.execute(
                    select(
                        alert_deliveries.c.destination,
                        func.count(),
                        func.sum(case((alert_deliveries.c.next_attempt_at <= now, 1), else_=0)),
                    )
                    .where(alert_deliveries.c.status.in_([PENDING, SENDING]))
                    .group_by(alert_deliveries.c.destination)
                )
            }
            failed = {
                str(d): int(n)
                for d, n in conn.execute(
                    select(alert_deliveries.c.destination, func.count())
                    .where(alert_deliveries.c.status == FAILED)
                    .group_by(alert_deliveries.c.destination)
                )
            }
            last_ok = {
                str(d): (int(i), at)
                for d, i, at in conn.execute(
                    select(
                        alert_attempts.c.destination,
                        func.max(alert_attempts.c.id),
                        func.max(alert_attempts.c.at),
                    )
                    .where(alert_attempts.c.ok.is_(True))
                    .group_by(alert_attempts.c.destination)
                )
            }
            last_any = {
                str(d): int(i)
                for d, i in conn.execute(
                    select(alert_attempts.c.destination, func.max(alert_attempts.c.id)).group_by(
                        alert_attempts.c.destination
                    )
                )
            }
            out = []
            for name in sorted(set(waiting) | set(failed) | set(last_any)):
                ok_id, ok_at = last_ok.get(name, (0, None))
                streak = int(
                    conn.execute(
                        select(func.count())
                        .select_from(alert_attempts)
                        .where(
                            alert_attempts.c.destination == name,
                            alert_attempts.c.id > ok_id,
                            alert_attempts.c.ok.is_(False),
                        )
                    ).scalar_one()
                )
                last = None
                if name in last_any:
                    last = conn.execute(
                        select(alert_attempts.c.at, alert_attempts.c.error).where(
                            alert_attempts.c.id == last_any[name]
                        )
                    ).first()
                pending, due = waiting.get(name, (0, 0))
                out.append(
                    {
                        "destination": name,
                        "pending": pending,
                        "due": due,
                        "failed": failed.get(name, 0),
                        "consecutive_failures": streak,
                        "failing": streak >= failing_after,
                        "last_error": last.error if last is not None and streak else None,
                        "last_ok_at": ok_at,
                        "last_attempt_at": None if last is None else last.at,
                    }
                )
        return out


def _claimable(destination: str, now: datetime, claim_seconds: float) -> Any:
    """Deliveries to ``destination`` a sender may claim at ``now``: pending and due, or claimed
    by a sender that has not finished within ``claim_seconds`` (it died)."""
    return and_(
        alert_deliveries.c.destination == destination,
        or_(
            and_(
                alert_deliveries.c.status == PENDING,
                alert_deliveries.c.next_attempt_at <= now,
            ),
            and_(
                alert_deliveries.c.status == SENDING,
                alert_deliveries.c.claimed_at <= now - timedelta(seconds=claim_seconds),
            ),
        ),
    )
