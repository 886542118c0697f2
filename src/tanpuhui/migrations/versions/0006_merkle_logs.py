"""Per-shard Merkle logs (issue 10 items 1–3): the global hash chain and its lock go; every
logged line becomes a leaf of its holder's shard log (RFC 6962), signed checkpoints cover the
head tree of all shard heads; the ledger's tables carry the shard key; issuance balances are
one row per shard; the outcome feed is numbered per enterprise.

The ledger tables are re-created: a ledger with entries cannot be carried over (its entries
were sealed into the old chain, not logged), so the migration refuses one.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from tanpuhui.adapters.db.types import UTCDateTime
from tanpuhui.domain.merkle import EMPTY_ROOT
from tanpuhui.domain.shards import SHARD_COUNT

revision = "0006"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    pg = bind.dialect.name == "postgresql"
    if bind.execute(sa.text("SELECT count(*) FROM ledger_entries")).scalar_one():
        raise RuntimeError(
            "migration 0006 re-creates the ledger as per-shard Merkle logs and cannot carry "
            "over a ledger that has entries: start from an empty database"
        )
    if pg:
        op.drop_constraint("fk_corrections_entry_id_ledger_entries", "corrections")
    else:
        with op.batch_alter_table("corrections") as corrections:
            corrections.drop_constraint("fk_corrections_entry_id_ledger_entries", "foreignkey")
        for verb in ("UPDATE", "DELETE"):  # batch mode re-created the table without them
            op.execute(
                f"""CREATE TRIGGER trg_corrections_immutable_{verb[0].lower()} BEFORE {verb}
                    ON corrections BEGIN SELECT RAISE(ABORT, 'corrections are immutable'); END"""
            )
    with op.batch_alter_table("batches") as batches:
        batches.drop_index("ix_batches_enterprise_seq")
        batches.drop_constraint("uq_batches_seq", "unique")
        batches.create_unique_constraint("uq_batches_enterprise_id_seq", ["enterprise_id", "seq"])
    # (SQLite re-creates a table it alters: done while the tables its triggers name exist)
    for table in ("postings", "balances", "ledger_entries", "chain_head"):
        op.drop_table(table)
    _create_tables()
    op.bulk_insert(
        sa.table("ledger_config", sa.column("id"), sa.column("shards")),
        [{"id": 1, "shards": SHARD_COUNT}],
    )
    op.bulk_insert(
        sa.table(
            "log_heads", sa.column("shard"), sa.column("size"), sa.column("root"),
            sa.column("frontier"),
        ),
        [{"shard": k, "size": 0, "root": EMPTY_ROOT, "frontier": b""} for k in range(SHARD_COUNT)],
    )  # fmt: skip
    for statement in POSTGRES_TRIGGERS if pg else SQLITE_TRIGGERS:
        op.execute(statement)


def _create_tables() -> None:
    shard = sa.SmallInteger
    op.create_table(
        "ledger_entries",
        sa.Column("shard", shard, nullable=False),
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("memo", sa.Text, nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=True),
        sa.PrimaryKeyConstraint("shard", "id", name="pk_ledger_entries"),
    )
    op.create_index("ix_ledger_entries_id", "ledger_entries", ["id"])
    op.create_table(
        "postings",
        sa.Column("shard", shard, nullable=False),
        sa.Column("entry_id", sa.Uuid, nullable=False),
        sa.Column("line", sa.Integer, nullable=False),
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("asset", sa.Text, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("reduction_id", sa.Uuid, nullable=True),
        sa.ForeignKeyConstraint(
            ["shard", "entry_id"], ["ledger_entries.shard", "ledger_entries.id"],
            name="fk_postings_shard_ledger_entries",
        ),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_postings_amount_not_zero")),
        sa.PrimaryKeyConstraint("shard", "entry_id", "line", name="pk_postings"),
    )  # fmt: skip
    op.create_index("ix_postings_account", "postings", ["account"])
    op.create_table(
        "balances",
        sa.Column("shard", shard, nullable=False),
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("asset", sa.Text, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.CheckConstraint(  # issuance and buffer accounts may go negative (0003)
            "amount >= 0 OR account LIKE 'issuance:%' OR account LIKE 'buffer:%'",
            name=op.f("ck_balances_holder_not_negative"),
        ),
        sa.PrimaryKeyConstraint("shard", "account", "asset", name="pk_balances"),
    )
    op.create_table(
        "ledger_config",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("shards", sa.Integer, nullable=False),
        sa.CheckConstraint("id = 1 AND shards >= 1", name=op.f("ck_ledger_config_one_row")),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_config"),
    )
    op.create_table(
        "log_heads",
        sa.Column("shard", shard, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("frontier", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("shard", name="pk_log_heads"),
    )
    op.create_table(
        "log_leaves",
        sa.Column("shard", shard, nullable=False),
        sa.Column("idx", sa.BigInteger, nullable=False),
        sa.Column("entry_id", sa.Uuid, nullable=False),
        sa.Column("posting_line", sa.Integer, nullable=True),
        sa.Column("reduction_id", sa.Uuid, nullable=True),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("shard", "idx", name="pk_log_leaves"),
    )
    op.create_index("ix_log_leaves_entry_id", "log_leaves", ["entry_id"])
    op.create_table(
        "log_nodes",
        sa.Column("shard", shard, nullable=False),
        sa.Column("level", sa.SmallInteger, nullable=False),
        sa.Column("idx", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("shard", "level", "idx", name="pk_log_nodes"),
    )
    op.create_table(
        "checkpoints",
        sa.Column("id", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("heads", sa.LargeBinary, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("cosignatures", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_checkpoints"),
    )
    op.create_table(
        "shard_checkpoints",
        sa.Column("shard", shard, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("shard", "size", name="pk_shard_checkpoints"),
    )
    op.create_table(
        "feed_heads",
        sa.Column("shard", shard, nullable=False),
        sa.Column("enterprise_id", sa.Uuid, nullable=False),
        sa.Column("batch_seq", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("shard", "enterprise_id", name="pk_feed_heads"),
    )


_SEALING = "OLD.hash IS NULL AND NEW.hash IS NOT NULL"
_SAME_HEAD = " AND ".join(
    f"NEW.{c} IS {{same}} OLD.{c}" for c in ("shard", "id", "kind", "created_at", "memo")
)
#: history the database refuses to rewrite (log heads move; their leaves and nodes do not)
_FROZEN = ("log_leaves", "log_nodes", "shard_checkpoints")

SQLITE_TRIGGERS = [
    """CREATE TRIGGER trg_postings_immutable_u BEFORE UPDATE ON postings
       BEGIN SELECT RAISE(ABORT, 'ledger postings are immutable'); END""",
    """CREATE TRIGGER trg_postings_immutable_d BEFORE DELETE ON postings
       BEGIN SELECT RAISE(ABORT, 'ledger postings are immutable'); END""",
    """CREATE TRIGGER trg_postings_open_entry BEFORE INSERT ON postings
       WHEN NOT EXISTS (SELECT 1 FROM ledger_entries
                        WHERE shard = NEW.shard AND id = NEW.entry_id AND hash IS NULL)
       BEGIN SELECT RAISE(ABORT, 'lines may only join an unsealed entry'); END""",
    """CREATE TRIGGER trg_entries_immutable_d BEFORE DELETE ON ledger_entries
       BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END""",
    f"""CREATE TRIGGER trg_entries_seal_once BEFORE UPDATE ON ledger_entries
       WHEN NOT ({_SEALING} AND {_SAME_HEAD.format(same="")})
       BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable once sealed'); END""",
    *(
        f"""CREATE TRIGGER trg_{table}_immutable_{verb[0].lower()} BEFORE {verb} ON {table}
            BEGIN SELECT RAISE(ABORT, 'the logs are append-only'); END"""
        for table in _FROZEN
        for verb in ("UPDATE", "DELETE")
    ),
    """CREATE TRIGGER trg_checkpoints_immutable_u BEFORE UPDATE ON checkpoints
       WHEN NEW.note IS NOT OLD.note OR NEW.root IS NOT OLD.root OR NEW.size IS NOT OLD.size
         OR NEW.heads IS NOT OLD.heads OR NEW.id IS NOT OLD.id
       BEGIN SELECT RAISE(ABORT, 'a published checkpoint is immutable'); END""",
    """CREATE TRIGGER trg_checkpoints_immutable_d BEFORE DELETE ON checkpoints
       BEGIN SELECT RAISE(ABORT, 'a published checkpoint is immutable'); END""",
]

POSTGRES_TRIGGERS = [
    """CREATE TRIGGER trg_postings_immutable BEFORE UPDATE OR DELETE ON postings
       FOR EACH ROW EXECUTE FUNCTION tanpuhui_refuse('ledger postings are immutable')""",
    """CREATE TRIGGER trg_entries_immutable_d BEFORE DELETE ON ledger_entries
       FOR EACH ROW EXECUTE FUNCTION tanpuhui_refuse('ledger entries are immutable')""",
    f"""CREATE TRIGGER trg_entries_seal_once BEFORE UPDATE ON ledger_entries
       FOR EACH ROW WHEN (NOT ({_SEALING} AND {_SAME_HEAD.format(same="NOT DISTINCT FROM")}))
       EXECUTE FUNCTION tanpuhui_refuse('ledger entries are immutable once sealed')""",
    """CREATE TRIGGER trg_postings_lines AFTER INSERT ON postings
       REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
       EXECUTE FUNCTION tanpuhui_check_lines()""",
    *(
        f"""CREATE TRIGGER trg_{table}_immutable BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION tanpuhui_refuse('the logs are append-only')"""
        for table in _FROZEN
    ),
    """CREATE TRIGGER trg_checkpoints_immutable_d BEFORE DELETE ON checkpoints
       FOR EACH ROW EXECUTE FUNCTION tanpuhui_refuse('a published checkpoint is immutable')""",
    """CREATE TRIGGER trg_checkpoints_immutable_u BEFORE UPDATE ON checkpoints
       FOR EACH ROW WHEN (NEW.note IS DISTINCT FROM OLD.note OR NEW.root IS DISTINCT FROM OLD.root
         OR NEW.size IS DISTINCT FROM OLD.size OR NEW.heads IS DISTINCT FROM OLD.heads
         OR NEW.id IS DISTINCT FROM OLD.id)
       EXECUTE FUNCTION tanpuhui_refuse('a published checkpoint is immutable')""",
    # At commit every entry written in the transaction must be sealed and balance per asset
    # (the function of migration 0001, re-attached to the new table).
    """CREATE CONSTRAINT TRIGGER trg_entries_balance AFTER INSERT ON ledger_entries
       DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tanpuhui_entry_balances()""",
]


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only")
