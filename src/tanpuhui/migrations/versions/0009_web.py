"""The pages (issue 14): enterprise users and operators who sign in, one-time sign-in codes and
server-side sessions, and a partial index for the person page's claims not credited. Codes
and sessions carry the shard of the principal's owner account in
their primary key (common distribution rules); web users are a small reference table.

Revision ID: 0009
Revises: 0005
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from tanpuhui.adapters.db.types import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_users",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("enterprise_id", sa.Uuid, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.CheckConstraint("kind IN ('user', 'operator')", name=op.f("ck_web_users_kind_known")),
        sa.CheckConstraint(
            "(kind = 'user') = (enterprise_id IS NOT NULL)",
            name=op.f("ck_web_users_user_has_enterprise"),
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_web_users_enterprise_id_enterprises"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_users")),
    )
    op.create_index("ix_web_users_enterprise_id", "web_users", ["enterprise_id"])
    op.create_table(
        "sign_in_codes",
        sa.Column("shard", sa.SmallInteger, nullable=False),
        sa.Column("principal", sa.Text, nullable=False),
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("code_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("used_at", UTCDateTime, nullable=True),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_sign_in_codes_attempts_not_negative")),
        sa.PrimaryKeyConstraint("shard", "principal", "id", name=op.f("pk_sign_in_codes")),
    )
    op.create_index(
        "ix_sign_in_codes_shard_principal_created_at",
        "sign_in_codes",
        ["shard", "principal", "created_at"],
    )
    op.create_table(
        "web_sessions",
        sa.Column("shard", sa.SmallInteger, nullable=False),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("principal", sa.Text, nullable=False),
        sa.Column("enterprise_id", sa.Uuid, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("shard", "token_hash", name=op.f("pk_web_sessions")),
    )
    op.create_index("ix_web_sessions_shard_principal", "web_sessions", ["shard", "principal"])
    # the person page's claims not credited, through the person's bindings (partial: only
    # duplicates and binding-time reversals are indexed)
    not_credited = sa.text(
        "outcome = 'duplicate' OR resolution IN ('capped', 'duplicate', 'too_frequent')"
    )
    op.create_index(
        "ix_events_not_credited",
        "events",
        ["enterprise_id", "subject"],
        sqlite_where=not_credited,
        postgresql_where=not_credited,
    )


def downgrade() -> None:
    op.drop_index("ix_events_not_credited", table_name="events")
    op.drop_table("web_sessions")
    op.drop_table("sign_in_codes")
    op.drop_table("web_users")
