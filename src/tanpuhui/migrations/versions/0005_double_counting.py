"""Double counting: behaviour groups carry a clock-skew tolerance (two claims within it are one
act, replacing the overlap tolerance, whose meaning was the opposite) and a day-merge rule for
day-level quantities.

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("behaviour_groups") as groups:
        groups.alter_column("overlap_tolerance_s", new_column_name="clock_skew_s")
        groups.add_column(sa.Column("day_merge", sa.Text, nullable=True))


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only")
