"""The commit-time check of a ledger entry (`tanpuhui_entry_balances`, PostgreSQL) reads the
entry's row and postings by the entry's shard, not by its id alone.

Since migration 0022 keyed `postings` (shard, entry id, line), the check's
`postings WHERE entry_id = …` could no longer seek on the key: it scanned the index shard by
shard (or the table), so every entry's commit cost grew with the ledger — in
`tanpuhui bench market` the server's CPU per sale rose with every sale already made. An
entry's postings are in its own shard (their foreign key says so), so `shard = NEW.shard`
loses nothing. The issuance lines on event rows are still found by `ix_events_entry_id`.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04
"""

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # the function and its constraint trigger exist on PostgreSQL only
    op.execute(
        """CREATE OR REPLACE FUNCTION tanpuhui_entry_balances() RETURNS trigger
       LANGUAGE plpgsql AS $$
       DECLARE
         sealed bytea;
         bad record;
       BEGIN
         SELECT hash INTO sealed FROM ledger_entries WHERE shard = NEW.shard AND id = NEW.id;
         IF sealed IS NULL THEN
           RAISE EXCEPTION 'ledger entry % was not sealed into the hash chain', NEW.id
             USING ERRCODE = 'check_violation';
         END IF;
         SELECT asset, sum(amount) AS off INTO bad FROM (
             SELECT asset, amount FROM postings WHERE shard = NEW.shard AND entry_id = NEW.id
             UNION ALL
             SELECT asset, grams FROM events WHERE entry_id = NEW.id
           ) lines
           GROUP BY asset HAVING sum(amount) <> 0 LIMIT 1;
         IF FOUND THEN
           RAISE EXCEPTION 'ledger entry % does not balance: asset % is off by %',
             NEW.id, bad.asset, bad.off USING ERRCODE = 'check_violation';
         END IF;
         RETURN NULL;
       END $$"""
    )


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only")
