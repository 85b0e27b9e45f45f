"""The review app under hostile input (issue 11 §7): ids that cannot exist, errors that must
still carry the security headers, login floods, and sessions that end server-side."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from engine.config import Settings
from engine.store import Store
from engine.web import accounts
from engine.web.accounts import add_editor
from engine.web.app import create_app
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
