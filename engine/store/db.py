"""Engine creation: SQLite with WAL, foreign keys and a busy timeout; PostgreSQL via psycopg 3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url

from noisecast.engine.errors import StorageError


def make_engine(url: str, *, busy_timeout_ms: int = 5000, echo: bool = False) -> Engine:
    """Create the SQLAlchemy engine for ``url``, with the pragmas noisecast relies on."""
    try:
        parsed = make_url(url)
    except Exception as e:  # sqlalchemy raises ArgumentError with a terse text
        raise StorageError(f"database.url: cannot parse {url!r}: {e}") from e
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed,
            echo=echo,
            connect_args={"timeout": busy_timeout_ms / 1000},
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # Checkpoint every ~40 MB of WAL rather than 4 MB: a collection writes many index
            # pages, and fewer checkpoints halve the commit time measured in bench/ingest.py.
            cursor.execute("PRAGMA wal_autocheckpoint=10000")
            cursor.close()

        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        # A host that drops packets would otherwise hang a command for minutes (libpq waits
        # forever by default); ?connect_timeout=N in the URL overrides this.
        connect = {} if "connect_timeout" in parsed.query else {"connect_timeout": 10}
        return create_engine(parsed, echo=echo, pool_pre_ping=True, connect_args=connect)
    raise StorageError(
        f"database.url: unsupported backend {parsed.get_backend_name()!r}; "
        "use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
    )
