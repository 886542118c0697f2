"""Foundation: enterprises, persons, bindings, methodologies, events, the ledger.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from tanpuhui.adapters.db.types import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ACTIVE = sa.text("state = 'active'")


def upgrade() -> None:
    op.create_table(
        "enterprises",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("is_scene", sa.Boolean, nullable=False),
        sa.Column("is_platform", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enterprises")),
        sa.UniqueConstraint("name", name=op.f("uq_enterprises_name")),
        sa.CheckConstraint("is_scene OR is_platform", name=op.f("ck_enterprises_has_role")),
    )
    op.create_table(
        "persons",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persons")),
    )
    op.create_table(
        "bindings",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("enterprise_id", sa.Uuid, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("person_id", sa.Uuid, nullable=False),
        sa.Column("bound_at", UTCDateTime, nullable=False),
        sa.Column("ended_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bindings")),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_bindings_enterprise_id_enterprises"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_bindings_person_id_persons")
        ),
    )
    op.create_index(
        op.f("uq_bindings_active_subject"),
        "bindings",
        ["enterprise_id", "subject"],
        unique=True,
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    op.create_index(op.f("ix_bindings_person_id"), "bindings", ["person_id"])
    op.create_table(
        "behaviour_groups",
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("exclusive", sa.Boolean, nullable=False),
        sa.Column("overlap_tolerance_s", sa.Integer, nullable=False),
        sa.Column("daily_cap_grams", sa.BigInteger, nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_behaviour_groups")),
    )
    op.create_table(
        "methodology_versions",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("content_hash", sa.Text, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("source_name", sa.Text, nullable=False),
        sa.Column("effective_from", sa.Date, nullable=False),
        sa.Column("effective_to", sa.Date, nullable=True),
        sa.Column("published_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_methodology_versions")),
        sa.UniqueConstraint("code", "version", name=op.f("uq_methodology_versions_code_version")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_methodology_versions_version_positive")),
    )
    op.create_table(
        "catalogue_revisions",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_revisions")),
    )
    op.create_table(
        "batches",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("enterprise_id", sa.Uuid, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("event_count", sa.Integer, nullable=False),
        sa.Column("counts", sa.Text, nullable=False),
        sa.Column("unkeyed", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batches")),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_batches_enterprise_id_enterprises")
        ),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("memo", sa.Text, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=True),
        sa.Column("prev_hash", sa.LargeBinary(32), nullable=True),
        sa.Column("hash", sa.LargeBinary(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint("seq", name=op.f("uq_ledger_entries_seq")),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("enterprise_id", sa.Uuid, nullable=False),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("batch_id", sa.Uuid, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("payload_hash", sa.LargeBinary(16), nullable=False),
        sa.Column("subject", sa.Text),
        sa.Column("behaviour", sa.Text),
        sa.Column("started_at", UTCDateTime),
        sa.Column("ended_at", UTCDateTime),
        sa.Column("region", sa.Text),
        sa.Column("quantities", sa.Text),
        sa.Column("evidence_ref", sa.Text),
        sa.Column("evidence_issuer", sa.Text),
        sa.Column("raw", sa.Text),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("message", sa.Text),
        sa.Column("grams", sa.BigInteger, nullable=False),
        sa.Column("grams_cut", sa.BigInteger, nullable=False),
        sa.Column("duplicate_of", sa.Uuid),
        sa.Column("methodology_id", sa.Uuid),
        sa.Column("trace", sa.Text),
        sa.Column("group_code", sa.Text),
        sa.Column("day", sa.Date),
        sa.Column("asset", sa.Text),
        sa.Column("issued_account", sa.Text),
        sa.Column("entry_id", sa.Uuid),
        sa.Column("holder", sa.Text),
        sa.Column("state", sa.Text),
        sa.Column("live_grams", sa.BigInteger, nullable=False),
        sa.Column("resolution", sa.Text),
        sa.Column("resolution_ref", sa.Uuid),
        sa.Column("resolved_at", UTCDateTime),
        sa.Column("evidence_fp", sa.LargeBinary(16)),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint(
            "enterprise_id", "event_id", name=op.f("uq_events_enterprise_id_event_id")
        ),
        sa.CheckConstraint(
            "outcome IN ('credited', 'capped', 'duplicate', 'rejected', 'pending_binding')",
            name=op.f("ck_events_outcome_known"),
        ),
        sa.CheckConstraint(
            "grams >= 0 AND grams_cut >= 0 AND live_grams >= 0",
            name=op.f("ck_events_grams_not_negative"),
        ),
        sa.CheckConstraint(
            "(grams > 0) = (entry_id IS NOT NULL AND issued_account IS NOT NULL"
            " AND asset IS NOT NULL AND methodology_id IS NOT NULL)",
            name=op.f("ck_events_credit_has_entry"),
        ),
        sa.CheckConstraint(
            "state IS NULL OR state IN ('active', 'reversed')", name=op.f("ck_events_state_known")
        ),
    )
    op.create_index(
        op.f("ix_events_claims"),
        "events",
        ["holder", "started_at"],
        sqlite_where=ACTIVE,
        postgresql_where=ACTIVE,
    )
    op.create_index(
        op.f("uq_events_evidence_fp"),
        "events",
        ["evidence_fp"],
        unique=True,
        sqlite_where=ACTIVE,
        postgresql_where=ACTIVE,
    )
    op.create_index(op.f("ix_events_entry_id"), "events", ["entry_id"])
    op.create_table(
        "postings",
        sa.Column("entry_id", sa.Uuid, nullable=False),
        sa.Column("line", sa.Integer, nullable=False),
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("asset", sa.Text, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("reduction_id", sa.Uuid, nullable=True),
        sa.PrimaryKeyConstraint("entry_id", "line", name=op.f("pk_postings")),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["ledger_entries.id"], name=op.f("fk_postings_entry_id_ledger_entries")
        ),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_postings_amount_not_zero")),
    )
    op.create_index(op.f("ix_postings_account"), "postings", ["account"])
    op.create_table(
        "balances",
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("asset", sa.Text, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("account", "asset", name=op.f("pk_balances")),
        sa.CheckConstraint(
            "amount >= 0 OR account LIKE 'issuance:%'", name=op.f("ck_balances_holder_not_negative")
        ),
    )
    op.create_table(
        "chain_head",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_head")),
    )
    op.create_table(
        "region_totals",
        sa.Column("region", sa.Text, nullable=False),
        sa.Column("group_code", sa.Text, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("grams", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("region", "group_code", "day", name=op.f("pk_region_totals")),
    )
    op.bulk_insert(
        sa.table("chain_head", sa.column("id"), sa.column("seq"), sa.column("hash")),
        [{"id": 1, "seq": 0, "hash": b"\x00" * 32}],
    )
    op.bulk_insert(
        sa.table("catalogue_revisions", sa.column("id"), sa.column("revision")),
        [{"id": 1, "revision": 0}],
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_TRIGGERS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only")


# An event row's history: everything but where its grams are now (holder, state, live_grams)
# and what binding resolved (resolution, resolution_ref, resolved_at) is frozen once written.
_EVENT_FROZEN = (
    "id",
    "enterprise_id",
    "event_id",
    "batch_id",
    "received_at",
    "payload_hash",
    "subject",
    "behaviour",
    "started_at",
    "ended_at",
    "region",
    "quantities",
    "evidence_ref",
    "evidence_issuer",
    "raw",
    "outcome",
    "reason",
    "message",
    "grams",
    "grams_cut",
    "duplicate_of",
    "methodology_id",
    "trace",
    "group_code",
    "day",
    "asset",
    "issued_account",
    "entry_id",
    "evidence_fp",
)
_SEALING = "OLD.hash IS NULL AND NEW.hash IS NOT NULL AND NEW.seq IS NOT NULL AND NEW.prev_hash IS NOT NULL"
_SAME_HEAD = " AND ".join(
    f"NEW.{c} IS {{same}} OLD.{c}" for c in ("id", "kind", "created_at", "memo")
)

SQLITE_TRIGGERS = [
    """CREATE TRIGGER trg_postings_immutable_u BEFORE UPDATE ON postings
       BEGIN SELECT RAISE(ABORT, 'ledger postings are immutable'); END""",
    """CREATE TRIGGER trg_postings_immutable_d BEFORE DELETE ON postings
       BEGIN SELECT RAISE(ABORT, 'ledger postings are immutable'); END""",
    """CREATE TRIGGER trg_postings_open_entry BEFORE INSERT ON postings
       WHEN (SELECT hash FROM ledger_entries WHERE id = NEW.entry_id) IS NOT NULL
       BEGIN SELECT RAISE(ABORT, 'lines may only join an unsealed entry'); END""",
    """CREATE TRIGGER trg_entries_immutable_d BEFORE DELETE ON ledger_entries
       BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END""",
    f"""CREATE TRIGGER trg_entries_seal_once BEFORE UPDATE ON ledger_entries
       WHEN NOT ({_SEALING} AND {_SAME_HEAD.format(same="")})
       BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable once sealed'); END""",
    f"""CREATE TRIGGER trg_events_history_u BEFORE UPDATE ON events
       WHEN {" OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in _EVENT_FROZEN)}
       BEGIN SELECT RAISE(ABORT, 'an event''s history is immutable'); END""",
    """CREATE TRIGGER trg_events_history_d BEFORE DELETE ON events
       WHEN OLD.outcome <> 'rejected'
       BEGIN SELECT RAISE(ABORT, 'only rejected events may be replaced'); END""",
    # References of an event row (per row: SQLite checks them as cheaply as a foreign key).
    """CREATE TRIGGER trg_events_references BEFORE INSERT ON events
       WHEN NOT EXISTS (SELECT 1 FROM enterprises WHERE id = NEW.enterprise_id)
         OR (NEW.methodology_id IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM methodology_versions WHERE id = NEW.methodology_id))
         OR (NEW.entry_id IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM ledger_entries WHERE id = NEW.entry_id AND hash IS NULL))
       BEGIN SELECT RAISE(ABORT, 'event references an unknown enterprise or methodology, or a sealed or unknown entry'); END""",
    """CREATE TRIGGER trg_enterprises_kept BEFORE DELETE ON enterprises
       BEGIN SELECT RAISE(ABORT, 'enterprises are never deleted'); END""",
    """CREATE TRIGGER trg_methodology_versions_kept BEFORE DELETE ON methodology_versions
       BEGIN SELECT RAISE(ABORT, 'published methodology versions are never deleted'); END""",
]

POSTGRES_TRIGGERS = [
    """CREATE FUNCTION tanpuhui_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'integrity_constraint_violation';
       END $$""",
    """CREATE TRIGGER trg_postings_immutable BEFORE UPDATE OR DELETE ON postings
       FOR EACH ROW EXECUTE FUNCTION tanpuhui_refuse('ledger postings are immutable')""",
    """CREATE TRIGGER trg_entries_immutable_d BEFORE DELETE ON ledger_entries
       FOR EACH ROW EXECUTE FUNCTION tanpuhui_refuse('ledger entries are immutable')""",
    f"""CREATE TRIGGER trg_entries_seal_once BEFORE UPDATE ON ledger_entries
       FOR EACH ROW WHEN (NOT ({_SEALING} AND {_SAME_HEAD.format(same="NOT DISTINCT FROM")}))
       EXECUTE FUNCTION tanpuhui_refuse('ledger entries are immutable once sealed')""",
    f"""CREATE TRIGGER trg_events_history_u BEFORE UPDATE ON events
       FOR EACH ROW WHEN ({" OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in _EVENT_FROZEN)})
       EXECUTE FUNCTION tanpuhui_refuse('an event''s history is immutable')""",
    """CREATE TRIGGER trg_events_history_d BEFORE DELETE ON events
       FOR EACH ROW WHEN (OLD.outcome <> 'rejected')
       EXECUTE FUNCTION tanpuhui_refuse('only rejected events may be replaced')""",
    """CREATE TRIGGER trg_enterprises_kept BEFORE DELETE ON enterprises
       FOR EACH ROW EXECUTE FUNCTION tanpuhui_refuse('enterprises are never deleted')""",
    """CREATE TRIGGER trg_methodology_versions_kept BEFORE DELETE ON methodology_versions
       FOR EACH ROW EXECUTE FUNCTION tanpuhui_refuse('published methodology versions are never deleted')""",
    # References of new event rows and postings, checked once per statement over all its rows
    # (a per-row foreign key check would cost more than the rest of a bulk insert).
    """CREATE FUNCTION tanpuhui_check_lines() RETURNS trigger LANGUAGE plpgsql AS $$
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
         END IF;
         IF EXISTS (SELECT 1 FROM (SELECT DISTINCT entry_id FROM new_rows
                                   WHERE entry_id IS NOT NULL) n
                    WHERE NOT EXISTS (SELECT 1 FROM ledger_entries le
                                      WHERE le.id = n.entry_id AND le.hash IS NULL)) THEN
           RAISE EXCEPTION 'ledger lines may only join an unsealed entry of their own transaction'
             USING ERRCODE = 'foreign_key_violation';
         END IF;
         RETURN NULL;
       END $$""",
    """CREATE TRIGGER trg_events_lines AFTER INSERT ON events
       REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
       EXECUTE FUNCTION tanpuhui_check_lines()""",
    """CREATE TRIGGER trg_postings_lines AFTER INSERT ON postings
       REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
       EXECUTE FUNCTION tanpuhui_check_lines()""",
    # At commit every entry written in the transaction must be sealed and balance per asset.
    # Its lines are its postings plus the issuance lines on event rows; lines can only have
    # joined it in this transaction (above), so checking the entry at commit covers them all.
    """CREATE FUNCTION tanpuhui_entry_balances() RETURNS trigger LANGUAGE plpgsql AS $$
       DECLARE
         sealed bytea;
         bad record;
       BEGIN
         SELECT hash INTO sealed FROM ledger_entries WHERE id = NEW.id;
         IF sealed IS NULL THEN
           RAISE EXCEPTION 'ledger entry % was not sealed into the hash chain', NEW.id
             USING ERRCODE = 'check_violation';
         END IF;
         SELECT asset, sum(amount) AS off INTO bad FROM (
             SELECT asset, amount FROM postings WHERE entry_id = NEW.id
             UNION ALL
             SELECT asset, grams FROM events WHERE entry_id = NEW.id
           ) lines
           GROUP BY asset HAVING sum(amount) <> 0 LIMIT 1;
         IF FOUND THEN
           RAISE EXCEPTION 'ledger entry % does not balance: asset % is off by %',
             NEW.id, bad.asset, bad.off USING ERRCODE = 'check_violation';
         END IF;
         RETURN NULL;
       END $$""",
    """CREATE CONSTRAINT TRIGGER trg_entries_balance AFTER INSERT ON ledger_entries
       DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tanpuhui_entry_balances()""",
]
