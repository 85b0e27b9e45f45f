"""What the review app's tests share: cheap password hashes, logging in through the real form
(FastAPI's test client), and for the real-browser tests, ``noisecast serve`` started on a free
loopback port, the Chromium they drive, and what a page did that it should not (script that
ran, console errors, axe-core's serious violations)."""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from noisecast.engine.web import accounts
from tests.conftest import ROOT, require

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "var" / "screenshots"


# --- the test client -------------------------------------------------------------------------


def use_cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 with small parameters: the hashes verify the same way, in a fraction of the
    time (the parameters travel inside each hash). Call it from an autouse fixture."""
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))


def client_for(app: Any) -> TestClient:
    return TestClient(app, follow_redirects=False)


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def login(app: Any, name: str, password: str) -> TestClient:
    """A client logged in as ``name`` through the login form (with its CSRF token)."""
    client = client_for(app)
    token = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"username": name, "password": password, "csrf": token})
    assert response.status_code == 303, response.text
    return client


# --- real browsers ---------------------------------------------------------------------------


def require_browser(*, axe: bool = False) -> None:
    """Skip (fail when CI is set) without Chromium, Playwright or, with ``axe``,
    axe-playwright-python."""
    require(CHROMIUM.exists(), f"{CHROMIUM} is absent: `apt-get install chromium` (.ci/run does)")
    try:
        import playwright.sync_api  # noqa: F401

        if axe:
            import axe_playwright_python  # noqa: F401
    except ImportError:
        wanted = "playwright or axe-playwright-python" if axe else "playwright"
        require(False, f"{wanted} missing: pip install -e '.[test]'")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(
    database_url: str,
    log_dir: Path,
    *,
    config: Path | None = None,
    ready_path: str = "/login",
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    options: Sequence[str] = (),
) -> Iterator[str]:
    """``noisecast [options] serve`` over ``database_url`` on 127.0.0.1 (a random session
    secret, the repository's config.toml unless ``config``; ``options`` such as ``--now``),
    yielding its base URL once ``ready_path`` answers 200; stopped on exit. Its output goes to
    ``log_dir/serve.log``, shown if it dies."""
    port = port or free_port()
    base = f"http://127.0.0.1:{port}"
    environment = {
        **os.environ,
        "NOISECAST_SECRET_KEY": secrets.token_hex(32),
        "NOISECAST_CONFIG": str(config or ROOT / "config.toml"),
        **(env or {}),
    }
    log = (log_dir / "serve.log").open("w+")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "noisecast.engine",
            *options,
            "serve",
            "--database",
            database_url,
            "--port",
            str(port),
        ],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"noisecast serve exited with {proc.returncode}:\n{log.read()}")
            try:
                if httpx.get(f"{base}{ready_path}", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("noisecast serve did not answer within 30 s")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


class Watch:
    """What a page did that it should not: dialogs (script ran), errors, console errors (a
    Content-Security-Policy refusal is one)."""

    def __init__(self, page: Any) -> None:
        self.problems: list[str] = []
        page.on("dialog", lambda d: (self.problems.append(f"dialog {d.message}"), d.dismiss()))
        page.on("pageerror", lambda e: self.problems.append(f"error {e}"))
        page.on(
            "console",
            lambda m: self.problems.append(f"console {m.text}") if m.type == "error" else None,
        )


def log_in_through(page: Any, site: str, path: str, name: str, password: str) -> None:
    """Open ``path`` logged out: the app sends the browser to its login form and, once
    ``name`` logs in, back to ``path``."""
    from playwright.sync_api import expect

    page.goto(f"{site}{path}")
    expect(page).to_have_url(f"{site}/login?next={path}")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password)
    page.click("button:has-text('Log in')")
    expect(page).to_have_url(f"{site}{path}")


def serious(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(n["target"][0] if n["target"] else "?" for n in v["nodes"][:3])
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]
