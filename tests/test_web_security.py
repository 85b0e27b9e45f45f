"""The review app under hostile input (issue 11 §7): ids that cannot exist, errors that must
still carry the security headers, login floods, and sessions that end server-side."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx
import pytest
import uvicorn
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select

from noisecast.engine.config import Settings
from noisecast.engine.store import Store
from noisecast.engine.store.tables import editor_sessions, editors
from noisecast.engine.web import accounts
from noisecast.engine.web.accounts import add_editor
from noisecast.engine.web.app import SESSION_COOKIE, SESSION_SECONDS, create_app
from noisecast.engine.web.limits import LoginGuard, LoginLimits
from tests.test_web import CLOCK, PASSWORDS, SECRET, csrf_of, login

SECURITY_HEADERS = (
    "content-security-policy",
    "x-content-type-options",
    "x-frame-options",
    "referrer-policy",
)


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))


@pytest.fixture
def editors_store(store: Store) -> Iterator[Store]:
    """A migrated store (SQLite and PostgreSQL) with the test editors."""
    for name, password in PASSWORDS.items():
        add_editor(store, name, password, role="admin" if name == "root" else "editor", now=CLOCK)
    yield store


@pytest.fixture
def web(editors_store: Store) -> Any:
    return create_app(editors_store, Settings(), SECRET, now=lambda: CLOCK)


def assert_secured(response: Any) -> None:
    for name in SECURITY_HEADERS:
        assert name in response.headers, (response.status_code, name, response.request.url)
    assert "script-src" not in response.headers["content-security-policy"]
    assert "Traceback" not in response.text


# --- ids that cannot exist, errors with headers ------------------------------------------------

BAD_IDS = ("10" + "0" * 30, "-1", "0", "abc", "9223372036854775808", "1e3", "NaN", "1.5", "%20")


def test_an_id_that_cannot_exist_is_not_found(web: Any) -> None:
    client = login(web, "alice")
    csrf = csrf_of(client.get("/").text)
    for bad in BAD_IDS:
        page = client.get(f"/forecasts/{bad}/edit")
        assert page.status_code in (404, 422), (bad, page.status_code)
        assert_secured(page)
        for action in ("approve", "edit", "reject"):
            form = {"csrf": csrf, "seen_status": "pending", "text": "x", "reason": "x"}
            done = client.post(f"/forecasts/{bad}/{action}", data=form)
            assert done.status_code in (404, 422), (bad, action, done.status_code)
            assert_secured(done)
    assert "There is no such page" in client.get(f"/forecasts/{BAD_IDS[0]}/edit").text
    missing = client.get("/forecasts/9223372036854775807/edit")  # the largest key: no such row
    assert missing.status_code == 404 and "no suggestion" in missing.text
    assert_secured(missing)


def test_every_response_carries_the_security_headers(web: Any) -> None:
    @web.get("/boom")  # a route that fails the way a bug would
    def boom() -> None:
        raise RuntimeError("a bug")

    anonymous = TestClient(web, follow_redirects=False, raise_server_exceptions=False)
    responses = [
        anonymous.get("/boom"),
        anonymous.get("/no-such-page"),
        anonymous.put("/login"),
        anonymous.get(f"/forecasts/{BAD_IDS[0]}/edit"),
        anonymous.post("/login", data={"username": "alice"}),  # no CSRF token
        anonymous.get("/api/stories/nope"),
        anonymous.get(f"/api/stories/{'x' * 5000}"),
        anonymous.get("/login"),
        anonymous.get("/static/review.css"),
    ]
    assert [r.status_code for r in responses] == [500, 404, 405, 303, 403, 404, 404, 200, 200]
    for response in responses:
        assert_secured(response)
    assert "a bug" not in responses[0].text


# --- sessions end server-side ------------------------------------------------------------------


class Clock:
    """The app's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = CLOCK

    def __call__(self) -> datetime:
        return self.now


def with_cookie(app: Any, cookie: str) -> TestClient:
    """A new client holding a copy of a session cookie (as a thief would)."""
    other = TestClient(app, follow_redirects=False)
    other.cookies.set(SESSION_COOKIE, cookie)
    return other


def test_a_cookie_copied_before_logout_is_refused_after_it(web: Any, editors_store: Store) -> None:
    client = login(web, "alice")
    copied = client.cookies[SESSION_COOKIE]
    assert with_cookie(web, copied).get("/").status_code == 200  # works while the session does
    token = csrf_of(client.get("/").text)
    assert client.post("/logout", data={"csrf": token}).status_code == 303
    refused = with_cookie(web, copied).get("/")
    assert refused.status_code == 303 and refused.headers["location"].startswith("/login")
    assert client.get("/").status_code == 303
    with editors_store.reading() as conn:
        [row] = conn.execute(select(editor_sessions)).all()
    assert row.revoked_at == CLOCK and len(row.token_hash) == 64
    assert row.token_hash not in copied  # the cookie holds the token, the database its hash
    again = login(web, "alice")  # logging in again opens a new session; the old one stays dead
    assert again.get("/").status_code == 200
    assert with_cookie(web, copied).get("/").status_code == 303


def test_a_new_password_ends_every_session_of_the_editor(web: Any, editors_store: Store) -> None:
    first, second, bob = login(web, "alice"), login(web, "alice"), login(web, "bob")
    add_editor(editors_store, "alice", "a-new-password", now=CLOCK, replace=True)
    assert first.get("/").status_code == 303 and second.get("/").status_code == 303
    assert bob.get("/").status_code == 200
    assert login(web, "alice", "a-new-password").get("/").status_code == 200
    assert editors_store.revoke_sessions("bob", now=CLOCK) == 1
    assert bob.get("/").status_code == 303


def test_a_session_expires_on_the_server_clock(editors_store: Store) -> None:
    clock = Clock()
    app = create_app(editors_store, Settings(), SECRET, now=clock)
    client = login(app, "alice")
    clock.now = CLOCK + timedelta(seconds=SESSION_SECONDS - 1)
    assert client.get("/").status_code == 200
    clock.now = CLOCK + timedelta(seconds=SESSION_SECONDS)
    assert client.get("/").status_code == 303
    login(app, "bob")  # a new login forgets the expired rows
    with editors_store.reading() as conn:
        names = conn.execute(
            select(editors.c.username).join(
                editor_sessions, editor_sessions.c.editor_id == editors.c.id
            )
        ).scalars()
        assert list(names) == ["bob"]


# --- login limits ------------------------------------------------------------------------------


def attempt(client: TestClient, name: str, password: str) -> Any:
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"username": name, "password": password, "csrf": token})


def from_address(app: Any, address: str) -> TestClient:
    return TestClient(app, follow_redirects=False, client=(address, 40000))


def test_failed_logins_are_limited_per_account_and_address(editors_store: Store) -> None:
    clock = Clock()
    app = create_app(editors_store, Settings(), SECRET, now=clock)
    here, there = from_address(app, "192.0.2.1"), from_address(app, "192.0.2.2")
    for _ in range(5):
        assert attempt(here, "alice", "wrong-password").status_code == 401
    refused = attempt(here, "Alice ", PASSWORDS["alice"])  # the right password, too late
    assert refused.status_code == 429 and refused.headers["retry-after"] == "900"
    assert "Too many failed logins: try again in 15 minutes." in refused.text
    assert_secured(refused)
    assert attempt(there, "alice", PASSWORDS["alice"]).status_code == 303  # not locked out
    clock.now = CLOCK + timedelta(minutes=10)
    later = attempt(here, "alice", PASSWORDS["alice"])
    assert later.status_code == 429 and later.headers["retry-after"] == "300"
    clock.now = CLOCK + timedelta(minutes=15)
    assert attempt(here, "alice", PASSWORDS["alice"]).status_code == 303

    # a success clears the account's failures from that address
    for _ in range(4):
        assert attempt(here, "bob", "wrong-password").status_code == 401
    assert attempt(here, "bob", PASSWORDS["bob"]).status_code == 303
    for _ in range(5):
        assert attempt(here, "bob", "wrong-password").status_code == 401
    assert attempt(here, "bob", "wrong-password").status_code == 429


def test_failed_logins_are_limited_per_address_whatever_the_account(
    editors_store: Store,
) -> None:
    app = create_app(editors_store, Settings(), SECRET, now=lambda: CLOCK)
    sprayer = from_address(app, "198.51.100.7")
    for n in range(20):  # one guess at each of many accounts
        assert attempt(sprayer, f"user{n}", "password1").status_code == 401
    refused = attempt(sprayer, "alice", PASSWORDS["alice"])
    assert refused.status_code == 429 and refused.headers["retry-after"] == "900"
    assert (
        attempt(from_address(app, "198.51.100.8"), "alice", PASSWORDS["alice"]).status_code == 303
    )


def test_login_limits_bound_memory() -> None:
    guard = LoginGuard(LoginLimits(max_keys=50))
    for n in range(1_000):
        guard.begin(f"user{n}", f"10.0.{n // 250}.{n % 250}", CLOCK)
    assert len(guard._failures) <= 50
    with pytest.raises(ValueError, match="per_account"):
        LoginLimits(per_account=0)


# --- login floods over real HTTP ---------------------------------------------------------------


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """The app under uvicorn on a free loopback port, in a thread; its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started:
                break
            time.sleep(0.01)
        assert server.started, "uvicorn did not start"
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def flood(base: str, name: str, password: str, n: int) -> list[httpx.Response]:
    """``n`` logins sent at the same moment, each from its own client (its own session and
    CSRF token), as a flood would."""
    start = threading.Barrier(n)
    answers: list[httpx.Response] = []

    def one() -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            token = csrf_of(client.get("/login").text)
            start.wait()
            answers.append(
                client.post("/login", data={"username": name, "password": password, "csrf": token})
            )

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


class CountingHasher(PasswordHasher):
    """argon2 itself, counting how many verifications run at once (and optionally slowed)."""

    def __init__(self, pause: float = 0.0, **params: Any) -> None:
        super().__init__(**params)
        self.pause = pause
        self.now = self.peak = 0
        self.lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            time.sleep(self.pause)
            return super().verify(hash, password)
        finally:
            with self.lock:
                self.now -= 1


def test_a_concurrent_flood_on_one_account_gets_five_guesses(
    editors_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 wrong passwords for one account at once, over HTTP: an attempt counts from when it
    starts, so 5 are checked and 35 refused before any hashing."""
    hasher = CountingHasher(time_cost=1, memory_cost=1024)
    monkeypatch.setattr(accounts, "_hasher", hasher)
    app = create_app(editors_store, Settings(), SECRET, now=lambda: CLOCK)
    with serving(app) as base:
        answers = flood(base, "alice", "wrong-password", 40)
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [401] * 5 + [429] * 35
        assert all(r.headers["retry-after"] == "900" for r in answers if r.status_code == 429)
        for r in answers:
            assert_secured(r)
        with httpx.Client(base_url=base) as client:
            token = csrf_of(client.get("/login").text)
            right = {"username": "alice", "password": PASSWORDS["alice"], "csrf": token}
            assert client.post("/login", data=right).status_code == 429


def test_concurrent_password_checks_are_bounded(
    editors_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 logins at once with the attempt limits out of the way: at most two argon2
    verifications ever run together (each takes its memory only while it runs)."""
    hasher = CountingHasher(pause=0.005, time_cost=2, memory_cost=8 * 1024)
    monkeypatch.setattr(accounts, "_hasher", hasher)
    add_editor(editors_store, "carol", "carol-password", now=CLOCK)  # hashed by it
    open_doors = LoginLimits(per_account=1000, per_address=1000, hashing=2)
    app = create_app(editors_store, Settings(), SECRET, now=lambda: CLOCK, login_limits=open_doors)
    with serving(app) as base:
        answers = flood(base, "carol", "wrong-password", 40)
    assert sorted(r.status_code for r in answers) == [401] * 40
    assert hasher.peak == 2 and app.state.login_guard.hashing_peak == 2


def test_a_login_that_cannot_get_a_hashing_slot_is_refused(
    editors_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No slot free within the wait: 503 with Retry-After, and the attempt does not count."""
    hasher = CountingHasher(pause=0.2, time_cost=1, memory_cost=1024)
    monkeypatch.setattr(accounts, "_hasher", hasher)
    busy = LoginLimits(hashing=1, hashing_wait_seconds=0.05)
    app = create_app(editors_store, Settings(), SECRET, now=lambda: CLOCK, login_limits=busy)
    with serving(app) as base:
        answers = flood(base, "alice", "wrong-password", 4)
    statuses = sorted(r.status_code for r in answers)
    assert statuses[0] == 401 and statuses[-1] == 503 and hasher.peak == 1
    for r in answers:
        if r.status_code == 503:
            assert r.headers["retry-after"] == "1" and "busy" in r.text
    # only the checked attempts counted: alice still has guesses left
    client = from_address(app, "127.0.0.1")
    assert attempt(client, "alice", PASSWORDS["alice"]).status_code == 303
