"""The hourly forecast update over a real store: model runs, refits, suggestions, the CLI."""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import update

from noisecast.engine.cli import cli
from noisecast.engine.config import ForecastSettings, Settings
from noisecast.engine.core.aggregate import aggregate_hourly
from noisecast.engine.core.suggest import CAUSES
from noisecast.engine.demo.run import DEMO_START, SHOWCASE
from noisecast.engine.jobs.forecasting import history_series, load_history, update_forecasts
from noisecast.engine.schema import MENTION_COLUMNS
from noisecast.engine.store import Store
from noisecast.engine.store.tables import model_runs, story_hourly
from tests.conftest import copy_demo
from tests.plain_words import jargon_in

END = DEMO_START + timedelta(hours=72)


def settings_for(tmp_path: Path, **forecast: object) -> Settings:
    values = {"model_dir": str(tmp_path / "models"), **forecast}
    return Settings().model_copy(update={"forecast": ForecastSettings(**values)})


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Iterator[Store]:
    store = Store.from_url(f"sqlite:///{copy_demo(demo_template, tmp_path / 'db')}")
    yield store
    store.close()


def test_the_demo_forecasts_with_the_prior_and_says_it_is_unchecked(
    demo: Store, tmp_path: Path
) -> None:
    frame = demo.forecasts_frame(since=END, until=END + timedelta(hours=1))  # made by run_demo
    assert sorted(frame["story"]) == sorted(s["slug"] for s in demo.list_stories("active"))
    # The demo publishes one story's forecast (SHOWCASE, as the editor "demo"); the rest wait.
    statuses = dict(zip(frame["story"], frame["status"], strict=True))
    assert statuses.pop(SHOWCASE) == "approved" and set(statuses.values()) == {"pending"}
    # Five stories of history: the prior forecasts, and says it has not been checked here.
    assert frame["low_confidence"].all()
    assert (frame["model"] == "prior").all() and (frame["horizon_hours"] == 24).all()
    assert (frame["p10"] <= frame["p50"]).all() and (frame["p50"] <= frame["p90"]).all()
    assert ((frame["p90"] + 1) / (frame["p10"] + 1) < 55).all()  # no x7.4-either-side interval
    assert set(frame["hedge_word"]) != {"may"}
    # The fading story (the fewest mentions in its last 24 hours) gets an interval that is
    # not absurd: p90 below 10 x what it had in the last day.
    history = load_history(demo, settings_for(tmp_path), END)
    last_day = history[history["ts"] >= END - timedelta(hours=24)].groupby("series")["value"].sum()
    fading = last_day.idxmin()
    assert frame.set_index("story").at[fading, "p90"] < 10 * max(last_day[fading], 1)
    for text in frame["suggested_text"]:
        assert text.startswith("Based on current signals, attention to “")
        assert "Confidence is low: " + CAUSES["prior"] + "." in text
        assert "too little history" not in text
        assert jargon_in(text) == [], text
        assert text.endswith("Events may develop differently.")
    for note in frame["confidence_note"]:  # the editor's reason names the setting
        assert "forecast.prior_check_series" in note
    runs = demo.model_runs_frame()
    assert len(runs) == 1 and runs["model"].iloc[0] == "prior"
    assert Path(runs["path"].iloc[0]).is_file() and runs["samples"].iloc[0] > 0


def test_rerunning_an_hour_adds_nothing_and_a_steady_hour_queues_nothing(
    demo: Store, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path)
    first = demo.forecasts_frame()
    rerun = update_forecasts(demo, settings, now=END + timedelta(minutes=20))  # the same hour
    assert not rerun.refitted  # the demo's model is young enough
    again = demo.forecasts_frame()
    assert len(again) == len(first) == 5
    assert list(again["status"]) == list(first["status"])
    assert list(again["p50"]) == list(first["p50"])
    # An hour later nothing was collected. A quiet hour is news to the prior (it reads the
    # last hours against the day's rate), so a forecast may move; one that says the same is
    # recorded without replacing the pending suggestion, one that moved replaces it.
    later = update_forecasts(demo, settings, now=END + timedelta(hours=1))
    assert not later.refitted
    frame = demo.forecasts_frame()
    new = frame[frame["as_of"] == END + timedelta(hours=1)].set_index("story")
    old = frame[frame["as_of"] == END].set_index("story")
    moved = (new["hedge_word"] != old["hedge_word"]) | (
        (np.log1p(new["p50"]) - np.log1p(old["p50"])).abs() >= settings.review.supersede_min_change
    )
    assert later.queued == int(moved.sum()) < 5
    assert set(new.loc[~moved, "status"]) <= {"unchanged"}
    assert set(new.loc[moved, "status"]) <= {"pending"}
    assert len(demo.model_runs_frame()) == 1


def test_refit_on_schedule_forced_or_when_the_file_is_unreadable(
    demo: Store, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, refit_every_hours=6)
    assert not update_forecasts(demo, settings, now=END + timedelta(hours=5)).refitted
    assert len(demo.model_runs_frame()) == 1
    assert update_forecasts(demo, settings, now=END + timedelta(hours=6)).refitted
    assert update_forecasts(demo, settings, now=END + timedelta(hours=7), refit=True).refitted
    runs = demo.model_runs_frame()
    assert len(runs) == 3
    Path(runs["path"].iloc[-1]).write_bytes(b"not a model")
    assert update_forecasts(demo, settings, now=END + timedelta(hours=8)).refitted
    assert len(demo.model_runs_frame()) == 4


class _Planted:
    """A pickle that, if anyone unpickles it, creates ``marker``: proof the file was loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def test_a_model_file_is_checked_before_it_is_unpickled(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The sha256 recorded when the file was written is checked before joblib reads it: a
    changed file, or a run without a checksum, is refitted and never unpickled."""
    start = datetime(2026, 3, 1, tzinfo=UTC)
    _newsroom(store, stories=3, hours=48, start=start)
    settings = settings_for(tmp_path, refit_every_hours=24)
    now = start + timedelta(hours=48)
    assert update_forecasts(store, settings, now=now).refitted
    run = store.latest_model_run()
    path = Path(run["path"])
    assert run["checksum"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert not update_forecasts(store, settings, now=now + timedelta(hours=1)).refitted

    marker = tmp_path / "unpickled"
    path.write_bytes(pickle.dumps(_Planted(marker)))  # a tampered file
    with caplog.at_level(logging.WARNING, logger="noisecast.forecast"):
        assert update_forecasts(store, settings, now=now + timedelta(hours=2)).refitted
    assert not marker.exists()
    assert "refitting" in caplog.text and "was changed, so it is not loaded" in caplog.text

    run = store.latest_model_run()
    with store.transaction() as conn:  # a run recorded before checksums were
        conn.execute(update(model_runs).where(model_runs.c.id == run["id"]).values(checksum=None))
    Path(run["path"]).write_bytes(pickle.dumps(_Planted(marker)))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="noisecast.forecast"):
        assert update_forecasts(store, settings, now=now + timedelta(hours=3)).refitted
    assert not marker.exists()
    assert "no checksum recorded" in caplog.text
    Path(store.latest_model_run()["path"]).unlink()  # a missing file: refitted too
    assert update_forecasts(store, settings, now=now + timedelta(hours=4)).refitted
    assert len(store.model_runs_frame()) == 4


def test_history_series_fills_zeros_and_leaves_unhealthy_hours_unobserved() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows = pd.DataFrame(
        [
            {"story": "a", "when": t0 + timedelta(hours=1, minutes=5), "mention_id": 1},
            {"story": "a", "when": t0 + timedelta(hours=3, minutes=5), "mention_id": 2},
        ]
    ).assign(group_id=lambda f: f["mention_id"], kind="rss", outlet="x.example", engagement=0.0)
    hourly = aggregate_hourly(rows[list(MENTION_COLUMNS)], t0, t0 + timedelta(hours=5), ["a"])
    hourly = hourly[hourly["mentions"] > 0]  # the store keeps only hours with something
    series = history_series(
        hourly, {"a": t0 + timedelta(hours=1)}, t0 + timedelta(hours=5), {t0 + timedelta(hours=2)}
    )
    assert list(series["ts"]) == [t0 + timedelta(hours=h) for h in (1, 2, 3, 4)]
    values = series["value"].tolist()
    assert values[0] == 1 and np.isnan(values[1]) and values[2:] == [1, 0]


def _newsroom(store: Store, stories: int, hours: int, start: datetime, seed: int = 5) -> None:
    """Stories with real-looking life cycles (a burst that decays), written as hourly rows."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(stories):
        slug = f"story-{i:02d}"
        store.upsert_story(slug, f"Story {i}", f"story{i}", now=start)
        born = int(rng.integers(0, hours // 2))
        peak, decay = rng.gamma(2.0, 6.0), rng.uniform(6, 30)
        for h in range(born, hours):
            rate = peak * np.exp(-(h - born) / decay) + 0.2
            n = int(rng.poisson(rate))
            if n:
                rows.append(
                    {
                        "story": slug,
                        "hour": start + timedelta(hours=h),
                        "mentions": n,
                        "outlets": min(n, 5),
                        "engagement": float(n * 3),
                    }
                )
    frame = pd.DataFrame(rows)
    for kind in ("rss", "atom", "reddit", "hackernews", "mastodon"):
        frame[f"mentions_{kind}"] = frame["mentions"] if kind == "rss" else 0
    store.write_hourly(frame, start, start + timedelta(hours=hours))


def test_enough_history_fits_the_global_model(store: Store, tmp_path: Path) -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    _newsroom(store, stories=40, hours=120, start=start)
    settings = settings_for(tmp_path, min_training_series=20, horizon_hours=12)
    report = update_forecasts(store, settings, now=start + timedelta(hours=120))
    assert report.model_version.startswith("noisecast-") and report.forecasts == 40
    run = store.model_runs_frame().iloc[-1]
    assert run["model"] == "noisecast" and run["samples"] > 1000
    models = run["metrics"]["models"]  # the backtest of a time split of the same history
    assert set(models) == {"noisecast", "persistence", "szabo_huberman", "base_rate"}
    frame = store.forecasts_frame()
    assert (frame["p10"] <= frame["p50"]).all() and (frame["p50"] <= frame["p90"]).all()
    assert frame["prob_rising"].between(0, 1).all()
    assert not frame["low_confidence"].any()
    assert (frame["horizon_hours"] == 12).all()


def test_low_confidence_says_why_in_plain_words(store: Store, tmp_path: Path) -> None:
    """The global model's low-confidence paths: a story with no observed hour yet, and a run
    after unhealthy collection. Editors read the reason with its numbers; the suggestion (what
    is published once approved) says it in plain words."""
    start = datetime(2026, 3, 1, tzinfo=UTC)
    _newsroom(store, stories=40, hours=120, start=start)
    last = start + timedelta(hours=119)
    store.upsert_story("late", "Late story", "late", now=last)
    counts = {"mentions": 2, "outlets": 2, "engagement": 0.0, "mentions_rss": 2}
    with store.transaction() as conn:  # one hour of its own, beside the newsroom's rows
        conn.execute(
            story_hourly.insert().values(story_id=store.story_ids()["late"], hour=last, **counts)
        )
    health = pd.DataFrame([{"hour": last, "due": 4, "fetched": 1, "failed": 3, "collected": 2,
                            "unhealthy": True}])  # fmt: skip
    store.write_health(health, last, last + timedelta(hours=1))
    settings = settings_for(tmp_path, min_training_series=20, horizon_hours=12)
    note = "collection was unhealthy: 3 of 4 sources failed (75%, above 30%): bbc_world"
    now = start + timedelta(hours=120)
    report = update_forecasts(store, settings, now=now, health_note=note)
    assert report.model_version.startswith("noisecast-") and report.forecasts == 41
    frame = store.forecasts_frame().set_index("story")
    assert frame["low_confidence"].all()
    late_text = frame.at["late", "suggested_text"]
    assert (
        "Confidence is low: the story is too new to judge, and some of the sources we follow "
        "could not be read. Events may develop differently." in late_text
    )
    assert "bbc_world" in frame.at["late", "confidence_note"]  # the editor's reason
    assert "observed" in frame.at["late", "confidence_note"]
    other = frame.at["story-00", "suggested_text"]
    assert "Confidence is low: some of the sources we follow could not be read." in other
    for text in frame["suggested_text"]:
        assert jargon_in(text) == [], text


def test_forecast_command(demo_template: Path, tmp_path: Path) -> None:
    db = copy_demo(demo_template, tmp_path / "db")
    env = {
        "NOISECAST_DATABASE_URL": f"sqlite:///{db}",
        "NOISECAST_CONFIG": "",
        "NOISECAST_FORECAST_MODEL_DIR": str(tmp_path / "models"),
    }
    args = ["forecast", "--as-of", END.isoformat(), "--refit", "--json"]
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    # the demo's own (it approved its SHOWCASE's)
    assert len(rows) == 5 and {r["status"] for r in rows} == {"pending", "approved"}
    assert rows[0]["p50"] >= rows[-1]["p50"]
    assert all(r["suggested_text"].endswith("Events may develop differently.") for r in rows)
    table = CliRunner().invoke(cli, ["forecast", "--as-of", END.isoformat()], env=env)
    assert table.exit_code == 0 and "0 new suggestions to review" in " ".join(table.output.split())


def test_backtest_command_json_and_errors(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    lines = ["series,ts,value"]
    for i in range(60):
        start = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=i)
        peak = rng.gamma(2.0, 5.0)
        for h in range(30):
            value = "" if h == 0 and i % 7 == 0 else int(rng.poisson(peak * np.exp(-h / 8)))
            lines.append(f"s{i},{(start + timedelta(hours=h)).isoformat()},{value}")
    train = tmp_path / "train.csv"
    train.write_text("\n".join(lines) + "\n")
    args = ["backtest", "--train", str(train), "--horizon", "6", "--origins", "1,3"]
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["horizon"] == 6 and set(out["models"]) >= {
        "noisecast",
        "persistence",
        "szabo_huberman",
        "base_rate",
    }
    assert [o["origin"] for o in out["by_origin"]] == [1, 3]
    assert set(out["models"]["noisecast"]) >= {
        "n",
        "mae_log1p",
        "median_ape",
        "coverage_80",
        "brier_rising",
        "direction_accuracy",
    }
    assert out["models"]["persistence"]["coverage_80"] is None
    assert "Backtest, horizon 6h" in CliRunner().invoke(cli, args).output

    bad = tmp_path / "bad.csv"
    bad.write_text("series,ts,value\na,2024-01-01T00:00:00Z,3\na,2024-01-01T01:00:00Z,-2\n")
    result = CliRunner().invoke(cli, ["backtest", "--train", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}: line 3: value" in result.stderr
    result = CliRunner().invoke(cli, ["backtest", "--train", str(train), "--origins", "0,x"])
    assert result.exit_code == 2 and "--origins" in result.stderr
