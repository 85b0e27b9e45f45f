"""``noisecast alerts``: recent alerts and their delivery, a test message, a delivery pass
(engine/jobs/alerts.py does the work)."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import click
from rich.table import Table

from noisecast.engine.cli._common import App, fail, handle_errors, pass_app, print_json, safe, when
from noisecast.engine.config import Secrets


@click.group("alerts")
def alerts() -> None:
    """Alerts: what fired, where it went, and sending."""


@alerts.command("list")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--story", "slug", default=None, help="Only this story's alerts.")
@click.option("--json", "as_json", is_flag=True, help="Print the alerts as JSON.")
@pass_app
@handle_errors
def list_alerts(app: App, limit: int, slug: str | None, as_json: bool) -> None:
    """The newest alerts, with each destination's delivery state."""
    with app.store() as store:
        rows = store.recent_alerts(limit=limit, slug=slug)
    if as_json:
        print_json([_jsonable(r) for r in rows])
        return
    if not rows:
        app.console.print("No alerts yet.")
        return
    table = Table("hour (UTC)", "rule", "story", "kind", "what happened", "deliveries")
    for r in rows:
        table.add_row(
            when(r["hour"]),
            safe(r["rule"]),
            safe(r["slug"]),
            r["kind"] + (" (muted)" if r["silenced"] else ""),
            safe(r["title"]),
            "\n".join(_delivery(d) for d in r["deliveries"]) or "-",
        )
    app.console.print(table)


def _delivery(d: dict[str, Any]) -> str:
    state = d["status"]
    if state == "sent":
        state = f"sent {when(d['sent_at'])}"
    elif state == "pending" and d["attempts"]:
        state = f"retry {when(d['next_attempt_at'])} ({d['attempts']} attempts)"
    elif state == "failed":
        state = f"failed after {d['attempts']} attempts"
    error = f": {safe((d['last_error'] or '')[:80])}" if d["last_error"] else ""
    return f"{safe(d['destination'])}: {state}{error}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


@alerts.command("test")
@click.argument("destination")
@pass_app
@handle_errors
def test_destination(app: App, destination: str) -> None:
    """Send a test message to DESTINATION (a name of [alerts.destinations])."""
    from noisecast.engine.jobs.alerts import send_test

    ok, said = send_test(app.settings, Secrets.from_env(), destination)
    if not ok:
        fail(said, 1)
    app.console.print(safe(said))


@alerts.command("deliver")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@handle_errors
def deliver(app: App, as_json: bool) -> None:
    """Send what is due in the alerts' outbox, once (cron, operations)."""
    from noisecast.engine.jobs.alerts import deliver_alerts

    with app.store() as store:
        counts = deliver_alerts(store, app.settings, Secrets.from_env(), now=app.now())
    if as_json:
        print_json(counts)
    else:
        app.console.print(
            f"{counts['sent']} alerts sent, {counts['retry']} to retry, "
            f"{counts['failed']} given up, {counts['held']} held for quiet hours."
        )
    if not counts["sent"] and (counts["retry"] or counts["failed"]):
        sys.exit(1)  # nothing could be sent: the pass as a whole did not work
