"""Double counting (issue 9): behaviour groups carry a clock-skew tolerance (two claims within
it are one act, replacing the overlap tolerance, whose meaning was the opposite) and a
day-merge rule for day-level quantities; the issuer registry (evidence is owned: who is, and
who may cite, an evidence issuer); the exclusion register (what is claimed under another
mechanism: green certificates, CCER, an ETS sector); day claims held provisional until they
settle.

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from tanpuhui.adapters.db.types import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("behaviour_groups") as groups:
        groups.alter_column("overlap_tolerance_s", new_column_name="clock_skew_s")
        groups.add_column(sa.Column("day_merge", sa.Text, nullable=True))
        groups.add_column(sa.Column("day_claims", sa.Text, nullable=True))
    op.create_table(
        "provisional_claims",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("enterprise_id", sa.Uuid, nullable=False),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("payload_hash", sa.LargeBinary(16), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("behaviour", sa.Text, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("ended_at", UTCDateTime, nullable=False),
        sa.Column("region", sa.Text, nullable=False),
        sa.Column("quantities", sa.Text, nullable=False),
        sa.Column("evidence_ref", sa.Text, nullable=True),
        sa.Column("evidence_issuer", sa.Text, nullable=True),
        sa.Column("methodology", sa.Text, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("closes_at", UTCDateTime, nullable=False),
        sa.Column("settled_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provisional_claims")),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_provisional_claims_enterprise_id_enterprises"),
        ),
        sa.UniqueConstraint(
            "enterprise_id", "event_id", name=op.f("uq_provisional_claims_enterprise_id_event_id")
        ),
    )
    op.create_index("ix_provisional_claims_closes_at", "provisional_claims", ["closes_at"])
    op.create_table(
        "issuer_grants",
        sa.Column("issuer", sa.Text, nullable=False),
        sa.Column("enterprise_id", sa.Uuid, nullable=False),
        sa.Column("is_issuer", sa.Boolean, nullable=False),
        sa.Column("granted_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("issuer", "enterprise_id", name=op.f("pk_issuer_grants")),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_issuer_grants_enterprise_id_enterprises"),
        ),
    )
    op.create_table(
        "exclusions",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("mechanism", sa.Text, nullable=False),
        sa.Column("behaviours", sa.Text, nullable=False),
        sa.Column("valid_from", sa.Date, nullable=True),
        sa.Column("valid_to", sa.Date, nullable=True),
        sa.Column("declared_by", sa.Uuid, nullable=True),
        sa.Column("declared_at", UTCDateTime, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exclusions")),
        sa.ForeignKeyConstraint(
            ["declared_by"], ["enterprises.id"], name=op.f("fk_exclusions_declared_by_enterprises")
        ),
    )
    op.create_index("ix_exclusions_key", "exclusions", ["key"])
    for name, column in (("issuer", "issuer"), ("enterprise", "enterprise_id")):
        op.create_index(
            f"uq_issuer_grants_{name}_is_issuer",
            "issuer_grants",
            [column],
            unique=True,
            sqlite_where=sa.text("is_issuer"),
            postgresql_where=sa.text("is_issuer"),
        )


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only")
