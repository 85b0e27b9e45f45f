"""Noise level: mention counts per source kind, collection health, score flags and drivers.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

KINDS = ("rss", "atom", "reddit", "hackernews", "mastodon")


def upgrade() -> None:
    with op.batch_alter_table("story_hourly") as batch:
        for kind in KINDS:
            batch.add_column(
                sa.Column(f"mentions_{kind}", sa.Integer(), server_default="0", nullable=False)
            )
    with op.batch_alter_table("noise_scores") as batch:
        batch.add_column(
            sa.Column("unhealthy", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column("mention_ids", sa.JSON(), nullable=True))
    op.create_table(
        "collection_health",
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due", sa.Integer(), nullable=False),
        sa.Column("fetched", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("collected", sa.Integer(), nullable=False),
        sa.Column("unhealthy", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("hour", name=op.f("pk_collection_health")),
    )


def downgrade() -> None:
    op.drop_table("collection_health")
    with op.batch_alter_table("noise_scores") as batch:
        batch.drop_column("mention_ids")
        batch.drop_column("unhealthy")
    with op.batch_alter_table("story_hourly") as batch:
        for kind in KINDS:
            batch.drop_column(f"mentions_{kind}")
