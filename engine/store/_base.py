"""What every part of the Store shares: the engine, transactions, dialect-aware upserts.

Values from outside are fitted to their columns before they are written
(``noisecast.engine.store._fit``); rows the database still refuses raise :class:`RowsRefused`, so
that a caller writing several sources' rows at once can write the others without them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import (
    InterfaceError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
    StatementError,
)

from noisecast.engine.errors import StorageError

# Errors of the database rather than of our code: locked, unreachable, schema missing.
_WRAPPED = (OperationalError, ProgrammingError, InterfaceError)
# Errors of the rows being written: a constraint, a value out of a column's range, a value the
# driver cannot send (sqlite3 raises OverflowError for an int beyond 64 bits).
_REFUSED = (StatementError, OverflowError)


class RowsRefused(StorageError):
    """The database refused rows of a write: a constraint, a value it cannot hold. The data's
    fault, not the database's: writing other rows may well succeed. ``reason`` is the driver's
    one-line explanation."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class StoreBase:
    engine: Engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def insert(self, table: Table) -> Any:
        """An INSERT that supports ``on_conflict_do_nothing/update`` on this backend."""
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    @contextmanager
    def transaction(self, *, refusable: bool = False) -> Iterator[Connection]:
        """One transaction; driver errors come out as StorageError naming the database. With
        ``refusable``, rows the database refuses raise :class:`RowsRefused` (a StorageError)."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except _WRAPPED as e:
            raise StorageError(_explain(e, self.engine)) from e
        except _REFUSED as e:
            if not refusable:
                raise
            reason = _first_line(e)
            where = self.engine.url.render_as_string(hide_password=True)
            raise RowsRefused(f"database {where} refused the rows: {reason}", reason) from e

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except _WRAPPED as e:
            raise StorageError(_explain(e, self.engine)) from e


def _first_line(e: BaseException) -> str:
    """The driver's explanation, without SQLAlchemy's statement and parameters."""
    lines = str(getattr(e, "orig", None) or e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def _explain(e: SQLAlchemyError, engine: Engine) -> str:
    where = engine.url.render_as_string(hide_password=True)
    text = _first_line(e)
    hint = ""
    lowered = text.lower()
    if "no such table" in lowered or ("relation" in lowered and "does not exist" in lowered):
        hint = " (the schema is missing or old: run `noisecast init`)"
    elif "locked" in lowered:
        hint = " (another process holds the database; retry, or raise database.busy_timeout_ms)"
    return f"database {where}: {text}{hint}"
