"""What every part of the Store shares: the engine, transactions, dialect-aware upserts, and
the storage edge's guards against values the database cannot hold.

**Values from outside are fitted, not refused.** A count (score, comments, a body's size) that
a hostile or broken source sends can be any size; it is clamped to ``0..COUNT_MAX`` (sizes to
``0..BIGINT_MAX``, 32-bit columns to ``INT_MAX``) so that one number cannot make a write fail.
``COUNT_MAX`` is half the BIGINT range so that ``score + comments``, which readers add in SQL,
still fits. Text loses the NUL bytes and lone surrogates that PostgreSQL (or UTF-8) cannot
store. What the database still refuses raises :class:`RowsRefused`, so that a caller writing
several sources' rows at once can write the others without them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
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

from engine.errors import StorageError

BIGINT_MAX = 2**63 - 1  # a BIGINT column's largest value (SQLite's INTEGER too)
COUNT_MAX = 2**62 - 1  # a stored score or comment count: two of them still add up in a BIGINT
INT_MAX = 2**31 - 1  # a 32-bit INTEGER column's largest value (PostgreSQL)
# The times a mention can plausibly have. One stored outside them (by a version that did not
# clamp, or by hand) is ignored when the hourly rows are computed: no hour arithmetic on it.
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(2200, 1, 1, tzinfo=UTC)

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


def clamp_count(value: Any, top: int = COUNT_MAX) -> int | None:
    """A count as it is stored: an integer in ``0..top``; None for none, or for a NaN or
    something that is not a number."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and math.isinf(value):
        return top if value > 0 else 0
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return min(max(number, 0), top)


def plausible(when: datetime | None) -> bool:
    """Whether a stored mention time is one the hourly rows can count (see EARLIEST_TIME)."""
    return when is not None and EARLIEST_TIME <= when < LATEST_TIME


def storable_text(value: str | None) -> str | None:
    """Text the database can hold: without NUL bytes (PostgreSQL refuses them) and with lone
    surrogates (which UTF-8 cannot encode; JSON's ``\\ud800`` makes one) replaced."""
    if value is None:
        return None
    if "\x00" in value:
        value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


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
