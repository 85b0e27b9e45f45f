"""Shared fixtures: real SQLite and PostgreSQL stores, settings, and ../shared/data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import create_engine, text

from noisecast.engine.config import CollectorSettings, DatabaseSettings, Settings
from noisecast.engine.store import Store

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
PG_URL_VAR = "NOISECAST_TEST_PG_URL"
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LOOPBACK = ("127.0.0.0/8",)  # allow_private_networks for fetching from the test servers


def require(condition: bool, reason: str) -> None:
    """Skip when a test's outside need is missing, but fail in CI, where it must be there."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this must not be skipped)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    require(SHARED_DATA.is_dir(), f"{SHARED_DATA} is absent: the real-data tests need ../shared")
    return SHARED_DATA


def _pg_url() -> str | None:
    return os.environ.get(PG_URL_VAR)


def _reset_pg(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'noisecast.db'}"


@pytest.fixture
def pg_url() -> str:
    url = _pg_url()
    require(url is not None, f"no PostgreSQL: set {PG_URL_VAR} (.ci/run starts one)")
    assert url is not None
    _reset_pg(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test that takes it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'noisecast.db'}"
    return request.getfixturevalue("pg_url")


def _migrated(url: str) -> Iterator[Store]:
    s = Store.from_url(url)
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    yield from _migrated(db_url)


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[Store]:
    yield from _migrated(sqlite_url)


def fast_collector(**overrides: object) -> CollectorSettings:
    """Collector settings for loopback tests: no per-host gap, no jitter, short timeouts, and
    the loopback network allowed (the test servers listen on 127.0.0.1)."""
    values: dict[str, object] = {
        "per_host_min_gap_seconds": 0.0,
        "per_host_concurrency": 4,
        "jitter_fraction": 0.0,
        "timeout_seconds": 2.0,
        "connect_timeout_seconds": 2.0,
        "user_agent": "noisecast-tests/0.1",
        "contact": "tests@example.org",
        "allow_private_networks": LOOPBACK,
    }
    values.update(overrides)
    return CollectorSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database=DatabaseSettings(url=db_url), collector=fast_collector())


# --- the server -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def http_server() -> Iterator[HTTPServer]:
    """One threaded server for the session: a client that overlaps requests would be seen to."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def server(http_server: HTTPServer) -> Iterator[HTTPServer]:
    http_server.clear()
    yield http_server
    http_server.check_handler_errors()  # a handler that raised is a broken test, not a pass
    http_server.check_assertions()  # so is a request no handler expected
    http_server.clear()


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 72-hour demo database, built once per session; tests take copies (``demo_copy``)."""
    from rich.console import Console

    from noisecast.engine.demo.run import run_demo

    db = tmp_path_factory.mktemp("demo-template") / "demo.db"
    run_demo(Settings(), hours=72, database_url=f"sqlite:///{db}", console=Console(quiet=True),
             quiet=True)  # fmt: skip
    return db


def copy_demo(template: Path, directory: Path) -> Path:
    """A private copy of the demo database (its models directory is shared, read-only)."""
    import shutil

    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "demo.db"
    shutil.copy(template, target)
    return target
