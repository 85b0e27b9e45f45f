"""The hourly cycle: which hours it runs (pure), how it judges data health (pure), and running it
against a real store on SQLite and PostgreSQL: each hour once, in order, under the lock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from noisecast.engine.config import ForecastSettings, ScheduleSettings, Settings
from noisecast.engine.core.cycle_rules import (
    assess_health,
    hours_to_run,
    next_cycle_time,
    ready_hour,
)
from noisecast.engine.errors import NoisecastError
from noisecast.engine.jobs.cycle import run_cycle
from noisecast.engine.store import Outcome, Store
from noisecast.engine.store.tables import job_runs, noise_scores
from noisecast.feeds.mention import Mention
from tests.conftest import T0, fast_collector

H = timedelta(hours=1)


def at(hh: int, mm: int = 0) -> datetime:
    return datetime(2026, 11, 20, hh, mm, tzinfo=UTC)


# --- which hours ------------------------------------------------------------------------------


def test_an_hour_is_ready_at_cycle_minute_past_the_next_one() -> None:
    assert ready_hour(at(12, 4), 5) == at(10)
    assert ready_hour(at(12, 5), 5) == at(11)
    assert ready_hour(at(12, 0), 0) == at(11)
    assert next_cycle_time(at(12, 4), 5) == at(12, 5)
    assert next_cycle_time(at(12, 5), 5) == at(13, 5)
    assert next_cycle_time(at(12, 59), 5) == at(13, 5)


def test_first_cycle_runs_the_newest_ready_hour_only() -> None:
    assert hours_to_run(None, at(12, 10), cycle_minute=5, max_hours=72).hours == [at(11)]


def test_after_downtime_every_missed_hour_runs_once_in_order() -> None:
    plan = hours_to_run(at(11), at(17, 10), cycle_minute=5, max_hours=72)
    assert plan.hours == [at(12), at(13), at(14), at(15), at(16)]
    assert plan.missed == 4 and plan.left_out is None
    assert hours_to_run(at(16), at(17, 10), cycle_minute=5, max_hours=72).hours == []
    # a clock that went back runs nothing rather than an hour twice
    assert hours_to_run(at(16), at(12, 10), cycle_minute=5, max_hours=72).hours == []


def test_catch_up_keeps_the_newest_hours_and_says_which_it_left_out() -> None:
    plan = hours_to_run(at(2), at(12, 10), cycle_minute=5, max_hours=3)
    assert plan.hours == [at(9), at(10), at(11)]
    assert plan.left_out == (at(3), at(8))


@given(
    last=st.one_of(st.none(), st.integers(-400, 400)),
    minutes=st.integers(0, 60 * 300),
    cycle_minute=st.integers(0, 59),
    max_hours=st.integers(1, 100),
)
def test_hours_to_run_invariants(
    last: int | None, minutes: int, cycle_minute: int, max_hours: int
) -> None:
    now = T0 + timedelta(minutes=minutes)
    last_done = None if last is None else T0 + last * H
    plan = hours_to_run(last_done, now, cycle_minute=cycle_minute, max_hours=max_hours)
    hours = plan.hours
    assert len(hours) <= max_hours
    assert all(b - a == H for a, b in pairwise(hours))
    assert all(h.minute == 0 and h.second == 0 for h in hours)
    if hours:
        assert hours[-1] == ready_hour(now, cycle_minute)
        assert hours[-1] + H + timedelta(minutes=cycle_minute) <= now
        if last_done is not None:
            first = plan.left_out[0] if plan.left_out else hours[0]
            assert first == last_done + H  # nothing skipped silently, nothing run twice
    if plan.left_out:
        assert plan.left_out[1] + H == hours[0]


# --- data health ------------------------------------------------------------------------------


def src(i: int, **kw: Any) -> dict[str, Any]:
    row = {
        "id": i,
        "name": f"s{i}",
        "created_at": at(0),
        "interval_minutes": 60,
        "disabled_at": None,
    }
    row.update(kw)
    return row


def test_health_counts_failed_and_unfetched_sources() -> None:
    sources = [src(i) for i in range(1, 7)] + [
        src(7, interval_minutes=600),  # not expected in 3 hours
        src(8, created_at=at(10)),  # created inside the window
        src(9, disabled_at=at(5)),  # disabled before
    ]
    fetches = [
        (1, at(10), "ok"),
        (2, at(10), "error"),
        (3, at(9), "error"),
        (3, at(11), "ok"),  # recovered: the last fetch counts
        (4, at(10), "not_modified"),
        (5, at(8), "ok"),  # before the window: as if not fetched
        (7, at(11), "error"),  # fetched, so expected after all
    ]
    health = assess_health(sources, fetches, start=at(9), end=at(12), threshold=0.3)
    assert (health.expected, health.failing, health.not_fetched) == (7, 4, 2)
    assert health.failing_names == ("s2", "s5", "s6", "s7")
    assert health.low_confidence
    assert health.note is not None
    assert "4 of 7 sources failed in the 3 hours before 2026-11-20 12:00 UTC" in health.note
    assert "2 of them not fetched at all" in health.note and "s2, s5, s6, s7" in health.note


def test_health_threshold_is_strict_and_an_empty_window_is_healthy() -> None:
    sources = [src(1), src(2), src(3), src(4)]
    fetches = [(1, at(10), "error"), (2, at(10), "ok"), (3, at(10), "ok"), (4, at(10), "ok")]
    assert not assess_health(
        sources, fetches, start=at(9), end=at(12), threshold=0.25
    ).low_confidence
    assert assess_health(sources, fetches, start=at(9), end=at(12), threshold=0.2).low_confidence
    empty = assess_health([], [], start=at(9), end=at(12), threshold=0.0)
    assert not empty.low_confidence and empty.note is None


# --- running the cycle ------------------------------------------------------------------------


def settings_for(url: str, tmp_path: Path, **schedule: Any) -> Settings:
    return Settings(
        database={"url": url},  # type: ignore[arg-type]
        collector=fast_collector(),
        schedule=ScheduleSettings(**schedule),
        forecast=ForecastSettings(model_dir=str(tmp_path / "models")),
    )


def seed(store: Store, *, sources: int = 4, failing: int = 0, hours: int = 8) -> None:
    """A story, ``sources`` feeds fetched every hour from T0 - ``hours`` to T0 (the last
    ``failing`` of them failing every time), and a matching mention from each healthy one."""
    start = T0 - hours * H
    store.upsert_story("strike", "Port strike", "strike", now=start)
    ids = [
        store.upsert_source(
            kind="rss",
            name=f"feed{i}",
            url=f"https://feed{i}.example/rss",
            interval_minutes=60,
            now=start,
        )[0]
        for i in range(sources)
    ]
    for h in range(hours + 1):
        now = start + h * H + timedelta(minutes=1)
        for i, source_id in enumerate(ids):
            bad = i >= sources - failing
            found = [] if bad else [mention(f"{i}-{h}", now)]
            matches = {} if bad else {f"{i}-{h}": {"strike": ["strike"]}}
            store.record_collection(
                source_id=source_id,
                kind="rss",
                found=found,
                matches=matches,
                outcome=outcome(now, "error" if bad else "ok"),
                now=now,
            )


def mention(ext: str, when: datetime) -> Mention:
    return Mention(
        external_id=ext,
        title=f"Dock strike update {ext}",
        url=f"https://news.example/{ext}",
        outlet="news.example",
        published_at=when,
    )


def outcome(now: datetime, result: str) -> Any:
    def decided(_known: set[str]) -> Outcome:
        return Outcome(
            fetch_rows=[
                {
                    "url": "https://feed.example/rss",
                    "started_at": now,
                    "finished_at": now,
                    "duration_ms": 5,
                    "http_status": 200 if result == "ok" else 503,
                    "outcome": result,
                }
            ],
            source_values={"last_fetched_at": now, "next_due_at": now + H},
            cursors={},
        )

    return decided


def cycle_rows(store: Store) -> list[tuple[datetime, str]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(job_runs.c.hour, job_runs.c.status)
            .where(job_runs.c.job == "cycle", job_runs.c.hour.is_not(None))
            .order_by(job_runs.c.id)
        ).all()
    return [(r.hour, r.status) for r in rows]


def scores_per_hour(store: Store) -> dict[datetime, int]:
    frame = store.scores_frame(T0 - 48 * H, T0 + 48 * H)
    return {t.to_pydatetime(): int(n) for t, n in frame.groupby("as_of").size().items()}


def test_catch_up_scores_each_missed_hour_once_in_order(store: Store, tmp_path: Path) -> None:
    seed(store)
    settings = settings_for(str(store.engine.url), tmp_path)
    clock_at = [T0 + timedelta(minutes=10)]

    first = run_cycle(store, settings, clock=lambda: clock_at[0], worker="w1")
    assert [h.hour for h in first.hours] == [T0 - H]
    assert first.hours[0].forecast is not None and first.hours[0].forecast["forecasts"] == 1

    clock_at[0] += 5 * H  # five hours of downtime
    second = run_cycle(store, settings, clock=lambda: clock_at[0], worker="w1")
    assert [h.hour for h in second.hours] == [T0 + i * H for i in range(5)]
    assert [h.forecast is not None for h in second.hours] == [False] * 4 + [True]
    assert run_cycle(store, settings, clock=lambda: clock_at[0]).status == "idle"

    assert cycle_rows(store) == [(T0 + i * H, "ok") for i in range(-1, 5)]
    assert scores_per_hour(store) == {T0 + i * H: 1 for i in range(-1, 5)}
    assert store.last_cycle_hour() == T0 + 4 * H


def test_a_stale_running_hour_is_abandoned_and_redone(store: Store, tmp_path: Path) -> None:
    seed(store)
    settings = settings_for(str(store.engine.url), tmp_path)
    store.start_job("cycle", now=T0, worker="dead", hour=T0 - H)  # its scorer died mid-hour
    report = run_cycle(store, settings, clock=lambda: T0 + timedelta(minutes=10))
    assert [h.hour for h in report.hours] == [T0 - H]
    assert cycle_rows(store) == [(T0 - H, "abandoned"), (T0 - H, "ok")]


def test_hours_older_than_the_catch_up_limit_are_left_out_and_recorded(
    store: Store, tmp_path: Path
) -> None:
    seed(store)
    settings = settings_for(str(store.engine.url), tmp_path, catch_up_max_hours=2)
    run_cycle(store, settings, clock=lambda: T0 - 5 * H + timedelta(minutes=10))
    report = run_cycle(store, settings, clock=lambda: T0 + timedelta(minutes=10))
    assert [h.hour for h in report.hours] == [T0 - 2 * H, T0 - H]
    assert report.left_out == (T0 - 5 * H, T0 - 3 * H)
    skipped = store.job_runs("cycle", limit=10)
    assert any(r["status"] == "skipped" and "catch_up_max_hours" in r["detail"]["reason"]
               for r in skipped)  # fmt: skip


def test_unhealthy_collection_marks_the_scores_low_confidence(store: Store, tmp_path: Path) -> None:
    seed(store, sources=4, failing=2)  # half the sources fail, above the 30 % default
    settings = settings_for(str(store.engine.url), tmp_path)
    report = run_cycle(store, settings, clock=lambda: T0 + timedelta(minutes=10))
    (hour,) = report.hours
    assert hour.health.low_confidence and hour.health.failing_names == ("feed2", "feed3")
    with store.engine.connect() as conn:
        row = conn.execute(select(noise_scores).where(noise_scores.c.as_of == T0 - H)).one()
    assert row.low_confidence
    assert row.confidence_note.startswith("collection was unhealthy: 2 of 4 sources failed")
    detail = store.job_runs("cycle", limit=1)[0]["detail"]
    assert detail["health"]["low_confidence"] and detail["health"]["failing"] == 2


def test_healthy_collection_leaves_the_scores_alone(store: Store, tmp_path: Path) -> None:
    seed(store, sources=4, failing=1)  # 25 %: below the threshold
    settings = settings_for(str(store.engine.url), tmp_path)
    report = run_cycle(store, settings, clock=lambda: T0 + timedelta(minutes=10))
    assert not report.hours[0].health.low_confidence
    with store.engine.connect() as conn:
        row = conn.execute(select(noise_scores).where(noise_scores.c.as_of == T0 - H)).one()
    assert not row.low_confidence and row.confidence_note is None


def test_unhealthy_collection_marks_the_forecast_low_confidence(
    store: Store, tmp_path: Path
) -> None:
    seed(store, sources=4, failing=2)
    settings = settings_for(str(store.engine.url), tmp_path)
    run_cycle(store, settings, clock=lambda: T0 + timedelta(minutes=10))
    frame = store.forecasts_frame(since=T0, until=T0 + H)
    assert len(frame) == 1 and bool(frame["low_confidence"].iloc[0])
    assert "collection was unhealthy" in frame["confidence_note"].iloc[0]
    assert "some of the sources we follow could not be read" in frame["suggested_text"].iloc[0]


def test_a_failed_forecast_keeps_the_scores_and_says_so(store: Store, tmp_path: Path) -> None:
    seed(store)
    settings = settings_for(str(store.engine.url), tmp_path)
    (tmp_path / "models").write_text("not a directory")  # the model cannot be saved
    with pytest.raises(NoisecastError, match="was scored, but its forecast failed"):
        run_cycle(store, settings, clock=lambda: T0 + timedelta(minutes=10))
    assert cycle_rows(store) == [(T0 - H, "ok")]
    assert store.job_runs("cycle", limit=1)[0]["detail"]["forecast"]["status"] == "error"
    assert scores_per_hour(store) == {T0 - H: 1}


@pytest.mark.postgres
def test_a_second_scorer_skips_while_the_lock_is_held(pg_url: str, tmp_path: Path) -> None:
    store, other = Store.from_url(pg_url), Store.from_url(pg_url)
    try:
        store.migrate()
        seed(store)
        settings = settings_for(pg_url, tmp_path)
        clock = lambda: T0 + timedelta(minutes=10)  # noqa: E731
        with other.cycle_lock() as held:
            assert held.held
            held.check()
            assert run_cycle(store, settings, clock=clock).status == "locked"
            with store.cycle_lock() as second:
                assert not second.held
        assert cycle_rows(store) == []
        assert [h.hour for h in run_cycle(store, settings, clock=clock).hours] == [T0 - H]
    finally:
        store.close()
        other.close()
