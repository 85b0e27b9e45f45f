"""What a ``noisecast run`` process needs around its scheduler: its name, the one-process lock
of a SQLite database, its clock, its signal handling and the context its log lines carry."""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from noisecast.engine.errors import StorageError
from noisecast.engine.store import Store

log = logging.getLogger("noisecast.scheduler")


def owner_id() -> str:
    """This process's name in leases and job runs: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


# --- one process per SQLite database ------------------------------------------------------------


class ProcessLock:
    """An exclusive ``flock`` on ``<database>.lock``: the OS releases it when the process
    ends, however it ends. The holder writes its name into the file for the error message."""

    def __init__(self, path: Path, database: str) -> None:
        self.path = path
        self.database = database
        self._fd: int | None = None

    def acquire(self, owner: str) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 400).decode("utf-8", "replace").strip() or "unknown"
            os.close(fd)
            raise StorageError(
                f"database {self.database} is in use by another `noisecast run` ({holder}; "
                f"lock file {self.path}). SQLite allows one such process: stop the other one, "
                "or use PostgreSQL to run several workers (docs/deployment.md)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{owner}, since {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None


def process_lock(store: Store) -> ProcessLock | None:
    """The lock a SQLite database needs (None for PostgreSQL or an in-memory database)."""
    if store.dialect != "sqlite":
        return None
    database = store.engine.url.database
    if not database or database == ":memory:":
        return None
    return ProcessLock(Path(f"{database}.lock"), database)


# --- clocks -------------------------------------------------------------------------------------


def make_clock(
    start: datetime | None = None, *, speed: float = 1.0, epoch: float | None = None
) -> Callable[[], datetime]:
    """The time as the scheduler's jobs see it: real UTC time; or ``start`` at wall time
    ``epoch`` (default: now), running ``speed`` times as fast (tests and demos: processes
    given the same start and epoch agree on the time)."""
    if start is None and speed == 1.0:
        return lambda: datetime.now(UTC)
    origin = start or datetime.now(UTC)
    wall = time.time() if epoch is None else epoch

    def clock() -> datetime:
        return origin + timedelta(seconds=(time.time() - wall) * speed)

    return clock


@contextmanager
def stop_signals(stop: threading.Event, *, enabled: bool) -> Iterator[None]:
    """SIGTERM, SIGINT and SIGHUP set ``stop``; a second one exits at once. SIGHUP is a
    stop rather than a reload: config is read once, and a process whose terminal went away
    must not die in the middle of a write (which its default action would do)."""
    if not enabled:
        yield
        return

    def handle(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():
            log.warning("%s again: exiting at once", name, extra={"job": "run"})
            logging.shutdown()
            os._exit(128 + signum)
        log.info("%s: stopping (send it again to exit at once)", name, extra={"job": "run"})
        stop.set()

    stops = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    previous = {s: signal.signal(s, handle) for s in stops}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class WorkerContext(logging.Filter):
    """Adds the worker's name to every record, a job to APScheduler's own, and the time in
    ``schedule.timezone`` as ``local`` when that is not UTC (``ts`` stays UTC)."""

    def __init__(self, owner: str, zone: str) -> None:
        super().__init__()
        self.owner = owner
        self.zone = None if zone in ("UTC", "Etc/UTC") else ZoneInfo(zone)

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "worker"):
            record.worker = self.owner
        if not hasattr(record, "job"):
            record.job = "scheduler" if record.name.startswith("apscheduler") else "run"
        if self.zone is not None:
            record.local = datetime.fromtimestamp(record.created, self.zone).isoformat(
                timespec="seconds"
            )
        return True


@contextmanager
def worker_log_context(owner: str, zone: str) -> Iterator[None]:
    """Every line names the worker; APScheduler's lines go through our handlers (structured),
    without its per-run chatter, whose events the listener logs itself."""
    handlers = logging.getLogger("noisecast").handlers
    context = WorkerContext(owner, zone)
    for handler in handlers:
        handler.addFilter(context)
    aps = logging.getLogger("apscheduler")
    saved = (aps.handlers[:], aps.propagate, aps.level)
    aps.handlers[:] = handlers
    aps.propagate = False
    aps.setLevel(logging.ERROR)
    quiet = logging.getLogger("apscheduler.executors")
    quiet_level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # "job raised": the listener logs it, with the job
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(context)
        aps.handlers[:], aps.propagate = saved[0], saved[1]
        aps.setLevel(saved[2])
        quiet.setLevel(quiet_level)
