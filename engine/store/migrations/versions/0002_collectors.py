"""Per-task cursors, engagement history, mention kind, linked URL and syndication groups.

Mentions stored before this migration each start their own group (no heads are built for
them); grouping applies from here on.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "source_cursors",
        sa.Column("source_id", Id, nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("body_hash", sa.String(length=64), nullable=True),
        sa.Column("state", sa.JSON(), nullable=True),
        sa.Column("updated_at", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_source_cursors_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("source_id", "key", name=op.f("pk_source_cursors")),
    )
    # The validators of each source's own URL move to its "" cursor.
    op.execute(
        "INSERT INTO source_cursors (source_id, key, etag, last_modified, body_hash, updated_at) "
        "SELECT id, '', etag, last_modified, body_hash, updated_at FROM sources "
        "WHERE etag IS NOT NULL OR last_modified IS NOT NULL OR body_hash IS NOT NULL"
    )
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("etag")
        batch.drop_column("last_modified")
        batch.drop_column("body_hash")

    op.create_table(
        "syndication_heads",
        sa.Column("key", sa.String(length=48), nullable=False),
        sa.Column("mention_id", Id, nullable=False),
        sa.Column("group_id", Id, nullable=False),
        sa.Column("at", When, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_syndication_heads")),
    )
    op.create_table(
        "mention_engagement",
        sa.Column("mention_id", Id, nullable=False),
        sa.Column("observed_at", When, nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("comments", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["mention_id"],
            ["mentions.id"],
            name=op.f("fk_mention_engagement_mention_id_mentions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("mention_id", "observed_at", name=op.f("pk_mention_engagement")),
    )
    with op.batch_alter_table("mentions") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("link_url", sa.Text(), nullable=True))
        batch.add_column(sa.Column("group_id", Id, nullable=True))
        batch.create_index(batch.f("ix_mentions_group_id"), ["group_id"], unique=False)
    op.execute(
        "UPDATE mentions SET kind = "
        "(SELECT kind FROM sources WHERE sources.id = mentions.source_id)"
    )
    op.execute("UPDATE mentions SET group_id = id")
    with op.batch_alter_table("mentions") as batch:
        batch.alter_column("kind", existing_type=sa.String(length=32), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("mentions") as batch:
        batch.drop_index(batch.f("ix_mentions_group_id"))
        batch.drop_column("group_id")
        batch.drop_column("link_url")
        batch.drop_column("kind")
    op.drop_table("mention_engagement")
    op.drop_table("syndication_heads")
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("etag", sa.Text(), nullable=True))
        batch.add_column(sa.Column("last_modified", sa.Text(), nullable=True))
        batch.add_column(sa.Column("body_hash", sa.String(length=64), nullable=True))
    op.execute(
        "UPDATE sources SET etag = c.etag, last_modified = c.last_modified, "
        "body_hash = c.body_hash FROM source_cursors AS c "
        "WHERE c.source_id = sources.id AND c.key = ''"
    )
    op.drop_table("source_cursors")
