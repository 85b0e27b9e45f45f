"""The offline demo end to end, twice, through the real command: same table, no duplicates."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections import Counter
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import create_engine, func, select

from noisecast.engine.cli import cli
from noisecast.engine.demo.cycle import generate_cycle
from noisecast.engine.demo.run import DEMO_START
from noisecast.engine.store.tables import fetches, mentions

ROOT = Path(__file__).resolve().parents[1]


def demo(db: Path) -> dict:  # type: ignore[type-arg]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "noisecast.engine",
            "--config",
            str(ROOT / "config.toml"),
            "demo",
            "--database",
            f"sqlite:///{db}",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_demo_twice(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    cycle = generate_cycle(DEMO_START, hours=72)
    published = Counter(a.story for a in cycle.articles if a.story)

    first = demo(db)
    # Every article of the cycle went over HTTP, through the parser, into the store, and was
    # matched to exactly its own story by the story's query.
    assert first["articles_published"] == len(cycle.articles)
    assert first["new_mentions"] == len(cycle.articles)
    assert {s["slug"]: s["mentions"] for s in first["stories"]} == dict(published)
    assert first["fetches"] >= 30 * 24  # hour by hour, not one bulk fetch
    assert first["http_requests"] == first["fetches"]
    by_slug = {s["slug"]: s for s in first["stories"]}
    assert by_slug["northmere-breach"]["last_24h"] == by_slug["northmere-breach"]["mentions"]
    assert by_slug["port-strike"]["last_24h"] < by_slug["port-strike"]["mentions"] * 0.1

    # It says how to look at its database, and those commands read it (not the config's).
    commands = first["commands"]
    assert commands[0] == f"noisecast --database sqlite:///{db} status"
    assert any(c.endswith(" score --as-of 2026-11-25T23:00Z") for c in commands)
    after = ["--now", "2026-11-26T00:30Z"]  # not the wall clock
    for command in commands:
        args = shlex.split(command)[1:]
        result = CliRunner().invoke(cli, [*after, *args, "--json"], env={"NOISECAST_CONFIG": None})
        assert result.exit_code == 0, (command, result.output)
    result = CliRunner().invoke(cli, [*after, *shlex.split(commands[1])[1:], "--json"])
    assert len(json.loads(result.stdout)) == len(first["stories"])

    second = demo(db)
    assert second["new_mentions"] == 0
    assert second["stories"] == first["stories"]

    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(mentions)).scalar_one()
        distinct = conn.execute(
            select(func.count()).select_from(
                select(mentions.c.source_id, mentions.c.external_id).distinct().subquery()
            )
        ).scalar_one()
        outcomes = dict(
            conn.execute(select(fetches.c.outcome, func.count()).group_by(fetches.c.outcome)).all()
        )
    engine.dispose()
    assert total == distinct == len(cycle.articles)
    assert set(outcomes) <= {"ok", "not_modified", "unchanged"}
    assert outcomes.get("not_modified", 0) > 0  # conditional GET did its job
