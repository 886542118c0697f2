"""Leaderboards and certificates (issue 13 items 3–5): people's display names and leaderboard
opt-in, and issued certificates with their signed content. Both tables carry the shard of the
holder they are about in their primary and unique keys (common distribution rules).

Revision ID: 0012
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from tanpuhui.adapters.db.types import UTCDateTime

revision = "0012"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "display_names",
        sa.Column("shard", sa.SmallInteger, nullable=False),
        sa.Column("person_id", sa.Uuid, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("opted_in", sa.Boolean, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.CheckConstraint(
            "length(name) BETWEEN 1 AND 32", name=op.f("ck_display_names_name_length")
        ),
        sa.PrimaryKeyConstraint("shard", "person_id", name=op.f("pk_display_names")),
    )
    op.create_table(
        "certificates",
        sa.Column("shard", sa.SmallInteger, nullable=False),
        sa.Column("serial", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("award", sa.Text, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("signature", sa.Text, nullable=False),
        sa.Column("key_name", sa.Text, nullable=False),
        sa.Column("issued_at", UTCDateTime, nullable=False),
        sa.CheckConstraint(
            "kind IN ('leaderboard', 'milestone', 'retirement')",
            name=op.f("ck_certificates_kind_known"),
        ),
        sa.PrimaryKeyConstraint("shard", "serial", name=op.f("pk_certificates")),
        sa.UniqueConstraint(
            "shard", "holder", "award", name=op.f("uq_certificates_shard_holder_award")
        ),
    )


def downgrade() -> None:
    op.drop_table("certificates")
    op.drop_table("display_names")
