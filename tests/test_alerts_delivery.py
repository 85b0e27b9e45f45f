"""Alert delivery through Apprise to real receivers on 127.0.0.1 (issue 13 §4): a webhook
(json://) and an SMTP server (mailto://) get the messages; retries with backoff deliver once;
one destination down does not block another; grouping; quiet hours; secrets stay out of logs
and errors; the outbox survives kill -9 (after the write: sent once; after the send but before
it was recorded: sent again after claim_seconds, with the same idempotency key); and the
hourly cycle writes an hour's alerts once however often the hour is redone."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from noisecast.engine.config import Secrets
from noisecast.engine.core.alerts import AlertEvent
from noisecast.engine.core.public import Recent
from noisecast.engine.errors import ConfigError
from noisecast.engine.jobs.alerts import (
    deliver_alerts,
    describe_drivers,
    evaluate_alerts,
    send_test,
)
from noisecast.engine.jobs.cycle import run_cycle
from noisecast.engine.jobs.scheduler import Worker, build_scheduler
from noisecast.engine.settings import (
    AlertDestinationSettings,
    AlertRuleSettings,
    AlertSettings,
    DatabaseSettings,
    PublicSettings,
    Settings,
)
from noisecast.engine.store import Store
from noisecast.engine.store.tables import (
    alert_attempts,
    alert_deliveries,
    alert_events,
    job_runs,
    noise_scores,
)
from tests.alert_receivers import SmtpServer, Webhook, free_port, text_of

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
BASE = "http://news.example"


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook().start()
    yield hook
    hook.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def make_settings(
    url: str, *, rules: tuple[AlertRuleSettings, ...] = (), **alerts: Any
) -> Settings:
    destinations = alerts.pop(
        "destinations",
        {"desk": {"secret": "desk"}, "ops": {"secret": "ops", "audience": "admins"}},
    )
    values: dict[str, Any] = {
        "max_attempts": 4,
        "retry_base_seconds": 30,
        "retry_max_seconds": 3600,
        "timeout_seconds": 2,
        "claim_seconds": 300,
        "failing_after": 2,
        **alerts,
    }
    return Settings(
        database=DatabaseSettings(url=url),
        public=PublicSettings(base_url=BASE),
        alerts=AlertSettings(
            destinations={k: AlertDestinationSettings(**v) for k, v in destinations.items()},
            rules=rules,
            **values,
        ),
    )


def closed_url() -> str:
    return f"json://127.0.0.1:{free_port()}/alerts"  # nothing listens there


def add_story(store: Store, slug: str = "port-strike", title: str = "Port strike") -> None:
    store.upsert_story(slug, title, slug, now=T0 - 48 * H)


def event(slug: str, n: int = 0, *, to: tuple[str, ...] = ("desk",)) -> AlertEvent:
    hour = T0 + n * H
    return AlertEvent(
        key=f"desk-high/{slug}/{hour:%Y%m%dT%H}/firing",
        rule="desk-high",
        slug=slug,
        kind="firing",
        hour=hour,
        title=f"{slug} reached High",
        text=f"{slug} reached High (71, up 38 in 6 h).",
        link=f"{BASE}/stories/{slug}",
        to=to,
        facts={"score": 71.0},
    )


def outbox(store: Store, *events: AlertEvent, now: datetime = T0) -> None:
    store.write_alerts(list(events), [], destinations={"desk", "ops"}, now=now)


def count(store: Store, table: Any, *where: Any) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def statuses(store: Store) -> dict[str, str]:
    return {
        f"{a['slug']}>{d['destination']}": d["status"]
        for a in store.recent_alerts()
        for d in a["deliveries"]
    }


def add_score(store: Store, slug: str, hour: datetime, score: float, level: str) -> None:
    story_id = store.story_id(slug)
    components = {
        "volume": {"value": 40.0, "normalised": 1.0, "contribution": score * 0.3},
        "breadth": {"value": 16.0, "normalised": 2.0, "contribution": score * 0.5},
        "velocity": {"value": 1.0, "normalised": 1.0, "contribution": score * 0.2},
        "engagement": {"value": 0.0, "normalised": 0.0, "contribution": 0.0},
    }
    with store.engine.begin() as conn:
        conn.execute(
            noise_scores.insert().values(
                story_id=story_id,
                as_of=hour,
                score=score,
                level=level,
                components=components,
                unhealthy=False,
            )
        )


# --- Apprise to real receivers -------------------------------------------------------------------


def test_a_webhook_receives_the_json_message_once(store: Store, webhook: Webhook) -> None:
    settings = make_settings(str(store.engine.url))
    add_story(store)
    outbox(store, event("port-strike"))
    secrets = Secrets(alert_urls={"desk": webhook.url})

    assert deliver_alerts(store, settings, secrets, now=T0) == {
        "sent": 1,
        "failed": 0,
        "held": 0,
        "retry": 0,
    }
    assert deliver_alerts(store, settings, secrets, now=T0 + H)["sent"] == 0
    [body] = webhook.posts
    assert body["title"] == "port-strike reached High"
    assert "reached High (71, up 38 in 6 h)." in body["message"]
    assert f"{BASE}/stories/port-strike" in body["message"]
    assert "ref: " in body["message"]
    assert statuses(store) == {"port-strike>desk": "sent"}


def test_an_smtp_server_receives_the_mail(store: Store, smtp: SmtpServer) -> None:
    settings = make_settings(str(store.engine.url))
    add_story(store)
    outbox(store, event("port-strike"))
    counts = deliver_alerts(store, settings, Secrets(alert_urls={"desk": smtp.url()}), now=T0)
    assert counts["sent"] == 1
    [mail] = smtp.messages
    assert mail["Subject"] == "port-strike reached High"
    assert smtp.mailbox.envelopes == [("noisecast@news.example", ["desk@news.example"])]
    body = text_of(mail)
    assert "reached High (71, up 38 in 6 h)." in body and "/stories/port-strike" in body


def test_a_grouped_mail_keeps_one_line_per_alert(store: Store, smtp: SmtpServer) -> None:
    settings = make_settings(str(store.engine.url))
    add_story(store)
    add_story(store, "elden-flood", "River Elden floods")
    outbox(store, event("port-strike"), event("elden-flood"))
    assert (
        deliver_alerts(store, settings, Secrets(alert_urls={"desk": smtp.url()}), now=T0)["sent"]
        == 2
    )
    [mail] = smtp.messages
    assert mail["Subject"].startswith("noisecast: 2 alerts: elden-flood reached High")
    lines = text_of(mail).strip().splitlines()
    assert [line.split()[1] for line in lines[:2]] == ["elden-flood", "port-strike"]
    assert lines[0].startswith("- ") and lines[-1].startswith("ref: ")
    assert mail.get_content_type() == "text/plain"  # not HTML whose text part lost its lines


def test_500_then_200_delivers_exactly_once_after_backoff(store: Store, webhook: Webhook) -> None:
    settings = make_settings(str(store.engine.url))
    add_story(store)
    outbox(store, event("port-strike"))
    webhook.statuses = [500, 500]
    secrets = Secrets(alert_urls={"desk": webhook.url})

    assert deliver_alerts(store, settings, secrets, now=T0)["retry"] == 1
    # not due again before the backoff (30 s, then 60 s)
    assert deliver_alerts(store, settings, secrets, now=T0 + timedelta(seconds=29))["retry"] == 0
    assert deliver_alerts(store, settings, secrets, now=T0 + timedelta(seconds=30))["retry"] == 1
    assert deliver_alerts(store, settings, secrets, now=T0 + timedelta(seconds=89))["sent"] == 0
    assert deliver_alerts(store, settings, secrets, now=T0 + timedelta(seconds=90))["sent"] == 1
    assert deliver_alerts(store, settings, secrets, now=T0 + H)["sent"] == 0

    assert webhook.answered == [500, 500, 200] and len(webhook.accepted) == 1
    refs = {p["message"].rsplit("ref: ", 1)[1] for p in webhook.posts}
    assert len(refs) == 1  # every try carried the same idempotency key
    with store.engine.connect() as conn:
        tries = conn.execute(select(alert_attempts.c.ok).order_by(alert_attempts.c.id)).all()
    assert [t.ok for t in tries] == [False, False, True]
    [delivery] = store.recent_alerts()[0]["deliveries"]
    assert (delivery["status"], delivery["attempts"]) == ("sent", 3)


def test_a_destination_that_keeps_failing_gives_up_and_is_reported(
    store: Store, webhook: Webhook
) -> None:
    settings = make_settings(str(store.engine.url), max_attempts=2)
    add_story(store)
    outbox(store, event("port-strike"))
    webhook.statuses = [503] * 5
    secrets = Secrets(alert_urls={"desk": webhook.url})
    assert deliver_alerts(store, settings, secrets, now=T0)["retry"] == 1
    assert deliver_alerts(store, settings, secrets, now=T0 + H)["failed"] == 1
    assert deliver_alerts(store, settings, secrets, now=T0 + 2 * H)["failed"] == 0
    assert statuses(store) == {"port-strike>desk": "failed"}
    [desk] = store.destination_health(now=T0 + 2 * H, failing_after=2)
    assert (desk["failing"], desk["failed"], desk["consecutive_failures"]) == (True, 1, 2)
    assert "503" in desk["last_error"]


def test_one_destination_down_does_not_block_another(store: Store, webhook: Webhook) -> None:
    settings = make_settings(str(store.engine.url))
    add_story(store)
    outbox(store, event("port-strike", to=("desk", "ops")))
    # "ops" sorts after "desk": make the failing one come first too
    secrets = Secrets(alert_urls={"desk": closed_url(), "ops": webhook.url})
    counts = deliver_alerts(store, settings, secrets, now=T0)
    assert (counts["sent"], counts["retry"]) == (1, 1)
    assert len(webhook.accepted) == 1
    assert statuses(store) == {"port-strike>desk": "pending", "port-strike>ops": "sent"}


def test_a_destination_without_a_url_says_which_variable_to_set(store: Store) -> None:
    settings = make_settings(str(store.engine.url))
    add_story(store)
    outbox(store, event("port-strike"))
    assert deliver_alerts(store, settings, Secrets(), now=T0)["retry"] == 1
    [delivery] = store.recent_alerts()[0]["deliveries"]
    assert "NOISECAST_ALERT_URL_DESK" in delivery["last_error"]


def test_alerts_of_one_pass_go_out_as_one_message(store: Store, webhook: Webhook) -> None:
    settings = make_settings(str(store.engine.url))
    for slug in ("port-strike", "heatwave", "election"):
        add_story(store, slug, slug.title())
    outbox(store, event("port-strike"), event("heatwave"), event("election"))
    counts = deliver_alerts(store, settings, Secrets(alert_urls={"desk": webhook.url}), now=T0)
    assert counts["sent"] == 3
    [body] = webhook.posts
    assert "3 alerts" in body["title"]
    for slug in ("port-strike", "heatwave", "election"):
        assert f"{slug} reached High" in body["message"]
    with store.engine.connect() as conn:
        keys = set(conn.execute(select(alert_deliveries.c.message_key)).scalars())
    assert len(keys) == 1


def test_quiet_hours_hold_messages_then_send_them_together(store: Store, webhook: Webhook) -> None:
    settings = make_settings(
        str(store.engine.url),
        destinations={"desk": {"secret": "desk", "quiet_hours": "22:00-07:00", "timezone": "UTC"}},
    )
    night = datetime(2026, 11, 20, 23, 0, tzinfo=UTC)
    add_story(store, "port-strike")
    add_story(store, "heatwave")
    outbox(store, event("port-strike"), event("heatwave"), now=night)
    secrets = Secrets(alert_urls={"desk": webhook.url})
    assert deliver_alerts(store, settings, secrets, now=night)["held"] == 2
    assert deliver_alerts(store, settings, secrets, now=night + 7 * H)["held"] == 2  # 06:00
    assert webhook.posts == []
    assert deliver_alerts(store, settings, secrets, now=night + 8 * H)["sent"] == 2  # 07:00
    assert len(webhook.posts) == 1


def test_secrets_stay_out_of_errors_and_logs(
    store: Store, webhook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(str(store.engine.url))
    add_story(store)
    outbox(store, event("port-strike"))
    webhook.statuses = [500]
    secret_url = webhook.url.replace("json://", "json://hookuser:Pa55w0rdXYZ@").replace(
        "/alerts", "/alerts/T0K3N-abcdef123456"
    )
    caplog.set_level(logging.DEBUG)
    deliver_alerts(store, settings, Secrets(alert_urls={"desk": secret_url}), now=T0)
    [delivery] = store.recent_alerts()[0]["deliveries"]
    said = delivery["last_error"] + caplog.text
    assert "500" in delivery["last_error"]
    for secret in ("Pa55w0rdXYZ", "T0K3N-abcdef123456", "hookuser"):
        assert secret not in said


def test_send_test_sends_or_says_why(store: Store, webhook: Webhook) -> None:
    settings = make_settings(str(store.engine.url))
    ok, said = send_test(settings, Secrets(alert_urls={"desk": webhook.url}), "desk")
    assert ok and "desk" in said and "test" in webhook.posts[0]["title"]
    webhook.statuses = [500]
    ok, said = send_test(settings, Secrets(alert_urls={"desk": webhook.url}), "desk")
    assert not ok and "500" in said
    ok, said = send_test(settings, Secrets(), "ops")
    assert not ok and "NOISECAST_ALERT_URL_OPS" in said
    with pytest.raises(ConfigError, match="no destination 'nowhere'"):
        send_test(settings, Secrets(), "nowhere")


# --- from the scores: evaluation, the cycle, crashes -------------------------------------------

HIGH = AlertRuleSettings(name="desk-high", when='level >= "High"', to=("desk",))


def loud_story(store: Store, settings: Settings) -> None:
    """A story scored Low six hours ago and High in hour T0, and the rule synced."""
    add_story(store)
    add_score(store, "port-strike", T0 - 6 * H, 33.0, "Low")
    add_score(store, "port-strike", T0, 71.0, "High")
    store.sync_alert_rules(settings.alerts.rules, now=T0)


def test_evaluation_writes_an_hour_once_with_the_evidence(store: Store, webhook: Webhook) -> None:
    settings = make_settings(str(store.engine.url), rules=(HIGH,))
    loud_story(store, settings)
    first = evaluate_alerts(store, settings, hour=T0, now=T0 + H)
    assert first == {"events": 1, "muted": 0, "deliveries": 1}
    assert evaluate_alerts(store, settings, hour=T0, now=T0 + H)["events"] == 0
    [alert] = store.recent_alerts()
    assert (alert["rule"], alert["kind"], alert["link"]) == (
        "desk-high",
        "firing",
        f"{BASE}/stories/port-strike",
    )
    assert "Port strike" in alert["title"] and "High" in alert["title"]
    assert "71" in alert["text"] and "breadth" in alert["text"]
    deliver_alerts(store, settings, Secrets(alert_urls={"desk": webhook.url}), now=T0 + H)
    assert len(webhook.accepted) == 1


def test_the_drivers_count_what_arrived_as_the_story_page_does() -> None:
    volume = {
        "volume": {"value": 3.2, "contribution": 40.0},  # a smoothed rate, not a count
        "breadth": {"value": 9.0, "contribution": 20.0},
    }
    recent = Recent(mentions=376, outlets=22, hours=6)
    assert describe_drivers(volume, recent) == "mostly volume: 376 mentions in the last 6 hours"
    breadth = {"breadth": {"value": 9.0, "contribution": 30.0}}
    one = Recent(mentions=1, outlets=1, hours=6)
    assert describe_drivers(breadth, one) == "mostly breadth: 1 outlet in the last 6 hours"
    assert describe_drivers({}, recent) == ""


def test_a_silenced_story_is_recorded_not_sent(store: Store, webhook: Webhook) -> None:
    settings = make_settings(str(store.engine.url), rules=(HIGH,))
    loud_story(store, settings)
    store.add_silence(
        rule=None,
        slug="port-strike",
        starts_at=T0,
        ends_at=T0 + 6 * H,
        reason="known",
        editor="ann",
        now=T0,
    )
    assert evaluate_alerts(store, settings, hour=T0, now=T0 + H)["muted"] == 1
    deliver_alerts(store, settings, Secrets(alert_urls={"desk": webhook.url}), now=T0 + H)
    assert webhook.posts == []
    assert statuses(store) == {"port-strike>desk": "muted"}


def test_a_silence_set_after_the_hour_before_the_cycle_mutes_it(store: Store) -> None:
    settings = make_settings(str(store.engine.url), rules=(HIGH,))
    loud_story(store, settings)
    store.add_silence(
        rule="desk-high",
        slug=None,
        starts_at=T0 + H + timedelta(minutes=2),  # the hour is over; its cycle runs at :05
        ends_at=T0 + 6 * H,
        reason="on it",
        editor="ann",
        now=T0 + H + timedelta(minutes=2),
    )
    assert (
        evaluate_alerts(store, settings, hour=T0, now=T0 + H + timedelta(minutes=5))["muted"] == 1
    )


def test_disabled_alerts_write_nothing(store: Store) -> None:
    settings = make_settings(str(store.engine.url), rules=(HIGH,), enabled=False)
    loud_story(store, settings)
    assert evaluate_alerts(store, settings, hour=T0, now=T0 + H)["events"] == 0
    assert count(store, alert_events) == 0


def _child(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


_CHILD_PRELUDE = """
    import json, os, signal, sys
    from datetime import datetime
    from noisecast.engine.config import Secrets
    from noisecast.engine.settings import Settings
    from noisecast.engine.store import Store
    settings = Settings.model_validate(json.loads(sys.argv[1]))
    store = Store.from_url(settings.database.url)
    now = datetime.fromisoformat(sys.argv[2])
"""


def test_kill_9_after_the_outbox_write_sends_once_on_the_rerun(
    store: Store, webhook: Webhook
) -> None:
    settings = make_settings(str(store.engine.url), rules=(HIGH,))
    loud_story(store, settings)
    child = _child(
        _CHILD_PRELUDE
        + """
    from noisecast.engine.jobs.alerts import evaluate_alerts
    hour = datetime.fromisoformat(sys.argv[3])
    print(evaluate_alerts(store, settings, hour=hour, now=now), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # before any delivery
    """,
        settings.model_dump_json(),
        (T0 + H).isoformat(),
        T0.isoformat(),
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert "'events': 1" in child.stdout
    assert webhook.posts == []
    secrets = Secrets(alert_urls={"desk": webhook.url})
    assert evaluate_alerts(store, settings, hour=T0, now=T0 + H)["events"] == 0  # the rerun
    assert deliver_alerts(store, settings, secrets, now=T0 + H)["sent"] == 1
    assert deliver_alerts(store, settings, secrets, now=T0 + 2 * H)["sent"] == 0
    assert len(webhook.posts) == 1


def test_kill_9_after_sending_before_recording_resends_after_claim_seconds(
    store: Store, webhook: Webhook, tmp_path: Path
) -> None:
    """The one case that is at-least-once: the receiver took the message, then the sender died
    before it could record that. The claim expires after claim_seconds and the message is sent
    again, with the same idempotency key (``ref: ...``), so the receiver can drop the repeat."""
    settings = make_settings(str(store.engine.url), rules=(HIGH,))
    loud_story(store, settings)
    evaluate_alerts(store, settings, hour=T0, now=T0 + H)
    pid_file = tmp_path / "sender.pid"

    def kill_sender(_body: dict[str, Any]) -> None:
        os.kill(int(pid_file.read_text()), signal.SIGKILL)  # the sender dies mid-request

    webhook.on_post = kill_sender
    child = _child(
        _CHILD_PRELUDE
        + """
    from pathlib import Path
    from noisecast.engine.jobs.alerts import deliver_alerts
    Path(sys.argv[3]).write_text(str(os.getpid()))
    deliver_alerts(store, settings, Secrets(alert_urls={"desk": sys.argv[4]}), now=now)
    print("not killed", flush=True)
    """,
        settings.model_dump_json(),
        (T0 + H).isoformat(),
        str(pid_file),
        webhook.url,
    )
    pid_file.unlink(missing_ok=True)
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr
    webhook.on_post = None
    secrets = Secrets(alert_urls={"desk": webhook.url})
    assert statuses(store) == {"port-strike>desk": "sending"}
    assert deliver_alerts(store, settings, secrets, now=T0 + H + timedelta(seconds=299)) == {
        "sent": 0,
        "failed": 0,
        "held": 0,
        "retry": 0,
    }
    late = T0 + H + timedelta(seconds=300)
    assert deliver_alerts(store, settings, secrets, now=late)["sent"] == 1
    assert deliver_alerts(store, settings, secrets, now=late + H)["sent"] == 0
    first, second = webhook.posts
    assert first["message"] == second["message"]  # the same message, the same ref: key
    assert "ref: " in first["message"]
    assert statuses(store) == {"port-strike>desk": "sent"}


def test_the_cycle_writes_an_hours_alerts_once_and_sends_them(
    store: Store, webhook: Webhook, tmp_path: Path
) -> None:
    from tests.test_cycle import seed, settings_for

    seed(store)
    rule = AlertRuleSettings(name="all-scored", when="score >= 0", to=("desk",))
    base = settings_for(str(store.engine.url), tmp_path)
    alerts = make_settings(str(store.engine.url), rules=(rule,)).alerts
    settings = base.model_copy(update={"alerts": alerts, "public": PublicSettings(base_url=BASE)})
    store.sync_alert_rules(settings.alerts.rules, now=T0)
    secrets = Secrets(alert_urls={"desk": webhook.url})
    clock = [T0 + timedelta(minutes=10)]

    report = run_cycle(store, settings, clock=lambda: clock[0], secrets=secrets)
    assert [h.hour for h in report.hours] == [T0 - H]
    assert count(store, alert_events) == 1 and len(webhook.posts) == 1
    with store.engine.connect() as conn:
        detail = conn.execute(
            select(job_runs.c.detail).where(job_runs.c.job == "cycle", job_runs.c.status == "ok")
        ).scalar_one()
    assert detail["alerts"] == {"status": "ok", "events": 1, "muted": 0, "deliveries": 1}

    # the scorer died after the alerts were written, before the hour was recorded: redone
    with store.engine.begin() as conn:
        conn.execute(delete(job_runs).where(job_runs.c.job == "cycle"))
    again = run_cycle(store, settings, clock=lambda: clock[0], secrets=secrets)
    assert [h.hour for h in again.hours] == [T0 - H]
    assert count(store, alert_events) == 1 and count(store, alert_deliveries) == 1
    assert len(webhook.posts) == 1


def test_a_failing_evaluation_is_recorded_and_the_cycle_goes_on(
    store: Store, tmp_path: Path
) -> None:
    from tests.test_cycle import seed, settings_for

    seed(store)
    settings = settings_for(str(store.engine.url), tmp_path)
    with store.engine.begin() as conn:  # a table the evaluation reads is gone
        conn.exec_driver_sql("DROP TABLE alert_state")
    store.sync_alert_rules([HIGH], now=T0)
    report = run_cycle(store, settings, clock=lambda: T0 + timedelta(minutes=10))
    assert [h.hour for h in report.hours] == [T0 - H]
    with store.engine.connect() as conn:
        detail = conn.execute(
            select(job_runs.c.detail).where(job_runs.c.job == "cycle", job_runs.c.status == "ok")
        ).scalar_one()
    assert detail["alerts"]["status"] == "error"
    assert json.dumps(detail["alerts"])  # recorded, JSON-able


def test_the_scorers_run_a_delivery_job(store: Store, webhook: Webhook) -> None:
    settings = make_settings(str(store.engine.url), deliver_every_seconds=45)
    secrets = Secrets(alert_urls={"desk": webhook.url})
    for role, expected in (("all", True), ("scorer", True), ("collector", False)):
        worker = Worker(store, settings, role, lambda: T0, "w", threading.Event(), secrets)
        scheduler = build_scheduler(worker)
        scheduler.start(paused=True)
        try:
            jobs = {j.id: j for j in scheduler.get_jobs()}
        finally:
            scheduler.shutdown(wait=False)
        assert ("deliver" in jobs) is expected, role
        if expected:
            assert "0:00:45" in str(jobs["deliver"].trigger)
    no_secrets = Worker(store, settings, "all", lambda: T0, "w", threading.Event())
    assert not no_secrets.delivers  # without the URLs it would only burn attempts

    add_story(store)
    outbox(store, event("port-strike"))
    worker = Worker(store, settings, "scorer", lambda: T0, "w", threading.Event(), secrets)
    assert worker.deliver()["sent"] == 1 and len(webhook.posts) == 1
