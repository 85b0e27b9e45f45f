"""The change log of the incremental hourly aggregation, seeded with every stored match.

Stored hourly rows become sparse: a (story, hour) without a row counts zero (readers fill
them), so the seed makes the first hourly update after this migration rebuild them all.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "noise_changes",
        sa.Column("seq", Id, autoincrement=True, nullable=False),
        sa.Column("story_id", Id, nullable=False),
        sa.Column("mention_id", Id, nullable=False),
        sa.Column("at", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["story_id"],
            ["stories.id"],
            name=op.f("fk_noise_changes_story_id_stories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["mention_id"],
            ["mentions.id"],
            name=op.f("fk_noise_changes_mention_id_mentions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_noise_changes")),
    )
    op.execute(
        "INSERT INTO noise_changes (story_id, mention_id, at) "
        "SELECT sm.story_id, sm.mention_id, COALESCE(m.published_at, m.fetched_at) "
        "FROM story_mentions sm JOIN mentions m ON m.id = sm.mention_id"
    )
    op.execute("DELETE FROM story_hourly WHERE mentions = 0 AND outlets = 0 AND engagement = 0")


def downgrade() -> None:
    op.drop_table("noise_changes")
