"""Sources: what we fetch, and the scheduling state reader-style kept on each row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update

from noisecast.engine.errors import AlreadyExistsError, NoisecastError
from noisecast.engine.store._base import StoreBase
from noisecast.engine.store.tables import source_cursors, sources
from noisecast.feeds.base import Cursor

# A removed source is kept (its mentions stay: mentions.source_id is ON DELETE CASCADE, so the
# row cannot go) but disabled with this reason, and hidden from lists and from config sync.
REMOVED = "removed (noisecast sources remove)"


class SourcesMixin(StoreBase):
    def upsert_source(
        self,
        *,
        kind: str,
        name: str,
        url: str,
        interval_minutes: int,
        now: datetime,
        settings: dict[str, Any] | None = None,
        exists_ok: bool = True,
    ) -> tuple[int, bool]:
        """Create the source (due now), or update it from config. Returns (id, created).

        ``settings["origin_url"]`` remembers the URL config gave: a permanent redirect may
        have moved ``url`` since, and reloading the same config must not move it back.
        Without ``exists_ok`` a known name is an AlreadyExistsError (nothing is changed);
        with it, a removed source comes back, enabled.
        """
        settings = {**(settings or {}), "origin_url": url}
        with self.transaction() as conn:
            row = conn.execute(select(sources).where(sources.c.name == name)).first()
            if row is not None and not exists_ok:
                raise AlreadyExistsError(_taken(row))
            if row is None:
                created = conn.execute(
                    sources.insert().values(
                        kind=kind,
                        name=name,
                        url=url,
                        settings=settings,
                        interval_minutes=interval_minutes,
                        next_due_at=now,
                        created_at=now,
                        updated_at=now,
                    )
                )
                return int(created.inserted_primary_key[0]), True  # type: ignore[index]
            values: dict[str, Any] = {"kind": kind, "settings": settings, "updated_at": now}
            if (row.settings or {}).get("origin_url") != url:
                values["url"] = url  # a new URL: what we knew of the old one no longer holds
                conn.execute(delete(source_cursors).where(source_cursors.c.source_id == row.id))
            if row.disabled_reason == REMOVED:
                values.update(_enabled(now))
            conn.execute(update(sources).where(sources.c.id == row.id).values(**values))
            return int(row.id), False

    def list_sources(self, *, removed: bool = False) -> list[dict[str, Any]]:
        """Every source by name; the removed ones only with ``removed``."""
        query = select(sources).order_by(sources.c.name)
        if not removed:
            query = query.where(_not_removed())
        with self.reading() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def find_source(self, name: str) -> dict[str, Any] | None:
        """The source with this name (removed or not), or None."""
        with self.reading() as conn:
            row = conn.execute(select(sources).where(sources.c.name == name)).first()
        return None if row is None else dict(row._mapping)

    def get_source(self, name: str) -> dict[str, Any]:
        found = self.find_source(name)
        if found is None:
            raise NoisecastError(f"no source named {name!r} (see `noisecast sources list`)")
        return found

    def source_names_of(self, url: str) -> list[str]:
        """The names of the sources (removed ones too) whose URL, or URL from config, is ``url``."""
        with self.reading() as conn:
            rows = conn.execute(select(sources.c.name, sources.c.url, sources.c.settings))
            return sorted(
                r.name for r in rows if url in (r.url, (r.settings or {}).get("origin_url"))
            )

    def cursor(self, name: str, key: str = "") -> Cursor:
        """A source's cursor for one task (``""``: its own URL): validators and state."""
        with self.reading() as conn:
            row = conn.execute(
                select(source_cursors)
                .join(sources, sources.c.id == source_cursors.c.source_id)
                .where(sources.c.name == name, source_cursors.c.key == key)
            ).first()
        if row is None:
            return Cursor()
        return Cursor(row.etag, row.last_modified, row.body_hash, row.state or {})

    def cursors_of(self, source_ids: list[int]) -> dict[int, dict[str, Cursor]]:
        """Every task's cursor of each of these sources, by source id then task key (a source
        without any has none): one query per 500 sources rather than one per source."""
        found: dict[int, dict[str, Cursor]] = {}
        ids = sorted(set(source_ids))
        with self.reading() as conn:
            for i in range(0, len(ids), 500):
                rows = conn.execute(
                    select(source_cursors).where(source_cursors.c.source_id.in_(ids[i : i + 500]))
                )
                for r in rows:
                    found.setdefault(r.source_id, {})[r.key] = Cursor(
                        r.etag, r.last_modified, r.body_hash, r.state or {}
                    )
        return found

    def disable_source(self, name: str, *, reason: str, now: datetime) -> None:
        with self.transaction() as conn:
            done = conn.execute(
                update(sources)
                .where(sources.c.name == name, _not_removed())
                .values(disabled_at=now, disabled_reason=reason, updated_at=now)
            )
        if done.rowcount == 0:
            known = self.find_source(name)
            if known is None:
                raise NoisecastError(f"no source named {name!r} (see `noisecast sources list`)")
            raise NoisecastError(
                f"source {name!r} was removed: `noisecast sources enable {name}` brings it back"
            )

    def enable_source(self, name: str, *, now: datetime) -> bool:
        """Collect from a disabled (or removed) source again: no failures counted, due now.
        Returns whether it was disabled."""
        with self.transaction() as conn:
            row = conn.execute(
                select(sources.c.id, sources.c.disabled_at).where(sources.c.name == name)
            ).first()
            if row is None:
                raise NoisecastError(f"no source named {name!r} (see `noisecast sources list`)")
            conn.execute(update(sources).where(sources.c.id == row.id).values(**_enabled(now)))
            return row.disabled_at is not None

    def remove_source(self, name: str, *, now: datetime) -> bool:
        """Stop collecting from a source and hide it; its mentions and history stay. Returns
        False when it was removed already."""
        with self.transaction() as conn:
            row = conn.execute(
                select(sources.c.id, sources.c.disabled_reason).where(sources.c.name == name)
            ).first()
            if row is None:
                raise NoisecastError(f"no source named {name!r} (see `noisecast sources list`)")
            if row.disabled_reason == REMOVED:
                return False
            conn.execute(
                update(sources)
                .where(sources.c.id == row.id)
                .values(
                    disabled_at=now,
                    disabled_reason=REMOVED,
                    lease_owner=None,
                    lease_until=None,
                    updated_at=now,
                )
            )
            return True

    def due_sources(
        self, now: datetime, *, names: list[str] | None = None, force: bool = False
    ) -> list[dict[str, Any]]:
        """Enabled sources whose next fetch is due (all enabled ones with ``force``)."""
        query = select(sources).where(sources.c.disabled_at.is_(None))
        if names:
            query = query.where(sources.c.name.in_(names))
        if not force:
            query = query.where(sources.c.next_due_at <= now)
        query = query.where(or_(sources.c.lease_until.is_(None), sources.c.lease_until < now))
        with self.reading() as conn:
            rows = conn.execute(query.order_by(sources.c.next_due_at, sources.c.id))
            return [dict(r._mapping) for r in rows]


def _not_removed() -> Any:
    return or_(sources.c.disabled_reason.is_(None), sources.c.disabled_reason != REMOVED)


def _enabled(now: datetime) -> dict[str, Any]:
    return {
        "disabled_at": None,
        "disabled_reason": None,
        "failures": 0,
        "consecutive_failures": 0,
        "last_error": None,
        "next_due_at": now,
        "updated_at": now,
    }


def _taken(row: Any) -> str:
    if row.disabled_reason == REMOVED:
        return (
            f"source {row.name!r} was removed (its mentions are kept): add --replace to "
            f"replace it, or `noisecast sources enable {row.name}` to collect from it again"
        )
    return (
        f"source {row.name!r} exists ({row.url}): add --replace to replace it, or choose "
        "another --name"
    )
