"""Alerts (issue 13): evaluate the rules on what the hourly cycle just stored, and deliver the
outbox through Apprise.

**Evaluate** (:func:`evaluate_alerts`, called by the cycle for its newest hour, after the
forecast and the Timeline; the demo after each simulated hour): the stored rules (config's,
synced by ``noisecast init``, and the admins'), each active story's facts for the hour, the
rules' states and the silences go through :func:`noisecast.engine.core.alerts.evaluate` (pure);
the events, one delivery per (event, destination) and the new states are written in one
transaction (:meth:`Store.write_alerts`). An hour evaluated again writes nothing: the states
say it was evaluated, and the events' keys are unique.

**Deliver** (:func:`deliver_alerts`, after each evaluation, every ``deliver_every_seconds`` in
``noisecast run`` and by ``noisecast alerts deliver``): per destination, claim the due
deliveries (a conditional update: two senders never send the same one), group them into one
message (:func:`~noisecast.engine.core.alerts.group_messages`), send it through Apprise with
``timeout_seconds`` (connect and read), record the attempt and mark the deliveries sent, or due
again after an exponential backoff, or failed after ``max_attempts``. A destination in its quiet
hours is held (its messages wait, grouped, until the hours end). One destination's failure is
logged and never stops the others.

**Guarantees.** A crash between the outbox write and the send sends later (the deliveries are
pending). A crash after the send but before it was recorded leaves the deliveries claimed; they
are sent again after ``claim_seconds``: at-least-once, and every message ends with its
idempotency key (``ref: ...``) so a receiver can drop the repeat.

Destination URLs are secrets (``Secrets.alert_url``): never logged, and an error is cleaned of
every part of the URL before it is stored or logged.
"""

from __future__ import annotations

import logging
import re
import secrets as _secrets
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from noisecast.engine.config import Secrets, Settings
from noisecast.engine.core.alerts import (
    AlertEvent,
    StoryFacts,
    backoff,
    evaluate,
    group_messages,
    quiet_until,
)
from noisecast.engine.core.public import RECENT_HOURS, Recent, drives_line, recent_activity
from noisecast.engine.errors import ConfigError
from noisecast.engine.schema import STORY
from noisecast.engine.store import Store
from noisecast.engine.store._alert_outbox import FAILED, PENDING, SENT

log = logging.getLogger("noisecast.alerts")
JOB = "alerts"
BATCH = 50  # deliveries per message at most; more go out in the next message of the pass
ENV_PREFIX = "NOISECAST_ALERT_URL_"
_SEND_LOCK = threading.Lock()  # Apprise's log capture is per process: one send at a time
_LIBRARY_LOGGERS = ("apprise", "urllib3")


# --- evaluation ---------------------------------------------------------------------------------


def evaluate_alerts(
    store: Store, settings: Settings, *, hour: datetime, now: datetime
) -> dict[str, int]:
    """Evaluate every enabled rule on what is stored for ``hour`` and write the outbox (see the
    module's docstring). Returns counts: events, muted, deliveries (new rows)."""
    alerts = settings.alerts
    counts = {"events": 0, "muted": 0, "deliveries": 0}
    if not alerts.enabled:
        return counts
    rules = []
    for row in store.alert_rules(include_disabled=False):
        if row["rule"] is None:
            log.warning(
                "alert rule %r is not evaluated: %s (fix it in the review app or config)",
                row["name"],
                row["error"],
                extra={"job": JOB},
            )
            continue
        rules.append(row["rule"])
    if not rules:
        return counts
    inputs = store.alert_inputs(hour)
    end = hour + timedelta(hours=1)
    frame = store.mention_frame(
        end - timedelta(hours=RECENT_HOURS), end, stories_only=[str(r["slug"]) for r in inputs]
    )
    recent = {str(slug): recent_activity(rows) for slug, rows in frame.groupby(STORY)}
    facts = [story_facts(row, hour, recent.get(str(row["slug"]), Recent())) for row in inputs]
    events, states = evaluate(
        rules,
        facts,
        store.alert_states(),
        store.silence_rules(since=hour),
        hour=hour,
        base_url=settings.public.base_url.rstrip("/"),
        now=now,  # a silence set after the hour ended, before the cycle ran, mutes it
    )
    destinations = set(alerts.destinations)
    for e in events:
        unknown = [d for d in e.to if d not in destinations]
        if unknown:
            log.warning(
                "alert %s names destinations that are not in [alerts.destinations]: %s "
                "(not sent there)",
                e.key,
                ", ".join(unknown),
                extra={"job": JOB, "story": e.slug},
            )
    counts = store.write_alerts(events, states, destinations=destinations, now=now)
    for e in events:
        log.info(
            "alert %s%s: %s",
            e.kind,
            " (muted by a silence)" if e.silenced_by is not None else "",
            e.title,
            extra={"job": JOB, "story": e.slug, "rule": e.rule},
        )
    return counts


def story_facts(row: Mapping[str, Any], hour: datetime, recent: Recent | None = None) -> StoryFacts:
    """A story's facts for the rules from :meth:`Store.alert_inputs`'s row and its mentions of
    the last hours (``recent``: what the drivers line counts)."""
    return StoryFacts(
        slug=str(row["slug"]),
        title=str(row["title"]),
        hour=hour,
        tags=tuple(row["tags"]),
        score=row["score"],
        level=row["level"],
        scores_before=dict(row["scores_before"]),
        drivers=describe_drivers(row["components"], recent or Recent()),
        low_confidence=bool(row["low_confidence"]),
        confidence_note=str(row["confidence_note"] or ""),
        forecast_id=row["forecast_id"],
        prob_rising=row["prob_rising"],
        hedge_word=row["hedge_word"],
        approved_forecast_id=row["approved_forecast_id"],
        approved_text=str(row["approved_text"] or ""),
    )


def describe_drivers(components: Mapping[str, Any], recent: Recent) -> str:
    """What drives a score most, in the story page's words (noisecast.engine.core.public):
    "mostly breadth: 16 outlets in the last 6 hours" ("" when nothing does)."""
    line = drives_line(components or {}, recent)
    if line.startswith("Nothing much"):
        return ""
    return (line[:1].lower() + line[1:]).rstrip(".")


# --- delivery -----------------------------------------------------------------------------------


def deliver_alerts(
    store: Store, settings: Settings, secrets: Secrets, *, now: datetime
) -> dict[str, int]:
    """One delivery pass over every destination (see the module's docstring). Returns counts
    of deliveries: sent, failed (gave up), held (quiet hours), retry (due again later)."""
    totals = {"sent": 0, "failed": 0, "held": 0, "retry": 0}
    configured = settings.alerts.destinations
    for name in sorted(set(configured) | set(store.delivery_destinations())):
        extra = {"job": JOB, "destination": name}
        if name not in configured:
            log.warning(
                "alerts wait for the destination %r, which is not in [alerts.destinations]: "
                "add it back to send them",
                name,
                extra=extra,
            )
            continue
        try:
            counts = _deliver_to(store, settings, secrets, name, now)
        except Exception as e:  # one destination's trouble is not the others'
            log.warning("delivery to %r stopped: %s: %s", name, type(e).__name__, e, extra=extra)
            continue
        for key, n in counts.items():
            totals[key] += n
    return totals


def _deliver_to(
    store: Store, settings: Settings, secrets: Secrets, name: str, now: datetime
) -> dict[str, int]:
    alerts = settings.alerts
    dest = alerts.destinations[name]
    counts = {"sent": 0, "failed": 0, "held": 0, "retry": 0}
    extra: dict[str, Any] = {"job": JOB, "destination": name}
    if dest.quiet_hours:
        until = quiet_until(dest.quiet_hours, dest.timezone, now)
        if until is not None:
            held = store.due_deliveries(name, now=now, claim_seconds=alerts.claim_seconds)
            if held:
                log.info(
                    "%d alerts held: quiet hours until %s UTC", held, f"{until:%H:%M}", extra=extra
                )
            counts["held"] = held
            return counts
    url = secrets.alert_url(dest.secret)
    while True:
        token = _secrets.token_hex(16)
        rows = store.claim_deliveries(
            name, now=now, claim_seconds=alerts.claim_seconds, token=token, limit=BATCH
        )
        if not rows:
            return counts
        message = group_messages(name, [_event(r, name) for r in rows])
        slugs = ", ".join(dict.fromkeys(str(r["slug"]) for r in rows))
        error: str | None
        if url is None:
            ok, error = False, missing_url(name, dest.secret)
        else:
            ok, error = send(url, message.title, message.body, timeout=alerts.timeout_seconds)
        outcomes: dict[int, tuple[str, datetime | None]] = {}
        for r in rows:
            attempt = int(r["attempts"]) + 1
            if ok:
                outcomes[int(r["delivery_id"])] = (SENT, None)
            elif attempt >= alerts.max_attempts:
                outcomes[int(r["delivery_id"])] = (FAILED, None)
            else:
                wait = backoff(
                    attempt, base=alerts.retry_base_seconds, cap=alerts.retry_max_seconds
                )
                outcomes[int(r["delivery_id"])] = (PENDING, now + wait)
        store.finish_deliveries(
            destination=name,
            token=token,
            message_key=message.idempotency_key,
            ok=ok,
            error=error,
            now=now,
            outcomes=outcomes,
        )
        extra = {**extra, "story": slugs, "ref": message.idempotency_key}
        for status, _ in outcomes.values():
            counts[{SENT: "sent", FAILED: "failed", PENDING: "retry"}[status]] += 1
        if ok:
            log.info("sent %d alerts in one message", len(rows), extra=extra)
        else:
            gave_up = sum(1 for s, _ in outcomes.values() if s == FAILED)
            log.warning(
                "sending %d alerts failed: %s%s",
                len(rows),
                error,
                f"; {gave_up} given up after {alerts.max_attempts} attempts" if gave_up else "",
                extra=extra,
            )
            return counts  # a failing destination is not tried again in this pass
        if len(rows) < BATCH:
            return counts


def _event(row: Mapping[str, Any], destination: str) -> AlertEvent:
    return AlertEvent(
        key=str(row["key"]),
        rule=str(row["rule"]),
        slug=str(row["slug"]),
        kind=str(row["kind"]),
        hour=row["hour"],
        title=str(row["title"]),
        text=str(row["text"]),
        link=str(row["link"]),
        to=(destination,),
        facts=dict(row["facts"] or {}),
    )


def send_test(settings: Settings, secrets: Secrets, destination: str) -> tuple[bool, str]:
    """Send a test message to ``destination``: (True, what was done) or (False, why not).
    An unknown destination is a ConfigError."""
    dest = settings.alerts.destinations.get(destination)
    if dest is None:
        known = ", ".join(sorted(settings.alerts.destinations)) or "none configured"
        raise ConfigError(f"alerts.destinations: no destination {destination!r} (known: {known})")
    url = secrets.alert_url(dest.secret)
    if url is None:
        return False, missing_url(destination, dest.secret)
    ok, error = send(
        url,
        "noisecast: test alert",
        f"A test message from noisecast to the destination {destination!r}: alerts will "
        "arrive here.",
        timeout=settings.alerts.timeout_seconds,
    )
    if ok:
        return True, f"test message sent to {destination!r}"
    return False, f"{destination!r}: {error}"


def missing_url(name: str, secret: str) -> str:
    var = ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", secret.upper())
    return (
        f"no URL for the destination {name!r}: set the environment variable {var}, or "
        f"{secret} in the [alert_urls] table of the secrets file"
    )


# --- Apprise ------------------------------------------------------------------------------------


def send(url: str, title: str, body: str, *, timeout: float) -> tuple[bool, str | None]:
    """Send one message through Apprise: (True, None), or (False, why) with every part of the
    URL removed from the reason. ``timeout`` bounds the connect and the read (Apprise's cto and
    rto URL parameters, unless the URL sets its own)."""
    import apprise  # late: importing Apprise loads its plugins

    with (
        _SEND_LOCK,
        _library_logs_kept_in(),
        apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured,
    ):
        notifier = apprise.Apprise()
        if not notifier.add(_with_timeouts(url, timeout)):
            return False, "Apprise does not accept the destination's URL (check its form)"
        try:
            # plain text: e-mail gets a text part with its lines and an HTML part with <br>s;
            # without it Apprise takes the body as HTML and the text part loses its lines
            ok = bool(
                notifier.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT)
            )
        except Exception as e:  # a plugin's own bug must not take the pass down
            return False, redact(f"{type(e).__name__}: {e}", url)
        said = captured.getvalue()
    if ok:
        return True, None
    reason = " ".join(said.split()) or "Apprise reported a failure without a reason"
    return False, redact(reason, url)


@contextmanager
def _library_logs_kept_in() -> Iterator[None]:
    """Apprise's and urllib3's own log lines name the URL they post to (a secret): while a
    message is sent they do not reach the application's handlers; the failure reason is taken
    from Apprise's warnings instead, cleaned by :func:`redact`."""
    loggers = [logging.getLogger(name) for name in _LIBRARY_LOGGERS]
    before = [lg.propagate for lg in loggers]
    for lg in loggers:
        lg.propagate = False
    try:
        yield
    finally:
        for lg, was in zip(loggers, before, strict=True):
            lg.propagate = was


def _with_timeouts(url: str, timeout: float) -> str:
    query = parse_qs(urlsplit(url).query)
    extra = [f"{k}={timeout:g}" for k in ("cto", "rto") if k not in query]
    if not extra:
        return url
    head, _, fragment = url.partition("#")
    joined = head + ("&" if "?" in head else "?") + "&".join(extra)
    return joined + ("#" + fragment if fragment else "")


def redact(text: str, url: str) -> str:
    """``text`` without the URL or any part of it that may be a credential (user, password,
    path and query tokens); the host name stays, to say where it failed."""
    parts = urlsplit(url)
    secret_parts = {url, parts.path, parts.query}
    if parts.username:
        secret_parts.add(parts.username)
    if parts.password:
        secret_parts.add(parts.password)
    rest = url.split("://", 1)[-1]
    for piece in re.split(r"[/?&=#:@,]", rest):
        if len(piece) >= 6 and piece != parts.hostname:
            secret_parts.add(piece)
    for piece in sorted(
        (p for p in secret_parts if p and p != parts.hostname), key=len, reverse=True
    ):
        text = text.replace(piece, "***")
    return text[:1000]
