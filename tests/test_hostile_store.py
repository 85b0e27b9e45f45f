"""What a hostile or broken source can put in the write path, on SQLite and PostgreSQL (issue 11).

- An item dated in the future is counted when it was first seen; the date its feed stated is
  kept beside it (``mentions.stated_published_at``), and a re-fetch never moves it forward.
- A count or a size that does not fit a column is clamped at the storage edge, and a source
  whose rows the database still refuses fails alone: the rest of its batch is written.
- A mention time that no feed can mean (year 9999, year 1), already in a database, cannot stop
  the hourly update or a rebuild.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text, update

from noisecast.engine import analysis
from noisecast.engine.config import Settings
from noisecast.engine.core.match import StoryMatcher
from noisecast.engine.core.syndication import url_key
from noisecast.engine.jobs.noise import rebuild_hourly, refresh_hourly, update_noise
from noisecast.engine.jobs.record import record_harvests
from noisecast.engine.store import Collected, Outcome, Store
from noisecast.engine.store._fit import BIGINT_MAX, COUNT_MAX, FUTURE_SKEW
from noisecast.engine.store.tables import (
    fetches,
    mention_engagement,
    mentions,
    noise_changes,
    sources,
    story_hourly,
    story_mentions,
    syndication_heads,
)
from noisecast.feeds.base import Harvest, Task
from noisecast.feeds.http import FetchResult
from noisecast.feeds.mention import Mention
from tests.conftest import T0, fast_collector
from tests.test_store import add_source, record

FUTURE = datetime(2030, 6, 1, 9, 15, tzinfo=UTC)
STRIKE = {"strike": ["strike"]}


def rows(store: Store, *columns: Any, where: Any = None) -> list[Any]:
    query = select(*columns)
    if where is not None:
        query = query.where(where)
    with store.engine.connect() as conn:
        return list(conn.execute(query.order_by(*columns[:1])).all())


def stored(store: Store, external_id: str) -> Any:
    with store.engine.connect() as conn:
        return conn.execute(select(mentions).where(mentions.c.external_id == external_id)).one()


def logged(store: Store) -> list[datetime]:
    return sorted(r.at for r in rows(store, noise_changes.c.at))


def strike(external_id: str, when: datetime | None, **kw: Any) -> Mention:
    values: dict[str, Any] = {
        "external_id": external_id,
        "title": f"Dockworkers strike report {external_id}",
        "url": f"https://wire.example/{external_id}",
        "canonical_url": f"https://wire.example/{external_id}",
        "outlet": "wire.example",
        "published_at": when,
    }
    values.update(kw)
    return Mention(**values)


def hourly(store: Store) -> dict[datetime, int]:
    """Every stored hourly row's mentions (the table itself: the Store's reads skip rows at
    implausible hours)."""
    return {r.hour: r.mentions for r in rows(store, story_hourly.c.hour, story_hourly.c.mentions)}


@pytest.fixture
def wire(store: Store) -> int:
    store.upsert_story("strike", "Port strike", "strike", now=T0)
    return add_source(store)


# --- §3: items dated in the future ---------------------------------------------------------------


def test_an_item_from_the_future_counts_in_the_hour_it_arrived(store: Store, wire: int) -> None:
    found = [
        strike("far", FUTURE),
        strike("skewed", T0 + FUTURE_SKEW - timedelta(minutes=1)),  # a clock a little ahead
        strike("ahead", T0 + FUTURE_SKEW + timedelta(minutes=1)),
        strike("past", T0 - timedelta(hours=2)),
    ]
    record(store, wire, found, matches={m.external_id: STRIKE for m in found}, now=T0)

    far = stored(store, "far")
    assert (far.published_at, far.stated_published_at) == (T0, FUTURE)
    assert stored(store, "ahead").published_at == T0
    skewed = stored(store, "skewed")
    assert skewed.published_at == T0 + FUTURE_SKEW - timedelta(minutes=1)
    assert skewed.stated_published_at is None
    assert stored(store, "past").stated_published_at is None
    assert max(logged(store)) < T0 + FUTURE_SKEW  # the change log holds the clamped times

    refresh_hourly(store)
    assert hourly(store) == {T0 - timedelta(hours=2): 1, T0: 3}
    frame = analysis.hourly(store)
    assert len(frame) == 3  # not the ~31,000 empty hours up to 2030


def test_a_refetch_never_moves_a_future_item_forward(store: Store, wire: int) -> None:
    record(store, wire, [strike("far", FUTURE)], matches={"far": STRIKE}, now=T0)
    refresh_hourly(store)
    later = T0 + timedelta(hours=3)
    record(store, wire, [strike("far", FUTURE)], matches={"far": STRIKE}, now=later)
    far = stored(store, "far")
    assert (far.published_at, far.stated_published_at, far.fetched_at) == (T0, FUTURE, T0)
    assert logged(store) == []  # nothing moved, nothing for the hourly update to do
    record(store, wire, [strike("far", None)], matches={"far": STRIKE}, now=later)
    assert stored(store, "far").stated_published_at == FUTURE  # an undated re-fetch keeps it
    assert logged(store) == []

    corrected = T0 - timedelta(hours=5)  # the feed fixes its date
    record(store, wire, [strike("far", corrected)], matches={"far": STRIKE}, now=later)
    far = stored(store, "far")
    assert (far.published_at, far.stated_published_at) == (corrected, None)
    assert logged(store) == [corrected, T0]  # the old hour and the new one
    refresh_hourly(store)
    assert hourly(store) == {corrected: 1}
    rebuild_hourly(store, T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert hourly(store) == {corrected: 1}


def test_a_future_date_stored_before_the_clamp_is_repaired_by_the_next_fetch(
    store: Store, wire: int
) -> None:
    record(store, wire, [strike("far", T0)], matches={"far": STRIKE}, now=T0)
    with store.transaction() as conn:  # as a version without the clamp stored it
        conn.execute(update(mentions).values(published_at=FUTURE))
        conn.execute(update(noise_changes).values(at=FUTURE))
    refresh_hourly(store)
    assert hourly(store) == {FUTURE.replace(minute=0): 1}

    record(store, wire, [strike("far", FUTURE)], matches={"far": STRIKE}, now=T0 + timedelta(1))
    far = stored(store, "far")
    assert (far.published_at, far.stated_published_at) == (T0, FUTURE)
    refresh_hourly(store)
    assert hourly(store) == {T0: 1}


# --- §7: oversized integers, and a batch that must not fail as a whole ----------------------------


def _fetch_row(now: datetime, size: int) -> dict[str, Any]:
    return {
        "url": "https://wire.example/feed",
        "started_at": now,
        "finished_at": now,
        "duration_ms": 5,
        "http_status": 200,
        "outcome": "ok",
        "bytes": size,
        "items_seen": 1,
    }


def _collected(source_id: int, kind: str, found: Sequence[Mention], size: int) -> Collected:
    def outcome(known: set[str]) -> Outcome:
        return Outcome(
            fetch_rows=[_fetch_row(T0, size)],
            source_values={"last_fetched_at": T0},
            cursors={},
        )

    return Collected(source_id, kind, found, {m.external_id: STRIKE for m in found}, outcome)


@pytest.mark.parametrize("value", [2**31, 2**63, 10**30], ids=["2^31", "2^63", "10^30"])
def test_an_oversized_count_is_clamped_and_the_batch_is_written(
    store: Store, wire: int, value: int
) -> None:
    social, _ = store.upsert_source(
        kind="hackernews", name="hn", url="https://hn.example/", interval_minutes=60, now=T0
    )
    huge = strike("huge", T0, score=value, comments=value)
    batch = [
        _collected(social, "hackernews", [huge], size=value),
        _collected(wire, "rss", [strike("plain", T0 - timedelta(minutes=5))], size=100),
    ]
    for _ in range(2):  # and on every later run
        assert len(store.record_collections(batch, now=T0)) == 2

    row = stored(store, "huge")
    assert row.score == row.comments == min(value, COUNT_MAX)
    assert stored(store, "plain").score is None
    history = rows(store, mention_engagement.c.score, mention_engagement.c.comments)
    assert [tuple(r) for r in history] == [(min(value, COUNT_MAX), min(value, COUNT_MAX))]
    assert sorted(r.bytes for r in rows(store, fetches.c.bytes)) == [100, 100] + 2 * [
        min(value, BIGINT_MAX)
    ]
    update_noise(store, Settings(), start=T0, end=T0 + timedelta(hours=1))
    engagement = rows(store, story_hourly.c.engagement, where=story_hourly.c.hour == T0)
    assert [r.engagement for r in engagement] == [pytest.approx(2.0 * min(value, COUNT_MAX))]


def _refuse_titles(store: Store, word: str) -> None:
    """A trigger that refuses any mention whose title holds ``word``: the database saying no to
    one source's rows, for whatever reason (a constraint, a value it cannot hold)."""
    with store.transaction() as conn:
        if store.dialect == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON mentions "
                    f"WHEN NEW.title LIKE '%{word}%' "
                    "BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                    f"IF NEW.title LIKE '%{word}%' THEN RAISE EXCEPTION "
                    "'refused by a test trigger' USING ERRCODE = 'check_violation'; END IF; "
                    "RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON mentions "
                    "FOR EACH ROW EXECUTE FUNCTION refuse()"
                )
            )


def _harvest(name: str, titles: Sequence[str]) -> Harvest:
    result = FetchResult(
        url=f"https://{name}.example/feed", status=200, content=b"<rss/>", etag='"v1"'
    )
    found = [
        Mention(external_id=f"{name}-{i}", title=t, published_at=T0 - timedelta(minutes=i))
        for i, t in enumerate(titles)
    ]
    return Harvest(Task(key="", url=result.url), result, found, parser="rss")


def _batch(
    store: Store, harvests: Mapping[str, Sequence[str]]
) -> list[tuple[dict[str, Any], list[Harvest]]]:
    return [(store.get_source(name), [_harvest(name, titles)]) for name, titles in harvests.items()]


def test_a_source_the_database_refuses_fails_alone(store: Store) -> None:
    store.upsert_story("strike", "Port strike", "strike", now=T0)
    for name in ("a", "bad", "c"):
        add_source(store, name)
    _refuse_titles(store, "REFUSED")
    settings = fast_collector()
    matcher = StoryMatcher({"strike": "strike"})
    harvests = {
        "a": ["Strike at the port", "Strike spreads"],
        "bad": ["Strike news", "REFUSED strike"],
        "c": ["Strike ends"],
    }
    for run in range(2):  # the refused source does not block the others on a later run either
        now = T0 + timedelta(hours=run)
        reports = record_harvests(store, settings, matcher, _batch(store, harvests), now=now)
        by_name = {r.source: r for r in reports}
        assert [r.source for r in reports] == ["a", "bad", "c"]
        assert by_name["a"].outcome == by_name["c"].outcome == "ok"
        assert by_name["bad"].outcome == "error" and by_name["bad"].items_new == 0
        assert "refused by a test trigger" in (by_name["bad"].error or "")

    names = {r.id: r.name for r in rows(store, sources.c.id, sources.c.name)}
    with store.engine.connect() as conn:
        by_source = conn.execute(
            select(mentions.c.source_id, func.count()).group_by(mentions.c.source_id)
        ).all()
    assert {names[s]: n for s, n in by_source} == {"a": 2, "c": 1}
    assert len(rows(store, story_mentions.c.mention_id)) == 3
    bad = store.get_source("bad")
    assert "refused by a test trigger" in bad["last_error"]
    assert bad["consecutive_failures"] == 2 and bad["next_due_at"] > T0 + timedelta(hours=1)
    assert store.get_source("a")["last_error"] is None
    bad_fetches = rows(
        store, fetches.c.outcome, fetches.c.error, where=fetches.c.source_id == bad["id"]
    )
    assert [r.outcome for r in bad_fetches] == ["error", "error"]
    assert all("refused by a test trigger" in r.error for r in bad_fetches)
    assert store.cursor("a").etag == '"v1"'
    assert store.cursor("bad").etag is None  # validators not saved: fetched whole next time


def test_a_source_removed_while_it_was_collected_does_not_stop_the_batch(store: Store) -> None:
    for name in ("a", "gone", "c"):
        add_source(store, name)
    batch = _batch(store, {"a": ["One"], "gone": ["Two"], "c": ["Three"]})
    with store.transaction() as conn:
        conn.execute(sources.delete().where(sources.c.name == "gone"))
    reports = record_harvests(store, fast_collector(), StoryMatcher({}), batch, now=T0)
    assert [(r.source, r.outcome) for r in reports] == [("a", "ok"), ("gone", "error"), ("c", "ok")]
    assert sorted(r.external_id for r in rows(store, mentions.c.external_id)) == ["a-0", "c-0"]


# --- §7: a stored time no feed can mean ----------------------------------------------------------


@pytest.mark.parametrize(
    "absurd",
    [datetime(9999, 12, 31, 23, 30, tzinfo=UTC), datetime(1, 1, 1, 0, 30, tzinfo=UTC)],
    ids=["year-9999", "year-1"],
)
def test_an_absurd_stored_time_does_not_stop_scoring(
    store: Store, wire: int, absurd: datetime
) -> None:
    record(store, wire, [strike("ok", T0)], matches={"ok": STRIKE}, now=T0)
    story_id = store.story_id("strike")
    with store.transaction() as conn:  # as hand-written SQL, or an older version, left it
        bad_id = conn.execute(
            insert(mentions)
            .values(
                source_id=wire,
                external_id="absurd",
                kind="rss",
                title_key="k",
                title="Dockworkers strike absurd date",
                canonical_url="https://wire.example/shared",
                published_at=absurd,
                fetched_at=T0,
                updated_at=T0,
            )
            .returning(mentions.c.id)
        ).scalar_one()
        conn.execute(update(mentions).where(mentions.c.id == bad_id).values(group_id=bad_id))
        conn.execute(
            insert(story_mentions).values(
                story_id=story_id, mention_id=bad_id, matched_terms=["strike"], matched_at=T0
            )
        )
        conn.execute(insert(noise_changes).values(story_id=story_id, mention_id=bad_id, at=absurd))
        conn.execute(update(sources).values(next_due_at=absurd))  # overdue since year 1?
        conn.execute(
            insert(syndication_heads).values(
                key=url_key("https://wire.example/shared"),
                mention_id=bad_id,
                group_id=bad_id,
                at=absurd,
            )
        )
    # a copy of it (same canonical URL) joins its group: the group's hours are recomputed too
    copy = strike("copy", T0 + timedelta(hours=1), canonical_url="https://wire.example/shared")
    record(store, wire, [copy], matches={"copy": STRIKE}, now=T0 + timedelta(hours=1))
    assert stored(store, "copy").group_id == bad_id

    end = T0 + timedelta(hours=3)
    report = update_noise(store, Settings(), start=T0, end=end)
    assert report.scores == 3
    assert logged(store) == []  # the log was applied, the absurd row with it
    assert hourly(store) == {T0: 1, T0 + timedelta(hours=1): 1}
    update_noise(store, Settings(), start=T0, end=end, rebuild=True)
    assert hourly(store) == {T0: 1, T0 + timedelta(hours=1): 1}
    assert len(analysis.hourly(store)) == 2


def test_error_text_from_a_server_is_stored_printable(store: Store) -> None:
    source_id = add_source(store, "loud")
    with store.transaction() as conn:  # the next failure disables it: the reason quotes it
        conn.execute(update(sources).where(sources.c.id == source_id).values(failures=100.0))
    hostile = "HTTP 500 \x1b[2J\x1b]8;;https://evil.example/\x07click\x1b]8;;\x07\r\nX-Injected: 1"
    result = FetchResult(
        url="https://loud.example/feed", status=500, error_kind="http", error=hostile
    )
    batch = [(store.get_source("loud"), [Harvest(Task(key="", url=result.url), result)])]
    [report] = record_harvests(store, fast_collector(), StoryMatcher({}), batch, now=T0)
    assert report.outcome == "disabled"
    source = store.get_source("loud")
    [fetch] = rows(store, fetches.c.error)
    for stored_text in (fetch.error, source["last_error"], source["disabled_reason"]):
        assert "\x1b" not in stored_text and "\x07" not in stored_text and "\n" not in stored_text
        assert "\\x1b[2J" in stored_text
