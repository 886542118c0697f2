"""Keys ready for a distributed PostgreSQL, the last table (issue 10 item 4): `events` carries
`shard` in its primary key, and its two platform-wide unique keys move to tables of their own,
each in the shard of the key itself.

- `events` (shard, id): the holder's shard while the event has one (a reduction's rows, lots
  and lineage then share the holder's shard, also after binding moved it), else the shard of
  its subject's pending account, else its enterprise's;
- `event_keys` (shard of a hash of (enterprise, event id), enterprise, event id) → the event:
  one event per key, platform-wide; replaces UNIQUE (enterprise_id, event_id);
- `evidence_keys` (shard of the fingerprint, fingerprint) → the active reduction that holds
  it; replaces the partial unique index `uq_events_evidence_fp`.

Each new key leads with what a lookup knows (the pair, the fingerprint; an event's id before
its shard), and so does the active key of `bindings` now: a batch's lookups name many shards at
once, and a key that leads with the shard makes an index scan take every (shard, key)
combination of the two lists (SQLite did; PostgreSQL's skip logic hid it), where a key that
leads with the looked-up value probes exactly the values.

Binding moves a reduction into the person's shard as a copy of the row followed by the
deletion of the original, a form a distributed database can run (it cannot update a
distribution column). So the guards change: a credited event may be deleted only when an
identical copy of its history is in another shard, and a copy may name the sealed entry its
original names.

The shard of every existing row is computed as the code computes it (SHA-256, first 8 bytes,
modulo the 1,024 logical shards — frozen here, not imported): in SQL on PostgreSQL, by a
registered function on SQLite, whose `events` table is rebuilt from its own stored definition
(SQLite cannot change a primary key in place).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03
"""

import hashlib
import re
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

SHARDS = 1024  # domain/shards.py SHARD_COUNT when this was written

#: an event's history (migration 0001): what a move must copy unchanged
FROZEN = (
    "id", "enterprise_id", "event_id", "batch_id", "received_at", "payload_hash", "subject",
    "behaviour", "started_at", "ended_at", "region", "quantities", "evidence_ref",
    "evidence_issuer", "raw", "outcome", "reason", "message", "grams", "grams_cut",
    "duplicate_of", "methodology_id", "trace", "group_code", "day", "asset", "issued_account",
    "entry_id", "evidence_fp",
)  # fmt: skip


def _pg_hashed(text_sql: str) -> str:
    digest = f"sha256(convert_to({text_sql}, 'UTF8'))"
    return f"((('x' || encode(substr({digest}, 1, 8), 'hex'))::bit(64)::bigint & {SHARDS - 1}))"


def _pg_digest(bytes_sql: str) -> str:
    return f"((('x' || encode(substr({bytes_sql}, 1, 8), 'hex'))::bit(64)::bigint & {SHARDS - 1}))"


_PENDING = "'pending:' || enterprise_id::text || ':' || subject"
_ENTERPRISE = "'enterprise:' || enterprise_id::text"
PG_EVENT_SHARD = (
    f"CASE WHEN holder IS NOT NULL THEN {_pg_hashed('holder')} "
    f"WHEN subject IS NOT NULL THEN {_pg_hashed(_PENDING)} "
    f"ELSE {_pg_hashed(_ENTERPRISE)} END"
)
SQLITE_EVENT_SHARD = (
    "CASE WHEN holder IS NOT NULL THEN tanpuhui_shard_of_text(holder) "
    "WHEN subject IS NOT NULL THEN "
    "tanpuhui_shard_of_text('pending:' || tanpuhui_uuid(enterprise_id) || ':' || subject) "
    "ELSE tanpuhui_shard_of_text('enterprise:' || tanpuhui_uuid(enterprise_id)) END"
)
KEY_SHARD = {
    "postgresql": _pg_hashed("'event:' || enterprise_id::text || ':' || event_id"),
    "sqlite": "tanpuhui_shard_of_text('event:' || tanpuhui_uuid(enterprise_id) || ':' || event_id)",
}
EVIDENCE_SHARD = {
    "postgresql": _pg_digest("evidence_fp"),
    "sqlite": "tanpuhui_shard_of_digest(evidence_fp)",
}


def _copy_elsewhere(row: str, same: str) -> str:
    """SQL: an identical copy of `row`'s history is in another shard."""
    equal = " AND ".join(f"m.{c} {same} {row}.{c}" for c in FROZEN)
    return f"EXISTS (SELECT 1 FROM events m WHERE m.id = {row}.id AND m.shard <> {row}.shard AND {equal})"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        _postgresql()
    else:
        _sqlite()
    op.create_table(
        "event_keys",
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("enterprise_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("event_row", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("enterprise_id", "event_id", "shard", name="pk_event_keys"),
    )
    op.create_table(
        "evidence_keys",
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("evidence_fp", sa.LargeBinary(16), nullable=False),
        sa.Column("reduction_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("evidence_fp", "shard", name="pk_evidence_keys"),
    )
    # a binding's active key leads with the subject, its shard last (see the docstring)
    op.execute("DROP INDEX uq_bindings_active_subject")
    op.execute(
        "CREATE UNIQUE INDEX uq_bindings_active_subject ON bindings (enterprise_id, subject, "
        "shard) WHERE ended_at IS NULL"
    )
    op.execute(
        "INSERT INTO event_keys (shard, enterprise_id, event_id, event_row) "
        f"SELECT {KEY_SHARD[dialect]}, enterprise_id, event_id, id FROM events"
    )
    op.execute(
        "INSERT INTO evidence_keys (shard, evidence_fp, reduction_id) "
        f"SELECT {EVIDENCE_SHARD[dialect]}, evidence_fp, id FROM events "
        "WHERE state = 'active' AND evidence_fp IS NOT NULL"
    )


def _postgresql() -> None:
    op.execute("ALTER TABLE events ADD COLUMN shard SMALLINT")
    op.execute(f"UPDATE events SET shard = {PG_EVENT_SHARD}")
    op.execute(
        "ALTER TABLE events ALTER COLUMN shard SET NOT NULL, "
        "DROP CONSTRAINT pk_events, ADD CONSTRAINT pk_events PRIMARY KEY (id, shard), "
        "DROP CONSTRAINT uq_events_enterprise_id_event_id"
    )
    op.execute("DROP INDEX uq_events_evidence_fp")
    # a credited event is deleted only once its copy is in another shard (binding's move)
    op.execute(
        f"""CREATE FUNCTION tanpuhui_event_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF OLD.outcome = 'rejected' OR {_copy_elsewhere("OLD", "IS NOT DISTINCT FROM")} THEN
            RETURN OLD;
          END IF;
          RAISE EXCEPTION 'only rejected events may be replaced, and a reduction only moved'
            USING ERRCODE = 'integrity_constraint_violation';
        END $$"""
    )
    op.execute("DROP TRIGGER trg_events_history_u ON events")
    op.execute(PG_HISTORY)
    op.execute("DROP TRIGGER trg_events_history_d ON events")
    op.execute(
        "CREATE TRIGGER trg_events_history_d BEFORE DELETE ON events "
        "FOR EACH ROW EXECUTE FUNCTION tanpuhui_event_deleted()"
    )
    # lines join an unsealed entry of their own transaction — or are the copy of a moved one
    op.execute(
        """CREATE OR REPLACE FUNCTION tanpuhui_check_lines() RETURNS trigger
       LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_TABLE_NAME = 'events' THEN
           IF EXISTS (SELECT 1 FROM new_rows n WHERE NOT EXISTS
                        (SELECT 1 FROM enterprises e WHERE e.id = n.enterprise_id))
              OR EXISTS (SELECT 1 FROM new_rows n WHERE n.methodology_id IS NOT NULL
                           AND NOT EXISTS (SELECT 1 FROM methodology_versions m
                                           WHERE m.id = n.methodology_id)) THEN
             RAISE EXCEPTION 'event rows reference an unknown enterprise or methodology'
               USING ERRCODE = 'foreign_key_violation';
           END IF;
           IF EXISTS (SELECT 1 FROM new_rows n
                      WHERE n.entry_id IS NOT NULL
                        AND NOT EXISTS (SELECT 1 FROM ledger_entries le
                                        WHERE le.id = n.entry_id AND le.hash IS NULL)
                        AND NOT EXISTS (SELECT 1 FROM events m WHERE m.id = n.id
                                        AND m.shard <> n.shard AND m.entry_id = n.entry_id)) THEN
             RAISE EXCEPTION 'ledger lines may only join an unsealed entry of their own transaction'
               USING ERRCODE = 'foreign_key_violation';
           END IF;
           RETURN NULL;
         END IF;
         IF EXISTS (SELECT 1 FROM (SELECT DISTINCT entry_id FROM new_rows
                                   WHERE entry_id IS NOT NULL) n
                    WHERE NOT EXISTS (SELECT 1 FROM ledger_entries le
                                      WHERE le.id = n.entry_id AND le.hash IS NULL)) THEN
           RAISE EXCEPTION 'ledger lines may only join an unsealed entry of their own transaction'
             USING ERRCODE = 'foreign_key_violation';
         END IF;
         RETURN NULL;
       END $$"""
    )


#: an event's history and its shard are never updated (a move is a copy and a deletion)
PG_HISTORY = f"""CREATE TRIGGER trg_events_history_u BEFORE UPDATE ON events
       FOR EACH ROW WHEN ({" OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in ("shard", *FROZEN))})
       EXECUTE FUNCTION tanpuhui_refuse('an event''s history is immutable')"""
SQLITE_HISTORY = f"""CREATE TRIGGER trg_events_history_u BEFORE UPDATE ON events
       WHEN {" OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in ("shard", *FROZEN))}
       BEGIN SELECT RAISE(ABORT, 'an event''s history is immutable'); END"""


def _sqlite_uuid(value: Any) -> str | None:
    # SQLAlchemy stores a Uuid on SQLite as 32 hex digits; the shards hash the hyphenated form
    if value is None:
        return None
    text = value.hex() if isinstance(value, bytes) else str(value).replace("-", "")
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _shard_of_text(text: str | None) -> int | None:
    if text is None:
        return None
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") % SHARDS


def _shard_of_digest(digest: bytes | None) -> int | None:
    return None if digest is None else int.from_bytes(digest[:8], "big") % SHARDS


SQLITE_DELETE_GUARD = f"""CREATE TRIGGER trg_events_history_d BEFORE DELETE ON events
       WHEN OLD.outcome <> 'rejected' AND NOT {_copy_elsewhere("OLD", "IS")}
       BEGIN SELECT RAISE(ABORT, 'only rejected events may be replaced, and a reduction only moved'); END"""
SQLITE_REFERENCES = """CREATE TRIGGER trg_events_references BEFORE INSERT ON events
       WHEN NOT EXISTS (SELECT 1 FROM enterprises WHERE id = NEW.enterprise_id)
         OR (NEW.methodology_id IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM methodology_versions WHERE id = NEW.methodology_id))
         OR (NEW.entry_id IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM ledger_entries WHERE id = NEW.entry_id AND hash IS NULL)
             AND NOT EXISTS (SELECT 1 FROM events m WHERE m.id = NEW.id AND m.shard <> NEW.shard
                             AND m.entry_id = NEW.entry_id))
       BEGIN SELECT RAISE(ABORT, 'event references an unknown enterprise or methodology, or a sealed or unknown entry'); END"""


def _sqlite() -> None:
    conn = op.get_bind()
    raw: Any = conn.connection.driver_connection
    raw.create_function("tanpuhui_uuid", 1, _sqlite_uuid, deterministic=True)
    raw.create_function("tanpuhui_shard_of_text", 1, _shard_of_text, deterministic=True)
    raw.create_function("tanpuhui_shard_of_digest", 1, _shard_of_digest, deterministic=True)
    stored = conn.exec_driver_sql(
        "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'events' AND sql IS NOT NULL"
    ).all()
    (table_sql,) = [s for kind, _, s in stored if kind == "table"]
    keyed = re.sub(
        r"^CREATE TABLE events \(",
        "CREATE TABLE events__keyed (\n\tshard SMALLINT NOT NULL, ",
        table_sql,
    )
    keyed = keyed.replace(
        "CONSTRAINT pk_events PRIMARY KEY (id)", "CONSTRAINT pk_events PRIMARY KEY (id, shard)"
    )
    keyed, gone = re.subn(
        r"\s*CONSTRAINT uq_events_enterprise_id_event_id UNIQUE \(enterprise_id, event_id\),",
        "",
        keyed,
    )
    if keyed == table_sql or gone != 1 or "PRIMARY KEY (id, shard)" not in keyed:
        raise RuntimeError("the stored definition of events is not the one this migration knows")
    columns = [r[1] for r in conn.exec_driver_sql("PRAGMA table_info(events)")]
    listed = ", ".join(columns)
    op.execute(keyed)
    op.execute(
        f"INSERT INTO events__keyed (shard, {listed}) SELECT {SQLITE_EVENT_SHARD}, {listed} "
        "FROM events"
    )
    kept = [
        s for kind, name, s in stored
        if kind == "index" and name != "uq_events_evidence_fp"
    ]  # fmt: skip
    triggers = [
        s for kind, name, s in stored
        if kind == "trigger"
        and name not in ("trg_events_history_u", "trg_events_history_d", "trg_events_references")
    ]  # fmt: skip
    op.execute("DROP TABLE events")
    op.execute("ALTER TABLE events__keyed RENAME TO events")
    for statement in (*kept, *triggers, SQLITE_HISTORY, SQLITE_DELETE_GUARD, SQLITE_REFERENCES):
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only")
