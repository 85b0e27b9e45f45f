"""[alerts] in config.toml: every bad key named (alerts.rules[2].when, alerts.rules[0].to,
alerts.destinations.ops.quiet_hours ...), the shipped example, env overrides, story tags, and
alert destination URLs as secrets (env NOISECAST_ALERT_URL_<NAME> and the secrets file)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from noisecast.engine.config import (
    AlertDestinationSettings,
    AlertRuleSettings,
    AlertSettings,
    Secrets,
    load_settings,
)
from noisecast.engine.core.alerts import rule_from_dict
from noisecast.engine.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]

STORY = """
[[stories]]
slug = "port-strike"
title = "Port strike"
query = '"port strike" OR dockworkers'
tags = ["labour", "uk"]
"""

DESTINATIONS = """
[alerts.destinations.desk]
secret = "desk"
quiet_hours = "22:00-07:00"
timezone = "Europe/London"

[alerts.destinations.ops]
audience = "admins"
"""


def rule(name: str, when: str, to: str = '["desk"]', extra: str = "") -> str:
    return f"\n[[alerts.rules]]\nname = \"{name}\"\nwhen = '{when}'\nto = {to}\n{extra}\n"


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(STORY + body, encoding="utf-8")
    return path


def problems(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ=environ or {})
    return info.value.problems


def test_a_valid_alerts_section_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        DESTINATIONS
        + rule("desk-high", 'level >= "High"', extra="repeat_hours = 12")
        + rule("labour-jumps", "jump >= 20 in 6h", extra='tag = "labour"')
        + rule("health", "unhealthy", to='["ops"]', extra="send_resolved = false"),
    )
    alerts = load_settings(path, environ={}).alerts
    assert isinstance(alerts, AlertSettings)
    assert alerts.enabled and alerts.max_attempts == 8 and alerts.failing_after == 3
    desk, ops = alerts.destinations["desk"], alerts.destinations["ops"]
    assert isinstance(desk, AlertDestinationSettings)
    assert (desk.secret, desk.audience, desk.quiet_hours) == ("desk", "desk", "22:00-07:00")
    assert (ops.secret, ops.audience, ops.timezone) == ("ops", "admins", "UTC")  # secret = name
    assert [r.name for r in alerts.rules] == ["desk-high", "labour-jumps", "health"]
    first = alerts.rules[0]
    assert isinstance(first, AlertRuleSettings)
    assert (first.stories, first.repeat_hours, first.send_resolved) == ("all", 12, True)
    assert alerts.destination_audiences() == {"desk": "desk", "ops": "admins"}
    # the settings convert to core rules as the store syncs them
    core = [
        rule_from_dict(r.model_dump(), destinations=alerts.destination_audiences())
        for r in alerts.rules
    ]
    assert core[1].tag == "labour" and core[1].condition.hours == 6
    assert core[1].covers("port-strike", ("labour", "uk"))


def test_alerts_are_off_by_default_and_stories_have_no_tags(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, ""), environ={})
    assert settings.alerts.rules == () and settings.alerts.destinations == {}
    assert settings.stories[0].tags == ("labour", "uk")
    path = tmp_path / "bare.toml"
    path.write_text(STORY.replace('tags = ["labour", "uk"]\n', ""), encoding="utf-8")
    assert load_settings(path, environ={}).stories[0].tags == ()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            rule("a", 'level >= "High"') + rule("b", "score > 5") + rule("c", 'level = "High"'),
            "alerts.rules[2].when: expected >=, > or == after 'level', found '=' at character 7"
            " of 'level = \"High\"'",
        ),
        (rule("a", 'level >= "High"', to='["x"]'), "alerts.rules[0].to: unknown destination 'x'"),
        (rule("a", "unhealthy"), "alerts.rules[0].to: destination 'desk' has audience 'desk'"),
        (rule("a", "score > 5") + rule("a", "score > 6"), "alerts.rules[1].name: duplicate"),
        (rule("a", "score > 5", to="[]"), "alerts.rules[0].to: list at least one destination"),
        (rule("A b", "score > 5"), "alerts.rules[0].name: 'A b' is not valid"),
        (
            rule("a", "score > 5", extra='stories = ["port-strike"]\ntag = "uk"'),
            "alerts.rules[0].tag: a rule names its stories or a tag, not both",
        ),
        (
            rule("a", "score > 5", extra='stories = "some"'),
            "alerts.rules[0].stories: expected \"all\" or a list of story slugs, got 'some'",
        ),
        (
            rule("a", "score > 5", extra="repeat_hours = 0"),
            "alerts.rules[0].repeat_hours: expected at least 1, got 0",
        ),
        (
            rule("a", "score > 5", extra="sned_resolved = true"),
            "alerts.rules[0].sned_resolved: unknown key (did you mean 'send_resolved'?)",
        ),
        (
            '\n[alerts.destinations.ops]\nquiet_hours = "22:00-7"\n',
            "alerts.destinations.ops.quiet_hours: '22:00-7' is not a quiet period: expected"
            " HH:MM-HH:MM",
        ),
        (
            '\n[alerts.destinations.ops]\ntimezone = "Mars/Base"\n',
            "alerts.destinations.ops.timezone: unknown time zone 'Mars/Base'",
        ),
        (
            '\n[alerts.destinations.ops]\naudience = "everyone"\n',
            "alerts.destinations.ops.audience: expected 'desk' or 'admins', got 'everyone'",
        ),
        (
            '\n[alerts.destinations."the desk"]\n',
            "alerts.destinations.the desk: not a destination name",
        ),
        (
            "\n[alerts]\nretry_base_seconds = 60\nretry_max_seconds = 10\n",
            "alerts.retry_max_seconds: 10 is less than retry_base_seconds (60)",
        ),
        ("\n[alerts]\nenabeld = false\n", "alerts.enabeld: unknown key (did you mean 'enabled'?)"),
    ],
)
def test_problems_name_the_key(tmp_path: Path, body: str, expected: str) -> None:
    needs_destinations = "[alerts]" not in body and "[alerts.destinations" not in body
    path = write(tmp_path, (DESTINATIONS if needs_destinations else "") + body)
    found = problems(path)
    assert any(p.startswith(f"{path}: {expected}") for p in found), found


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        DESTINATIONS + rule("a", "score >= 170") + rule("b", "jump >= 5") + rule("c", "x"),
    )
    found = problems(path)
    assert [p.split(": ")[1] for p in found] == [
        "alerts.rules[0].when",
        "alerts.rules[1].when",
        "alerts.rules[2].when",
    ]


def test_story_tags_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(STORY.replace('"labour"', '"Labour Party"'), encoding="utf-8")
    assert problems(path) == [
        f"{path}: stories[0].tags: 'Labour Party' is not a tag (lowercase letters, digits and"
        " '-', e.g. 'politics')"
    ]


def test_the_environment_turns_alerts_off(tmp_path: Path) -> None:
    path = write(tmp_path, DESTINATIONS + rule("a", 'level >= "High"'))
    assert not load_settings(path, environ={"NOISECAST_ALERTS_ENABLED": "false"}).alerts.enabled
    assert problems(path, {"NOISECAST_ALERTS_MAX_ATTEMPTS": "many"}) == [
        "environment NOISECAST_ALERTS_MAX_ATTEMPTS: alerts.max_attempts: expected a whole"
        " number, got 'many'"
    ]


def test_the_shipped_config_sends_nothing_and_its_example_is_valid(tmp_path: Path) -> None:
    """config.toml's [alerts] has no destination or rule; uncommented, its example loads."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    shipped = load_settings(ROOT / "config.toml", environ={}).alerts
    assert shipped.rules == () and shipped.destinations == {}
    lines = text.splitlines()
    start = lines.index("[alerts]")
    example = []
    for line in lines[start + 1 :]:
        if line.startswith("[") or line.startswith("[["):
            break
        if re.match(r"# (\[|[a-z_]+ = )", line):
            example.append(line.removeprefix("# "))
    settings = load_settings(write(tmp_path, "\n".join(example) + "\n"), environ={})
    alerts = settings.alerts
    assert set(alerts.destinations) == {"desk", "ops"}
    assert alerts.destinations["ops"].audience == "admins"
    assert [r.when for r in alerts.rules] == ['level >= "High"', "unhealthy"]


# --- secrets -----------------------------------------------------------------------------------

SLACK = "slack://T000/B000/XXXXsecretXXXX/#newsdesk"


def test_alert_urls_come_from_the_environment(tmp_path: Path) -> None:
    secrets = Secrets.from_env(
        {
            "NOISECAST_ALERT_URL_DESK": SLACK,
            "NOISECAST_ALERT_URL_OPS_TEAM": "mailto://u:p@example.org",
            "NOISECAST_ALERT_URL_": "ignored",
            "NOISECAST_ALERT_URL_EMPTY": "",
        }
    )
    assert secrets.alert_url("desk") == SLACK
    assert secrets.alert_url("DESK") == SLACK
    assert secrets.alert_url("ops-team") == "mailto://u:p@example.org"  # - is _ in the env
    assert secrets.alert_url("ops_team") == "mailto://u:p@example.org"
    assert secrets.alert_url("empty") is None and secrets.alert_url("nowhere") is None
    assert Secrets.alert_url_env("ops-team") == "NOISECAST_ALERT_URL_OPS_TEAM"


def test_alert_urls_come_from_the_secrets_file_and_the_environment_wins(tmp_path: Path) -> None:
    secrets_file = tmp_path / "secrets.toml"
    secrets_file.write_text(
        'secret_key = "k"\n\n[alert_urls]\ndesk = "json://127.0.0.1:9/from-file"\n'
        f'ops-team = "{SLACK}"\n',
        encoding="utf-8",
    )
    from_file = Secrets.from_env({"NOISECAST_SECRETS_FILE": str(secrets_file)})
    assert from_file.alert_url("desk") == "json://127.0.0.1:9/from-file"
    assert from_file.alert_url("ops-team") == SLACK
    assert from_file.secret_key == "k"
    both = Secrets.from_env(
        {
            "NOISECAST_SECRETS_FILE": str(secrets_file),
            "NOISECAST_ALERT_URL_OPS_TEAM": "json://127.0.0.1:9/from-env",
        }
    )
    assert both.alert_url("ops-team") == "json://127.0.0.1:9/from-env"
    assert both.alert_url("desk") == "json://127.0.0.1:9/from-file"
    assert len(both.alert_urls) == 2


def test_alert_urls_are_never_shown(tmp_path: Path) -> None:
    secrets = Secrets(alert_urls={"desk": SLACK})
    assert secrets.alert_url("desk") == SLACK
    assert "XXXXsecretXXXX" not in repr(secrets) and "XXXXsecretXXXX" not in str(secrets)
    secrets_file = tmp_path / "secrets.toml"
    secrets_file.write_text('[alert_urls]\ndesk = 42\nops = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        Secrets.from_env({"NOISECAST_SECRETS_FILE": str(secrets_file)})
    assert str(info.value) == (
        f"{secrets_file}: alert_urls.desk: expected the destination's Apprise URL in quotes"
    )
    assert "42" not in str(info.value)
    secrets_file.write_text('alert_urls = "slack://x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"alert_urls: expected a table"):
        Secrets.from_env({"NOISECAST_SECRETS_FILE": str(secrets_file)})
    secrets_file.write_text('alert_url = "slack://x"\n', encoding="utf-8")  # a typo
    with pytest.raises(ConfigError, match=r"alert_url: unknown secret") as info:
        Secrets.from_env({"NOISECAST_SECRETS_FILE": str(secrets_file)})
    assert "slack://x" not in str(info.value)
