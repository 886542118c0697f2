"""Governments and verifiers (issue 12): the code-list version each reduction's region was
recorded under; regional rollups maintained with the writes (partial sums per shard, summed on
read, so no row is one every writer locks); first-seen rows of active persons per cell (the
distinct-persons count without a scan); the accounts of officials (government, verifier,
operator) with hashed bearer tokens.

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from tanpuhui.adapters.db.types import UTCDateTime

revision = "0008"
down_revision = "0005"
branch_labels = None
depends_on = None

#: the dimensions of one rollup cell, after (shard, period)
CELL = ("region", "behaviour", "group_code", "enterprise_id", "methodology", "quality")


def _cell_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("region", sa.Text, nullable=False),
        sa.Column("behaviour", sa.Text, nullable=False),
        sa.Column("group_code", sa.Text, nullable=False),
        sa.Column("enterprise_id", sa.Uuid, nullable=False),
        sa.Column("methodology", sa.Text, nullable=False),
        sa.Column("quality", sa.Text, nullable=False),
    ]


def upgrade() -> None:
    with op.batch_alter_table("events") as events:
        events.add_column(sa.Column("region_version", sa.Text, nullable=True))
    op.create_table(
        "region_rollups",
        sa.Column("shard", sa.SmallInteger, nullable=False),
        sa.Column("period", sa.Text, nullable=False),
        *_cell_columns(),
        sa.Column("grams", sa.BigInteger, nullable=False),
        sa.Column("events", sa.BigInteger, nullable=False),
        # period and region lead the key: a query reads one period's range of codes in order
        sa.PrimaryKeyConstraint("period", *CELL, "shard", name=op.f("pk_region_rollups")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "person_activity",
        sa.Column("shard", sa.SmallInteger, nullable=False),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("period", sa.Text, nullable=False),
        *_cell_columns(),
        sa.PrimaryKeyConstraint(
            "period", *CELL, "holder", "shard", name=op.f("pk_person_activity")
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "person_regions",
        sa.Column("shard", sa.SmallInteger, nullable=False),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("period", sa.Text, nullable=False),
        sa.Column("region", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint(
            "period", "region", "holder", "shard", name=op.f("pk_person_regions")
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "officials",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("region", sa.Text, nullable=True),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_officials")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_officials_token_hash")),
        sa.UniqueConstraint("kind", "name", name=op.f("uq_officials_kind_name")),
        sa.CheckConstraint(
            "kind IN ('government', 'verifier', 'operator')", name=op.f("ck_officials_kind_known")
        ),
        sa.CheckConstraint(
            "(kind = 'government') = (region IS NOT NULL)", name=op.f("ck_officials_region_scoped")
        ),
    )

    _mrv()
    _audit()


def _audit() -> None:
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("before", sa.Text, nullable=True),
        sa.Column("after", sa.Text, nullable=True),
        sa.Column("prev_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_log")),
        sa.UniqueConstraint("id", name=op.f("uq_audit_log_id")),
    )
    op.create_index(op.f("ix_audit_log_actor"), "audit_log", ["actor"])
    op.create_index(op.f("ix_audit_log_kind"), "audit_log", ["kind"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER trg_audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER trg_audit_log_append_only_{action[0].lower()} BEFORE {action} "
                "ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
            )


def _mrv() -> None:
    op.create_table(
        "issuance_batches",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("methodology_id", sa.Uuid, nullable=False),
        sa.Column("region", sa.Text, nullable=True),
        sa.Column("month", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("report", sa.Text, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("sample_seed", sa.BigInteger, nullable=True),
        sa.Column("sample", sa.Text, nullable=True),
        sa.Column("sampled_by", sa.Uuid, nullable=True),
        sa.Column("decided_by", sa.Uuid, nullable=True),
        sa.Column("decided_at", UTCDateTime, nullable=True),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("entry_id", sa.Uuid, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issuance_batches")),
        sa.ForeignKeyConstraint(
            ["methodology_id"],
            ["methodology_versions.id"],
            name=op.f("fk_issuance_batches_methodology_id_methodology_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["officials.id"], name=op.f("fk_issuance_batches_decided_by_officials")
        ),
        sa.CheckConstraint(
            "state IN ('open', 'approved', 'rejected')",
            name=op.f("ck_issuance_batches_state_known"),
        ),
    )
    op.create_table(
        "batch_reductions",
        sa.Column("shard", sa.SmallInteger, nullable=False),
        sa.Column("reduction_id", sa.Uuid, nullable=False),
        sa.Column("batch_id", sa.Uuid, nullable=False),
        sa.Column("grams", sa.BigInteger, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("shard", "reduction_id", name=op.f("pk_batch_reductions")),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["issuance_batches.id"],
            name=op.f("fk_batch_reductions_batch_id_issuance_batches"),
        ),
        sa.CheckConstraint(
            "state IN ('in_review', 'verified', 'rejected')",
            name=op.f("ck_batch_reductions_state_known"),
        ),
    )
    op.create_index(op.f("ix_batch_reductions_batch_id"), "batch_reductions", ["batch_id"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER trg_audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION audit_log_append_only()")
    op.drop_index(op.f("ix_audit_log_kind"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_actor"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index(op.f("ix_batch_reductions_batch_id"), table_name="batch_reductions")
    op.drop_table("batch_reductions")
    op.drop_table("issuance_batches")
    op.drop_table("officials")
    op.drop_table("person_regions")
    op.drop_table("person_activity")
    op.drop_table("region_rollups")
    with op.batch_alter_table("events") as events:
        events.drop_column("region_version")
