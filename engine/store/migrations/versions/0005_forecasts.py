"""Forecasts say which model made them, the rate "rising" is measured against, their hedge
word, and whether their confidence is low and why; model runs say which model they fitted.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("forecasts") as batch:
        batch.add_column(sa.Column("model", sa.String(32), server_default="", nullable=False))
        batch.add_column(sa.Column("current_rate", sa.Float(), nullable=True))
        batch.add_column(sa.Column("hedge_word", sa.String(16), nullable=True))
        batch.add_column(
            sa.Column("low_confidence", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column("confidence_note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("created_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_forecasts_status", ["status"])
    with op.batch_alter_table("model_runs") as batch:
        batch.add_column(sa.Column("model", sa.String(32), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("model_runs") as batch:
        batch.drop_column("model")
    with op.batch_alter_table("forecasts") as batch:
        batch.drop_index("ix_forecasts_status")
        for column in (
            "created_at",
            "confidence_note",
            "low_confidence",
            "hedge_word",
            "current_rate",
            "model",
        ):
            batch.drop_column(column)
