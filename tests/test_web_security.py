"""The review app under hostile input (issue 11 §7): ids that cannot exist, errors that must
still carry the security headers, login floods, and sessions that end server-side."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select

from engine.config import Settings
from engine.store import Store
from engine.store.tables import editor_sessions, editors
from engine.web import accounts
from engine.web.accounts import add_editor
from engine.web.app import SESSION_COOKIE, SESSION_SECONDS, create_app
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
