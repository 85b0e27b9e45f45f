"""Editors and their sessions: who may review, and which logins are still valid.

A session is a row of ``editor_sessions`` keyed by the sha256 of a random token that only the
editor's (signed) cookie holds: the database never sees the token itself, so reading the table
does not give a way in. A session counts while it exists, is not revoked and has not expired;
logging out revokes it, and a new password revokes all of the editor's sessions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from noisecast.engine.errors import NoisecastError
from noisecast.engine.store._base import StoreBase
from noisecast.engine.store.tables import editor_sessions, editors


class EditorsMixin(StoreBase):
    # --- editors -------------------------------------------------------------------------------

    def upsert_editor(
        self, username: str, password_hash: str, *, role: str, now: datetime, replace: bool = False
    ) -> bool:
        """Create an editor (True), or with ``replace`` set a known one's password and role
        (False), revoking every session the editor has open. Without ``replace`` a known name
        is an error."""
        with self.transaction() as conn:
            known = conn.execute(
                select(editors.c.id).where(editors.c.username == username)
            ).scalar()
            if known is None:
                conn.execute(
                    editors.insert().values(
                        username=username, password_hash=password_hash, role=role, created_at=now
                    )
                )
                return True
            if not replace:
                raise NoisecastError(
                    f"editor {username!r} exists: add --replace to set a new password and role"
                )
            conn.execute(
                update(editors)
                .where(editors.c.id == known)
                .values(password_hash=password_hash, role=role)
            )
            conn.execute(
                update(editor_sessions)
                .where(editor_sessions.c.editor_id == known, editor_sessions.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            return False

    def get_editor(self, username: str) -> dict[str, Any] | None:
        with self.reading() as conn:
            row = conn.execute(select(editors).where(editors.c.username == username)).first()
        return dict(row._mapping) if row else None

    def list_editors(self) -> list[dict[str, Any]]:
        with self.reading() as conn:
            rows = conn.execute(
                select(editors.c.username, editors.c.role, editors.c.created_at).order_by(
                    editors.c.username
                )
            ).all()
        return [dict(r._mapping) for r in rows]

    # --- sessions ------------------------------------------------------------------------------

    def open_session(
        self, username: str, token_hash: str, *, now: datetime, expires_at: datetime
    ) -> None:
        """Record a new session of ``username`` (the sha256 of its token), and forget the
        sessions that expired before ``now``."""
        with self.transaction() as conn:
            editor_id = conn.execute(
                select(editors.c.id).where(editors.c.username == username)
            ).scalar()
            if editor_id is None:
                raise NoisecastError(f"editor {username!r} does not exist: no session opened")
            conn.execute(delete(editor_sessions).where(editor_sessions.c.expires_at <= now))
            conn.execute(
                editor_sessions.insert().values(
                    token_hash=token_hash,
                    editor_id=editor_id,
                    created_at=now,
                    expires_at=expires_at,
                )
            )

    def session_editor(self, token_hash: str, *, now: datetime) -> dict[str, Any] | None:
        """The editor (username, role) of a session that counts at ``now``: it exists, is not
        revoked and has not expired; None otherwise."""
        query = (
            select(editors.c.username, editors.c.role)
            .join(editor_sessions, editor_sessions.c.editor_id == editors.c.id)
            .where(
                editor_sessions.c.token_hash == token_hash,
                editor_sessions.c.revoked_at.is_(None),
                editor_sessions.c.expires_at > now,
            )
        )
        with self.reading() as conn:
            row = conn.execute(query).first()
        return dict(row._mapping) if row else None

    def revoke_session(self, token_hash: str, *, now: datetime) -> bool:
        """End one session (logout); False if it did not count anyway."""
        with self.transaction() as conn:
            done = conn.execute(
                update(editor_sessions)
                .where(
                    editor_sessions.c.token_hash == token_hash,
                    editor_sessions.c.revoked_at.is_(None),
                )
                .values(revoked_at=now)
            )
        return bool(done.rowcount)

    def revoke_sessions(self, username: str, *, now: datetime) -> int:
        """End every open session of ``username``; how many were open."""
        editor_ids = select(editors.c.id).where(editors.c.username == username)
        with self.transaction() as conn:
            done = conn.execute(
                update(editor_sessions)
                .where(
                    editor_sessions.c.editor_id.in_(editor_ids.scalar_subquery()),
                    editor_sessions.c.revoked_at.is_(None),
                    editor_sessions.c.expires_at > now,
                )
                .values(revoked_at=now)
            )
        return int(done.rowcount)
