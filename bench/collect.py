"""Collection benchmark: the scheduler's collectors against 2,000 feeds on a loopback server.

    python bench/collect.py [--sources 2000] [--hosts 200] [--pg URL] [--skip-first]

The server (a child process, asyncio) listens on ``--hosts`` loopback addresses (127.0.0.2,
127.0.0.3, ...: each is a host of its own for the per-host limits) and answers every request
after 50-500 ms (uniform, seeded). Each feed has 20 items; a conditional request for a feed that
has not changed gets a 304. The collectors are ``noisecast.engine.jobs.collect.collect_leased``, the
scheduler's collection, each in a process of its own, started together, claiming due sources until
none is left.

For each setup (one process on SQLite; one and four processes on PostgreSQL) two passes over
every source: the first (every feed new: 200s, parsed and stored), then, with every source due
again and a fifth of the feeds changed, the steady state (mostly 304s). Printed per pass:
sources per second; the share of each process's time spent waiting on the network (time its
event loop sat in ``select`` with requests out, over its wall time); requests in flight as the
server saw them (time-weighted mean and maximum) and the most ever in flight on one host.

Targets (issue 6): one process keeps at least 50 requests in flight without breaking per-host
limits; four collectors on PostgreSQL reach at least 3x one.

PostgreSQL comes from ``--pg`` or ``NOISECAST_BENCH_PG_URL`` (its public schema is dropped and
recreated); without one, only SQLite runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import selectors
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LATENCY = (0.05, 0.5)
ITEMS = 20
CHANGED_EVERY = 5  # feed i changes between passes when i % 5 == 0: a fifth of them
CONCURRENCY = 64
PER_HOST = 2
PER_HOST_GAP = 0.25
WORDS = [
    *("port", "strike", "council", "budget", "flood", "river", "bank", "breach", "election"),
    *("court", "ruling", "storm", "heat", "wave", "vaccine", "trial", "merger", "layoffs"),
    *("protest", "summit", "treaty", "climate", "energy", "prices", "rail", "union", "talks"),
    *("inquiry", "minister", "hospital", "school", "housing", "rent", "transport", "airport"),
]
STORIES = [
    ("port-strike", '"port strike" OR dockers'),
    ("budget", "council AND budget"),
    ("flood", "flood OR river"),
    ("bank", "bank AND breach"),
    ("election", "election OR minister"),
    ("climate", "climate OR summit OR treaty"),
    ("housing", "housing OR rent"),
    ("rail", "rail AND (strike OR union)"),
]


# --- the server ---------------------------------------------------------------------------------


class FeedFarm:
    """Feeds ``/feed/<i>``, with latency, ETags and 304s; in-flight accounting per host."""

    def __init__(self, sources: int, seed: int) -> None:
        self.sources = sources
        self.rng = random.Random(seed)
        self.version = [0] * sources
        self.reset()

    def reset(self) -> None:
        self.in_flight = 0
        self.per_host: dict[str, int] = {}
        self.per_host_max = 0
        self.max_in_flight = 0
        self.area = 0.0
        self.first = self.last = 0.0
        self.statuses = {200: 0, 304: 0}

    def _move(self, host: str, step: int) -> None:
        now = time.perf_counter()
        if self.first == 0.0:
            self.first = now
        self.area += self.in_flight * (now - (self.last or now))
        self.last = now
        self.in_flight += step
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.per_host[host] = self.per_host.get(host, 0) + step
        self.per_host_max = max(self.per_host_max, self.per_host[host])

    def stats(self) -> dict[str, Any]:
        span = self.last - self.first
        return {
            "requests": sum(self.statuses.values()),
            "statuses": self.statuses,
            "mean_in_flight": self.area / span if span > 0 else 0.0,
            "max_in_flight": self.max_in_flight,
            "max_per_host": self.per_host_max,
        }

    def body(self, i: int) -> bytes:
        version = self.version[i]
        words = random.Random(i * 7919 + version)
        items = []
        for n in range(version, version + ITEMS):
            title = " ".join(words.choice(WORDS) for _ in range(8)).capitalize()
            items.append(
                f"<item><title>{title} ({i}-{n})</title>"
                f"<link>https://outlet{i}.example/news/{n}</link><guid>feed{i}-{n}</guid>"
                f"<pubDate>Fri, 20 Nov 2026 {n % 24:02d}:00:00 GMT</pubDate>"
                f"<description>{title}. {' '.join(words.choice(WORDS) for _ in range(40))}"
                "</description></item>"
            )
        return (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Outlet {i}</title><link>https://outlet{i}.example/</link>"
            f"{''.join(items)}</channel></rss>"
        ).encode()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host = writer.get_extra_info("sockname")[0]
        try:
            while line := await reader.readline():
                headers: dict[str, str] = {}
                while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    key, _, value = h.decode("latin-1").partition(":")
                    headers[key.strip().lower()] = value.strip()
                path = line.split()[1].decode()
                status, extra, body = await self.respond(host, path, headers)
                head = f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Modified'}\r\n"
                head += "".join(f"{k}: {v}\r\n" for k, v in extra.items())
                head += f"Content-Length: {len(body)}\r\n\r\n"
                writer.write(head.encode() + body)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def respond(
        self, host: str, path: str, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        if path == "/_stats":
            return 200, {"Content-Type": "application/json"}, json.dumps(self.stats()).encode()
        if path == "/_reset":
            self.reset()
            return 200, {}, b"ok"
        if path == "/_advance":
            for i in range(0, self.sources, CHANGED_EVERY):
                self.version[i] += 1
            return 200, {}, b"ok"
        i = int(path.rsplit("/", 1)[-1])
        self._move(host, +1)
        try:
            await asyncio.sleep(self.rng.uniform(*LATENCY))
            etag = f'"{i}-{self.version[i]}"'
            if headers.get("if-none-match") == etag:
                self.statuses[304] += 1
                return 304, {"ETag": etag}, b""
            self.statuses[200] += 1
            return 200, {"ETag": etag, "Content-Type": "application/rss+xml"}, self.body(i)
        finally:
            self._move(host, -1)


def hosts(count: int) -> list[str]:
    return [f"127.0.{(k + 2) // 256}.{(k + 2) % 256}" for k in range(count)]


def serve(sources: int, host_count: int, seed: int) -> None:
    farm = FeedFarm(sources, seed)
    probe = socket.socket()
    probe.bind((hosts(1)[0], 0))
    port = probe.getsockname()[1]
    probe.close()

    async def main() -> None:
        server = await asyncio.start_server(farm.handle, host=hosts(host_count), port=port)
        print(port, flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# --- a collector process ------------------------------------------------------------------------


class TimedSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """Counts the time the event loop waits in ``select`` (for sockets and timers)."""

    waited = 0.0

    def select(self, timeout: float | None = None) -> Any:
        started = time.perf_counter()
        try:
            return super().select(timeout)
        finally:
            TimedSelector.waited += time.perf_counter() - started


class TimedPolicy(asyncio.DefaultEventLoopPolicy):
    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.SelectorEventLoop(TimedSelector())


def collector_settings() -> Any:
    from noisecast.engine.config import CollectorSettings

    return CollectorSettings(
        concurrency=CONCURRENCY,
        per_host_concurrency=PER_HOST,
        per_host_min_gap_seconds=PER_HOST_GAP,
        jitter_fraction=0.0,
        timeout_seconds=10,
        deadline_seconds=20,
        contact="bench@example.org",
        allow_private_networks=("127.0.0.0/8",),  # the loopback feed server
    )


def work(url: str, start_at: float, owner: str) -> None:
    """One collector: wait for the common start, claim and collect until nothing is due."""
    from noisecast.engine.jobs.collect import Leasing, collect_leased
    from noisecast.engine.store import Store

    asyncio.set_event_loop_policy(TimedPolicy())
    store = Store.from_url(url)
    settings = collector_settings()
    time.sleep(max(0.0, start_at - time.time()))
    wall, cpu = time.perf_counter(), time.process_time()
    report = collect_leased(
        store,
        settings,
        leasing=Leasing(owner, 600, lambda: datetime.now(UTC)),
    )
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    store.close()
    print(
        json.dumps(
            {
                "sources": len(report.sources),
                "failed": len(report.failed),
                "wall": wall,
                "cpu": cpu,
                "waited": TimedSelector.waited,
                "ended": time.time(),
            }
        ),
        flush=True,
    )


# --- the driver ---------------------------------------------------------------------------------


@dataclass
class Pass:
    setup: str
    processes: int
    name: str
    sources: int
    failed: int
    seconds: float
    waiting: float
    cpu: float
    server: dict[str, Any]

    @property
    def rate(self) -> float:
        return self.sources / self.seconds


def prepare(url: str, sources: int, port: int, host_count: int) -> None:
    """A fresh database with ``sources`` sources (round-robin over the hosts) and the stories."""
    from sqlalchemy import create_engine, text

    from noisecast.engine.store import Store

    if url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    store = Store.from_url(url)
    store.migrate()
    now = datetime.now(UTC) - timedelta(minutes=1)
    for slug, query in STORIES:
        store.upsert_story(slug, slug.replace("-", " ").title(), query, now=now)
    addresses = hosts(host_count)
    for i in range(sources):
        store.upsert_source(
            kind="rss",
            name=f"feed{i:05d}",
            url=f"http://{addresses[i % host_count]}:{port}/feed/{i}",
            interval_minutes=60,
            now=now,
        )
    store.close()


def make_due(url: str) -> None:
    from sqlalchemy import update

    from noisecast.engine.store import Store
    from noisecast.engine.store.tables import sources

    store = Store.from_url(url)
    with store.transaction() as conn:
        conn.execute(update(sources).values(next_due_at=datetime.now(UTC) - timedelta(seconds=1)))
    store.close()


def control(port: int, host_count: int, path: str) -> Any:
    import httpx

    response = httpx.get(f"http://{hosts(host_count)[0]}:{port}{path}", timeout=10)
    return response.json() if path == "/_stats" else None


def one_pass(setup: str, name: str, url: str, processes: int, port: int, host_count: int) -> Pass:
    control(port, host_count, "/_reset")
    start_at = time.time() + 2.0 + processes  # every process imported and waiting
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", url, repr(start_at), f"bench-{k}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for k in range(processes)
    ]
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=900)
        if proc.returncode != 0:
            sys.exit(f"a collector failed (exit {proc.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    seconds = max(r["ended"] for r in results) - start_at
    return Pass(
        setup=setup,
        processes=processes,
        name=name,
        sources=sum(r["sources"] for r in results),
        failed=sum(r["failed"] for r in results),
        seconds=seconds,
        waiting=sum(r["waited"] / r["wall"] for r in results) / len(results),
        cpu=sum(r["cpu"] for r in results),
        server=control(port, host_count, "/_stats"),
    )


def run_setup(
    setup: str,
    url: str,
    processes: int,
    args: argparse.Namespace,
    port: int,
) -> list[Pass]:
    prepare(url, args.sources, port, args.hosts)
    passes = []
    first = one_pass(setup, "first", url, processes, port, args.hosts)
    if not args.skip_first:
        passes.append(first)
    control(port, args.hosts, "/_advance")
    make_due(url)
    passes.append(one_pass(setup, "steady", url, processes, port, args.hosts))
    control(port, args.hosts, "/_advance")
    return passes


def print_table(passes: list[Pass]) -> None:
    print(
        f"{'setup':<12} {'procs':>5} {'pass':<7} {'sources':>7} {'failed':>6} {'seconds':>8} "
        f"{'src/s':>7} {'net wait':>8} {'cpu s':>6} {'in flight':>9} {'max':>4} "
        f"{'host max':>8} {'200s':>5} {'304s':>5}"
    )
    for p in passes:
        s = p.server
        print(
            f"{p.setup:<12} {p.processes:>5} {p.name:<7} {p.sources:>7} {p.failed:>6} "
            f"{p.seconds:>8.1f} {p.rate:>7.1f} {p.waiting:>8.0%} {p.cpu:>6.1f} "
            f"{s['mean_in_flight']:>9.1f} {s['max_in_flight']:>4} {s['max_per_host']:>8} "
            f"{s['statuses']['200']:>5} {s['statuses']['304']:>5}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--pg", default=os.environ.get("NOISECAST_BENCH_PG_URL"))
    parser.add_argument("--skip-first", action="store_true", help="print the steady pass only")
    args = parser.parse_args()

    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(args.sources), str(args.hosts), str(args.seed)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        print(
            f"{args.sources} sources on {args.hosts} loopback hosts, {LATENCY[0] * 1000:.0f}-"
            f"{LATENCY[1] * 1000:.0f} ms per response, {ITEMS} items per feed, 1 in "
            f"{CHANGED_EVERY} changed between passes; collectors: concurrency {CONCURRENCY}, "
            f"{PER_HOST} per host, {PER_HOST_GAP} s between starts on a host; {os.cpu_count()} CPUs"
        )
        passes: list[Pass] = []
        with tempfile.TemporaryDirectory() as tmp:
            passes += run_setup("sqlite", f"sqlite:///{tmp}/bench.db", 1, args, port)
        if args.pg:
            passes += run_setup("postgresql", args.pg, 1, args, port)
            passes += run_setup("postgresql", args.pg, 4, args, port)
        else:
            print("(no PostgreSQL: pass --pg URL or set NOISECAST_BENCH_PG_URL)")
        print_table(passes)
        steady = {(p.setup, p.processes): p for p in passes if p.name == "steady"}
        one, four = steady.get(("postgresql", 1)), steady.get(("postgresql", 4))
        if one and four:
            print(f"4 collectors vs 1 on PostgreSQL (steady pass): {four.rate / one.rate:.2f}x")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--worker":
        work(sys.argv[2], float(sys.argv[3]), sys.argv[4])
    else:
        main()
