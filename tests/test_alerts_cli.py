"""``noisecast alerts list|test|deliver`` and the failing destinations in ``noisecast status``,
through the real entry point, against a real webhook on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from noisecast.engine.cli import cli
from noisecast.engine.core.alerts import AlertEvent
from noisecast.engine.store import Store
from tests.alert_receivers import Webhook

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
NOW = "2026-11-20T13:00Z"

CONFIG = """
[database]
url = "{url}"

[[stories]]
slug = "port-strike"
title = "Port strike"
query = '"port strike"'

[alerts]
max_attempts = 5
failing_after = 2
timeout_seconds = 2

[alerts.destinations.desk]
secret = "desk"

[alerts.destinations.ops]
secret = "ops"
audience = "admins"

[[alerts.rules]]
name = "desk-high"
when = 'level >= "High"'
to = ["desk"]
"""


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook().start()
    yield hook
    hook.stop()


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(url=db_url))
    code, out, err = run(path, "init")
    assert code == 0, out + err
    return path


def run(config: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        cli,
        ["--config", str(config), "--now", NOW, *args],
        catch_exceptions=False,
        env={"NOISECAST_SECRETS_FILE": None, "NOISECAST_ALERT_URL_DESK": None, **(env or {})},  # type: ignore[dict-item]
    )
    return result.exit_code, result.stdout, result.stderr


def an_alert(db_url: str) -> None:
    store = Store.from_url(db_url)
    try:
        store.write_alerts(
            [
                AlertEvent(
                    key="desk-high/port-strike/20261120T12/firing",
                    rule="desk-high",
                    slug="port-strike",
                    kind="firing",
                    hour=T0,
                    title="Port strike reached High",
                    text="Port strike reached High (71, up 38 in 6 h).",
                    link="http://127.0.0.1:8000/stories/port-strike",
                    to=("desk",),
                )
            ],
            [],
            destinations={"desk", "ops"},
            now=T0,
        )
    finally:
        store.close()


def test_list_shows_alerts_with_their_delivery_state(config: Path, db_url: str) -> None:
    code, out, _ = run(config, "alerts", "list")
    assert code == 0 and "No alerts yet" in out
    an_alert(db_url)
    code, out, _ = run(config, "alerts", "list", "--json", "--limit", "5")
    assert code == 0
    [row] = json.loads(out)
    assert (row["rule"], row["slug"], row["kind"], row["hour"]) == (
        "desk-high",
        "port-strike",
        "firing",
        T0.isoformat(),
    )
    assert [(d["destination"], d["status"]) for d in row["deliveries"]] == [("desk", "pending")]
    code, out, _ = run(config, "alerts", "list", env={"COLUMNS": "200"})
    assert code == 0
    for word in ("desk-high", "port-strike", "firing", "Port strike reached High", "desk: pending"):
        assert word in out


def test_deliver_sends_once_and_says_what_it_did(
    config: Path, db_url: str, webhook: Webhook
) -> None:
    an_alert(db_url)
    env = {"NOISECAST_ALERT_URL_DESK": webhook.url}
    code, out, _ = run(config, "alerts", "deliver", "--json", env=env)
    assert code == 0
    assert json.loads(out) == {"sent": 1, "failed": 0, "held": 0, "retry": 0}
    code, out, _ = run(config, "alerts", "deliver", env=env)
    assert code == 0 and "0 alerts sent" in out
    assert len(webhook.posts) == 1
    _, out, _ = run(config, "alerts", "list")
    assert "desk: sent" in out


def test_a_failing_destination_fails_deliver_and_shows_in_status(
    config: Path, db_url: str, webhook: Webhook
) -> None:
    an_alert(db_url)
    webhook.statuses = [500, 500, 500]
    env = {"NOISECAST_ALERT_URL_DESK": webhook.url}
    code, out, _ = run(config, "alerts", "deliver", env=env)
    assert code == 1 and "1 to retry" in out
    code, out, _ = run(config, "status")
    assert code == 0 and "Failing alert destinations" not in out  # one failure: not yet
    later = (T0 + timedelta(hours=2)).isoformat()
    result = CliRunner().invoke(
        cli, ["--config", str(config), "--now", later, "alerts", "deliver"], env=env
    )
    assert result.exit_code == 1
    code, out, _ = run(config, "status")
    assert code == 0 and "Failing alert destinations" in out and "desk" in out
    code, out, _ = run(config, "status", "--json")
    [desk] = json.loads(out)["alert_destinations"]
    assert (desk["destination"], desk["failing"], desk["consecutive_failures"]) == (
        "desk",
        True,
        2,
    )
    assert webhook.url.split("//")[1] not in out  # the URL is a secret


def test_test_sends_a_message_or_says_why_not(config: Path, webhook: Webhook) -> None:
    env = {"NOISECAST_ALERT_URL_DESK": webhook.url}
    code, out, err = run(config, "alerts", "test", "desk", env=env)
    assert code == 0, err
    assert "test message sent" in out and len(webhook.posts) == 1
    webhook.statuses = [500]
    code, _, err = run(config, "alerts", "test", "desk", env=env)
    assert code == 1 and "500" in err
    code, _, err = run(config, "alerts", "test", "ops")
    assert code == 1 and "NOISECAST_ALERT_URL_OPS" in err
    code, _, err = run(config, "alerts", "test", "nowhere")
    assert code == 2 and "no destination 'nowhere'" in err
