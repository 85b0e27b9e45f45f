"""Alerts (issue 13): stories' tags, alert rules, their per-story state, the outbox of events
and deliveries, each send attempt, silences, and the audit trail of rules and silences.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def _story_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["story_id"], ["stories.id"], name=f"fk_{table}_story_id_stories", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.add_column("stories", sa.Column("tags", sa.JSON(), nullable=False, server_default="[]"))
    op.create_table(
        "alert_rules",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("origin", sa.String(8), nullable=False, server_default="config"),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("updated_by", sa.String(80), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.UniqueConstraint("name", name="uq_alert_rules_name"),
    )
    op.create_table(
        "alert_state",
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("story_id", _ID, nullable=False),
        sa.Column("firing", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("since", _TS),
        sa.Column("notified_at", _TS),
        sa.Column("evaluated_hour", _TS),
        sa.Column("ref", sa.String(64), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("rule", "story_id", name="pk_alert_state"),
        _story_fk("alert_state"),
    )
    op.create_table(
        "alert_events",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("story_id", _ID, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("hour", _TS, nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("link", sa.Text(), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("silenced_by", _ID),
        sa.Column("created_at", _TS, nullable=False),
        sa.UniqueConstraint("key", name="uq_alert_events_key"),
        _story_fk("alert_events"),
    )
    op.create_index("ix_alert_events_story_id", "alert_events", ["story_id"])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("event_id", _ID, nullable=False),
        sa.Column("destination", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", _TS, nullable=False),
        sa.Column("claimed_at", _TS),
        sa.Column("claim_token", sa.String(64)),
        sa.Column("sent_at", _TS),
        sa.Column("message_key", sa.String(64)),
        sa.Column("last_error", sa.Text()),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["alert_events.id"],
            name="fk_alert_deliveries_event_id_alert_events",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "event_id", "destination", name="uq_alert_deliveries_event_id_destination"
        ),
    )
    op.create_index(
        "ix_alert_deliveries_destination_status_next_attempt_at",
        "alert_deliveries",
        ["destination", "status", "next_attempt_at"],
    )
    op.create_table(
        "alert_attempts",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("destination", sa.String(64), nullable=False),
        sa.Column("message_key", sa.String(64), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("delivery_ids", sa.JSON(), nullable=False),
    )
    op.create_index("ix_alert_attempts_destination_at", "alert_attempts", ["destination", "at"])
    op.create_table(
        "alert_silences",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("rule", sa.String(64)),
        sa.Column("story_id", _ID),
        sa.Column("starts_at", _TS, nullable=False),
        sa.Column("ends_at", _TS, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("ended_at", _TS),
        sa.Column("ended_by", sa.String(80)),
        _story_fk("alert_silences"),
    )
    op.create_table(
        "alert_audit",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("at", _TS, nullable=False),
        sa.Column("editor", sa.String(80), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("before", sa.JSON()),
        sa.Column("after", sa.JSON()),
    )
    op.create_index("ix_alert_audit_at", "alert_audit", ["at"])


def downgrade() -> None:
    op.drop_index("ix_alert_audit_at", table_name="alert_audit")
    op.drop_table("alert_audit")
    op.drop_table("alert_silences")
    op.drop_index("ix_alert_attempts_destination_at", table_name="alert_attempts")
    op.drop_table("alert_attempts")
    op.drop_index(
        "ix_alert_deliveries_destination_status_next_attempt_at", table_name="alert_deliveries"
    )
    op.drop_table("alert_deliveries")
    op.drop_index("ix_alert_events_story_id", table_name="alert_events")
    op.drop_table("alert_events")
    op.drop_table("alert_state")
    op.drop_table("alert_rules")
    with op.batch_alter_table("stories") as batch:
        batch.drop_column("tags")
