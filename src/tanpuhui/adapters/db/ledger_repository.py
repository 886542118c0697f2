"""Storage of the ledger: entries, postings, sharded balances, and the per-shard logs.

`open` writes an entry row, unsealed, in its home shard (that of its first logged line) before
its lines (the database lets lines join only an unsealed entry). `record` writes the entry's
postings and holder balance changes, queues each logged line for its holder's shard log
(no log head is locked: the unit of work integrates them after it commits —
`log_repository`), adds the issuance balances in the entry's home shard (one row per shard:
no row every writer updates) and seals the entry with its digest. Writers of different
people share no lock.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from tanpuhui.adapters.db import schema as t
from tanpuhui.adapters.db.bulk import insert_rows
from tanpuhui.adapters.db.log_repository import LoggedLine, SqlLogs
from tanpuhui.domain.checkpoint import Leaf, home_shard, sealed_leaves
from tanpuhui.domain.errors import InsufficientBalanceError
from tanpuhui.domain.ledger import Entry, Posting, account_kind, balance_deltas, is_holder
from tanpuhui.domain.shards import shard_of_account

POSTING_COLUMNS = ("shard", "entry_id", "line", "account", "asset", "amount", "reduction_id")


def is_issuance(account: str) -> bool:
    return account_kind(account) == "issuance"


class SqlLedger:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.logs = SqlLogs(conn)

    def open(self, entry: Entry) -> None:
        self.conn.execute(
            _OPEN,
            {
                "shard": home_shard(entry, self.logs.shards()), "id": entry.id,
                "kind": entry.kind, "created_at": entry.created_at, "memo": entry.memo,
            },
        )  # fmt: skip

    def record(self, entry: Entry, *, lines_on_events: bool) -> None:
        """Store `entry`. With `lines_on_events`, its holder lines that carry a reduction id are
        already stored on the event rows (issuance subledger) and are not written again."""
        shards = self.logs.shards()
        home = home_shard(entry, shards)
        on_events = [
            lines_on_events and p.reduction_id is not None and is_holder(p.account)
            for p in entry.postings
        ]
        stored = [p for p, skip in zip(entry.postings, on_events, strict=True) if not skip]
        insert_rows(
            self.conn,
            t.postings,
            POSTING_COLUMNS,
            [
                (home, entry.id, line, p.account, p.asset, p.amount, p.reduction_id)
                for line, p in enumerate(stored, start=1)
            ],
        )
        deltas = balance_deltas(entry)
        self._add_balances({k: v for k, v in deltas.items() if not is_issuance(k[0])}, shards)
        digest, leaves = sealed_leaves(entry, shards)
        self.logs.enqueue(entry.id, self._logged(leaves, on_events))
        self._add_balances({k: v for k, v in deltas.items() if is_issuance(k[0])}, shards, home)
        self.conn.execute(_SEAL, {"k": home, "eid": entry.id, "h": digest})

    def record_many(self, entries: Sequence[Entry]) -> None:
        """`open` and `record` of several entries none of whose lines is on an event row (a
        group of sales), set-based: one insert of their rows, one of all their postings, their
        balance changes summed (one debit statement, one upsert), their lines queued together,
        and their seals in one executemany."""
        if not entries:
            return
        shards = self.logs.shards()
        homes = [home_shard(e, shards) for e in entries]
        self.conn.execute(
            _OPEN,
            [
                {"shard": k, "id": e.id, "kind": e.kind, "created_at": e.created_at,
                 "memo": e.memo}
                for e, k in zip(entries, homes, strict=True)
            ],
        )  # fmt: skip
        insert_rows(
            self.conn,
            t.postings,
            POSTING_COLUMNS,
            [
                (k, e.id, line, p.account, p.asset, p.amount, p.reduction_id)
                for e, k in zip(entries, homes, strict=True)
                for line, p in enumerate(e.postings, start=1)
            ],
        )
        owned: dict[tuple[int, str, str], int] = defaultdict(int)
        issued: dict[tuple[int, str, str], int] = defaultdict(int)
        for e, k in zip(entries, homes, strict=True):
            for (account, asset), amount in balance_deltas(e).items():
                if is_issuance(account):
                    issued[(k, account, asset)] += amount
                else:
                    owned[(shard_of_account(account, shards), account, asset)] += amount
        self._apply_balances(owned)
        queued, seals = [], []
        for e, k in zip(entries, homes, strict=True):
            digest, leaves = sealed_leaves(e, shards)
            queued.append((e.id, self._logged(leaves, [False] * len(e.postings))))
            seals.append({"k": k, "eid": e.id, "h": digest})
        self.logs.enqueue_many(queued)
        self._apply_balances(issued)
        if self.conn.dialect.name != "postgresql":
            self.conn.execute(_SEAL, seals)
            return
        self.conn.exec_driver_sql(  # one statement, not one per entry
            "UPDATE ledger_entries AS le SET hash = u.h FROM unnest(%(k)s::int2[], "
            "%(e)s::uuid[], %(h)s::bytea[]) AS u(k, e, h) WHERE le.shard = u.k AND le.id = u.e",
            {
                "k": [x["k"] for x in seals],
                "e": [x["eid"] for x in seals],
                "h": [x["h"] for x in seals],
            },
        )

    @staticmethod
    def _logged(leaves: list[Leaf], on_events: list[bool]) -> list[LoggedLine]:
        """Each leaf with where its line is stored: a posting's line number (numbered as
        `record` numbers them), or None for a line on an event row."""
        line_of: list[int | None] = []
        number = 0
        for skip in on_events:
            number += not skip
            line_of.append(None if skip else number)
        return [LoggedLine(leaf, line_of[leaf.position]) for leaf in leaves]

    def _add_balances(
        self, deltas: Mapping[tuple[str, str], int], shards: int, home: int | None = None
    ) -> None:
        """Apply balance changes: an account's in its owner's shard, an issuance account's in
        the entry's `home` shard (it has one row per shard, none that every writer updates).
        Credits are upserts; holder debits are updates of an existing row (an upsert's
        proposed row would fail the non-negative check before the conflict is even seen),
        and a debit the row cannot cover fails that check."""
        self._apply_balances(
            {
                (home if home is not None else shard_of_account(a, shards), a, s): v
                for (a, s), v in deltas.items()
            }
        )

    def _apply_balances(self, keyed: Mapping[tuple[int, str, str], int]) -> None:
        """Apply balance changes keyed (shard, account, asset) as `_add_balances` says."""
        keyed = {k: v for k, v in keyed.items() if v != 0}
        debits = sorted((k, v) for k, v in keyed.items() if v < 0 and is_holder(k[1]))
        if debits:
            self._debit(debits)
        items = sorted((k, v) for k, v in keyed.items() if not (v < 0 and is_holder(k[1])))
        if not items:
            return
        if self.conn.dialect.name == "postgresql":
            self.conn.exec_driver_sql(
                "INSERT INTO balances (shard, account, asset, amount) SELECT * FROM "
                "unnest(%(k)s::int2[], %(a)s::text[], %(s)s::text[], %(n)s::int8[]) "
                "ON CONFLICT (shard, account, asset) "
                "DO UPDATE SET amount = balances.amount + EXCLUDED.amount",
                _keyed_arrays(items),
            )
        else:
            self.conn.exec_driver_sql(
                "INSERT INTO balances (shard, account, asset, amount) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (shard, account, asset) "
                "DO UPDATE SET amount = amount + excluded.amount",
                [(k[0], k[1], k[2], v) for k, v in items],
            )

    def _debit(self, items: list[tuple[tuple[int, str, str], int]]) -> None:
        if self.conn.dialect.name == "postgresql" and len(items) > 1:  # a group of sales
            done = self.conn.exec_driver_sql(
                "UPDATE balances AS b SET amount = b.amount + u.n FROM unnest(%(k)s::int2[], "
                "%(a)s::text[], %(s)s::text[], %(n)s::int8[]) AS u(k, a, s, n) "
                "WHERE b.shard = u.k AND b.account = u.a AND b.asset = u.s",
                _keyed_arrays(items),
            ).rowcount
            if done != len(items):
                raise InsufficientBalanceError("a debited holder holds none of the asset")
            return
        for (shard, account, asset), amount in items:  # few rows: binding moves, a sale
            done = self.conn.execute(
                _DEBIT, {"k": shard, "a": account, "s": asset, "n": amount}
            ).rowcount
            if done != 1:
                raise InsufficientBalanceError(f"{account} holds no {asset}")

    def balances_of(self, account: str) -> dict[str, int]:
        b = t.balances.c
        where = [b.account == account]
        if not is_issuance(account):  # in its owner's shard; issuance summed over shards
            where.append(b.shard == shard_of_account(account, self.logs.shards()))
        total = sa.func.sum(b.amount)
        rows = self.conn.execute(
            sa.select(b.asset, total.label("amount"))
            .where(*where)
            .group_by(b.asset)
            .having(total != 0)
            .order_by(b.asset)
        )
        return {r.asset: int(r.amount) for r in rows}

    def entries_of(self, account: str, limit: int) -> list[Entry]:
        """The latest entries with a posting on `account` (moves, sales …), newest first."""
        p, le = t.postings.c, t.ledger_entries.c
        ids = [
            r.entry_id
            for r in self.conn.execute(
                sa.select(p.entry_id, sa.func.max(le.created_at).label("at"))
                .select_from(
                    t.postings.join(
                        t.ledger_entries, sa.and_(le.shard == p.shard, le.id == p.entry_id)
                    )
                )
                .where(p.account == account)
                .group_by(p.entry_id)
                .order_by(sa.desc("at"), p.entry_id)
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


def _keyed_arrays(items: Sequence[tuple[tuple[int, str, str], int]]) -> dict[str, list[Any]]:
    """Keyed balance changes as the arrays of an `unnest(k, a, s, n)` statement."""
    return {
        "k": [k[0] for k, _ in items],
        "a": [k[1] for k, _ in items],
        "s": [k[2] for k, _ in items],
        "n": [v for _, v in items],
    }


# statements every movement runs, built once (building and keying them per call was a
# measurable part of a sale's Python: docs/performance.md, "The market today")
_le, _b = t.ledger_entries.c, t.balances.c
_OPEN = t.ledger_entries.insert()
_SEAL = (
    t.ledger_entries.update()
    .where(_le.shard == sa.bindparam("k", type_=sa.SmallInteger))
    .where(_le.id == sa.bindparam("eid", type_=sa.Uuid))
    .values(hash=sa.bindparam("h", type_=sa.LargeBinary))
)
_DEBIT = (
    t.balances.update()
    .where(
        _b.shard == sa.bindparam("k", type_=sa.SmallInteger),
        _b.account == sa.bindparam("a", type_=sa.Text),
        _b.asset == sa.bindparam("s", type_=sa.Text),
    )
    .values(amount=_b.amount + sa.bindparam("n", type_=sa.BigInteger))
)
