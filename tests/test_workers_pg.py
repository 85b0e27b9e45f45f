"""Many workers on one PostgreSQL: 4 ``noisecast run --role collector`` processes and 2
``--role scorer`` over 200 sources on a loopback server, on a clock running 600 times as fast
(one real second is ten minutes; each source is due every hour, six real seconds).

Every due source is fetched exactly once per due time (the server counts the requests), exactly
one cycle runs per hour, and a collector killed with SIGKILL while it holds leases has its
sources picked up by another worker only once the leases have expired."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import select

from noisecast.engine.config import load_settings
from noisecast.engine.jobs.catalog import sync_from_config
from noisecast.engine.store import Store
from noisecast.engine.store.tables import fetches, sources
from tests.conftest import ROOT, T0
from tests.test_scheduler import FeedServer, wait_for

pytestmark = pytest.mark.postgres

SOURCES = 200
SPEED = 600.0
START = T0 + timedelta(minutes=10)
INTERVAL = timedelta(minutes=60)
LEASE_SECONDS = 1200  # on the fast clock: two real seconds


@pytest.fixture
def server() -> Iterator[FeedServer]:
    server = FeedServer(latency=(0.0, 0.01))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


def names() -> list[str]:
    return [f"src{i:03d}" for i in range(SOURCES)]


def write_config(path: Path, url: str, server: FeedServer) -> Path:
    lines = [
        "[database]",
        f'url = "{url}"',
        "[collector]",
        "concurrency = 8",
        "per_host_concurrency = 4",
        "per_host_min_gap_seconds = 0",
        "jitter_fraction = 0",
        'allow_private_networks = ["127.0.0.0/8"]',  # the loopback feed server
        "timeout_seconds = 30",  # longer than the doomed worker lives: its requests hang
        "deadline_seconds = 40",
        "default_interval_minutes = 60",
        "min_interval_minutes = 60",
        "max_interval_minutes = 60",
        "[schedule]",
        "collect_every_seconds = 0.5",
        f"lease_seconds = {LEASE_SECONDS}",
        "shutdown_grace_seconds = 3",
        "cycle_retry_seconds = 0.5",
        "heartbeat_seconds = 1",
        "[forecast]",
        f'model_dir = "{path.parent / "models"}"',
        "[[stories]]",
        'slug = "strike"',
        'title = "Port strike"',
        "query = '\"port strike\"'",
    ]
    for name in names():
        lines += ["[[sources]]", f'name = "{name}"', f'url = "{server.url(name)}"']
    path.write_text("\n".join(lines) + "\n")
    return path


def worker(config: Path, role: str, tag: str, epoch: float) -> subprocess.Popen[str]:
    """``noisecast run --role ROLE`` on the shared fast clock; its log in ``<tag>.log``."""
    log = (config.parent / f"{tag}.log").open("w")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "noisecast.engine",
            "--config",
            str(config),
            "--now",
            START.isoformat(),
            "--log-level",
            "INFO",
            "run",
            "--role",
            role,
            "--clock-speed",
            str(SPEED),
            "--clock-epoch",
            repr(epoch),
            "--cycle-every",
            "0.5",
        ],
        cwd=ROOT,
        env={**os.environ, "NOISECAST_COLLECTOR_CONTACT": f"worker-{tag}"},
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
    )


def fake(epoch: float) -> Callable[[float], datetime]:
    """Wall time -> the workers' clock."""
    return lambda wall: START + timedelta(seconds=(wall - epoch) * SPEED)


def test_four_collectors_and_two_scorers_share_one_database(
    pg_url: str, server: FeedServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "fleet.toml", pg_url, server)
    settings = load_settings(config)
    store = Store.open(settings.database)
    store.migrate()
    sync_from_config(store, settings, now=START)
    epoch = time.time()
    to_fake = fake(epoch)
    procs: dict[str, subprocess.Popen[str]] = {}
    try:
        # The first collector claims a batch of sources, whose requests hang; the scorers start.
        server.hanging.update(names())
        procs["doomed"] = worker(config, "collector", "doomed", epoch)
        for i in range(2):
            procs[f"s{i}"] = worker(config, "scorer", f"s{i}", epoch)
        assert server.blocked.wait(30), "the first collector never fetched"
        leased = wait_for(lambda: _leases(store), message="leases")
        server.hanging.intersection_update(leased)  # only its sources hang from here on
        # Three more collectors share the other sources; then the first one is killed.
        for i in range(3):
            procs[f"c{i}"] = worker(config, "collector", f"c{i}", epoch)
        wait_for(lambda: _fetched(store) >= SOURCES - len(leased), 30, "the first round")
        first_round = to_fake(time.time())
        procs["doomed"].send_signal(signal.SIGKILL)
        procs["doomed"].wait(10)
        expiry = _leases(store)  # as the dead worker left them
        assert set(expiry) == set(leased) and len(expiry) == 16  # 2 x its concurrency
        server.hanging.clear()
        server.release.set()

        # Run on until its sources were taken over, every other source was due once more,
        # and three hours were scored.
        wait_for(lambda: _fetched(store) == SOURCES, 30, "the dead worker's sources")
        wait_for(
            lambda: (
                to_fake(time.time()) >= first_round + INTERVAL + timedelta(minutes=10)
                and len(_ok_hours(store)) >= 3
            ),
            40,
            "a second round and three hours",
        )
        stopped_at = to_fake(time.time())
        for name, proc in procs.items():
            if name != "doomed":
                proc.send_signal(signal.SIGTERM)
        for name, proc in procs.items():
            if name != "doomed":
                proc.wait(30)
                log = (tmp_path / f"{name}.log").read_text()
                assert proc.returncode == 0, f"{name}: {log[-3000:]}"
    finally:
        for proc in procs.values():
            proc.kill()

    try:
        by_source = _fetch_times(store)
        requests: dict[str, list[tuple[float, str]]] = defaultdict(list)
        for name, wall, agent in server.requests():
            requests[name].append((wall, agent))

        # Every source, every due time, exactly once: a fetch per request (the dead worker's
        # aside), never two within an interval, none overdue at the end.
        for name in names():
            fleet = [(w, a) for w, a in requests[name] if "worker-doomed" not in a]
            times = by_source[name]
            assert len(fleet) == len(times), f"{name}: {len(fleet)} requests, {len(times)} rows"
            assert all(b - a >= INTERVAL for a, b in pairwise(times)), name
            assert times[-1] + INTERVAL >= stopped_at - timedelta(minutes=20), f"{name} overdue"

        # The dead worker's sources: untouched by anyone else until its leases ran out.
        for name, until in expiry.items():
            others = [w for w, a in requests[name] if "worker-doomed" not in a]
            assert others, f"{name} was never picked up"
            assert to_fake(min(others)) >= until - timedelta(seconds=2 * SPEED * 0.05), name

        # One cycle per hour, each hour once, however many scorers.
        hours = _ok_hours(store)
        assert hours == sorted(set(hours)) and len(hours) >= 3
        assert all(b - a == timedelta(hours=1) for a, b in pairwise(hours))
        scores = store.scores_frame(hours[0], hours[-1] + timedelta(hours=1))
        assert scores.groupby("as_of").size().tolist() == [1] * len(hours)
        assert {r["worker"] for r in store.job_runs("cycle", limit=500)} <= {
            r["worker"] for r in store.job_runs("worker", limit=50)
        }
        assert _leases(store) == {}  # every lease ended with its source's write
    finally:
        store.close()


def _ok_hours(store: Store) -> list[datetime]:
    runs = reversed(store.job_runs("cycle", limit=500))
    return [r["hour"] for r in runs if r["status"] == "ok"]


def _leases(store: Store) -> dict[str, datetime]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(sources.c.name, sources.c.lease_until).where(sources.c.lease_owner.is_not(None))
        ).all()
    return dict(rows)  # type: ignore[arg-type]


def _fetched(store: Store) -> int:
    with store.engine.connect() as conn:
        return len(conn.execute(select(fetches.c.source_id).distinct()).all())


def _fetch_times(store: Store) -> dict[str, list[datetime]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(sources.c.name, fetches.c.started_at)
            .join(sources, sources.c.id == fetches.c.source_id)
            .order_by(fetches.c.started_at)
        ).all()
    out: dict[str, list[datetime]] = defaultdict(list)
    for name, started in rows:
        out[name].append(started)
    return out


def test_concurrent_claims_never_share_a_source(pg_url: str) -> None:
    """``SELECT ... FOR UPDATE SKIP LOCKED``: eight workers claiming at once get disjoint sets."""
    store = Store.from_url(pg_url)
    try:
        store.migrate()
        for name in names():
            store.upsert_source(
                kind="rss", name=name, url=f"https://{name}.example/", interval_minutes=60, now=T0
            )
        claimed: dict[str, list[int]] = {}
        barrier = threading.Barrier(8)

        def claim(owner: str) -> None:
            barrier.wait()
            got: list[int] = []
            while batch := store.claim_due_sources(T0, owner, 60, 7):
                got += [r["id"] for r in batch]
            claimed[owner] = got

        threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        every = [i for got in claimed.values() for i in got]
        assert len(every) == len(set(every)) == SOURCES
        assert sum(1 for got in claimed.values() if got) > 1  # they really did share the work
    finally:
        store.close()
