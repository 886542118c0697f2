"""Keys ready for a distributed PostgreSQL (issue 10 item 4): persons, their secrets, their
bindings, the enterprises' batches and held day claims, and re-quantifications carry `shard`
in their primary and unique keys.

- `persons` (shard of the person, id);
- `person_tokens`, `binding_codes` (shard of the secret's digest, digest): they are looked up
  by the digest alone, so the digest picks the shard;
- `bindings` (shard of the subject — of its pending account — , id), one active binding per
  (shard, enterprise, subject): intake's subject → person lookup reads one shard; and a new
  `person_bindings` (shard of the person, person, binding) lists a person's bindings in the
  person's shard;
- `batches` (shard of the enterprise, id), numbered per (shard, enterprise, seq) as its
  `feed_heads` row already is;
- `provisional_claims` (shard of the enterprise, id), idempotent per (shard, enterprise,
  event id): replays of an enterprise's held event ids are answered from its shard;
- `corrections` (shard of the reduction — a hash of its id — , id), one per (shard,
  reduction, target version); its immutability triggers are kept (re-created on SQLite).

A token, a code or a binding lives in another shard than its person, so their foreign keys to
`persons` go (a distributed database cannot keep a key across shards): persons are never
deleted and the services check that the person exists before writing any of them.

The shard of every existing row is computed as the code computes it (SHA-256, first 8 bytes,
modulo the 1,024 logical shards of these tables — frozen here, not imported): in SQL on
PostgreSQL, by a registered function on SQLite, whose tables are rebuilt (SQLite cannot
change a primary key in place).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03
"""

import hashlib
from typing import Any

import sqlalchemy as sa
from alembic import op

from tanpuhui.adapters.db.types import UTCDateTime

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

#: the logical shards of the data tables (domain/shards.py SHARD_COUNT when this was written)
SHARDS = 1024


def _shard_of_text(text: str | None) -> int | None:
    if text is None:
        return None
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") % SHARDS


def _shard_of_digest(digest: bytes | None) -> int | None:
    return None if digest is None else int.from_bytes(digest[:8], "big") % SHARDS


def _pg_hashed(text_sql: str) -> str:
    return _pg_bytes(f"sha256(convert_to({text_sql}, 'UTF8'))")


def _pg_bytes(bytes_sql: str) -> str:
    # the first 8 bytes as a 64-bit integer; modulo a power of two is its low bits, whatever
    # the sign PostgreSQL gives the integer
    return f"((('x' || encode(substr({bytes_sql}, 1, 8), 'hex'))::bit(64)::bigint & {SHARDS - 1}))"


#: table → (key column after `shard`, SQL of the row's shard: PostgreSQL, SQLite)
KEYED = {
    "persons": (
        "id",
        _pg_hashed("'person:' || id::text"),
        "tanpuhui_shard_of_text('person:' || tanpuhui_uuid(id))",
    ),
    "person_tokens": (
        "token_hash",
        _pg_bytes("token_hash"),
        "tanpuhui_shard_of_digest(token_hash)",
    ),
    "binding_codes": (
        "code_hash",
        _pg_bytes("code_hash"),
        "tanpuhui_shard_of_digest(code_hash)",
    ),
    "bindings": (
        "id",
        _pg_hashed("'pending:' || enterprise_id::text || ':' || subject"),
        "tanpuhui_shard_of_text('pending:' || tanpuhui_uuid(enterprise_id) || ':' || subject)",
    ),
    "batches": (
        "id",
        _pg_hashed("'enterprise:' || enterprise_id::text"),
        "tanpuhui_shard_of_text('enterprise:' || tanpuhui_uuid(enterprise_id))",
    ),
    "provisional_claims": (
        "id",
        _pg_hashed("'enterprise:' || enterprise_id::text"),
        "tanpuhui_shard_of_text('enterprise:' || tanpuhui_uuid(enterprise_id))",
    ),
    "corrections": (
        "id",
        _pg_hashed("'reduction:' || reduction_id::text"),
        "tanpuhui_shard_of_text('reduction:' || tanpuhui_uuid(reduction_id))",
    ),
}
#: unique keys that gain `shard` in front: table → (old name, new name, columns after shard)
UNIQUES = {
    "batches": ("uq_batches_enterprise_id_seq", "uq_batches_shard_enterprise_id_seq",
                "enterprise_id, seq"),
    "provisional_claims": ("uq_provisional_claims_enterprise_id_event_id",
                           "uq_provisional_claims_shard_enterprise_id_event_id",
                           "enterprise_id, event_id"),
    "corrections": ("uq_corrections_reduction_id_to_methodology_id",
                    "uq_corrections_shard_reduction_id_to_methodology_id",
                    "reduction_id, to_methodology_id"),
}  # fmt: skip
CORRECTIONS_IMMUTABLE = (
    "CREATE TRIGGER trg_corrections_immutable_{v} BEFORE {verb} ON corrections "
    "BEGIN SELECT RAISE(ABORT, 'corrections are immutable'); END"
)
PERSON_OF_BINDING = {
    "postgresql": _pg_hashed("'person:' || person_id::text"),
    "sqlite": "tanpuhui_shard_of_text('person:' || tanpuhui_uuid(person_id))",
}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgresql()
    else:
        _sqlite()
    op.create_table(
        "person_bindings",
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("binding_id", sa.Uuid(), nullable=False),
        sa.Column("binding_shard", sa.SmallInteger(), nullable=False),
        sa.Column("bound_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("shard", "person_id", "binding_id", name="pk_person_bindings"),
    )
    dialect = op.get_bind().dialect.name
    op.execute(
        "INSERT INTO person_bindings (shard, person_id, binding_id, binding_shard, bound_at) "
        f"SELECT {PERSON_OF_BINDING[dialect]}, person_id, id, shard, bound_at FROM bindings"
    )


def _postgresql() -> None:
    for child in ("bindings", "person_tokens", "binding_codes"):
        op.execute(f"ALTER TABLE {child} DROP CONSTRAINT fk_{child}_person_id_persons")
    for table, (key, shard_sql, _) in KEYED.items():
        op.execute(f"ALTER TABLE {table} ADD COLUMN shard SMALLINT")
        if table == "corrections":  # immutable rows: the new column is filled, nothing else
            op.execute("ALTER TABLE corrections DISABLE TRIGGER trg_corrections_immutable")
        op.execute(f"UPDATE {table} SET shard = {shard_sql}")
        if table == "corrections":
            op.execute("ALTER TABLE corrections ENABLE TRIGGER trg_corrections_immutable")
        op.execute(
            f"ALTER TABLE {table} ALTER COLUMN shard SET NOT NULL, "
            f"DROP CONSTRAINT pk_{table}, ADD CONSTRAINT pk_{table} PRIMARY KEY (shard, {key})"
        )
    for table, (old, new, columns) in UNIQUES.items():
        op.execute(
            f"ALTER TABLE {table} DROP CONSTRAINT {old}, "
            f"ADD CONSTRAINT {new} UNIQUE (shard, {columns})"
        )
    op.execute("DROP INDEX ix_bindings_person_id")
    op.execute("DROP INDEX uq_bindings_active_subject")
    op.execute(
        "CREATE UNIQUE INDEX uq_bindings_active_subject ON bindings (shard, enterprise_id, "
        "subject) WHERE ended_at IS NULL"
    )
    op.execute("CREATE INDEX ix_batches_id ON batches (id)")
    op.execute("CREATE INDEX ix_corrections_reduction_id ON corrections (reduction_id)")


def _sqlite_uuid(value: Any) -> str | None:
    # SQLAlchemy stores a Uuid on SQLite as 32 hex digits; the shards hash the hyphenated form
    if value is None:
        return None
    text = value.hex() if isinstance(value, bytes) else str(value).replace("-", "")
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _sqlite() -> None:
    raw: Any = op.get_bind().connection.driver_connection
    raw.create_function("tanpuhui_uuid", 1, _sqlite_uuid, deterministic=True)
    raw.create_function("tanpuhui_shard_of_text", 1, _shard_of_text, deterministic=True)
    raw.create_function("tanpuhui_shard_of_digest", 1, _shard_of_digest, deterministic=True)
    new_tables: dict[str, list[Any]] = {
        "persons": [
            sa.Column("id", sa.Uuid(), nullable=False),
            sa.Column("created_at", UTCDateTime(), nullable=False),
            sa.PrimaryKeyConstraint("shard", "id", name="pk_persons"),
        ],
        "person_tokens": [
            sa.Column("token_hash", sa.LargeBinary(32), nullable=False),
            sa.Column("person_id", sa.Uuid(), nullable=False),
            sa.Column("created_at", UTCDateTime(), nullable=False),
            sa.Column("revoked_at", UTCDateTime(), nullable=True),
            sa.PrimaryKeyConstraint("shard", "token_hash", name="pk_person_tokens"),
        ],
        "binding_codes": [
            sa.Column("code_hash", sa.LargeBinary(32), nullable=False),
            sa.Column("person_id", sa.Uuid(), nullable=False),
            sa.Column("created_at", UTCDateTime(), nullable=False),
            sa.Column("expires_at", UTCDateTime(), nullable=False),
            sa.Column("used_at", UTCDateTime(), nullable=True),
            sa.Column("used_by", sa.Uuid(), nullable=True),
            sa.PrimaryKeyConstraint("shard", "code_hash", name="pk_binding_codes"),
        ],
        "bindings": [
            sa.Column("id", sa.Uuid(), nullable=False),
            sa.Column("enterprise_id", sa.Uuid(), nullable=False),
            sa.Column("subject", sa.Text(), nullable=False),
            sa.Column("person_id", sa.Uuid(), nullable=False),
            sa.Column("bound_at", UTCDateTime(), nullable=False),
            sa.Column("ended_at", UTCDateTime(), nullable=True),
            sa.ForeignKeyConstraint(
                ["enterprise_id"], ["enterprises.id"], name="fk_bindings_enterprise_id_enterprises"
            ),
            sa.PrimaryKeyConstraint("shard", "id", name="pk_bindings"),
        ],
        "batches": [
            sa.Column("id", sa.Uuid(), nullable=False),
            sa.Column("enterprise_id", sa.Uuid(), nullable=False),
            sa.Column("received_at", UTCDateTime(), nullable=False),
            sa.Column("source", sa.Text(), nullable=False),
            sa.Column("event_count", sa.Integer(), nullable=False),
            sa.Column("counts", sa.Text(), nullable=False),
            sa.Column("unkeyed", sa.Text(), nullable=True),
            sa.Column("seq", sa.BigInteger(), nullable=True),
            sa.ForeignKeyConstraint(
                ["enterprise_id"], ["enterprises.id"], name="fk_batches_enterprise_id_enterprises"
            ),
            sa.PrimaryKeyConstraint("shard", "id", name="pk_batches"),
            sa.UniqueConstraint(
                "shard", "enterprise_id", "seq", name="uq_batches_shard_enterprise_id_seq"
            ),
        ],
        "provisional_claims": [
            sa.Column("id", sa.Uuid(), nullable=False),
            sa.Column("enterprise_id", sa.Uuid(), nullable=False),
            sa.Column("event_id", sa.Text(), nullable=False),
            sa.Column("payload_hash", sa.LargeBinary(16), nullable=False),
            sa.Column("subject", sa.Text(), nullable=False),
            sa.Column("behaviour", sa.Text(), nullable=False),
            sa.Column("started_at", UTCDateTime(), nullable=False),
            sa.Column("ended_at", UTCDateTime(), nullable=False),
            sa.Column("region", sa.Text(), nullable=False),
            sa.Column("quantities", sa.Text(), nullable=False),
            sa.Column("evidence_ref", sa.Text(), nullable=True),
            sa.Column("evidence_issuer", sa.Text(), nullable=True),
            sa.Column("methodology", sa.Text(), nullable=False),
            sa.Column("received_at", UTCDateTime(), nullable=False),
            sa.Column("closes_at", UTCDateTime(), nullable=False),
            sa.Column("settled_at", UTCDateTime(), nullable=True),
            sa.ForeignKeyConstraint(
                ["enterprise_id"],
                ["enterprises.id"],
                name="fk_provisional_claims_enterprise_id_enterprises",
            ),
            sa.PrimaryKeyConstraint("shard", "id", name="pk_provisional_claims"),
            sa.UniqueConstraint(
                "shard", "enterprise_id", "event_id",
                name="uq_provisional_claims_shard_enterprise_id_event_id",
            ),
        ],
        "corrections": [
            sa.Column("id", sa.Uuid(), nullable=False),
            sa.Column("reduction_id", sa.Uuid(), nullable=False),
            sa.Column("from_methodology_id", sa.Uuid(), nullable=False),
            sa.Column("to_methodology_id", sa.Uuid(), nullable=False),
            sa.Column("before_grams", sa.BigInteger(), nullable=False),
            sa.Column("after_grams", sa.BigInteger(), nullable=False),
            sa.Column("shortfall_grams", sa.BigInteger(), nullable=False),
            sa.Column("trace", sa.Text(), nullable=False),
            sa.Column("entry_id", sa.Uuid(), nullable=True),
            sa.Column("created_at", UTCDateTime(), nullable=False),
            sa.CheckConstraint(
                "after_grams >= 0 AND before_grams >= 0 AND shortfall_grams >= 0",
                name="ck_corrections_grams_valid",
            ),
            sa.PrimaryKeyConstraint("shard", "id", name="pk_corrections"),
            sa.UniqueConstraint(
                "shard", "reduction_id", "to_methodology_id",
                name="uq_corrections_shard_reduction_id_to_methodology_id",
            ),
        ],
    }  # fmt: skip
    for table, parts in new_tables.items():
        shard_sql = KEYED[table][2]
        columns = [p.name for p in parts if isinstance(p, sa.Column)]
        op.create_table(
            f"{table}__keyed", sa.Column("shard", sa.SmallInteger(), nullable=False), *parts
        )
        listed = ", ".join(columns)
        op.execute(
            f"INSERT INTO {table}__keyed (shard, {listed}) SELECT {shard_sql}, {listed} "
            f"FROM {table}"
        )
    # children first: the old persons table is referenced by the old bindings, tokens, codes
    for table in (
        "bindings", "person_tokens", "binding_codes", "persons", "batches", "provisional_claims",
        "corrections",
    ):  # fmt: skip
        op.drop_table(table)
    for table in new_tables:
        op.rename_table(f"{table}__keyed", table)
    op.create_index(
        "uq_bindings_active_subject",
        "bindings",
        ["shard", "enterprise_id", "subject"],
        unique=True,
        sqlite_where=sa.text("ended_at IS NULL"),
    )
    op.create_index("ix_batches_id", "batches", ["id"])
    op.create_index("ix_provisional_claims_closes_at", "provisional_claims", ["closes_at"])
    op.create_index("ix_corrections_reduction_id", "corrections", ["reduction_id"])
    for verb in ("UPDATE", "DELETE"):  # dropped with the old table
        op.execute(CORRECTIONS_IMMUTABLE.format(v=verb[0].lower(), verb=verb))


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only")
