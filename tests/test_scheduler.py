"""``noisecast run``: the real APScheduler on a compressed schedule, against a real feed server on
127.0.0.1, with an injected clock that runs fast. Jobs fire, rows appear, job_runs records them;
a job that raises is recorded and the next one runs; a hanging feed is cut by its timeout; a
restart after downtime scores each missed hour once; SIGTERM stops cleanly, a second signal at
once; SQLite refuses a second process. Leases on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select

from noisecast.engine.config import ForecastSettings, ScheduleSettings, Settings, load_settings
from noisecast.engine.errors import StorageError
from noisecast.engine.jobs.catalog import sync_from_config
from noisecast.engine.jobs.collect import collect
from noisecast.engine.jobs.process import make_clock, owner_id
from noisecast.engine.jobs.schedule_status import schedule_status
from noisecast.engine.jobs.scheduler import Worker, build_scheduler, run_scheduler
from noisecast.engine.store import Store
from noisecast.engine.store.tables import fetches, job_runs, mentions, sources
from tests.conftest import ROOT, T0, fast_collector
from tests.test_cycle import seed

H = timedelta(hours=1)
SPEED = 2400.0  # one real second is 40 minutes


# --- a feed server that counts, delays and hangs on request ------------------------------------


class FeedServer(ThreadingHTTPServer):
    """Synthetic RSS at ``/feed/<name>``: ``version[name] + 1`` items, an ETag per version (a
    304 when it matches). Every request is logged with its time and User-Agent; feeds in
    ``hanging`` block until ``release`` is set; each response waits ``latency`` seconds."""

    daemon_threads = True
    request_queue_size = 512

    def __init__(self, latency: tuple[float, float] = (0.0, 0.0), seed: int = 0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.log: list[tuple[str, float, str]] = []
        self.version: dict[str, int] = {}
        self.hanging: set[str] = set()
        self.blocked = threading.Event()
        self.release = threading.Event()
        self.latency = latency
        self.rng = random.Random(seed)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server_port}/feed/{name}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that gave up
            super().handle_error(request, client_address)

    def requests(self, name: str | None = None) -> list[tuple[str, float, str]]:
        with self.lock:
            return [r for r in self.log if name is None or r[0] == name]


class _Handler(BaseHTTPRequestHandler):
    server: FeedServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        name = self.path.rsplit("/", 1)[-1]
        with self.server.lock:
            self.server.log.append((name, time.time(), self.headers.get("User-Agent", "")))
            delay = self.server.rng.uniform(*self.server.latency)
            version = self.server.version.get(name, 0)
        if name in self.server.hanging and not self.server.release.is_set():
            self.server.blocked.set()
            self.server.release.wait(60)
        if delay:
            time.sleep(delay)
        etag = f'"{name}-{version}"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = rss(name, version)
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def rss(name: str, version: int) -> bytes:
    items = "".join(
        f"<item><title>Port strike: dockers walk out, update {v} from {name}</title>"
        f"<link>https://{name}.example/a/{v}</link><guid>{name}-{v}</guid>"
        "<description>The port strike goes on.</description></item>"
        for v in range(version + 1)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{name}</title><link>https://{name}.example/</link>{items}</channel></rss>"
    ).encode()


@pytest.fixture
def feeds() -> Iterator[Callable[..., FeedServer]]:
    servers: list[FeedServer] = []

    def start(**kw: Any) -> FeedServer:
        server = FeedServer(**kw)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.release.set()
        server.shutdown()
        server.server_close()


# --- helpers ----------------------------------------------------------------------------------


def settings_for(url: str, tmp_path: Path, *, collector: Any = None, **schedule: Any) -> Settings:
    values: dict[str, Any] = {
        "collect_every_seconds": 0.3,
        "lease_seconds": 4 * 3600,  # on the fast clock: six real seconds
        "shutdown_grace_seconds": 1.0,
        "cycle_retry_seconds": 0.3,
        "heartbeat_seconds": 0.5,
    }
    values.update(schedule)
    return Settings(
        database={"url": url},  # type: ignore[arg-type]
        collector=collector or fast_collector(timeout_seconds=0.5, deadline_seconds=1.0),
        schedule=ScheduleSettings(**values),
        forecast=ForecastSettings(model_dir=str(tmp_path / "models")),
    )


def add_feeds(store: Store, server: FeedServer, names: list[str], now: datetime) -> None:
    store.upsert_story("strike", "Port strike", '"port strike"', now=now)
    for name in names:
        store.upsert_source(
            kind="rss", name=name, url=server.url(name), interval_minutes=60, now=now
        )


class Running:
    """``run_scheduler`` in a thread, as ``noisecast run`` runs it."""

    def __init__(self, store: Store, settings: Settings, **kw: Any) -> None:
        self.stop = threading.Event()
        self.result: list[int | BaseException] = []

        def target() -> None:
            try:
                self.result.append(run_scheduler(store, settings, stop=self.stop, **kw))
            except BaseException as e:
                self.result.append(e)

        self.thread = threading.Thread(target=target)
        self.thread.start()

    def finish(self, timeout: float = 15) -> int | BaseException:
        self.stop.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "run_scheduler did not stop"
        return self.result[0]


def wait_for(what: Callable[[], Any], timeout: float = 15, message: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {message or what}")


def runs(store: Store, job: str) -> list[dict[str, Any]]:
    return list(reversed(store.job_runs(job, limit=1000)))


def ok_hours(store: Store) -> list[datetime]:
    return [r["hour"] for r in runs(store, "cycle") if r["status"] == "ok"]


def count(store: Store, table: Any, *where: Any) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


# --- APScheduler settings ---------------------------------------------------------------------


def test_job_defaults_are_given_through_job_defaults(sqlite_store: Store, tmp_path: Path) -> None:
    settings = settings_for(str(sqlite_store.engine.url), tmp_path, misfire_grace_minutes=7)
    worker = Worker(sqlite_store, settings, "all", make_clock(), owner_id(), threading.Event())
    scheduler = build_scheduler(worker)
    scheduler.start(paused=True)
    try:
        jobs = {j.id: j for j in scheduler.get_jobs()}
        assert set(jobs) == {"collect", "cycle", "worker"}
        for job in jobs.values():
            assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, 420)
        assert "cron" in str(jobs["cycle"].trigger) and "minute='5'" in str(jobs["cycle"].trigger)
    finally:
        scheduler.shutdown(wait=False)


def test_a_missed_run_is_recorded(sqlite_store: Store, tmp_path: Path) -> None:
    settings = settings_for(str(sqlite_store.engine.url), tmp_path)
    worker = Worker(
        sqlite_store, settings, "collector", make_clock(T0), owner_id(), threading.Event()
    )
    scheduler = build_scheduler(worker)
    scheduler.start()
    try:
        late = datetime.now(UTC) - timedelta(minutes=5)  # as after a suspended machine
        scheduler.add_job(print, "date", run_date=late, id="late", misfire_grace_time=60)
        (row,) = wait_for(lambda: runs(sqlite_store, "late"), message="the missed run")
    finally:
        scheduler.shutdown(wait=True)
    assert row["status"] == "missed" and row["worker"] == worker.owner
    assert row["detail"]["scheduled"].startswith(late.isoformat()[:16])


# --- the scheduler, running -------------------------------------------------------------------


def test_scheduler_collects_scores_records_and_survives_a_failing_job(
    sqlite_store: Store, feeds: Callable[..., FeedServer], tmp_path: Path
) -> None:
    store = sqlite_store
    server = feeds()
    server.hanging.add("stuck")  # never answers: cut by the 0.5 s timeout
    start = T0 + timedelta(minutes=10)
    add_feeds(store, server, ["alpha", "beta", "gamma", "stuck"], start)
    settings = settings_for(str(store.engine.url), tmp_path)
    (tmp_path / "models").write_text("in the way")  # the first cycle's forecast fails
    run = Running(store, settings, clock=make_clock(start, speed=SPEED), cycle_every=0.2)
    try:
        # the first cycle (hour 11:00) raises after scoring; the listener records it
        wait_for(lambda: any(r["status"] == "error" for r in runs(store, "cycle")), message="error")
        (tmp_path / "models").unlink()
        # a collection fired, with the hanging feed cut by its timeout
        first = wait_for(lambda: runs(store, "collect"), message="a collect run")[0]
        assert first["detail"]["fetched"] == 4 and first["detail"]["failed"] == 1
        stuck = store.get_source("stuck")
        assert "timed out" in stuck["last_error"]
        assert (first["finished_at"] - first["started_at"]) / SPEED < timedelta(seconds=3)
        # the clock passes 13:05: hour 12:00 is scored and forecast; sources are due again
        wait_for(lambda: T0 in ok_hours(store), message="hour 12:00 scored")
        wait_for(lambda: len(server.requests("alpha")) >= 2, message="alpha fetched again")
    finally:
        assert run.finish() == 0

    assert ok_hours(store)[:2] == [T0 - H, T0]
    failed = [r for r in runs(store, "cycle") if r["status"] == "error"]
    assert any("forecast failed" in (r["detail"] or {}).get("error", "") for r in failed)
    assert runs(store, "cycle")[-1]["status"] == "ok"
    assert store.forecasts_frame(since=T0 + H, until=T0 + 2 * H)["story"].tolist() == ["strike"]
    assert count(store, mentions) == 3  # alpha, beta, gamma: one item each, then 304s
    assert count(store, sources, sources.c.lease_owner.is_not(None)) == 0
    (worker,) = runs(store, "worker")
    assert worker["status"] == "stopped" and worker["detail"]["role"] == "all"

    status = schedule_status(store, settings, T0 + 2 * H)
    assert status["jobs"]["collect"]["status"] == "ok"
    assert status["cycle"]["last_hour"] >= T0.isoformat()
    assert status["workers"][0]["state"] == "stopped"
    assert set(status["next_runs"]) == {"cycle", "collect"}


def test_restart_after_downtime_scores_each_missed_hour_once(
    sqlite_store: Store, tmp_path: Path
) -> None:
    store = sqlite_store
    seed(store, hours=8)
    settings = settings_for(str(store.engine.url), tmp_path)
    clock = make_clock(T0 + timedelta(minutes=10))
    first = Running(store, settings, role="scorer", clock=clock, cycle_every=0.2)
    wait_for(lambda: ok_hours(store) == [T0 - H], message="the first hour")
    assert first.finish() == 0

    # down for five hours: the clock jumps, the process starts again
    later = T0 + 5 * H + timedelta(minutes=10)
    second = Running(store, settings, role="scorer", clock=make_clock(later), cycle_every=0.2)
    wait_for(lambda: len(ok_hours(store)) == 6, message="the missed hours")
    time.sleep(0.5)  # more cycle checks: nothing more to run
    assert second.finish() == 0

    assert ok_hours(store) == [T0 + i * H for i in range(-1, 5)]
    scores = store.scores_frame(T0 - 2 * H, T0 + 6 * H)
    assert scores.groupby("as_of").size().to_dict() == {
        t: 1 for t in ok_hours(store)
    }  # one story, each hour once


def test_sqlite_refuses_a_second_process(sqlite_store: Store, tmp_path: Path) -> None:
    settings = settings_for(str(sqlite_store.engine.url), tmp_path)
    run = Running(sqlite_store, settings, role="scorer", cycle_every=5)
    wait_for(lambda: runs(sqlite_store, "worker"), message="the first process")
    other = Store.from_url(str(sqlite_store.engine.url))
    try:
        with pytest.raises(
            StorageError, match=r"noisecast\.db is in use by another `noisecast run`"
        ):
            run_scheduler(other, settings, once=True)
    finally:
        other.close()
        assert run.finish() == 0
    run_scheduler(sqlite_store, settings, once=True)  # free again once it stopped


# --- leases -----------------------------------------------------------------------------------


def test_leases_keep_a_source_to_one_worker_until_written_or_expired(store: Store) -> None:
    for i in range(3):
        store.upsert_source(
            kind="rss", name=f"s{i}", url=f"https://s{i}.example/", interval_minutes=60, now=T0
        )
    mine = store.claim_due_sources(T0, "w1", 60, 2)
    assert [r["name"] for r in mine] == ["s0", "s1"] and mine[0]["lease_owner"] == "w1"
    assert [r["name"] for r in store.claim_due_sources(T0, "w2", 60, 10)] == ["s2"]
    assert store.claim_due_sources(T0 + timedelta(seconds=30), "w3", 60, 10) == []
    assert [r["name"] for r in store.due_sources(T0)] == []  # `noisecast collect` waits too
    assert store.renew_leases("w1", [mine[0]["id"]], T0 + timedelta(seconds=120)) == 1
    # w1's lease on s1 expired, its renewed one on s0 has not
    later = store.claim_due_sources(T0 + timedelta(seconds=61), "w3", 60, 10)
    assert sorted(r["name"] for r in later) == ["s1", "s2"]
    assert store.release_leases("w3") == 2
    assert store.leases(T0 + timedelta(seconds=61)) == {"w1": 1}


# --- a real process, stopped by signals -------------------------------------------------------


def write_config(path: Path, db: Path, server: FeedServer, names: list[str], grace: float) -> Path:
    lines = [
        "[database]",
        f'url = "sqlite:///{db}"',
        "[collector]",
        "concurrency = 2",
        "per_host_concurrency = 2",
        "per_host_min_gap_seconds = 0",
        "timeout_seconds = 30",
        'allow_private_networks = ["127.0.0.0/8"]',  # the loopback feed server
        "[schedule]",
        f"shutdown_grace_seconds = {grace}",
        "[forecast]",
        f'model_dir = "{path.parent / "models"}"',
        "[[stories]]",
        'slug = "strike"',
        'title = "Port strike"',
        "query = '\"port strike\"'",
    ]
    for name in names:
        lines += ["[[sources]]", f'name = "{name}"', f'url = "{server.url(name)}"']
    path.write_text("\n".join(lines) + "\n")
    return path


def init(config: Path) -> None:
    """``noisecast init``, in this process (a subprocess costs seconds of imports)."""
    settings = load_settings(config)
    store = Store.open(settings.database)
    try:
        store.migrate()
        sync_from_config(store, settings, now=T0 + timedelta(minutes=10))
    finally:
        store.close()


def noisecast(config: Path, *args: str) -> subprocess.Popen[str]:
    """``noisecast`` with ``run``, through its click group, in a process of its own."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "noisecast.engine",
            "--config",
            str(config),
            "--now",
            "2026-11-20T12:10Z",
            "--log-level",
            "INFO",
            "--log-format",
            "json",
            *args,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


NAMES = ["a1", "a2", "a3", "a4", "hang", "a5"]


def test_sigterm_during_a_collection_stops_cleanly_and_a_rerun_completes(
    feeds: Callable[..., FeedServer], tmp_path: Path
) -> None:
    server = feeds()
    server.hanging.add("hang")
    db = tmp_path / "run.db"
    config = write_config(tmp_path / "run.toml", db, server, NAMES, grace=1.0)
    init(config)
    proc = noisecast(config, "run")
    try:
        assert server.blocked.wait(30), "the hanging feed was never requested"
        second = noisecast(config, "run", "--once")  # SQLite: one process at a time
        _, err = second.communicate(timeout=60)
        assert second.returncode == 1 and "is in use by another `noisecast run`" in err
        wait_for(lambda: len(server.requests()) == len(NAMES), message="every feed requested")
        time.sleep(0.3)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, log = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, log
    assert time.monotonic() - started < 1.0 + 5  # the grace period, and the last writes

    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert all("job" in line and "worker" in line for line in lines)
    assert any(line.get("source") == "hang" and "abandoned" in line["message"] for line in lines)
    collected = [line for line in lines if line["message"].startswith("collected ok")]
    assert {line["source"] for line in collected} == set(NAMES) - {"hang"}

    store = Store.from_url(f"sqlite:///{db}")
    try:
        hang = store.get_source("hang")
        assert hang["lease_owner"] is None and hang["last_fetched_at"] is None
        assert count(store, fetches, fetches.c.source_id == hang["id"]) == 0
        assert count(store, mentions, mentions.c.source_id == hang["id"]) == 0
        assert count(store, mentions) == len(NAMES) - 1  # the others, whole
        assert runs(store, "worker")[-1]["status"] == "stopped"

        server.release.set()
        rerun = noisecast(config, "run", "--once")
        _, err = rerun.communicate(timeout=60)
        assert rerun.returncode == 0, err
        assert count(store, mentions) == len(NAMES)
        assert count(store, fetches) == len(NAMES)  # each feed fetched once in all
        assert ok_hours(store) == [T0 - H]
    finally:
        store.close()


def test_a_second_signal_exits_at_once(feeds: Callable[..., FeedServer], tmp_path: Path) -> None:
    server = feeds()
    server.hanging.add("hang")
    db = tmp_path / "run.db"
    config = write_config(tmp_path / "run.toml", db, server, ["hang"], grace=60.0)
    init(config)
    proc = noisecast(config, "run", "--once")
    try:
        assert server.blocked.wait(30)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, log = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGINT, log
    assert time.monotonic() - started < 2
    assert "exiting at once" in log
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(fetches)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(job_runs)).scalar_one() == 0
    engine.dispose()


def test_sighup_stops_cleanly_like_sigterm(
    feeds: Callable[..., FeedServer], tmp_path: Path
) -> None:
    """A closed terminal (SIGHUP) must not kill ``run`` mid-write: it stops as on SIGTERM."""
    server = feeds()
    server.hanging.add("hang")
    db = tmp_path / "run.db"
    config = write_config(tmp_path / "run.toml", db, server, ["a1", "hang"], grace=0.5)
    init(config)
    proc = noisecast(config, "run")
    try:
        assert server.blocked.wait(30), "the hanging feed was never requested"
        wait_for(lambda: len(server.requests()) == 2, message="both feeds requested")
        time.sleep(0.3)
        proc.send_signal(signal.SIGHUP)
        _, log = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, log
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert any(line["message"].startswith("SIGHUP: stopping") for line in lines)
    store = Store.from_url(f"sqlite:///{db}")
    try:
        assert runs(store, "worker")[-1]["status"] == "stopped"
        assert count(store, mentions) == 1  # a1 written whole; hang abandoned, still due
        assert store.get_source("hang")["lease_owner"] is None
    finally:
        store.close()


def test_collect_without_leases_is_unchanged(
    sqlite_store: Store, feeds: Callable[..., FeedServer], tmp_path: Path
) -> None:
    """``noisecast collect`` takes no lease and leaves none (the scheduler's path does)."""
    server = feeds()
    add_feeds(sqlite_store, server, ["one", "two"], T0)
    report = collect(sqlite_store, fast_collector(), now=T0)
    assert len(report.sources) == 2 and report.abandoned == []
    assert count(sqlite_store, sources, sources.c.lease_owner.is_not(None)) == 0
