"""Re-quantification: corrections (one per reduction per target version), the version a
reduction is quantified with now, and buffer accounts (which may go negative, like issuance:
they absorb shortfalls on grams already sold or retired).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from tanpuhui.adapters.db.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as events:
        events.add_column(sa.Column("current_methodology_id", sa.Uuid, nullable=True))
    with op.batch_alter_table("balances") as balances:
        balances.drop_constraint(op.f("ck_balances_holder_not_negative"), type_="check")
        balances.create_check_constraint(
            op.f("ck_balances_holder_not_negative"),
            "amount >= 0 OR account LIKE 'issuance:%' OR account LIKE 'buffer:%'",
        )
    op.create_table(
        "corrections",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("reduction_id", sa.Uuid, nullable=False),
        sa.Column("from_methodology_id", sa.Uuid, nullable=False),
        sa.Column("to_methodology_id", sa.Uuid, nullable=False),
        sa.Column("before_grams", sa.BigInteger, nullable=False),
        sa.Column("after_grams", sa.BigInteger, nullable=False),
        sa.Column("shortfall_grams", sa.BigInteger, nullable=False),
        sa.Column("trace", sa.Text, nullable=False),
        sa.Column("entry_id", sa.Uuid, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_corrections")),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["ledger_entries.id"], name=op.f("fk_corrections_entry_id_ledger_entries")
        ),
        sa.UniqueConstraint(
            "reduction_id",
            "to_methodology_id",
            name=op.f("uq_corrections_reduction_id_to_methodology_id"),
        ),
        sa.CheckConstraint(
            "after_grams >= 0 AND before_grams >= 0 AND shortfall_grams >= 0",
            name=op.f("ck_corrections_grams_valid"),
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """CREATE TRIGGER trg_corrections_immutable BEFORE UPDATE OR DELETE ON corrections
               FOR EACH ROW EXECUTE FUNCTION tanpuhui_refuse('corrections are immutable')"""
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"""CREATE TRIGGER trg_corrections_immutable_{verb[0].lower()} BEFORE {verb}
                    ON corrections BEGIN SELECT RAISE(ABORT, 'corrections are immutable'); END"""
            )


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only")
