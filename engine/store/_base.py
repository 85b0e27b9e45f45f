"""What every part of the Store shares: the engine, transactions, dialect-aware upserts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import InterfaceError, OperationalError, ProgrammingError, SQLAlchemyError

from engine.errors import StorageError

# Errors of the database rather than of our code: locked, unreachable, schema missing.
_WRAPPED = (OperationalError, ProgrammingError, InterfaceError)


class StoreBase:
    engine: Engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def insert(self, table: Table) -> Any:
        """An INSERT that supports ``on_conflict_do_nothing/update`` on this backend."""
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction; driver errors come out as StorageError naming the database."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except _WRAPPED as e:
            raise StorageError(_explain(e, self.engine)) from e

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except _WRAPPED as e:
            raise StorageError(_explain(e, self.engine)) from e


def _explain(e: SQLAlchemyError, engine: Engine) -> str:
    where = engine.url.render_as_string(hide_password=True)
    text = str(getattr(e, "orig", e)).strip().splitlines()[0] if str(e) else type(e).__name__
    hint = ""
    lowered = text.lower()
    if "no such table" in lowered or ("relation" in lowered and "does not exist" in lowered):
        hint = " (the schema is missing or old: run `noisecast init`)"
    elif "locked" in lowered:
        hint = " (another process holds the database; retry, or raise database.busy_timeout_ms)"
    return f"database {where}: {text}{hint}"
