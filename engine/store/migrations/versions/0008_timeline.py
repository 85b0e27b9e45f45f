"""The story Timeline (issue 12): entries proposed from the signals or added by editors, each
reviewed like a forecast, and their append-only audit trail.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "timeline_entries",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("story_id", _ID, nullable=False),
        sa.Column("key", sa.String(80), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("link", sa.Text()),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("evidence_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="proposed"),
        sa.Column("needs_review", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("published_at", _TS),
        sa.Column("published_title", sa.Text()),
        sa.Column("published_text", sa.Text()),
        sa.Column("published_link", sa.Text()),
        sa.Column("reviewer", sa.String(80)),
        sa.Column("reviewed_at", _TS),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["story_id"],
            ["stories.id"],
            name="fk_timeline_entries_story_id_stories",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("story_id", "key", name="uq_timeline_entries_story_id_key"),
    )
    op.create_index("ix_timeline_entries_status", "timeline_entries", ["status"])
    op.create_table(
        "timeline_events",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("entry_id", _ID, nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("before", sa.JSON()),
        sa.Column("after", sa.JSON()),
        sa.Column("note", sa.Text()),
        sa.Column("at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["timeline_entries.id"],
            name="fk_timeline_events_entry_id_timeline_entries",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_timeline_events_entry_id", "timeline_events", ["entry_id"])


def downgrade() -> None:
    op.drop_index("ix_timeline_events_entry_id", table_name="timeline_events")
    op.drop_table("timeline_events")
    op.drop_index("ix_timeline_entries_status", table_name="timeline_entries")
    op.drop_table("timeline_entries")
