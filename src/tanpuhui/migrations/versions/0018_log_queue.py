"""The log queue (issue 10): a writer no longer appends to a shard log inside its own
transaction, holding that shard's head until it commits — it queues its lines, one row per
(shard, entry), and a sequencer integrates queued lines into the logs under the heads' locks,
skipping a shard another sequencer holds (`log_repository`). Writers never wait for a head.

Revision ID: 0018
Revises: 0013
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "log_queue",
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("lines", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("shard", "entry_id", name="pk_log_queue"),
    )


def downgrade() -> None:
    op.drop_table("log_queue")
