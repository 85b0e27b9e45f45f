"""``noisecast emerging [--json]``, ``emerging track`` and ``emerging dismiss`` through the real
entry point, and ``GET /api/emerging`` (logged-in editors only), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from noisecast.engine.cli import cli
from noisecast.engine.cli.emerging import slug_for
from noisecast.engine.store import Store
from noisecast.engine.web.accounts import add_editor
from noisecast.engine.web.app import create_app
from tests.conftest import T0
from tests.test_emerging_jobs import DAM, seeded, settings_for
from tests.web_helpers import client_for, login, use_cheap_hashes

NOW = (T0 + timedelta(minutes=10)).isoformat()

CONFIG = """
[database]
url = "{url}"

[emerging]
min_mentions = 4
min_outlets = 2
min_score = 0.0
"""


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    use_cheap_hashes(monkeypatch)


def run(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        cli,
        ["--config", str(config), "--now", NOW, *args],
        catch_exceptions=False,
        env={"COLUMNS": "250"},  # wide enough that no title wraps
    )
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(url=db_url))
    code, out, err = run(path, "init")
    assert code == 0, out + err
    return path


@pytest.fixture
def proposed(config: Path, db_url: str) -> Store:
    """The store with the dam failure proposed by the cycle (real collection rows, scores)."""
    from noisecast.engine.jobs.cycle import run_cycle

    store = Store.from_url(db_url)
    settings = settings_for(db_url)
    seeded(store, settings)
    run_cycle(store, settings, clock=lambda: T0 + timedelta(minutes=10))
    assert store.list_proposals()
    yield store  # type: ignore[misc]
    store.close()


def test_emerging_lists_the_proposals_as_a_table_and_as_json(config: Path, proposed: Store) -> None:
    code, out, err = run(config, "emerging")
    assert code == 0, err
    assert "Riverton dam" in out and "emerging track" in out
    code, out, _ = run(config, "emerging", "--json")
    rows = json.loads(out)
    assert rows[0]["title"] == proposed.list_proposals()[0]["title"]
    assert rows[0]["status"] == "proposed" and isinstance(rows[0]["first_seen"], str)
    assert {"query", "quality", "headlines", "history", "score", "level"} <= set(rows[0])


def test_emerging_says_so_when_nothing_is_proposed(config: Path) -> None:
    code, out, _ = run(config, "emerging")
    assert code == 0 and "No emerging stories proposed" in out
    code, out, _ = run(config, "emerging", "--json")
    assert code == 0 and json.loads(out) == []


def test_track_from_the_command_line_creates_the_story_with_its_history(
    config: Path, proposed: Store
) -> None:
    top = proposed.list_proposals()[0]
    code, out, err = run(config, "emerging", "track", str(top["id"]), "--slug", "riverton-dam")
    assert code == 0, err
    assert "Tracking 'riverton-dam'" in out and f"{len(DAM)} mentions matched" in out
    after = proposed.proposal(top["id"])
    assert after is not None and after["status"] == "tracked"
    (event,) = proposed.proposal_events(top["id"])
    assert event["actor"].startswith("cli:") and event["action"] == "track"
    assert (
        proposed.scores_frame(T0 - 12 * timedelta(hours=1), T0)["story"].eq("riverton-dam").sum()
        == 7
    )
    # tracked twice: refused, nothing changed
    code, _, err = run(config, "emerging", "track", str(top["id"]), "--slug", "other")
    assert code == 1 and "changed since you looked" in err
    code, _, err = run(config, "emerging", "track", "999999")
    assert code == 1 and "no emerging proposal 999999" in err


def test_track_with_a_bad_query_names_the_position(config: Path, proposed: Store) -> None:
    top = proposed.list_proposals()[0]
    code, _, err = run(config, "emerging", "track", str(top["id"]), "--query", "dam AND (")
    assert code == 2, err
    assert "query" in err.lower(), err
    assert proposed.proposal_events(top["id"]) == []


def test_dismiss_with_a_note(config: Path, proposed: Store) -> None:
    top = proposed.list_proposals()[0]
    code, out, err = run(config, "emerging", "dismiss", str(top["id"]), "--note", "local only")
    assert code == 0, err
    assert "Dismissed" in out
    (event,) = proposed.proposal_events(top["id"])
    assert (event["action"], event["note"]) == ("dismiss", "local only")
    code, out, _ = run(config, "emerging", "--all")
    assert "dismissed" in out


def test_every_emerging_command_has_help(config: Path) -> None:
    for args in (["emerging"], ["emerging", "track"], ["emerging", "dismiss"]):
        code, out, _ = run(config, *args, "--help")
        assert code == 0 and "Usage" in out


def test_slugs_from_titles() -> None:
    assert (
        slug_for("Riverton dam fails: floods hit valley towns")
        == "riverton-dam-fails-floods-hit-valley"
    )
    assert slug_for("!!!") == "emerging-story"


# --- the API ----------------------------------------------------------------------------------


def test_api_emerging_is_for_logged_in_editors(proposed: Store, db_url: str) -> None:
    add_editor(proposed, "alice", "correct horse battery", role="editor", now=T0)
    app: Any = create_app(proposed, settings_for(db_url), "s" * 32, now=lambda: T0)
    anonymous = client_for(app).get("/api/emerging")
    assert anonymous.status_code == 401 and "log in" in anonymous.json()["detail"]
    client = login(app, "alice", "correct horse battery")
    response = client.get("/api/emerging")
    assert response.status_code == 200
    assert "no-store" in response.headers["cache-control"]
    rows = response.json()
    assert [r["id"] for r in rows] == [p["id"] for p in proposed.list_proposals()]
    assert rows[0]["quality"]["recall"] > 0 and rows[0]["headlines"][0]["title"]
