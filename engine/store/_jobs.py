"""The scheduler's state: job runs, source leases, and the lock that lets one cycle run at a time.

Several ``noisecast run`` processes may share one PostgreSQL database; APScheduler cannot share
its job store between them, so they coordinate here (DESIGN.md "Scale"):

- **Leases.** A collector claims due sources with ``SELECT ... FOR UPDATE SKIP LOCKED`` and, in
  the same transaction, writes itself and an expiry into ``lease_owner``/``lease_until``. Other
  workers skip rows being claimed and rows under a live lease; the lease ends when the
  source's collection is written (``Store.record_collections`` clears it), when the worker
  gives it back, or when it expires (a worker that died).
- **The cycle lock.** The hourly cycle runs under a session-level PostgreSQL advisory lock on a
  fixed key, and the hours it completed are ``job_runs`` rows (``job = "cycle"``, one ``ok``
  row per ``hour``), read and written while the lock is held: however many scorers run, each
  hour is scored by one of them, once. On SQLite only one process runs
  (noisecast.engine.jobs.scheduler enforces it), so the lock is always granted.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from noisecast.engine.errors import StorageError
from noisecast.engine.store._base import _WRAPPED, StoreBase, _explain
from noisecast.engine.store.tables import fetches, job_runs, noise_scores, sources

# pg_try_advisory_lock(CYCLE_LOCK_KEY): "nois" as a 32-bit number. A bigint key below 2**31
# shows in pg_locks as classid 0, objid KEY, objsubid 1.
CYCLE_LOCK_KEY = 0x6E6F6973

RUNNING = "running"
OK = "ok"
ERROR = "error"
ABANDONED = "abandoned"  # a run whose process died or stopped before it finished


@dataclass
class CycleLock:
    """Whether this process holds the cycle lock; :meth:`check` that it still does."""

    held: bool
    _conn: Connection | None = None

    def check(self) -> None:
        """Raise StorageError if the lock was lost (its connection to PostgreSQL broke)."""
        if self._conn is None:
            return
        try:
            count = self._conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 0 "
                    "AND objid = CAST(:key AS oid) AND objsubid = 1 AND granted "
                    "AND pid = pg_backend_pid()"
                ),
                {"key": CYCLE_LOCK_KEY},
            ).scalar_one()
            self._conn.commit()
        except SQLAlchemyError as e:
            raise StorageError(f"lost the cycle lock: {e}") from e
        if count != 1:
            raise StorageError("lost the cycle lock: another scorer may run this hour")


class JobsMixin(StoreBase):
    # --- leases ------------------------------------------------------------------------------

    def claim_due_sources(
        self, now: datetime, owner: str, lease_seconds: float, limit: int
    ) -> list[dict[str, Any]]:
        """Lease up to ``limit`` due sources to ``owner`` until ``now + lease_seconds``; their
        rows, the longest overdue first. Rows that another worker is claiming at this moment,
        or that are under a live lease, are skipped."""
        if limit <= 0:
            return []
        due = (
            select(sources)
            .where(
                sources.c.disabled_at.is_(None),
                sources.c.next_due_at <= now,
                or_(sources.c.lease_until.is_(None), sources.c.lease_until < now),
            )
            .order_by(sources.c.next_due_at, sources.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # SQLite: nothing (one process, see above)
        )
        until = now + timedelta(seconds=lease_seconds)
        with self.transaction() as conn:
            rows = [dict(r._mapping) for r in conn.execute(due)]
            if rows:
                conn.execute(
                    update(sources)
                    .where(sources.c.id.in_([r["id"] for r in rows]))
                    .values(lease_owner=owner, lease_until=until)
                )
        for r in rows:
            r.update(lease_owner=owner, lease_until=until)
        return rows

    def renew_leases(self, owner: str, ids: Sequence[int], until: datetime) -> int:
        """Extend ``owner``'s leases on ``ids`` to ``until``; returns how many it still held."""
        if not ids:
            return 0
        with self.transaction() as conn:
            done = conn.execute(
                update(sources)
                .where(sources.c.id.in_(list(ids)), sources.c.lease_owner == owner)
                .values(lease_until=until)
            )
        return int(done.rowcount)

    def release_leases(self, owner: str, ids: Sequence[int] | None = None) -> int:
        """Give back ``owner``'s leases (on ``ids``, or all of them): due sources are free for
        any worker again at once."""
        query = update(sources).where(sources.c.lease_owner == owner)
        if ids is not None:
            if not ids:
                return 0
            query = query.where(sources.c.id.in_(list(ids)))
        with self.transaction() as conn:
            done = conn.execute(query.values(lease_owner=None, lease_until=None))
        return int(done.rowcount)

    def clear_leases(self) -> int:
        """Drop every lease: for a single process that knows no other worker exists (SQLite),
        so that the leases of a run that was killed do not delay their sources."""
        with self.transaction() as conn:
            done = conn.execute(
                update(sources)
                .where(sources.c.lease_owner.is_not(None))
                .values(lease_owner=None, lease_until=None)
            )
        return int(done.rowcount)

    def leases(self, now: datetime) -> dict[str, int]:
        """Live leases per owner."""
        with self.reading() as conn:
            rows = conn.execute(
                select(sources.c.lease_owner, func.count())
                .where(sources.c.lease_owner.is_not(None), sources.c.lease_until >= now)
                .group_by(sources.c.lease_owner)
            ).all()
        return {str(owner): int(n) for owner, n in rows}

    # --- the cycle lock ----------------------------------------------------------------------

    @contextmanager
    def cycle_lock(self) -> Iterator[CycleLock]:
        """``pg_try_advisory_lock`` on its own connection, held until the block ends (or the
        process dies: PostgreSQL then releases it). ``.held`` says whether it was granted;
        on SQLite it always is."""
        if self.dialect != "postgresql":
            yield CycleLock(True)
            return
        try:
            conn = self.engine.connect()
        except _WRAPPED as e:
            raise StorageError(_explain(e, self.engine)) from e
        held = False
        try:
            try:
                held = bool(
                    conn.execute(select(func.pg_try_advisory_lock(CYCLE_LOCK_KEY))).scalar()
                )
                conn.commit()
            except _WRAPPED as e:
                raise StorageError(_explain(e, self.engine)) from e
            yield CycleLock(held, conn if held else None)
        finally:
            if held:
                try:
                    conn.rollback()
                    conn.execute(select(func.pg_advisory_unlock(CYCLE_LOCK_KEY)))
                    conn.commit()
                except SQLAlchemyError:
                    conn.invalidate()  # never hand a connection that may hold the lock back
            conn.close()

    # --- job runs ----------------------------------------------------------------------------

    def start_job(
        self,
        job: str,
        *,
        now: datetime,
        worker: str | None = None,
        hour: datetime | None = None,
        detail: dict[str, Any] | None = None,
        status: str = RUNNING,
    ) -> int:
        with self.transaction() as conn:
            result = conn.execute(
                job_runs.insert().values(
                    job=job, started_at=now, status=status, worker=worker, hour=hour, detail=detail
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def finish_job(
        self,
        run_id: int,
        *,
        now: datetime,
        status: str,
        detail: dict[str, Any] | None = None,
    ) -> None:
        values: dict[str, Any] = {"finished_at": now, "status": status}
        if detail is not None:
            values["detail"] = detail
        with self.transaction() as conn:
            conn.execute(update(job_runs).where(job_runs.c.id == run_id).values(**values))

    def record_job(
        self,
        job: str,
        *,
        started_at: datetime,
        finished_at: datetime | None,
        status: str,
        worker: str | None = None,
        hour: datetime | None = None,
        detail: dict[str, Any] | None = None,
    ) -> int:
        """One finished (or missed) run in a single row."""
        with self.transaction() as conn:
            result = conn.execute(
                job_runs.insert().values(
                    job=job,
                    started_at=started_at,
                    finished_at=finished_at,
                    status=status,
                    worker=worker,
                    hour=hour,
                    detail=detail,
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def abandon_jobs(self, job: str, *, now: datetime, worker: str | None = None) -> int:
        """Mark runs of ``job`` (of ``worker``, or anyone's) still ``running`` as abandoned:
        their process died or stopped. For the cycle, call it under the cycle lock."""
        query = update(job_runs).where(job_runs.c.job == job, job_runs.c.status == RUNNING)
        if worker is not None:
            query = query.where(job_runs.c.worker == worker)
        with self.transaction() as conn:
            done = conn.execute(query.values(status=ABANDONED, finished_at=now))
        return int(done.rowcount)

    def last_cycle_hour(self) -> datetime | None:
        """The newest hour the cycle completed."""
        with self.reading() as conn:
            return conn.execute(  # type: ignore[no-any-return]
                select(func.max(job_runs.c.hour)).where(
                    job_runs.c.job == "cycle", job_runs.c.status == OK
                )
            ).scalar_one()

    def job_runs(
        self, job: str | None = None, *, limit: int = 100, since: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Job runs, newest first."""
        query = select(job_runs).order_by(job_runs.c.id.desc()).limit(limit)
        if job is not None:
            query = query.where(job_runs.c.job == job)
        if since is not None:
            query = query.where(job_runs.c.started_at >= since)
        with self.reading() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def last_job_runs(self) -> dict[str, dict[str, Any]]:
        """The newest run of each job (process heartbeats, job ``worker``, left out)."""
        newest = (
            select(func.max(job_runs.c.id))
            .where(job_runs.c.job != "worker")
            .group_by(job_runs.c.job)
            .scalar_subquery()
        )
        with self.reading() as conn:
            rows = conn.execute(select(job_runs).where(job_runs.c.id.in_(newest))).all()
        return {r.job: dict(r._mapping) for r in rows}

    def touch_job(self, run_id: int, *, now: datetime, detail: dict[str, Any]) -> None:
        """A heartbeat: ``finished_at`` is the last time the run was seen alive."""
        with self.transaction() as conn:
            conn.execute(
                update(job_runs)
                .where(job_runs.c.id == run_id)
                .values(finished_at=now, detail=detail)
            )

    def prune_job_runs(self, before: datetime) -> int:
        """Delete finished runs that started before ``before``."""
        with self.transaction() as conn:
            done = conn.execute(
                delete(job_runs).where(job_runs.c.started_at < before, job_runs.c.status != RUNNING)
            )
        return int(done.rowcount)

    # --- data health -------------------------------------------------------------------------

    def health_window(
        self, since: datetime, until: datetime
    ) -> tuple[list[dict[str, Any]], list[tuple[int, datetime, str]]]:
        """What noisecast.engine.jobs.cycle.assess_health reads: every source (id, name, created_at,
        interval_minutes, disabled_at) and the fetches (source id, started, outcome) that
        started in ``[since, until)``."""
        with self.reading() as conn:
            source_rows = [
                dict(r._mapping)
                for r in conn.execute(
                    select(
                        sources.c.id,
                        sources.c.name,
                        sources.c.created_at,
                        sources.c.interval_minutes,
                        sources.c.disabled_at,
                    )
                )
            ]
            fetch_rows = [
                (int(r.source_id), r.started_at, str(r.outcome))
                for r in conn.execute(
                    select(fetches.c.source_id, fetches.c.started_at, fetches.c.outcome)
                    .where(fetches.c.started_at >= since, fetches.c.started_at < until)
                    .order_by(fetches.c.started_at, fetches.c.id)
                )
            ]
        return source_rows, fetch_rows

    def mark_scores_low_confidence(self, hour: datetime, note: str) -> int:
        """Mark every score of ``hour`` low-confidence, with the reason."""
        with self.transaction() as conn:
            done = conn.execute(
                update(noise_scores)
                .where(noise_scores.c.as_of == hour)
                .values(low_confidence=True, confidence_note=note)
            )
        return int(done.rowcount)
