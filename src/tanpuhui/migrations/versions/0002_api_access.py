"""API access: enterprise credentials, request nonces, rate buckets, person tokens, binding
codes; batches numbered in commit order for each enterprise's outcome feed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from tanpuhui.adapters.db.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_events_batch"), "events", ["batch_id", "id"])
    with op.batch_alter_table("batches") as batch:
        batch.add_column(sa.Column("seq", sa.BigInteger, nullable=True))
        batch.create_unique_constraint(op.f("uq_batches_seq"), ["seq"])
        batch.create_index(op.f("ix_batches_enterprise_seq"), ["enterprise_id", "seq"])
    with op.batch_alter_table("chain_head") as head:
        head.add_column(sa.Column("batch_seq", sa.BigInteger, nullable=False, server_default="0"))
    op.create_table(
        "credentials",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("enterprise_id", sa.Uuid, nullable=False),
        sa.Column("public_key", sa.LargeBinary(32), nullable=False),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=True),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credentials")),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_credentials_enterprise_id_enterprises"),
        ),
        sa.UniqueConstraint("public_key", name=op.f("uq_credentials_public_key")),
    )
    op.create_index(op.f("ix_credentials_enterprise_id"), "credentials", ["enterprise_id"])
    op.create_table(
        "request_nonces",
        sa.Column("credential_id", sa.Uuid, nullable=False),
        sa.Column("nonce", sa.Text, nullable=False),
        sa.Column("seen_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("credential_id", "nonce", name=op.f("pk_request_nonces")),
    )
    op.create_index(op.f("ix_request_nonces_seen_at"), "request_nonces", ["seen_at"])
    op.create_table(
        "rate_buckets",
        sa.Column("credential_id", sa.Uuid, nullable=False),
        sa.Column("tokens", sa.Float, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("credential_id", name=op.f("pk_rate_buckets")),
    )
    op.create_table(
        "person_tokens",
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("person_id", sa.Uuid, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_person_tokens")),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_person_tokens_person_id_persons")
        ),
    )
    op.create_table(
        "binding_codes",
        sa.Column("code_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("person_id", sa.Uuid, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("used_at", UTCDateTime, nullable=True),
        sa.Column("used_by", sa.Uuid, nullable=True),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_binding_codes")),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_binding_codes_person_id_persons")
        ),
    )


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only")
