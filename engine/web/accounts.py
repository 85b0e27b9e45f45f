"""Editors' passwords (argon2id hashes, never stored or logged in clear) and the demo's editor."""

from __future__ import annotations

import hashlib
import re
import secrets
import sys
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from noisecast.engine.core.review import ROLES
from noisecast.engine.errors import ConfigError
from noisecast.engine.store import Store

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,79}$")
MIN_PASSWORD = 8
DEMO_EDITOR = "demo"

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_hex(16))


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; an unknown editor (None) costs the same time."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_session_token() -> tuple[str, str]:
    """A session's random token (kept in the signed cookie) and its hash (kept in the
    database, ``editor_sessions.token_hash``)."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_new_editor(username: str, password: str, role: str) -> None:
    if not USERNAME.match(username):
        raise ConfigError(
            f"editor name {username!r}: use letters, digits and . _ @ - (at most 80 characters)"
        )
    if role not in ROLES:
        raise ConfigError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"the password is too short: use at least {MIN_PASSWORD} characters")


def add_editor(
    store: Store,
    username: str,
    password: str,
    *,
    role: str = "editor",
    now: datetime,
    replace: bool = False,
) -> bool:
    """Create an editor (True) or, with ``replace``, reset a known one (False)."""
    check_new_editor(username, password, role)
    return store.upsert_editor(
        username, hash_password(password), role=role, now=now, replace=replace
    )


def program_name() -> str:
    """How the user ran noisecast (``.venv/bin/noisecast`` from make), to repeat it in printed
    commands."""
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if argv0 is not None and argv0.name == "noisecast":
        try:
            return str(argv0.relative_to(Path.cwd()))
        except ValueError:
            return str(argv0)
    return "noisecast"


def demo_review(database_url: str, *, now: datetime) -> dict[str, Any]:
    """Give the demo database an editor ``demo`` with a new random password (every run resets
    it) and say how to open the review page on it."""
    password = secrets.token_urlsafe(12)
    store = Store.from_url(database_url)
    try:
        add_editor(store, DEMO_EDITOR, password, role="editor", now=now, replace=True)
    finally:
        store.close()
    return {
        "editor": DEMO_EDITOR,
        "password": password,
        "url": "http://127.0.0.1:8000/",
        "command": f"{program_name()} serve --dev --database {database_url}",
    }
