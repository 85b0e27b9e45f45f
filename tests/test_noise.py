"""The noise level end to end on the demo: every story and hour scored, in an editor's order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select

from noisecast.engine.cli import cli
from noisecast.engine.config import Settings
from noisecast.engine.demo.run import DEMO_START
from noisecast.engine.jobs.noise import update_noise
from noisecast.engine.store import Store
from noisecast.engine.store.tables import fetches, mentions, sources, story_mentions
from tests.conftest import copy_demo

END = DEMO_START + timedelta(hours=72)


@pytest.fixture(scope="module")
def demo_db(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield copy_demo(demo_template, tmp_path_factory.mktemp("noise"))


@pytest.fixture
def store(demo_db: Path) -> Iterator[Store]:
    s = Store.from_url(f"sqlite:///{demo_db}")
    yield s
    s.close()


def at(scores: pd.DataFrame, hour: int) -> dict[str, float]:
    rows = scores[scores["as_of"] == DEMO_START + timedelta(hours=hour)]
    return dict(zip(rows["story"], rows["score"], strict=True))


def test_every_story_and_hour_is_scored(store: Store) -> None:
    scores = store.scores_frame(DEMO_START, END)
    assert len(scores) == 5 * 72
    assert scores.groupby("story").size().to_dict() == dict.fromkeys(
        ["city-budget", "elden-flood", "northmere-breach", "port-strike", "saltmarsh-rovers"], 72
    )
    assert scores["score"].between(0, 100).all()
    for components, score in zip(scores["components"], scores["score"], strict=True):
        assert sum(c["contribution"] for c in components.values()) == pytest.approx(score)


def test_the_stories_come_out_in_an_editors_order(store: Store) -> None:
    scores = store.scores_frame(DEMO_START, END)
    early, middle, late = at(scores, 12), at(scores, 48), at(scores, 71)
    assert max(early, key=early.__getitem__) == "port-strike"  # the spike, at its peak
    assert early["northmere-breach"] == 0  # nothing yet
    assert middle["elden-flood"] > middle["port-strike"]  # the slow burn overtakes the fading spike
    assert max(late, key=late.__getitem__) == "northmere-breach"  # the late breaker
    assert late["port-strike"] < late["city-budget"]  # the spike has faded below the steady one
    levels = scores.set_index(["story", "as_of"])["level"]
    assert levels.loc[("saltmarsh-rovers", END - timedelta(hours=1))] in ("Quiet", "Low")
    assert levels.loc[("northmere-breach", END - timedelta(hours=1))] in ("High", "Very high")


def test_drivers_are_the_storys_recent_mentions(store: Store) -> None:
    scores = store.scores_frame(END - timedelta(hours=1), END)
    row = scores[scores["story"] == "northmere-breach"].iloc[0]
    assert row["mention_ids"]
    with store.engine.connect() as conn:
        matched = set(
            conn.execute(
                select(story_mentions.c.mention_id).where(
                    story_mentions.c.story_id == store.story_id("northmere-breach")
                )
            ).scalars()
        )
        when = conn.execute(
            select(mentions.c.published_at).where(mentions.c.id.in_(row["mention_ids"]))
        ).scalars()
        assert all(END - timedelta(hours=6) <= w < END for w in when)
    assert set(row["mention_ids"]) <= matched


def test_scoring_again_gives_the_same_rows(store: Store) -> None:
    before = store.scores_frame(DEMO_START, END)
    update_noise(store, Settings(), start=END - timedelta(hours=5), end=END)
    after = store.scores_frame(DEMO_START, END)
    pd.testing.assert_frame_equal(before, after)


def test_an_hour_of_failed_collection_is_flagged(store: Store, tmp_path: Path) -> None:
    hour = END - timedelta(hours=2)
    with store.transaction() as conn:
        ids = conn.execute(select(sources.c.id)).scalars().all()
        conn.execute(
            insert(fetches),
            [
                {
                    "source_id": i,
                    "url": "http://127.0.0.1/x",
                    "started_at": hour + timedelta(minutes=30),
                    "finished_at": hour + timedelta(minutes=30),
                    "duration_ms": 1,
                    "outcome": "error",
                    "error": "HTTP 503",
                }
                for i in ids
            ],
        )
    update_noise(store, Settings(), start=hour, end=hour + timedelta(hours=1))
    health = store.health_frame(hour, hour + timedelta(hours=1))
    assert bool(health["unhealthy"].iloc[0]) and health["failed"].iloc[0] == len(ids)
    scores = store.scores_frame(hour, hour + timedelta(hours=1))
    assert scores["unhealthy"].all()
    with store.transaction() as conn:  # leave the shared demo database as it was
        conn.execute(fetches.delete().where(fetches.c.error == "HTTP 503"))
    update_noise(store, Settings(), start=hour, end=hour + timedelta(hours=1))


def test_score_command_json(demo_db: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["score", "--as-of", (END - timedelta(hours=1)).isoformat(), "--json"],
        env={"NOISECAST_DATABASE_URL": f"sqlite:///{demo_db}", "NOISECAST_CONFIG": ""},
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows[0]["story"] == "northmere-breach"
    assert set(rows[0]) >= {"story", "as_of", "score", "level", "components", "health"}
    assert set(rows[0]["components"]) == {"volume", "velocity", "breadth", "engagement"}
    assert rows[0]["health"]["unhealthy"] is False
    rebuilt = CliRunner().invoke(
        cli,
        ["score", "--as-of", (END - timedelta(hours=1)).isoformat(), "--rebuild", "--json"],
        env={"NOISECAST_DATABASE_URL": f"sqlite:///{demo_db}", "NOISECAST_CONFIG": ""},
    )
    assert rebuilt.exit_code == 0, rebuilt.output
    assert json.loads(rebuilt.stdout) == rows  # the demo's incremental rows = a rebuild
    result = CliRunner().invoke(
        cli,
        ["score", "--story", "nope"],
        env={"NOISECAST_DATABASE_URL": f"sqlite:///{demo_db}", "NOISECAST_CONFIG": ""},
    )
    assert result.exit_code == 1 and "no story 'nope'" in result.stderr


def test_analysis_frames(demo_db: Path) -> None:
    from noisecast.engine import analysis

    store = analysis.open_store(f"sqlite:///{demo_db}")
    day2 = (DEMO_START + timedelta(hours=24), DEMO_START + timedelta(hours=48))
    found = analysis.mentions(store, stories=["port-strike"], since=day2[0], until=day2[1])
    assert set(found["story"]) == {"port-strike"} and len(found) > 10
    assert found["when"].between(*day2, inclusive="left").all()
    assert set(found["kind"]) <= {"rss", "atom", "hackernews", "mastodon"}
    assert analysis.mentions(store, kinds=["reddit"]).empty
    hourly = analysis.hourly(store, since=day2[0], until=day2[1])
    assert len(hourly) == 5 * 24
    kind_sum = hourly[[f"mentions_{k}" for k in analysis.KINDS]].sum(axis=1)
    assert (hourly["mentions"] == kind_sum).all()
    rss_only = analysis.hourly(store, since=day2[0], until=day2[1], kinds=["rss"])
    assert (rss_only["mentions"] <= hourly["mentions"]).all()
    assert "mentions_atom" not in rss_only
    # Distinct mentions per hour count syndicated copies once: never more than the rows.
    assert hourly.query("story == 'port-strike'")["mentions"].sum() <= len(found)
    scored = analysis.scores(store, stories=["elden-flood"])
    assert len(scored) == 72 and "volume_contribution" in scored
    parts = scored[[f"{c}_contribution" for c in ("volume", "velocity", "breadth", "engagement")]]
    assert (parts.sum(axis=1) - scored["score"]).abs().max() < 1e-6
    health = analysis.sources_health(store, since=day2[0], until=day2[1])
    assert len(health) == 24 and not health["unhealthy"].any()
    store.close()
