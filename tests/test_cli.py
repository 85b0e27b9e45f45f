"""The CLI through its real entry point: help everywhere, JSON shapes, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from pytest_httpserver import HTTPServer

from noisecast.engine.cli import cli

VALID = """
[database]
url = "sqlite:///var/cli.db"

[collector]
per_host_min_gap_seconds = 0
jitter_fraction = 0
allow_private_networks = ["127.0.0.0/8"]  # the tests' loopback servers

[[sources]]
name = "wire"
url = "https://wire.example/feed.xml"

[[stories]]
slug = "port-strike"
title = "Port strike"
query = '"port strike" OR dockworkers'
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(VALID)
    return path


def run(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        cli, ["--config", str(config), *args], catch_exceptions=False, env={}
    )
    return result.exit_code, result.stdout, result.stderr


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            out += all_commands(command, (*prefix, name))
        else:
            out.append((*prefix, name))
    return out


@pytest.mark.parametrize("path", all_commands(cli), ids=lambda p: " ".join(p) or "noisecast")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output and "--help" in result.output


def test_expected_commands_exist() -> None:
    names = {" ".join(p) for p in all_commands(cli)}
    assert names >= {
        "init",
        "sources add",
        "sources list",
        "sources disable",
        "stories add",
        "stories list",
        "stories archive",
        "collect",
        "status",
        "demo",
        "score",
        "forecast",
        "backtest",
        "run",
        "serve",
        "editors add",
        "editors list",
        "export",
    }


def test_init_then_status_json(config: Path) -> None:
    code, out, _ = run(config, "init", "--json")
    assert code == 0
    assert json.loads(out)["sources_created"] == 1
    code, out, _ = run(config, "status", "--json")
    data = json.loads(out)
    assert code == 0
    assert (data["stories"], data["sources"], data["mentions"]) == (1, 1, 0)
    assert data["failing_sources"] == [] and data["last_runs"] == []
    assert (config.parent / "var" / "cli.db").exists()


def test_commands_before_init_say_to_run_it(config: Path) -> None:
    code, _, err = run(config, "status")
    assert code == 1
    assert "run `noisecast init` first" in err


def test_sources_and_stories_round_trip(config: Path) -> None:
    run(config, "init")
    code, out, _ = run(
        config, "sources", "add", "https://www.example.org/rss", "--no-check", "--json"
    )
    assert code == 0 and json.loads(out) == {
        "name": "example.org",
        "url": "https://www.example.org/rss",
        "kind": "rss",
        "created": True,
        "checked": False,
        "discovered_from": None,
        "entries": None,
    }
    code, _, _ = run(config, "sources", "disable", "example.org")
    assert code == 0
    _, out, _ = run(config, "sources", "list", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["example.org"]["disabled_reason"] == "disabled by hand"
    assert rows["wire"]["disabled_at"] is None

    code, _, _ = run(config, "stories", "add", "flood", "--title", "Flood", "--query", "flood*")
    assert code == 0
    code, _, _ = run(config, "stories", "archive", "port-strike")
    assert code == 0
    _, out, _ = run(config, "stories", "list", "--json")
    assert [s["slug"] for s in json.loads(out)] == ["flood"]
    _, out, _ = run(config, "stories", "list", "--all", "--json")
    assert [(s["slug"], s["status"]) for s in json.loads(out)] == [
        ("flood", "active"),
        ("port-strike", "archived"),
    ]


def test_usage_and_config_errors_exit_2(config: Path, tmp_path: Path) -> None:
    run(config, "init")
    code, _, err = run(config, "stories", "add", "x", "--title", "X", "--query", "(a OR b")
    assert code == 2 and "stories add: query: unclosed '(' at 0" in err
    code, _, err = run(config, "sources", "add", "ftp://example.org/feed")
    assert code == 2 and "sources add: url: not a valid URL" in err
    bad = tmp_path / "bad.toml"
    bad.write_text('[[sources]]\nname = "x"\nurl = "nope"\n')
    code, _, err = run(bad, "status")
    assert code == 2 and f"{bad}: sources[0].url: not a valid URL" in err
    code, _, _ = run(config, "no-such-command")
    assert code == 2


def test_job_errors_exit_1(config: Path) -> None:
    run(config, "init")
    code, _, err = run(config, "sources", "disable", "nope")
    assert code == 1 and "no source named 'nope'" in err
    code, _, err = run(config, "collect", "--source", "nope")
    assert code == 1 and "no source named 'nope'" in err


def test_environment_chooses_config_and_database(config: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    env = {"NOISECAST_CONFIG": str(config), "NOISECAST_DATABASE_URL": f"sqlite:///{other}"}
    result = CliRunner().invoke(cli, ["init", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["database"] == f"sqlite:///{other}"
    assert other.exists()


def test_console_script_runs(config: Path) -> None:
    """The installed entry point, in a real subprocess."""
    proc = subprocess.run(
        [sys.executable, "-m", "noisecast.engine", "--config", str(config), "init", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["stories_created"] == 1


def test_config_option_also_after_the_command(config: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[database]\nulr = 'x'\n")
    result = CliRunner().invoke(cli, ["status", "--config", str(bad)], env={})
    assert result.exit_code == 2
    assert result.stderr == f"noisecast: {bad}: database.ulr: unknown key (did you mean 'url'?)\n"
    result = CliRunner().invoke(cli, ["init", "--json", "--config", str(config)], env={})
    assert result.exit_code == 0 and json.loads(result.stdout)["sources_created"] == 1


def test_json_logs_name_the_job_and_source(
    config: Path, server: HTTPServer, shared_data: Path
) -> None:
    body = (shared_data / "news-feeds" / "rbren__reddit.rss").read_bytes()
    server.expect_request("/feed").respond_with_data(body, content_type="application/rss+xml")
    server.expect_request("/gone").respond_with_data("", status=404)
    run(config, "init")
    run(config, "sources", "add", server.url_for("/feed"), "--name", "reddit")
    run(config, "sources", "add", server.url_for("/gone"), "--name", "gone", "--no-check")
    proc = subprocess.run(
        [sys.executable, "-m", "noisecast.engine", "--config", str(config), "--log-format", "json",
         "--log-level", "info", "collect", "--source", "reddit", "--source", "gone", "--json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stderr.splitlines()]
    by_source = {line["source"]: line for line in lines}
    assert by_source["reddit"]["job"] == "collect" and by_source["reddit"]["level"] == "info"
    assert by_source["reddit"]["message"] == "collected ok: 1 tasks, 24 items, 24 new"
    assert by_source["gone"]["level"] == "warning"
    assert "HTTP 404" in by_source["gone"]["message"]
    assert json.loads(proc.stdout)["items_new"] == 24


def test_version() -> None:
    from importlib.metadata import version

    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"noisecast {version('noisecast')}\n"


def test_every_command_takes_database(config: Path, tmp_path: Path) -> None:
    """``--database URL`` before or after any command, like serve and demo have it."""
    other = tmp_path / "other.db"
    url = f"sqlite:///{other}"
    code, out, err = run(config, "--database", url, "init", "--json")
    assert code == 0, err
    assert json.loads(out)["database"] == url and other.exists()
    assert not (config.parent / "var" / "cli.db").exists()
    code, out, err = run(config, "stories", "list", "--json", "--database", url)
    assert code == 0, err
    assert [s["slug"] for s in json.loads(out)] == ["port-strike"]
    code, _, err = run(config, "status")  # the config's own database was never made
    assert code == 1 and "run `noisecast init` first" in err
    missing = [
        " ".join(path)
        for path in all_commands(cli)
        if path and path[-1] not in ("backtest",) and not isinstance(_command(path), click.Group)
        and "--database" not in {o for p in _command(path).params for o in getattr(p, "opts", ())}
    ]  # fmt: skip
    assert missing == []


def _command(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


UNREACHABLE_COMMANDS = [
    ("init",),
    ("status",),
    ("collect",),
    ("score",),
    ("forecast",),
    ("sources", "list"),
    ("sources", "add", "https://wire.example/other.xml", "--no-check"),
    ("sources", "disable", "wire"),
    ("sources", "enable", "wire"),
    ("sources", "remove", "wire"),
    ("stories", "list"),
    ("stories", "add", "x", "--title", "X", "--query", "x"),
    ("stories", "archive", "x"),
    ("stories", "test", "x"),
    ("run", "--once"),
    ("serve", "--dev"),
    ("editors", "list"),
    ("editors", "add", "someone", "--password-stdin"),
    ("export",),
    ("demo", "--hours", "1"),
    ("alerts", "list"),
    ("alerts", "deliver"),
    ("emerging",),
    ("emerging", "track", "1"),
    ("emerging", "dismiss", "1"),
]


def test_an_unreachable_database_is_one_line_for_every_command(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://noisecast@127.0.0.1:{_closed_port()}/noisecast"
    config = tmp_path / "config.toml"
    config.write_text(VALID.replace('url = "sqlite:///var/cli.db"', f'url = "{url}"'))
    groups = ("sources", "stories", "editors", "alerts", "emerging")
    covered = {" ".join(c[: 2 if c[0] in groups else 1]) for c in UNREACHABLE_COMMANDS}
    offline = {("backtest",), ("alerts", "test")}  # they never open the database
    assert covered == {" ".join(p) for p in all_commands(cli) if p and p not in offline} - {
        "sources",
        "stories",
        "editors",
        "alerts",
    }
    messages = set()
    for command in UNREACHABLE_COMMANDS:
        extra = ("--database", url) if command[0] == "demo" else ()
        result = CliRunner().invoke(
            cli,
            ["--config", str(config), *command, *extra],
            input="a-long-password\n",
            env={"NOISECAST_SECRET_KEY": None},
        )
        assert result.exit_code == 1, (command, result.output)
        assert isinstance(result.exception, SystemExit), (command, result.exception)
        lines = result.stderr.splitlines()
        assert len(lines) == 1, (command, result.stderr)
        messages.add(lines[0].replace(url.replace("noisecast@", "noisecast:***@"), url))
    (message,) = messages
    assert message.startswith(f"noisecast: database {url}: cannot connect: ")
    assert "Connection refused" in message and "is the server running" in message


def test_score_and_forecast_refuse_hours_not_yet_complete(config: Path) -> None:
    run(config, "init")
    now = "2026-11-20T12:30Z"  # the last completed hour is 11:00-12:00
    for command in (("score", "--as-of", "2026-11-20T12:00Z"),
                    ("score", "--as-of", "2031-01-01T00:00Z"),
                    ("forecast", "--as-of", "2026-11-20T13:00Z")):  # fmt: skip
        code, _, err = run(config, "--now", now, *command, "--json")
        assert code == 2, (command, err)
        assert "after the last completed hour (2026-11-20 11:00-12:00 UTC)" in err
        assert "Nothing was stored" in err
    _, out, _ = run(config, "--now", now, "status", "--json")
    assert json.loads(out)["schedule"]["jobs"] == {}
    from noisecast.engine.store import Store
    from noisecast.engine.store.tables import forecasts, noise_scores

    store = Store.from_url(f"sqlite:///{config.parent / 'var' / 'cli.db'}")
    try:
        with store.reading() as conn:
            for table in (noise_scores, forecasts):
                assert conn.execute(table.select()).first() is None
    finally:
        store.close()
    code, out, err = run(config, "--now", now, "score", "--as-of", "2026-11-20T11:59Z", "--json")
    assert code == 0, err
    assert [r["story"] for r in json.loads(out)] == ["port-strike"]
