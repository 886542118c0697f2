"""Storage of the ledger: postings, balances and the hash chain.

`open` writes an entry row, unsealed, before its lines (the database lets lines join only an
unsealed entry). `record` writes the entry's postings and holder balance changes, then enters
the short critical section every ledger transaction ends with: lock the chain head, update the
shared (issuance) balances, seal the entry with its sequence number and chain hash, move the
head.
Concurrent transactions therefore commit their entries in chain order, and hot shared rows are
locked only for the last moments of a transaction. Callers update other hot aggregates
(region totals) after `record`, while the chain lock is held.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping

import sqlalchemy as sa

from tanpuhui.adapters.db import schema as t
from tanpuhui.adapters.db.bulk import insert_rows
from tanpuhui.domain.errors import InsufficientBalanceError
from tanpuhui.domain.ledger import Entry, Posting, balance_deltas, chain_hash, is_holder

POSTING_COLUMNS = ("entry_id", "line", "account", "asset", "amount", "reduction_id")


class SqlLedger:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def open(self, entry: Entry) -> None:
        self.conn.execute(
            t.ledger_entries.insert().values(
                id=entry.id, kind=entry.kind, created_at=entry.created_at, memo=entry.memo
            )
        )

    def record(self, entry: Entry, *, lines_on_events: bool) -> None:
        """Store `entry`. With `lines_on_events`, its holder lines that carry a reduction id are
        already stored on the event rows (issuance subledger) and are not written again."""
        stored = [
            p
            for p in entry.postings
            if not (lines_on_events and p.reduction_id is not None and is_holder(p.account))
        ]
        insert_rows(
            self.conn,
            t.postings,
            POSTING_COLUMNS,
            [
                (entry.id, line, p.account, p.asset, p.amount, p.reduction_id)
                for line, p in enumerate(stored, start=1)
            ],
        )
        deltas = balance_deltas(entry)
        self._add_balances({k: v for k, v in deltas.items() if is_holder(k[0])})
        head = self.conn.execute(
            sa.select(t.chain_head.c.seq, t.chain_head.c.hash)
            .where(t.chain_head.c.id == 1)
            .with_for_update()
        ).one()
        self._add_balances({k: v for k, v in deltas.items() if not is_holder(k[0])})
        seq = head.seq + 1
        digest = chain_hash(
            head.hash, entry.id, seq, entry.kind, entry.created_at, entry.postings, entry.memo
        )
        self.conn.execute(
            t.ledger_entries.update()
            .where(t.ledger_entries.c.id == entry.id)
            .values(seq=seq, prev_hash=head.hash, hash=digest)
        )
        self.conn.execute(
            t.chain_head.update().where(t.chain_head.c.id == 1).values(seq=seq, hash=digest)
        )

    def _add_balances(self, deltas: Mapping[tuple[str, str], int]) -> None:
        """Apply balance changes. Credits are upserts; holder debits are updates of an existing
        row (an upsert's proposed row would fail the non-negative check before the conflict
        is even seen), and a debit the row cannot cover fails that check."""
        debits = sorted((k, v) for k, v in deltas.items() if v < 0 and is_holder(k[0]))
        if debits:
            self._debit(debits)
        items = sorted((k, v) for k, v in deltas.items() if not (v < 0 and is_holder(k[0])))
        if not items:
            return
        if self.conn.dialect.name == "postgresql":
            self.conn.exec_driver_sql(
                "INSERT INTO balances (account, asset, amount) "
                "SELECT * FROM unnest(%(a)s::text[], %(s)s::text[], %(n)s::int8[]) "
                "ON CONFLICT (account, asset) "
                "DO UPDATE SET amount = balances.amount + EXCLUDED.amount",
                {
                    "a": [k[0] for k, _ in items],
                    "s": [k[1] for k, _ in items],
                    "n": [v for _, v in items],
                },
            )
        else:
            self.conn.exec_driver_sql(
                "INSERT INTO balances (account, asset, amount) VALUES (?, ?, ?) "
                "ON CONFLICT (account, asset) DO UPDATE SET amount = amount + excluded.amount",
                [(k[0], k[1], v) for k, v in items],
            )

    def _debit(self, items: list[tuple[tuple[str, str], int]]) -> None:
        b = t.balances.c
        for (account, asset), amount in items:  # few rows: binding moves, sales
            done = self.conn.execute(
                t.balances.update()
                .where(b.account == account, b.asset == asset)
                .values(amount=b.amount + amount)
            ).rowcount
            if done != 1:
                raise InsufficientBalanceError(f"{account} holds no {asset}")

    def balances_of(self, account: str) -> dict[str, int]:
        b = t.balances.c
        rows = self.conn.execute(
            sa.select(b.asset, b.amount)
            .where(b.account == account, b.amount != 0)
            .order_by(b.asset)
        )
        return {r.asset: r.amount for r in rows}

    def entries_of(self, account: str, limit: int) -> list[Entry]:
        """The latest entries with a posting on `account` (moves, sales …), newest first."""
        p, le = t.postings.c, t.ledger_entries.c
        ids = [
            r.entry_id
            for r in self.conn.execute(
                sa.select(p.entry_id, sa.func.max(le.seq).label("seq"))
                .select_from(t.postings.join(t.ledger_entries, le.id == p.entry_id))
                .where(p.account == account)
                .group_by(p.entry_id)
                .order_by(sa.desc("seq"))
                .limit(limit)
            )
        ]
        return [self.entry(i) for i in ids]

    def entry(self, entry_id: uuid.UUID) -> Entry:
        le = t.ledger_entries.c
        head = self.conn.execute(sa.select(t.ledger_entries).where(le.id == entry_id)).one()
        return Entry(head.id, head.kind, head.created_at, tuple(self.lines(entry_id)), head.memo)

    def lines(self, entry_id: uuid.UUID) -> Iterable[Posting]:
        """Every line of an entry: its postings and the issuance lines on event rows."""
        p, e = t.postings.c, t.events.c
        for r in self.conn.execute(
            sa.select(p.account, p.asset, p.amount, p.reduction_id)
            .where(p.entry_id == entry_id)
            .order_by(p.line)
        ):
            yield Posting(r.account, r.asset, r.amount, r.reduction_id)
        for r in self.conn.execute(
            sa.select(e.issued_account, e.asset, e.grams, e.id).where(e.entry_id == entry_id)
        ):
            yield Posting(r.issued_account, r.asset, r.grams, r.id)
