"""The scheduler: job runs say which hour a cycle scored and which process ran them; scores
say whether the hour's data health made them low-confidence, and why.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job_runs") as batch:
        batch.add_column(sa.Column("hour", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("worker", sa.String(200), nullable=True))
        batch.create_index("ix_job_runs_job_hour", ["job", "hour"])
    with op.batch_alter_table("noise_scores") as batch:
        batch.add_column(
            sa.Column("low_confidence", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column("confidence_note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("noise_scores") as batch:
        batch.drop_column("confidence_note")
        batch.drop_column("low_confidence")
    with op.batch_alter_table("job_runs") as batch:
        batch.drop_index("ix_job_runs_job_hour")
        batch.drop_column("worker")
        batch.drop_column("hour")
