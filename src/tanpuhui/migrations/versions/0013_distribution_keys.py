"""Keys ready for a distributed PostgreSQL (issue 10 item 4): no shard table draws numbers from
a sequence. `log_heads.shard`, a lone SMALLINT primary key, was created as SMALLSERIAL on
PostgreSQL (a global sequence in a shard table, which neither Citus nor hash partitions by
`shard` can carry); its rows are always written with their shard, so the default goes.

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-02
"""

from alembic import op

revision = "0013"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite: a SMALLINT key is no rowid alias, nothing draws numbers
    op.execute("ALTER TABLE log_heads ALTER COLUMN shard DROP DEFAULT")
    op.execute("DROP SEQUENCE IF EXISTS log_heads_shard_seq")


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only")
