"""noisecast.engine.analysis takes ``since``/``until`` as analysts write them: strings, naive
datetimes (UTC), pandas Timestamps and times in other zones, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pytest

from noisecast.engine import analysis
from noisecast.engine.config import MatchingSettings, Settings
from noisecast.engine.errors import ConfigError
from noisecast.engine.jobs.catalog import add_story
from noisecast.engine.jobs.noise import update_noise
from noisecast.engine.store import Store
from tests.conftest import T0
from tests.test_store import add_source, mention, record

SINCE = T0 - timedelta(hours=3)  # 09:00 UTC
UNTIL = T0  # 12:00 UTC
PARIS = timezone(timedelta(hours=1))


@pytest.fixture
def seeded(store: Store) -> Store:
    source_id = add_source(store)
    found = [mention(i, published_at=T0 - timedelta(minutes=25 * i)) for i in range(1, 12)]
    record(store, source_id, found)
    settings = Settings(matching=MatchingSettings(rematch_days=7))
    add_story(store, settings, "strike", "Strike", "dockworkers", now=T0)
    update_noise(store, settings, start=T0 - timedelta(hours=6), end=T0)
    return store


@pytest.mark.parametrize(
    ("since", "until"),
    [
        ("2026-11-20 09:00", "2026-11-20T12:00Z"),
        (datetime(2026, 11, 20, 9), datetime(2026, 11, 20, 12)),  # naive: UTC
        (pd.Timestamp("2026-11-20 10:00", tz=PARIS), pd.Timestamp("2026-11-20 13:00+01:00")),
        (datetime(2026, 11, 20, 4, tzinfo=timezone(timedelta(hours=-5))), "2026-11-20T12:00Z"),
    ],
    ids=["strings", "naive", "paris", "new-york"],
)
def test_since_and_until_as_analysts_write_them(
    seeded: Store, since: object, until: object
) -> None:
    expected = {
        "mentions": analysis.mentions(seeded, since=SINCE, until=UNTIL),
        "hourly": analysis.hourly(seeded, since=SINCE, until=UNTIL),
        "scores": analysis.scores(seeded, since=SINCE, until=UNTIL),
        "health": analysis.sources_health(seeded, since=SINCE, until=UNTIL),
    }
    assert len(expected["mentions"]) == 7 and len(expected["hourly"]) == 3
    got = {
        "mentions": analysis.mentions(seeded, since=since, until=until),  # type: ignore[arg-type]
        "hourly": analysis.hourly(seeded, since=since, until=until),  # type: ignore[arg-type]
        "scores": analysis.scores(seeded, since=since, until=until),  # type: ignore[arg-type]
        "health": analysis.sources_health(seeded, since=since, until=until),  # type: ignore[arg-type]
    }
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(got[name], frame, obj=name)
    assert str(got["hourly"]["hour"].dt.tz) == "UTC"


def test_a_time_that_is_no_time_names_the_argument(seeded: Store) -> None:
    with pytest.raises(ConfigError, match="since: cannot read 'yesterday-ish' as a time"):
        analysis.mentions(seeded, since="yesterday-ish")
    assert analysis.utc_time("2026-11-20") == datetime(2026, 11, 20, tzinfo=UTC)
