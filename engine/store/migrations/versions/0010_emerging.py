"""Emerging stories (issue 14): the online clusterer's state, proposals of stories nobody
tracks yet with their audit trail, and suggested query terms for tracked stories.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cluster_state",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_table(
        "emerging_proposals",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("cluster", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="proposed"),
        sa.Column("as_of", _TS, nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("quality", sa.JSON(), nullable=False),
        sa.Column("headlines", sa.JSON(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("outlets", sa.Integer(), nullable=False),
        sa.Column("first_seen", _TS, nullable=False),
        sa.Column("last_seen", _TS, nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("story_id", _ID),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("updated_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["story_id"],
            ["stories.id"],
            name="fk_emerging_proposals_story_id_stories",
            ondelete="SET NULL",
        ),
        sa.UniqueConstraint("cluster", name="uq_emerging_proposals_cluster"),
    )
    op.create_index("ix_emerging_proposals_status_score", "emerging_proposals", ["status", "score"])
    op.create_table(
        "emerging_events",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("proposal_id", _ID, nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("before", sa.JSON()),
        sa.Column("after", sa.JSON()),
        sa.Column("note", sa.Text()),
        sa.Column("at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["emerging_proposals.id"],
            name="fk_emerging_events_proposal_id_emerging_proposals",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_emerging_events_proposal_id", "emerging_events", ["proposal_id"])
    op.create_table(
        "query_suggestions",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("story_id", _ID, nullable=False),
        sa.Column("cluster", sa.BigInteger(), nullable=False),
        sa.Column("term", sa.String(200), nullable=False),
        sa.Column("adds", sa.Integer(), nullable=False),
        sa.Column("adds_elsewhere", sa.Integer(), nullable=False),
        sa.Column("samples", sa.JSON(), nullable=False),
        sa.Column("as_of", _TS, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="proposed"),
        sa.Column("updated_by", sa.String(80)),
        sa.Column("updated_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["story_id"],
            ["stories.id"],
            name="fk_query_suggestions_story_id_stories",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("story_id", "term", name="uq_query_suggestions_story_id_term"),
    )


def downgrade() -> None:
    op.drop_table("query_suggestions")
    op.drop_index("ix_emerging_events_proposal_id", table_name="emerging_events")
    op.drop_table("emerging_events")
    op.drop_index("ix_emerging_proposals_status_score", table_name="emerging_proposals")
    op.drop_table("emerging_proposals")
    op.drop_table("cluster_state")
