"""A collection killed in the middle and rerun leaves exactly the rows of one clean run."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from noisecast.engine.store.tables import mentions, sources, stories, story_mentions

FEEDS = [
    "rbren__guardian.rss",
    "rbren__reddit.rss",
    "rbren__heise.atom",
    "feedjira__RSSWithComments.xml",
    "rsparser__macworld.rss",
    "feeder__golem-de.xml",
    "rbren__rss-1.rss",
    "feeder__rss_fz_2022.xml",
]
BLOCK_AT = "rsparser__macworld.rss"  # the fifth feed hangs until the process is killed


class FeedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path, block: str | None) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.root, self.block = root, block
        self.blocked = threading.Event()
        self.release = threading.Event()


class Handler(BaseHTTPRequestHandler):
    server: FeedServer

    def do_GET(self) -> None:
        name = self.path.lstrip("/")
        if name == self.server.block:
            self.server.blocked.set()
            self.server.release.wait(30)
        body = (self.server.root / name).read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def serve(shared_data: Path) -> Iterator[Callable[[str | None], FeedServer]]:
    servers: list[FeedServer] = []

    def start(block: str | None) -> FeedServer:
        server = FeedServer(shared_data / "news-feeds", block)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.release.set()
        server.shutdown()
        server.server_close()


def write_config(path: Path, db: Path, base: str) -> Path:
    lines = [
        "[database]",
        f'url = "sqlite:///{db}"',
        "[collector]",
        "concurrency = 1",
        "per_host_min_gap_seconds = 0",
        "per_host_concurrency = 1",
        "timeout_seconds = 60",
        'allow_private_networks = ["127.0.0.0/8"]',  # the loopback feed server
        "",
        "[[stories]]",
        'slug = "apple"',
        'title = "Apple"',
        "query = 'apple OR iphone OR mac*'",
    ]
    for name in FEEDS:
        lines += ["[[sources]]", f'name = "{name}"', f'url = "{base}/{name}"']
    path.write_text("\n".join(lines) + "\n")
    return path


def noisecast(config: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "noisecast.engine",
            "--config",
            str(config),
            "--now",
            "2026-11-20T12:00Z",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> None:
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err


def snapshot(db: Path) -> dict[str, object]:
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        rows = conn.execute(
            select(sources.c.name, mentions.c.external_id, mentions.c.title).join(sources)
        ).all()
        matched = conn.execute(
            select(stories.c.slug, sources.c.name, mentions.c.external_id).select_from(
                story_mentions.join(stories).join(mentions).join(sources)
            )
        ).all()
    engine.dispose()
    return {"mentions": sorted(rows), "matches": sorted(matched)}


def test_killed_run_then_rerun_equals_one_clean_run(serve, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clean_server = serve(None)
    clean_db = tmp_path / "clean.db"
    clean_cfg = write_config(
        tmp_path / "clean.toml", clean_db, f"http://127.0.0.1:{clean_server.server_port}"
    )
    finish(noisecast(clean_cfg, "init"))
    finish(noisecast(clean_cfg, "collect"))
    clean = snapshot(clean_db)
    assert len(clean["mentions"]) > 200 and clean["matches"]  # type: ignore[arg-type]

    server = serve(BLOCK_AT)
    db = tmp_path / "crash.db"
    cfg = write_config(tmp_path / "crash.toml", db, f"http://127.0.0.1:{server.server_port}")
    finish(noisecast(cfg, "init"))
    proc = noisecast(cfg, "collect")
    assert server.blocked.wait(60), "the collector never reached the hanging feed"
    # The sources finished before the hanging one are written within write_every_seconds.
    deadline = time.monotonic() + 20
    while not snapshot(db)["mentions"] and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    partial = snapshot(db)
    assert 0 < len(partial["mentions"]) < len(clean["mentions"])  # type: ignore[arg-type]

    server.block = None
    server.release.set()
    finish(noisecast(cfg, "collect"))  # only the sources still due are fetched
    assert snapshot(db) == clean
    finish(noisecast(cfg, "collect", "--force"))  # and a forced rerun adds nothing
    assert snapshot(db) == clean
