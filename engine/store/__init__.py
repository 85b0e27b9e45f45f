"""Storage: SQLAlchemy Core tables, Alembic migrations and the Store that reads and writes them.

The Store is split into per-domain mixins (after reader's storage): stories, sources,
mentions, status. Only here do driver errors become :class:`~noisecast.engine.errors.StorageError`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from noisecast.engine.config import DatabaseSettings
from noisecast.engine.errors import StorageError
from noisecast.engine.store import migrate as _migrate
from noisecast.engine.store._alert_outbox import AlertOutboxMixin
from noisecast.engine.store._alerts import AlertsMixin
from noisecast.engine.store._emerging import EmergingMixin
from noisecast.engine.store._forecasts import ForecastsMixin
from noisecast.engine.store._jobs import JobsMixin
from noisecast.engine.store._mentions import Collected, MentionsMixin, Outcome, title_key
from noisecast.engine.store._noise import NoiseMixin
from noisecast.engine.store._review import ReviewMixin
from noisecast.engine.store._sources import REMOVED, SourcesMixin
from noisecast.engine.store._stories import StoriesMixin
from noisecast.engine.store._timeline import TimelineMixin
from noisecast.engine.store.db import make_engine
from noisecast.engine.store.tables import fetches, job_runs, mentions, sources, stories

__all__ = ["Collected", "Outcome", "Store", "title_key"]


class Store(
    StoriesMixin,
    SourcesMixin,
    MentionsMixin,
    NoiseMixin,
    ForecastsMixin,
    JobsMixin,
    ReviewMixin,
    TimelineMixin,
    AlertsMixin,
    AlertOutboxMixin,
    EmergingMixin,
):
    """The database behind noisecast, SQLite or PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, settings: DatabaseSettings) -> Store:
        return cls(
            make_engine(settings.url, busy_timeout_ms=settings.busy_timeout_ms, echo=settings.echo)
        )

    @classmethod
    def from_url(cls, url: str) -> Store:
        return cls(make_engine(url))

    def close(self) -> None:
        self.engine.dispose()

    def connect_check(self) -> None:
        """Raise StorageError, in one line, when the database cannot be reached at all (a
        server down, a wrong host or port, a refused login): what every command says then."""
        try:
            with self.engine.connect():
                pass
        except (OperationalError, InterfaceError) as e:
            where = self.engine.url.render_as_string(hide_password=True)
            lines = str(getattr(e, "orig", e)).strip().splitlines() or [type(e).__name__]
            raise StorageError(
                f"database {where}: cannot connect: {lines[0].strip()} (is the server running, "
                "and is [database] url, NOISECAST_DATABASE_URL or --database right?)"
            ) from e

    def migrate(self) -> None:
        """Create the schema, or bring it up to date. Safe to run any number of times."""
        self.connect_check()
        try:
            _migrate.upgrade(self.engine)
        except Exception as e:  # alembic wraps driver errors in its own types
            raise StorageError(
                f"database {self.engine.url.render_as_string(hide_password=True)}: "
                f"migration failed: {e}"
            ) from e

    def check_schema(self) -> None:
        """Raise StorageError unless the schema is at the newest migration."""
        self.connect_check()
        current = _migrate.current_revision(self.engine)
        head = _migrate.head_revision()
        if current != head:
            where = self.engine.url.render_as_string(hide_password=True)
            state = "has no noisecast schema" if current is None else f"is at {current}"
            raise StorageError(
                f"database {where} {state}, expected {head}: run `noisecast init` first"
            )

    def status(self, *, now: datetime, recent: int = 10) -> dict[str, Any]:
        """Counts, the last fetches and the failing sources: what `noisecast status` shows."""
        with self.reading() as conn:

            def count(table: Any, *where: Any) -> int:
                return int(
                    conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()
                )

            not_removed = or_(
                sources.c.disabled_reason.is_(None), sources.c.disabled_reason != REMOVED
            )
            failing = conn.execute(
                select(
                    sources.c.name,
                    sources.c.url,
                    sources.c.last_error,
                    sources.c.failures,
                    sources.c.disabled_at,
                    sources.c.disabled_reason,
                )
                .where(
                    (sources.c.failures > 0) | sources.c.disabled_at.is_not(None),
                    not_removed,
                )
                .order_by(sources.c.name)
            ).all()
            last_fetches = conn.execute(
                select(
                    sources.c.name.label("source"),
                    fetches.c.started_at,
                    fetches.c.outcome,
                    fetches.c.http_status,
                    fetches.c.items_seen,
                    fetches.c.items_new,
                    fetches.c.error,
                )
                .join(sources, sources.c.id == fetches.c.source_id)
                .order_by(fetches.c.id.desc())
                .limit(recent)
            ).all()
            jobs = conn.execute(
                select(
                    job_runs.c.job,
                    job_runs.c.started_at,
                    job_runs.c.finished_at,
                    job_runs.c.status,
                    job_runs.c.detail,
                )
                .order_by(job_runs.c.id.desc())
                .limit(recent)
            ).all()
            next_due = conn.execute(
                select(func.min(sources.c.next_due_at)).where(sources.c.disabled_at.is_(None))
            ).scalar_one()
            return {
                "as_of": now.isoformat(),
                "stories": count(stories, stories.c.status == "active"),
                "stories_archived": count(stories, stories.c.status == "archived"),
                "sources": count(sources, not_removed),
                "sources_disabled": count(sources, sources.c.disabled_at.is_not(None), not_removed),
                "sources_removed": count(sources, sources.c.disabled_reason == REMOVED),
                "sources_due": count(
                    sources, sources.c.disabled_at.is_(None), sources.c.next_due_at <= now
                ),
                "next_due_at": next_due.isoformat() if next_due else None,
                "mentions": count(mentions),
                "fetches": count(fetches),
                "failing_sources": [
                    {
                        "name": r.name,
                        "url": r.url,
                        "last_error": r.disabled_reason
                        if r.disabled_at and not r.last_error
                        else r.last_error,
                        "failures": r.failures,
                        "disabled": r.disabled_at is not None,
                    }
                    for r in failing
                ],
                "last_runs": [
                    {**dict(r._mapping), "started_at": r.started_at.isoformat()}
                    for r in last_fetches
                ],
                "last_jobs": [
                    {
                        **dict(r._mapping),
                        "started_at": r.started_at.isoformat(),
                        "finished_at": r.finished_at.isoformat() if r.finished_at else None,
                    }
                    for r in jobs
                ],
            }
