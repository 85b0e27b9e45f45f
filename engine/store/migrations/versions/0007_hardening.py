"""Hardening (issue 11): counts that a hostile or huge source can send fit (BIGINT); a
mention keeps the date its feed stated beside the clamped time it is counted at; a model file
is checked against the checksum recorded when it was written; editor sessions are stored so
that logging out revokes them.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_WIDENED = (
    ("fetches", "bytes"),
    ("mentions", "score"),
    ("mentions", "comments"),
    ("mention_engagement", "score"),
    ("mention_engagement", "comments"),
)


def upgrade() -> None:
    for table, column in _WIDENED:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, type_=sa.BigInteger(), existing_type=sa.Integer())
    with op.batch_alter_table("mentions") as batch:
        batch.add_column(sa.Column("stated_published_at", sa.DateTime(timezone=True)))
    with op.batch_alter_table("model_runs") as batch:
        batch.add_column(sa.Column("checksum", sa.String(64)))
    op.create_table(
        "editor_sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column(
            "editor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.ForeignKeyConstraint(
            ["editor_id"],
            ["editors.id"],
            name="fk_editor_sessions_editor_id_editors",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name="pk_editor_sessions"),
    )
    op.create_index("ix_editor_sessions_editor_id", "editor_sessions", ["editor_id"])


def downgrade() -> None:
    op.drop_index("ix_editor_sessions_editor_id", table_name="editor_sessions")
    op.drop_table("editor_sessions")
    with op.batch_alter_table("model_runs") as batch:
        batch.drop_column("checksum")
    with op.batch_alter_table("mentions") as batch:
        batch.drop_column("stated_published_at")
    for table, column in reversed(_WIDENED):
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, type_=sa.Integer(), existing_type=sa.BigInteger())
