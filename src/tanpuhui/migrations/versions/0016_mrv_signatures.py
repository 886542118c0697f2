"""MRV signatures and batches per scene enterprise (issue 12 items 4-5): officials carry an
Ed25519 public key; an issuance batch covers a methodology version or a scene enterprise; every
state change of a batch is stored as a signed statement (`mrv_statements`).

Revision ID: 0016
Revises: 0010
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from tanpuhui.adapters.db.types import UTCDateTime

revision = "0016"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("officials") as officials:
        officials.add_column(sa.Column("public_key", sa.LargeBinary(32), nullable=True))
    with op.batch_alter_table("issuance_batches") as batches:
        batches.alter_column("methodology_id", existing_type=sa.Uuid, nullable=True)
        batches.add_column(sa.Column("enterprise_id", sa.Uuid, nullable=True))
        batches.create_foreign_key(
            op.f("fk_issuance_batches_enterprise_id_enterprises"),
            "enterprises",
            ["enterprise_id"],
            ["id"],
        )
        batches.create_check_constraint(
            op.f("ck_issuance_batches_scope_one"),
            "(methodology_id IS NULL) <> (enterprise_id IS NULL)",
        )
    op.create_table(
        "mrv_statements",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("batch_id", sa.Uuid, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("statement", sa.Text, nullable=False),
        sa.Column("signature", sa.Text, nullable=False),
        sa.Column("public_key", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mrv_statements")),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["issuance_batches.id"],
            name=op.f("fk_mrv_statements_batch_id_issuance_batches"),
        ),
        sa.CheckConstraint(
            "action IN ('create', 'sample', 'approve', 'reject')",
            name=op.f("ck_mrv_statements_action_known"),
        ),
    )
    op.create_index(op.f("ix_mrv_statements_batch_id"), "mrv_statements", ["batch_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_mrv_statements_batch_id"), "mrv_statements")
    op.drop_table("mrv_statements")
    with op.batch_alter_table("issuance_batches") as batches:
        batches.drop_constraint(op.f("ck_issuance_batches_scope_one"), type_="check")
        batches.drop_constraint(
            op.f("fk_issuance_batches_enterprise_id_enterprises"), type_="foreignkey"
        )
        batches.drop_column("enterprise_id")
        batches.alter_column("methodology_id", existing_type=sa.Uuid, nullable=False)
    with op.batch_alter_table("officials") as officials:
        officials.drop_column("public_key")
