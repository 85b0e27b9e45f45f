"""The store's contract, on SQLite and on PostgreSQL: migrations, idempotent writes, errors."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select

from noisecast.engine.errors import NoisecastError, StorageError
from noisecast.engine.store import Outcome, Store
from noisecast.engine.store import migrate as migrations
from noisecast.engine.store.tables import fetches, mentions, metadata, sources, story_mentions
from noisecast.feeds.mention import Mention
from tests.conftest import T0

EXPECTED_TABLES = {
    "stories",
    "sources",
    "fetches",
    "mentions",
    "story_mentions",
    "story_hourly",
    "noise_scores",
    "forecasts",
    "review_events",
    "editors",
    "model_runs",
    "job_runs",
}


def count(store: Store, table: object) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def add_source(store: Store, name: str = "wire") -> int:
    source_id, _ = store.upsert_source(
        kind="rss", name=name, url=f"https://{name}.example/feed", interval_minutes=60, now=T0
    )
    return source_id


def mention(i: int, **kw: object) -> Mention:
    values: dict[str, object] = {
        "external_id": f"guid-{i}",
        "title": f"Dockworkers strike day {i}",
        "url": f"https://wire.example/a/{i}",
        "canonical_url": f"https://wire.example/a/{i}",
        "outlet": "wire.example",
        "published_at": T0 - timedelta(minutes=i),
    }
    values.update(kw)
    return Mention(**values)  # type: ignore[arg-type]


def record(store: Store, source_id: int, found: list[Mention], **kw: object) -> int:
    matches = kw.pop("matches", {})
    now = kw.pop("now", T0)

    def outcome(known: set[str]) -> Outcome:
        fetch = {
            "url": "https://wire.example/feed",
            "started_at": now,
            "finished_at": now,
            "duration_ms": 5,
            "http_status": 200,
            "outcome": "ok",
        }
        return Outcome(
            fetch_rows=[fetch],
            source_values={"last_fetched_at": now, "next_due_at": now + timedelta(hours=1)},
            cursors={"": {"etag": '"e1"'}},
        )

    return store.record_collection(
        source_id=source_id,
        kind=str(kw.pop("kind", "rss")),
        found=found,
        matches=matches,  # type: ignore[arg-type]
        outcome=outcome,
        now=now,  # type: ignore[arg-type]
    )


def test_migrations_create_every_table_and_match_the_metadata(store: Store) -> None:
    names = set(inspect(store.engine).get_table_names())
    assert names >= EXPECTED_TABLES | {"alembic_version"}
    assert migrations.current_revision(store.engine) == migrations.head_revision()
    # The migration and tables.py agree: autogenerate would find nothing to do.
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_migrate_twice_is_harmless(store: Store) -> None:
    add_source(store)
    store.migrate()
    assert count(store, sources) == 1


def test_unmigrated_database_says_run_init(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(StorageError, match="run `noisecast init` first"):
        store.check_schema()
    with pytest.raises(StorageError, match=r"no such table.*run `noisecast init`"):
        store.list_sources()


def test_sqlite_pragmas(sqlite_store: Store) -> None:
    with sqlite_store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000


def test_locked_database_raises_storage_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    store = Store(
        __import__("noisecast.engine.store.db", fromlist=["x"]).make_engine(url, busy_timeout_ms=50)
    )
    store.migrate()
    holder = sqlite3.connect(tmp_path / "locked.db")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StorageError, match=r"locked.*busy_timeout_ms"):
            add_source(store, "blocked")
    finally:
        holder.rollback()
        holder.close()
    add_source(store, "after")  # nothing was lost and the store works again
    assert [s["name"] for s in store.list_sources()] == ["after"]


def test_timestamps_round_trip_as_aware_utc(store: Store) -> None:
    source_id = add_source(store)
    paris = timezone(timedelta(hours=1))
    record(store, source_id, [mention(1, published_at=datetime(2026, 1, 5, 13, 0, tzinfo=paris))])
    with store.engine.connect() as conn:
        published = conn.execute(select(mentions.c.published_at)).scalar_one()
    assert published == datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    assert published.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        store.upsert_story("x", "X", "x", now=datetime(2026, 1, 1))


def test_same_entry_stored_twice_is_one_row(store: Store) -> None:
    source_id = add_source(store)
    assert record(store, source_id, [mention(1), mention(2)]) == 2
    assert record(store, source_id, [mention(1), mention(2), mention(3)]) == 1
    assert count(store, mentions) == 3
    assert count(store, fetches) == 2


def test_rerecording_updates_fields_but_keeps_a_known_date(store: Store) -> None:
    source_id = add_source(store)
    record(store, source_id, [mention(1)])
    record(store, source_id, [mention(1, title="Corrected headline", published_at=None)])
    with store.engine.connect() as conn:
        row = conn.execute(select(mentions)).one()
    assert row.title == "Corrected headline"
    assert row.published_at == T0 - timedelta(minutes=1)


def test_duplicate_ids_within_one_fetch_count_once(store: Store) -> None:
    source_id = add_source(store)
    assert record(store, source_id, [mention(1), mention(1, title="again")]) == 1
    assert count(store, mentions) == 1


def test_same_guid_on_two_sources_is_two_mentions(store: Store) -> None:
    a, b = add_source(store, "a"), add_source(store, "b")
    record(store, a, [mention(1)])
    record(store, b, [mention(1)])
    assert count(store, mentions) == 2


def test_matches_are_stored_once(store: Store) -> None:
    source_id = add_source(store)
    store.upsert_story("port-strike", "Port strike", "dockworkers", now=T0)
    matches = {"guid-1": {"port-strike": ["dockworkers"]}}
    record(store, source_id, [mention(1)], matches=matches)
    record(store, source_id, [mention(1)], matches=matches)
    assert count(store, story_mentions) == 1
    assert store.mention_counts() == {"port-strike": 1}


def test_a_failing_write_leaves_nothing_behind(store: Store) -> None:
    source_id = add_source(store)

    def broken(known: set[str]) -> Outcome:
        raise RuntimeError("crash between the mentions and the fetch row")

    with pytest.raises(RuntimeError):
        store.record_collection(
            source_id=source_id, kind="rss", found=[mention(1)], matches={}, outcome=broken, now=T0
        )
    assert count(store, mentions) == 0 and count(store, fetches) == 0
    assert record(store, source_id, [mention(1)]) == 1


def test_upsert_source_keeps_a_redirected_url(store: Store) -> None:
    source_id = add_source(store)
    with store.transaction() as conn:
        conn.execute(
            sources.update().where(sources.c.id == source_id).values(url="https://moved.example/")
        )
    add_source(store)  # config reloaded with the same original URL
    assert store.get_source("wire")["url"] == "https://moved.example/"
    store.upsert_source(
        kind="rss", name="wire", url="https://new.example/", interval_minutes=60, now=T0
    )
    assert store.get_source("wire")["url"] == "https://new.example/"  # config changed: it wins


def test_due_sources_respects_schedule_and_disabled(store: Store) -> None:
    add_source(store, "a")
    add_source(store, "b")
    store.disable_source("b", reason="test", now=T0)
    assert [s["name"] for s in store.due_sources(T0)] == ["a"]
    assert store.due_sources(T0 - timedelta(minutes=1)) == []
    assert [s["name"] for s in store.due_sources(T0 - timedelta(minutes=1), force=True)] == ["a"]
    with pytest.raises(NoisecastError, match="no source named 'zz'"):
        store.disable_source("zz", reason="x", now=T0)


def test_stories_archive_and_reactivate(store: Store) -> None:
    store.upsert_story("a", "A", "alpha", now=T0)
    store.archive_story("a", now=T0)
    assert store.list_stories("active") == []
    store.upsert_story("a", "A", "alpha", now=T0)  # a config reload does not reactivate
    assert store.list_stories("active") == []
    store.upsert_story("a", "A2", "alpha", now=T0, reactivate=True)
    assert [s["title"] for s in store.list_stories("active")] == ["A2"]
    with pytest.raises(NoisecastError, match="no story 'b'"):
        store.archive_story("b", now=T0)


def test_status_reports_counts_and_failing_sources(store: Store) -> None:
    add_source(store, "ok")
    bad = add_source(store, "bad")
    with store.transaction() as conn:
        conn.execute(
            sources.update()
            .where(sources.c.id == bad)
            .values(failures=0.5, last_error="HTTP 503 Service Unavailable")
        )
    record(store, bad, [mention(1)])
    data = store.status(now=T0)
    assert data["sources"] == 2 and data["mentions"] == 1 and data["stories"] == 0
    assert data["failing_sources"] == [
        {
            "name": "bad",
            "url": "https://bad.example/feed",
            "last_error": "HTTP 503 Service Unavailable",
            "failures": 0.5,
            "disabled": False,
        }
    ]
    assert data["last_runs"][0]["source"] == "bad"
