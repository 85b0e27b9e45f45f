"""Alerts in the database (issue 13): rules and their audit trail, silences. The outbox (events,
deliveries, claims, attempts) is :mod:`noisecast.engine.store._alert_outbox`.

Rule and silence changes by admins are conditional on the version they saw
(:class:`~noisecast.engine.core.review.ReviewConflict` otherwise) and audited in
``alert_audit``, in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.engine import Connection

from noisecast.engine.core.alerts import Silence, rule_from_dict, rule_to_dict
from noisecast.engine.core.review import ReviewConflict, ReviewInputError
from noisecast.engine.errors import AlreadyExistsError, ConfigError
from noisecast.engine.store._base import StoreBase
from noisecast.engine.store.tables import (
    alert_audit,
    alert_rules,
    alert_silences,
    alert_state,
    stories,
)

log = logging.getLogger("noisecast.alerts")

CONFIG = "config"  # the editor of config's changes, and the origin of config's rules
APP = "app"
REASON_MAX = 500


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _snapshot(row: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    return {k: _iso(row[k]) for k in keys}


_RULE_KEYS = ("name", "definition", "enabled", "origin", "version")
_SILENCE_KEYS = ("id", "rule", "slug", "starts_at", "ends_at", "reason", "ended_at", "ended_by")


class AlertsMixin(StoreBase):
    # --- rules -------------------------------------------------------------------------------

    def alert_rules(self, *, include_disabled: bool = True) -> list[dict[str, Any]]:
        """Every rule: name, definition, rule (the core Rule; None when the stored definition no
        longer parses, with ``error``), enabled, origin, version, updated_by, updated_at."""
        query = select(alert_rules).order_by(alert_rules.c.name)
        if not include_disabled:
            query = query.where(alert_rules.c.enabled.is_(True))
        with self.reading() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        out = []
        for row in rows:
            definition = dict(row["definition"] or {})
            item = {k: row[k] for k in ("name", "enabled", "origin", "version", "updated_by")}
            item.update(definition=definition, updated_at=row["updated_at"], error=None)
            try:
                item["rule"] = rule_from_dict({**definition, "enabled": bool(row["enabled"])})
            except ConfigError as e:  # a definition an older version accepted
                item["rule"], item["error"] = None, str(e)
            out.append(item)
        return out

    def alert_rule(self, name: str) -> dict[str, Any] | None:
        return next((r for r in self.alert_rules() if r["name"] == name), None)

    def save_alert_rule(
        self,
        definition: Mapping[str, Any],
        *,
        editor: str,
        now: datetime,
        version: int | None,
        destinations: Mapping[str, str],
    ) -> dict[str, Any]:
        """Create (``version`` None) or update an admin's rule. Raises AlertRuleError for a bad
        field, AlreadyExistsError for a taken name, ReviewConflict when the rule is no longer
        at ``version``. The rule's origin becomes "app": config never overwrites it again."""
        stored = rule_to_dict(rule_from_dict(definition, destinations=destinations))
        name = str(stored["name"])
        enabled = bool(stored.get("enabled", True))
        with self.transaction() as conn:
            before = self._rule_row(conn, name)
            if version is None:
                if before is not None:
                    raise AlreadyExistsError(
                        f"name: an alert rule {name!r} exists already: edit it, or choose "
                        "another name"
                    )
                conn.execute(
                    alert_rules.insert().values(
                        name=name,
                        definition=stored,
                        enabled=enabled,
                        origin=APP,
                        version=1,
                        updated_by=editor,
                        updated_at=now,
                    )
                )
                action = "create"
            else:
                self._conditional_rule_update(
                    conn,
                    name,
                    version,
                    before,
                    definition=stored,
                    enabled=enabled,
                    origin=APP,
                    updated_by=editor,
                    updated_at=now,
                )
                action = "update"
            after = self._rule_row(conn, name)
            assert after is not None
            self._audit(conn, now, editor, action, "rule", name, before, after)
        return self._rule_dict(after)

    def set_alert_rule_enabled(
        self, name: str, enabled: bool, *, editor: str, now: datetime, version: int
    ) -> dict[str, Any]:
        with self.transaction() as conn:
            before = self._rule_row(conn, name)
            definition = dict(before["definition"]) if before else {}
            definition["enabled"] = enabled
            self._conditional_rule_update(
                conn,
                name,
                version,
                before,
                definition=definition,
                enabled=enabled,
                origin=APP,
                updated_by=editor,
                updated_at=now,
            )
            after = self._rule_row(conn, name)
            assert after is not None
            self._audit(
                conn, now, editor, "enable" if enabled else "disable", "rule", name, before, after
            )
        return self._rule_dict(after)

    def delete_alert_rule(self, name: str, *, editor: str, now: datetime, version: int) -> None:
        """Delete the rule and its per-story state (its events stay, for the record)."""
        with self.transaction() as conn:
            before = self._rule_row(conn, name)
            done = conn.execute(
                delete(alert_rules).where(
                    alert_rules.c.name == name, alert_rules.c.version == version
                )
            ).rowcount
            if done == 0:
                raise ReviewConflict(self._rule_conflict(name, version, before))
            conn.execute(delete(alert_state).where(alert_state.c.rule == name))
            self._audit(conn, now, editor, "delete", "rule", name, before, None)

    def sync_alert_rules(self, rules: Sequence[Any], *, now: datetime) -> tuple[int, int]:
        """Config's ``[[alerts.rules]]`` (AlertRuleSettings) into the database: new ones
        created, changed ones updated, those no longer in config deleted, all only while their
        origin is "config"; a rule an admin edited (origin "app") is left alone (logged).
        Returns (created, updated)."""
        created = updated = 0
        wanted: dict[str, dict[str, Any]] = {}
        for r in rules:
            raw = r.model_dump() if hasattr(r, "model_dump") else dict(r)
            d = rule_to_dict(rule_from_dict(raw))
            wanted[str(d["name"])] = d
        with self.transaction() as conn:
            rows = {str(r.name): dict(r._mapping) for r in conn.execute(select(alert_rules)).all()}
            for name, d in wanted.items():
                enabled = bool(d.get("enabled", True))
                row = rows.get(name)
                if row is None:
                    conn.execute(
                        alert_rules.insert().values(
                            name=name,
                            definition=d,
                            enabled=enabled,
                            origin=CONFIG,
                            version=1,
                            updated_by=CONFIG,
                            updated_at=now,
                        )
                    )
                    self._audit(
                        conn, now, CONFIG, "create", "rule", name, None, _rule_of(conn, name)
                    )
                    created += 1
                elif row["origin"] != CONFIG:
                    log.info(
                        "alert rule %r was edited in the review app: config's version is not "
                        "applied (delete it there to follow config again)",
                        name,
                        extra={"job": "alerts"},
                    )
                elif row["definition"] != d or bool(row["enabled"]) != enabled:
                    conn.execute(
                        update(alert_rules)
                        .where(alert_rules.c.id == row["id"])
                        .values(
                            definition=d,
                            enabled=enabled,
                            version=alert_rules.c.version + 1,
                            updated_by=CONFIG,
                            updated_at=now,
                        )
                    )
                    self._audit(
                        conn, now, CONFIG, "update", "rule", name, row, _rule_of(conn, name)
                    )
                    updated += 1
            for name, row in rows.items():
                if row["origin"] == CONFIG and name not in wanted:
                    conn.execute(delete(alert_rules).where(alert_rules.c.id == row["id"]))
                    conn.execute(delete(alert_state).where(alert_state.c.rule == name))
                    self._audit(conn, now, CONFIG, "delete", "rule", name, row, None)
                    log.info("alert rule %r is no longer in config: deleted", name)
        return created, updated

    def _rule_row(self, conn: Connection, name: str) -> dict[str, Any] | None:
        return _rule_of(conn, name)

    def _conditional_rule_update(
        self,
        conn: Connection,
        name: str,
        version: int,
        before: Mapping[str, Any] | None,
        **values: Any,
    ) -> None:
        done = conn.execute(
            update(alert_rules)
            .where(alert_rules.c.name == name, alert_rules.c.version == version)
            .values(version=alert_rules.c.version + 1, **values)
        ).rowcount
        if done == 0:
            raise ReviewConflict(self._rule_conflict(name, version, before))

    @staticmethod
    def _rule_conflict(name: str, version: int, row: Mapping[str, Any] | None) -> str:
        if row is None:
            return f"the alert rule {name!r} no longer exists (deleted since you opened it)"
        return (
            f"the alert rule {name!r} changed since you opened it (version {version}, now "
            f"{row['version']}): {row['updated_by']} saved it at "
            f"{row['updated_at']:%Y-%m-%d %H:%M} UTC. Reload it and apply your change again"
        )

    @staticmethod
    def _rule_dict(row: Mapping[str, Any]) -> dict[str, Any]:
        definition = dict(row["definition"])
        return {
            **{k: row[k] for k in ("name", "enabled", "origin", "version", "updated_by")},
            "definition": definition,
            "updated_at": row["updated_at"],
            "rule": rule_from_dict({**definition, "enabled": bool(row["enabled"])}),
        }

    # --- silences ----------------------------------------------------------------------------

    def add_silence(
        self,
        *,
        rule: str | None,
        slug: str | None,
        starts_at: datetime,
        ends_at: datetime,
        reason: str,
        editor: str,
        now: datetime,
    ) -> int:
        """Mute a rule, a story, or both together, from ``starts_at`` to ``ends_at``. Raises
        ReviewInputError naming the field that cannot be accepted."""
        reason = " ".join((reason or "").split())
        if len(reason) > REASON_MAX:
            raise ReviewInputError(f"reason: at most {REASON_MAX} characters")
        if ends_at <= starts_at:
            raise ReviewInputError("ends_at: a silence must end after it starts")
        if ends_at <= now:
            raise ReviewInputError("ends_at: that time has passed; a silence must end later")
        rule = rule or None
        slug = slug or None
        with self.transaction() as conn:
            if rule is not None and _rule_of(conn, rule) is None:
                raise ReviewInputError(f"rule: there is no alert rule {rule!r}")
            story_id = None
            if slug is not None:
                story_id = conn.execute(select(stories.c.id).where(stories.c.slug == slug)).scalar()
                if story_id is None:
                    raise ReviewInputError(f"story: there is no story {slug!r}")
            new_id = int(
                conn.execute(
                    alert_silences.insert().values(
                        rule=rule,
                        story_id=story_id,
                        starts_at=starts_at,
                        ends_at=ends_at,
                        reason=reason,
                        created_by=editor,
                        created_at=now,
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
            )
            after = self._silence_row(conn, new_id)
            self._audit(conn, now, editor, "create", "silence", f"#{new_id}", None, after)
        return new_id

    def end_silence(self, silence_id: int, *, editor: str, now: datetime) -> None:
        """End a silence now. ReviewInputError for an unknown id, ReviewConflict when it had
        ended already."""
        with self.transaction() as conn:
            before = self._silence_row(conn, silence_id)
            if before is None:
                raise ReviewInputError(f"silence: there is no silence #{silence_id}")
            done = conn.execute(
                update(alert_silences)
                .where(alert_silences.c.id == silence_id, alert_silences.c.ended_at.is_(None))
                .values(ended_at=now, ended_by=editor)
            ).rowcount
            if done == 0:
                raise ReviewConflict(
                    f"silence #{silence_id} was already ended by {before['ended_by']} at "
                    f"{before['ended_at']:%Y-%m-%d %H:%M} UTC"
                )
            after = self._silence_row(conn, silence_id)
            self._audit(conn, now, editor, "end", "silence", f"#{silence_id}", before, after)

    def silences(self, *, active_at: datetime | None = None) -> list[dict[str, Any]]:
        """Silences, newest first; with ``active_at`` only those muting at that time."""
        query = _silences_query().order_by(alert_silences.c.id.desc())
        if active_at is not None:
            query = query.where(
                alert_silences.c.starts_at <= active_at,
                alert_silences.c.ends_at > active_at,
                or_(alert_silences.c.ended_at.is_(None), alert_silences.c.ended_at > active_at),
            )
        with self.reading() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def silence_rules(self, *, since: datetime) -> list[Silence]:
        """The silences still muting at or after ``since``, as core Silences (an ended one ends
        when it was ended)."""
        out = []
        for s in self.silences():
            ends = s["ends_at"] if s["ended_at"] is None else min(s["ends_at"], s["ended_at"])
            if ends > since:
                out.append(Silence(int(s["id"]), s["starts_at"], ends, s["rule"], s["slug"]))
        return out

    @staticmethod
    def _silence_row(conn: Connection, silence_id: int) -> dict[str, Any] | None:
        row = conn.execute(_silences_query().where(alert_silences.c.id == silence_id)).first()
        return None if row is None else dict(row._mapping)

    # --- audit -------------------------------------------------------------------------------

    def alert_audit(self, *, limit: int = 100) -> list[dict[str, Any]]:
        query = select(alert_audit).order_by(alert_audit.c.id.desc()).limit(limit)
        with self.reading() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    @staticmethod
    def _audit(
        conn: Connection,
        now: datetime,
        editor: str,
        action: str,
        target: str,
        name: str,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
    ) -> None:
        keys = _RULE_KEYS if target == "rule" else _SILENCE_KEYS
        conn.execute(
            alert_audit.insert().values(
                at=now,
                editor=editor,
                action=action,
                target=target,
                name=name,
                before=None if before is None else _snapshot(before, keys),
                after=None if after is None else _snapshot(after, keys),
            )
        )


def _rule_of(conn: Connection, name: str) -> dict[str, Any] | None:
    row = conn.execute(select(alert_rules).where(alert_rules.c.name == name)).first()
    return None if row is None else dict(row._mapping)


def _silences_query() -> Any:
    return select(
        alert_silences.c.id,
        alert_silences.c.rule,
        stories.c.slug,
        alert_silences.c.starts_at,
        alert_silences.c.ends_at,
        alert_silences.c.reason,
        alert_silences.c.created_by,
        alert_silences.c.created_at,
        alert_silences.c.ended_at,
        alert_silences.c.ended_by,
    ).select_from(alert_silences.outerjoin(stories, stories.c.id == alert_silences.c.story_id))
