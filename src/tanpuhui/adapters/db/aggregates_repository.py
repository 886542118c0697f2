"""The regional rollups and first-seen person rows (schema `region_rollups`,
`person_activity`, `person_regions`), folded from `rollup_pending`, read by the aggregates.

Intake does not write the rollups: it queues its batch (`enqueue`, one row per batch). `fold`
deletes queued rows (DELETE … RETURNING) and adds their batches' reductions, as they are now,
in the same transaction: a queued row is folded exactly when its delete commits, so no batch is
skipped or folded twice whatever order writers commit in (on PostgreSQL commit order is not
id or sequence order; nothing here follows a sequence). Every rollup writer takes one
transaction-scoped advisory lock on PostgreSQL (SQLite has one writer) before any rollup row,
so two folders — or a folder and a binding that folds its own batches first (`snapshots`) —
never deadlock; intake never takes it.

Binding moves, re-quantification and MRV rejection read `snapshots` before and after their
change and record the difference directly (rare, small); `snapshots` first folds the queued
batches of the reductions it reads, so a difference is only ever taken of folded reductions.

Writes add partial sums per (holder shard, period, cell) with one upsert statement per fold
(PostgreSQL: `unnest` of arrays; SQLite: one executemany) and insert first-seen rows with
ON CONFLICT DO NOTHING. Reads sum the partial rows of one period; changed region codes are
mapped on read.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from tanpuhui.adapters.db import schema as t
from tanpuhui.adapters.db.bulk import any_of
from tanpuhui.domain.aggregates import (
    Cell,
    Change,
    Counts,
    activity_rows,
    check_rollups,
    rollup_deltas,
)
from tanpuhui.domain.checks import Violation
from tanpuhui.domain.shards import shard_of_enterprise
from tanpuhui.services.ports import AggregateQuery, Snapshot

_CELL = ("region", "behaviour", "group_code", "enterprise_id", "methodology", "quality")
_BY_COLUMN = {
    "group": "group_code",
    "behaviour": "behaviour",
    "enterprise": "enterprise_id",
    "methodology": "methodology",
    "quality": "quality",
}
#: The PostgreSQL advisory lock every folder holds for its transaction (any constant: it
#: only has to be the same for all folders).
_FOLD_LOCK = 0x726F6C6C  # "roll"


class SqlAggregates:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def enqueue(self, batch_id: uuid.UUID, enterprise_id: uuid.UUID, at: datetime) -> None:
        """Queue a batch with credited reductions for the fold: the intake's only rollup write."""
        self.conn.execute(
            t.rollup_pending.insert(),
            {"shard": shard_of_enterprise(enterprise_id), "batch_id": batch_id, "queued_at": at},
        )

    def pending(self) -> tuple[int, datetime | None]:
        """How many committed batches wait for the fold, and when the oldest was queued."""
        p = t.rollup_pending.c
        count, oldest = self.conn.execute(
            sa.select(sa.func.count(), sa.func.min(p.queued_at))
        ).one()
        return int(count), oldest

    def has_pending(self) -> bool:
        return (
            self.conn.execute(sa.select(t.rollup_pending.c.batch_id).limit(1)).first() is not None
        )

    def fold(self, limit: int) -> tuple[int, int]:
        """Fold up to `limit` queued batches (oldest first): (batches, reductions) folded."""
        self._lock()
        p = t.rollup_pending.c
        oldest = (
            sa.select(p.shard, p.batch_id).order_by(p.queued_at, p.batch_id).limit(limit)
        ).subquery()
        taken = (
            self.conn.execute(
                t.rollup_pending.delete()
                .where(
                    sa.tuple_(p.shard, p.batch_id).in_(sa.select(oldest.c.shard, oldest.c.batch_id))
                )
                .returning(p.batch_id)
            )
            .scalars()
            .all()
        )
        return len(taken), self._fold_batches(list(taken))

    def _lock(self) -> None:
        if self.conn.dialect.name == "postgresql":
            self.conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_FOLD_LOCK})")

    def _fold_for(self, reduction_ids: Sequence[uuid.UUID]) -> None:
        """Fold the queued batches of these reductions now (a change is about to be diffed)."""
        e, p = t.events.c, t.rollup_pending.c
        batches = sa.select(e.batch_id).where(any_of(self.conn, e.id, list(reduction_ids)))
        queued = self.conn.execute(
            sa.select(p.shard, p.batch_id).where(p.batch_id.in_(batches))
        ).all()
        if not queued:
            return  # not queued, or its fold has committed: the rollups count it
        self._lock()
        taken = (
            self.conn.execute(
                t.rollup_pending.delete()
                .where(sa.tuple_(p.shard, p.batch_id).in_([tuple(q) for q in queued]))
                .returning(p.batch_id)
            )
            .scalars()
            .all()
        )  # a concurrent fold may have taken some: those are counted
        self._fold_batches(list(taken))

    def _fold_batches(self, batch_ids: list[uuid.UUID]) -> int:
        """Add the credited reductions of these batches as they are now (one read, one write)."""
        if not batch_ids:
            return 0
        changes = [
            Change(s.holder, s.cell, s.day, s.grams, 1)
            for s in self._read(any_of(self.conn, t.events.c.batch_id, batch_ids))
            if s.grams > 0
        ]
        self.record(changes)
        return len(changes)

    def rebuild(self) -> int:
        """Empty the rollups and fold every credited reduction from scratch (the reference a
        fold is compared with; first-seen rows of since-reversed reductions are not kept)."""
        for table in (t.region_rollups, t.person_activity, t.person_regions, t.rollup_pending):
            self.conn.execute(table.delete())
        changes = [
            Change(s.holder, s.cell, s.day, s.grams, 1)
            for s in self._read(t.events.c.grams > 0)
            if s.grams > 0
        ]
        self.record(changes)
        return len(changes)

    def record(self, changes: Iterable[Change]) -> None:
        """Add the changes to the rollups (call after the ledger's chain lock). Every rollup
        writer holds the fold lock before its first rollup row, so lock order is one."""
        changes = list(changes)
        if not changes:
            return
        self._lock()
        deltas = sorted(rollup_deltas(changes).items())
        if deltas:
            self._upsert(deltas)
        seen = sorted(activity_rows(changes))
        if seen:
            self._first_seen(seen)

    def _upsert(self, deltas: list[tuple[tuple[int, str, Cell], tuple[int, int]]]) -> None:
        cols = ("shard", "period", *_CELL, "grams", "events")
        rows = [(s, p, *cell, g, e) for (s, p, cell), (g, e) in deltas]
        key = ", ".join(cols[:-2])
        if self.conn.dialect.name == "postgresql":
            types = ("int2", "text", "text", "text", "text", "uuid", "text", "text", "int8", "int8")
            arrays = {f"c{i}": list(col) for i, col in enumerate(zip(*rows, strict=True))}
            unnest = ", ".join(f"%(c{i})s::{ty}[]" for i, ty in enumerate(types))
            self.conn.exec_driver_sql(
                f"INSERT INTO region_rollups ({', '.join(cols)}) SELECT * FROM unnest({unnest}) "
                f"ON CONFLICT ({key}) DO UPDATE SET grams = region_rollups.grams + "
                "EXCLUDED.grams, events = region_rollups.events + EXCLUDED.events",
                arrays,
            )
            return
        self.conn.exec_driver_sql(
            f"INSERT INTO region_rollups ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            f" ON CONFLICT ({key}) DO UPDATE SET grams = grams + excluded.grams,"
            " events = events + excluded.events",
            [(*r[:5], r[5].hex, *r[6:]) for r in rows],
        )

    def _first_seen(self, rows: list[tuple[int, str, str, Cell]]) -> None:
        by_region = sorted({(s, h, p, cell.region) for s, h, p, cell in rows})
        self._insert_new(
            t.person_regions,
            [dict(zip(("shard", "holder", "period", "region"), r, strict=True)) for r in by_region],
        )
        flat = [(s, h, p, *cell) for s, h, p, cell in rows]
        self._insert_new(
            t.person_activity,
            [dict(zip(("shard", "holder", "period", *_CELL), r, strict=True)) for r in flat],
        )

    def _insert_new(self, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        if self.conn.dialect.name == "sqlite":
            self.conn.execute(sqlite.insert(table).on_conflict_do_nothing(), rows)
            return
        # PostgreSQL: one statement over arrays, not one bound row per first-seen row
        names = [c.name for c in table.columns]
        types = [
            "int2" if n == "shard" else "uuid" if n == "enterprise_id" else "text" for n in names
        ]
        unnest = ", ".join(f"%({n})s::{ty}[]" for n, ty in zip(names, types, strict=True))
        self.conn.exec_driver_sql(
            f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM unnest({unnest}) "
            "ON CONFLICT DO NOTHING",
            {n: [r[n] for r in rows] for n in names},
        )

    def snapshots(self, reduction_ids: Sequence[uuid.UUID]) -> list[Snapshot]:
        """The reductions as the rollups count them now (active ones; others count 0), after
        folding their queued batches."""
        if not reduction_ids:
            return []
        self._fold_for(reduction_ids)
        return self._read(any_of(self.conn, t.events.c.id, list(reduction_ids)))

    def _read(self, where: sa.ColumnElement[bool]) -> list[Snapshot]:
        e, m = t.events.c, t.methodology_versions.c
        rows = self.conn.execute(
            sa.select(
                e.id,
                e.holder,
                e.region,
                e.behaviour,
                e.group_code,
                e.enterprise_id,
                m.code,
                e.quality,
                e.day,
                e.live_grams,
                e.state,
            )
            .join(t.methodology_versions, m.id == e.methodology_id)
            .where(where)
        ).all()
        return [
            Snapshot(
                r.id,
                r.holder,
                Cell(r.region, r.behaviour, r.group_code, r.enterprise_id, r.code, r.quality or ""),
                r.day,
                r.live_grams if r.state == "active" else 0,
            )
            for r in rows
        ]

    def counts(self, q: AggregateQuery) -> tuple[Counts, list[tuple[str, Counts]]]:
        """The total of the query's cell and its breakdown rows, summed over shards."""
        sums = self._sums(t.region_rollups, q)
        persons = self._persons(q)
        total = Counts(*sums.pop(None, (0, 0)), persons.pop(None, 0))
        keys = sorted(k for k in set(sums) | set(persons) if k is not None)
        rows = [(k, Counts(*sums.get(k, (0, 0)), persons.get(k, 0))) for k in keys if k]
        return total, rows

    def _region(self, table: sa.Table, q: AggregateQuery) -> sa.ColumnElement[Any]:
        col = table.c.region
        return sa.case(dict(q.mapped), value=col, else_=col) if q.mapped else col

    def _where(self, table: sa.Table, q: AggregateQuery) -> list[sa.ColumnElement[bool]]:
        c = table.c
        where: list[sa.ColumnElement[bool]]
        if q.by == "period":  # the days of a month or the months of a year, in key order
            if len(q.period) == 4:
                lo, hi = f"{q.period}-01", f"{q.period}-12"
                where = [c.period.between(lo, hi), sa.func.length(c.period) == 7]
            else:
                where = [c.period.between(f"{q.period}-01", f"{q.period}-31")]
        else:
            where = [c.period == q.period]
        if q.bounds is not None:
            lo, hi = q.bounds
            # a plain range of the key where no changed code crosses the scope's border
            into = [old for old, new in q.mapped.items() if lo <= new <= hi and not lo <= old <= hi]
            out = [old for old, new in q.mapped.items() if lo <= old <= hi and not lo <= new <= hi]
            inside = c.region.between(lo, hi)
            where.append(sa.or_(inside, c.region.in_(into)) if into else inside)
            if out:
                where.append(c.region.not_in(out))
        for name, value in q.filters.items():
            column = c[_BY_COLUMN[name]]
            where.append(column == (uuid.UUID(value) if name == "enterprise" else value))
        return where

    def _key(self, table: sa.Table, q: AggregateQuery) -> sa.ColumnElement[Any] | None:
        if q.by is None:
            return None
        if q.by == "region":
            return sa.func.substr(self._region(table, q), 1, q.child_digits)
        if q.by == "period":
            return table.c.period
        return table.c[_BY_COLUMN[q.by]]

    def _sums(self, table: sa.Table, q: AggregateQuery) -> dict[str | None, tuple[int, int]]:
        c = table.c
        measures = (
            sa.func.coalesce(sa.func.sum(c.grams), 0),
            sa.func.coalesce(sa.func.sum(c.events), 0),
        )
        where = self._where(table, q)
        key = self._key(table, q)
        if key is None:
            total = self.conn.execute(sa.select(*measures).where(*where)).one()
            return {None: (int(total[0]), int(total[1]))}
        # every row is in exactly one group: the total is the groups' sum (one read, not two)
        out: dict[str | None, tuple[int, int]] = {}
        for k, g, n in self.conn.execute(sa.select(key, *measures).where(*where).group_by(key)):
            out[_text(k)] = (int(g), int(n))
        out[None] = (sum(g for g, _ in out.values()), sum(n for _, n in out.values()))
        return out

    def _persons(self, q: AggregateQuery) -> dict[str | None, int]:
        # by region alone (no filter, no other breakdown): the far smaller per-region rows
        regional = not q.filters and q.by in (None, "region")
        table = t.person_regions if regional else t.person_activity
        distinct = sa.func.count(sa.distinct(table.c.holder))
        where = self._where(table, q)
        out: dict[str | None, int] = {
            None: int(self.conn.execute(sa.select(distinct).where(*where)).scalar_one())
        }
        key = self._key(table, q)
        if key is not None:
            for k, n in self.conn.execute(sa.select(key, distinct).where(*where).group_by(key)):
                out[_text(k)] = int(n)
        return out

    def consistency(self) -> Iterator[Violation]:
        """Invariant 7 over the rollups: every (region, behaviour, period) against the active
        reductions (a scan, for `ledger verify`)."""
        e, r = t.events.c, t.region_rollups.c
        credited = {
            (region, behaviour, str(day)): int(grams)
            for region, behaviour, day, grams in self.conn.execute(
                sa.select(e.region, e.behaviour, e.day, sa.func.sum(e.live_grams))
                .where(e.state == "active")
                .group_by(e.region, e.behaviour, e.day)
            )
        }
        rolled = {
            (region, behaviour, period): int(grams)
            for region, behaviour, period, grams in self.conn.execute(
                sa.select(r.region, r.behaviour, r.period, sa.func.sum(r.grams))
                .group_by(r.region, r.behaviour, r.period)
                .having(sa.func.sum(r.grams) != 0)
            )
        }
        yield from check_rollups(credited, rolled)


def _text(value: object) -> str:
    return str(value) if not isinstance(value, str) else value
