"""The incremental hourly rows equal a full rebuild, through the real write paths.

Random histories of collections (new mentions, syndicated copies on other outlets, re-fetches
that move a mention's time or grow its engagement) and rematches (matches added and dropped)
are written through the Store; the change log is applied at random points; at the end the
stored hourly rows must be exactly those of a rebuild from the stored mentions.
"""

from __future__ import annotations

import shutil
import uuid
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from noisecast.engine.jobs.noise import rebuild_hourly, refresh_hourly
from noisecast.engine.store import Store
from noisecast.engine.store.tables import noise_changes, story_hourly
from noisecast.feeds.mention import Mention
from tests.conftest import T0
from tests.test_store import record

STORIES = ("alpha", "beta", "gamma")
SOURCES = (("wire", "rss"), ("paper", "atom"), ("reddit", "reddit"))
FIRST = T0 - timedelta(hours=12)
SPAN = (FIRST - timedelta(days=2), T0 + timedelta(hours=12))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database with the stories and sources, copied for each example."""
    path = tmp_path_factory.mktemp("incremental") / "template.db"
    store = Store.from_url(f"sqlite:///{path}")
    store.migrate()
    for slug in STORIES:
        store.upsert_story(slug, slug.title(), slug, now=FIRST)
    for name, kind in SOURCES:
        store.upsert_source(
            kind=kind, name=name, url=f"https://{name}.example/feed", interval_minutes=60, now=FIRST
        )
    store.close()
    return path


entry = st.fixed_dictionaries(
    {
        "n": st.integers(0, 7),  # external id within the source: re-fetches hit the same row
        "hour": st.integers(0, 11),
        "minute": st.integers(0, 59),
        "story": st.sets(st.sampled_from(STORIES), min_size=1),
        "url": st.integers(0, 3),  # shared canonical URLs make syndicated groups
        "outlet": st.sampled_from(["a.example", "b.example", None]),
        "score": st.integers(0, 50),
    }
)
step = st.one_of(
    st.tuples(st.just("collect"), st.integers(0, len(SOURCES) - 1), st.lists(entry, max_size=5)),
    st.tuples(st.just("rematch"), st.sampled_from(STORIES), st.integers(0, 2**16)),
    st.tuples(st.just("refresh"), st.none(), st.none()),
)


def _mention(source: str, kind: str, e: dict[str, object]) -> Mention:
    when = FIRST + timedelta(hours=int(e["hour"]), minutes=int(e["minute"]))  # type: ignore[call-overload]
    social = kind == "reddit"
    return Mention(
        external_id=f"{source}-{e['n']}",
        title=f"Story {e['url']} on {source}",
        url=f"https://{source}.example/{e['n']}",
        canonical_url=None if social else f"https://origin.example/{e['url']}",
        outlet=str(e["outlet"]) if e["outlet"] else None,
        published_at=when,
        score=int(e["score"]) if social else None,  # type: ignore[call-overload]
        comments=1 if social else None,
    )


def _hourly(store: Store) -> pd.DataFrame:
    frame = store.hourly_frame(*SPAN)
    return frame.sort_values(["story", "hour"]).reset_index(drop=True)


def _apply(store: Store, steps: list[tuple[str, object, object]], now_step: int) -> None:
    for i, (what, a, b) in enumerate(steps):
        now = T0 + timedelta(minutes=now_step + i)
        if what == "collect":
            name, kind = SOURCES[int(a)]  # type: ignore[call-overload]
            found = {}
            matches: dict[str, dict[str, list[str]]] = {}
            for e in b:  # type: ignore[attr-defined]
                m = _mention(name, kind, e)
                found[m.external_id] = m
                matches[m.external_id] = {slug: [slug] for slug in e["story"]}
            record(
                store,
                int(a) + 1,  # type: ignore[call-overload]  # ids in SOURCES order
                list(found.values()),
                matches=matches,
                kind=kind,
                now=now,
            )
        elif what == "rematch":
            with store.engine.connect() as conn:
                ids = sorted(
                    conn.execute(select(func.distinct(noise_changes.c.mention_id))).scalars()
                )
            keep = {m: [str(a)] for m in ids if (m * 2654435761 + int(b)) % 3}  # type: ignore[call-overload]
            store.replace_matches(store.story_id(str(a)), SPAN[0], keep, now=now)
        else:
            refresh_hourly(store)


@settings(
    max_examples=60,
    phases=[Phase.explicit, Phase.generate],  # shrinking a database history takes minutes
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=st.lists(step, min_size=1, max_size=8))
def test_incremental_rows_equal_a_full_rebuild(
    template: Path, tmp_path: Path, steps: list[tuple[str, object, object]]
) -> None:
    path = tmp_path / f"example-{uuid.uuid4().hex}.db"  # examples share tmp_path
    shutil.copy(template, path)
    store = Store.from_url(f"sqlite:///{path}")
    try:
        _apply(store, steps, 0)
        refresh_hourly(store)
        with store.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(noise_changes)).scalar() == 0
        incremental = _hourly(store)
        rebuild_hourly(store, *SPAN)
        rebuilt = _hourly(store)
        pd.testing.assert_frame_equal(incremental, rebuilt)
        assert (rebuilt[["mentions", "outlets", "engagement"]].sum(axis=1) > 0).all()
    finally:
        store.close()


def test_refresh_touches_only_the_changed_hours(template: Path, tmp_path: Path) -> None:
    path = tmp_path / "example.db"
    shutil.copy(template, path)
    store = Store.from_url(f"sqlite:///{path}")
    try:
        wire = 1  # the first source of the template
        early = _mention("wire", "rss", {"n": 1, "hour": 0, "minute": 5, "url": 1, "outlet": None})
        record(store, wire, [early], matches={early.external_id: {"alpha": ["alpha"]}}, now=T0)
        assert refresh_hourly(store) == 1
        with store.engine.begin() as conn:  # mark the stored row so that a rewrite shows
            conn.execute(story_hourly.update().values(engagement=99.0))
        late = _mention("wire", "rss", {"n": 2, "hour": 5, "minute": 0, "url": 2, "outlet": None})
        record(store, wire, [late], matches={late.external_id: {"alpha": ["alpha"]}}, now=T0)
        assert refresh_hourly(store) == 1  # only the new mention's hour
        rows = _hourly(store).set_index("hour")
        assert rows.loc[FIRST, "engagement"] == 99.0  # hour 0 was not recomputed
        assert rows.loc[FIRST + timedelta(hours=5), "mentions"] == 1
        # The same feed fetched again, unchanged: nothing logged, nothing recomputed.
        record(store, wire, [early, late], matches={}, now=T0 + timedelta(hours=1))
        assert refresh_hourly(store) == 0
    finally:
        store.close()


def test_a_crash_before_the_write_leaves_the_log_to_apply_again(
    template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "example.db"
    shutil.copy(template, path)
    store = Store.from_url(f"sqlite:///{path}")
    try:
        wire = 1  # the first source of the template
        m = _mention("wire", "rss", {"n": 1, "hour": 3, "minute": 5, "url": 1, "outlet": None})
        record(store, wire, [m], matches={m.external_id: {"beta": ["beta"]}}, now=T0)

        def crash(*args: object, **kwargs: object) -> None:
            raise RuntimeError("killed mid-write")

        with monkeypatch.context() as patch:
            patch.setattr(store, "replace_hourly_keys", crash)
            with pytest.raises(RuntimeError):
                refresh_hourly(store)
        assert _hourly(store).empty
        assert refresh_hourly(store) == 1
        assert _hourly(store)["mentions"].tolist() == [1]
    finally:
        store.close()


def test_incremental_equals_rebuild_on_each_database(store: Store) -> None:
    """One fixed history (syndicated copies, a moved date, grown engagement, a rematch that
    drops matches) on SQLite and on PostgreSQL."""
    for slug in STORIES:
        store.upsert_story(slug, slug.title(), slug, now=FIRST)
    for name, kind in SOURCES:
        store.upsert_source(
            kind=kind, name=name, url=f"https://{name}.example/feed", interval_minutes=60, now=FIRST
        )

    def e(n: int, hour: int, url: int, *stories: str, score: int = 1) -> dict[str, object]:
        return {"n": n, "hour": hour, "minute": 7 * n, "url": url, "outlet": "a.example",
                "story": set(stories), "score": score}  # fmt: skip

    steps: list[tuple[str, object, object]] = [
        ("collect", 0, [e(1, 2, 1, "alpha"), e(2, 4, 2, "alpha", "beta")]),
        ("collect", 1, [e(1, 1, 1, "alpha"), e(3, 6, 2, "beta")]),  # copies, one earlier
        ("refresh", None, None),
        ("collect", 2, [e(1, 3, 0, "alpha", score=5), e(2, 3, 0, "gamma")]),
        ("collect", 0, [e(1, 8, 1, "alpha")]),  # the first copy's date moved
        ("collect", 2, [e(1, 3, 0, "alpha", score=40)]),  # its engagement grew
        ("rematch", "alpha", 1),
    ]
    _apply(store, steps, 0)
    assert refresh_hourly(store) > 0
    incremental = _hourly(store)
    assert incremental["mentions"].sum() > 0
    rebuild_hourly(store, *SPAN)
    pd.testing.assert_frame_equal(incremental, _hourly(store))
