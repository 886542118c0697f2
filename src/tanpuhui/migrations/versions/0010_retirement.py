"""Retirement and carbon-market export (issue 13): serial counters, the register of serial
blocks with their lineage, retirements, export attempts and their blocks; triggers that keep
retired and exported grams where they are (invariant 8) on both engines.

Revision ID: 0010
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from tanpuhui.adapters.db.types import UTCDateTime

revision = "0010"
down_revision = "0012"
branch_labels = None
depends_on = None

BLOCK_STATUSES = ("retired", "pending_export", "exported", "returned")
EXPORT_STATUSES = ("pending_export", "exported", "returned")


def upgrade() -> None:
    op.create_table(
        "serial_counters",
        sa.Column("class", sa.Text, nullable=False),
        sa.Column("next", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("class", name=op.f("pk_serial_counters")),
        sa.CheckConstraint("next >= 1", name=op.f("ck_serial_counters_next_positive")),
    )
    _blocks()
    _retirements_and_exports()
    pg = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRES_TRIGGERS if pg else SQLITE_TRIGGERS:
        op.execute(statement)


def _blocks() -> None:
    op.create_table(
        "serial_blocks",
        sa.Column("class", sa.Text, nullable=False),
        sa.Column("start", sa.BigInteger, nullable=False),
        sa.Column("end", sa.BigInteger, nullable=False),
        sa.Column("grams", sa.BigInteger, nullable=False),
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("serial", sa.Text, nullable=False),
        sa.Column("shard", sa.SmallInteger, nullable=False),
        sa.Column("enterprise_id", sa.Uuid, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("retirement_id", sa.Uuid, nullable=True),
        sa.Column("export_id", sa.Uuid, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("class", "start", name=op.f("pk_serial_blocks")),
        sa.UniqueConstraint("id", name=op.f("uq_serial_blocks_id")),
        sa.UniqueConstraint("serial", name=op.f("uq_serial_blocks_serial")),
        sa.CheckConstraint(
            'start >= 1 AND "end" >= start AND grams = "end" - start + 1',
            name=op.f("ck_serial_blocks_range"),
        ),
        sa.CheckConstraint(
            f"status IN {BLOCK_STATUSES!r}", name=op.f("ck_serial_blocks_status_known")
        ),
        sa.CheckConstraint(
            "(status = 'retired') = (retirement_id IS NOT NULL)"
            " AND (status = 'retired') = (export_id IS NULL)",
            name=op.f("ck_serial_blocks_one_purpose"),
        ),
    )
    op.create_index("ix_serial_blocks_enterprise_id", "serial_blocks", ["enterprise_id", "status"])
    op.create_table(
        "block_lineage",
        sa.Column("shard", sa.SmallInteger, nullable=False),
        sa.Column("class", sa.Text, nullable=False),
        sa.Column("start", sa.BigInteger, nullable=False),
        sa.Column("reduction_id", sa.Uuid, nullable=False),
        sa.Column("asset", sa.Text, nullable=False),
        sa.Column("grams", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(
            "shard", "class", "start", "reduction_id", name=op.f("pk_block_lineage")
        ),
        sa.ForeignKeyConstraint(
            ["class", "start"],
            ["serial_blocks.class", "serial_blocks.start"],
            name=op.f("fk_block_lineage_class_serial_blocks"),
        ),
        sa.CheckConstraint("grams > 0", name=op.f("ck_block_lineage_grams_positive")),
    )


def _retirements_and_exports() -> None:
    op.create_table(
        "retirements",
        sa.Column("shard", sa.SmallInteger, nullable=False),
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("enterprise_id", sa.Uuid, nullable=False),
        sa.Column("request_id", sa.Text, nullable=False),
        sa.Column("grams", sa.BigInteger, nullable=False),
        sa.Column("beneficiary", sa.Text, nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("period", sa.Text, nullable=True),
        sa.Column("certificate", sa.Text, nullable=False),
        sa.Column("entry_id", sa.Uuid, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("shard", "id", name=op.f("pk_retirements")),
        sa.UniqueConstraint(
            "shard",
            "enterprise_id",
            "request_id",
            name=op.f("uq_retirements_shard_enterprise_id_request_id"),
        ),
        sa.CheckConstraint("grams > 0", name=op.f("ck_retirements_grams_positive")),
    )
    op.create_index("ix_retirements_certificate", "retirements", ["certificate"])
    op.create_index("ix_retirements_id", "retirements", ["id"])
    op.create_table(
        "exports",
        sa.Column("shard", sa.SmallInteger, nullable=False),
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("enterprise_id", sa.Uuid, nullable=False),
        sa.Column("registry", sa.Text, nullable=False),
        sa.Column("tonnes", sa.BigInteger, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("reference", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("marked_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("shard", "id", name=op.f("pk_exports")),
        sa.CheckConstraint("tonnes > 0", name=op.f("ck_exports_tonnes_positive")),
        sa.CheckConstraint(f"status IN {EXPORT_STATUSES!r}", name=op.f("ck_exports_status_known")),
        sa.CheckConstraint(
            "(status = 'exported') = (reference IS NOT NULL)", name=op.f("ck_exports_reference")
        ),
    )
    op.create_index("ix_exports_id", "exports", ["id"])
    op.create_table(
        "export_blocks",
        sa.Column("shard", sa.SmallInteger, nullable=False),
        sa.Column("export_id", sa.Uuid, nullable=False),
        sa.Column("class", sa.Text, nullable=False),
        sa.Column("start", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(
            "shard", "export_id", "class", "start", name=op.f("pk_export_blocks")
        ),
        sa.ForeignKeyConstraint(
            ["shard", "export_id"],
            ["exports.shard", "exports.id"],
            name=op.f("fk_export_blocks_shard_exports"),
        ),
        sa.ForeignKeyConstraint(
            ["class", "start"],
            ["serial_blocks.class", "serial_blocks.start"],
            name=op.f("fk_export_blocks_class_serial_blocks"),
        ),
    )


_FINAL = "(account LIKE 'retired:%' OR account LIKE 'exported:%')"
_MOVED = "retired or exported grams never move (invariant 8)"
# what a block may become: an export settles (same attempt) or a returned block is exported again
_BLOCK_MOVE = (
    'NEW.class = OLD.class AND NEW.start = OLD.start AND NEW."end" = OLD."end"'
    " AND NEW.grams = OLD.grams AND NEW.id = OLD.id AND NEW.serial = OLD.serial"
    " AND NEW.shard = OLD.shard AND NEW.enterprise_id = OLD.enterprise_id"
    " AND NEW.retirement_id IS NULL AND OLD.retirement_id IS NULL"
    " AND ((OLD.status = 'pending_export' AND NEW.status IN ('exported', 'returned')"
    "       AND NEW.export_id = OLD.export_id)"
    "   OR (OLD.status = 'returned' AND NEW.status = 'pending_export'))"
)
_EXPORT_MOVE = (
    "NEW.id = OLD.id AND NEW.shard = OLD.shard AND NEW.enterprise_id = OLD.enterprise_id"
    " AND NEW.registry = OLD.registry AND NEW.tonnes = OLD.tonnes"
    " AND OLD.status = 'pending_export' AND NEW.status IN ('exported', 'returned')"
)
_FROZEN = ("retirements", "block_lineage", "export_blocks")

SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER trg_postings_final BEFORE INSERT ON postings
       WHEN NEW.amount < 0 AND {_FINAL.replace("account", "NEW.account")}
       BEGIN SELECT RAISE(ABORT, '{_MOVED}'); END""",
    f"""CREATE TRIGGER trg_balances_final_u BEFORE UPDATE ON balances
       WHEN NEW.amount < OLD.amount AND {_FINAL.replace("account", "OLD.account")}
       BEGIN SELECT RAISE(ABORT, '{_MOVED}'); END""",
    f"""CREATE TRIGGER trg_balances_final_d BEFORE DELETE ON balances
       WHEN {_FINAL.replace("account", "OLD.account")}
       BEGIN SELECT RAISE(ABORT, '{_MOVED}'); END""",
    """CREATE TRIGGER trg_serial_blocks_d BEFORE DELETE ON serial_blocks
       BEGIN SELECT RAISE(ABORT, 'serial blocks are permanent'); END""",
    f"""CREATE TRIGGER trg_serial_blocks_u BEFORE UPDATE ON serial_blocks
       WHEN NOT ({_BLOCK_MOVE})
       BEGIN SELECT RAISE(ABORT, 'a block moves only pending_export -> exported | returned,
       returned -> pending_export'); END""",
    """CREATE TRIGGER trg_exports_d BEFORE DELETE ON exports
       BEGIN SELECT RAISE(ABORT, 'exports are permanent'); END""",
    f"""CREATE TRIGGER trg_exports_u BEFORE UPDATE ON exports
       WHEN NOT ({_EXPORT_MOVE})
       BEGIN SELECT RAISE(ABORT, 'an export moves only pending_export -> exported | returned');
       END""",
    *(
        f"""CREATE TRIGGER trg_{table}_immutable_{verb[0].lower()} BEFORE {verb} ON {table}
            BEGIN SELECT RAISE(ABORT, '{table} are immutable'); END"""
        for table in _FROZEN
        for verb in ("UPDATE", "DELETE")
    ),
]

POSTGRES_TRIGGERS = [
    # the database refuses overlapping ranges of a class outright (btree_gist is a trusted
    # extension: a database owner may create it); SQLite relies on the key and `ledger verify`
    "CREATE EXTENSION IF NOT EXISTS btree_gist",
    """ALTER TABLE serial_blocks ADD CONSTRAINT ex_serial_blocks_no_overlap
       EXCLUDE USING gist (class WITH =, int8range(start, "end", '[]') WITH &&)""",
    f"""CREATE TRIGGER trg_postings_final BEFORE INSERT ON postings
       FOR EACH ROW WHEN (NEW.amount < 0 AND {_FINAL.replace("account", "NEW.account")})
       EXECUTE FUNCTION tanpuhui_refuse('{_MOVED}')""",
    f"""CREATE TRIGGER trg_balances_final_u BEFORE UPDATE ON balances
       FOR EACH ROW WHEN (NEW.amount < OLD.amount AND {_FINAL.replace("account", "OLD.account")})
       EXECUTE FUNCTION tanpuhui_refuse('{_MOVED}')""",
    f"""CREATE TRIGGER trg_balances_final_d BEFORE DELETE ON balances
       FOR EACH ROW WHEN ({_FINAL.replace("account", "OLD.account")})
       EXECUTE FUNCTION tanpuhui_refuse('{_MOVED}')""",
    """CREATE TRIGGER trg_serial_blocks_d BEFORE DELETE ON serial_blocks
       FOR EACH ROW EXECUTE FUNCTION tanpuhui_refuse('serial blocks are permanent')""",
    f"""CREATE TRIGGER trg_serial_blocks_u BEFORE UPDATE ON serial_blocks
       FOR EACH ROW WHEN (NOT ({_BLOCK_MOVE}))
       EXECUTE FUNCTION tanpuhui_refuse('a block moves only pending_export -> exported or
       returned, returned -> pending_export')""",
    """CREATE TRIGGER trg_exports_d BEFORE DELETE ON exports
       FOR EACH ROW EXECUTE FUNCTION tanpuhui_refuse('exports are permanent')""",
    f"""CREATE TRIGGER trg_exports_u BEFORE UPDATE ON exports
       FOR EACH ROW WHEN (NOT ({_EXPORT_MOVE}))
       EXECUTE FUNCTION tanpuhui_refuse('an export moves only pending_export -> exported or
       returned')""",
    *(
        f"""CREATE TRIGGER trg_{table}_immutable BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION tanpuhui_refuse('{table} are immutable')"""
        for table in _FROZEN
    ),
]


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only")
