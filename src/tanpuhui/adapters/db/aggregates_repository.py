"""The regional rollups and first-seen person rows (schema `region_rollups`,
`person_activity`): written with the batches that change reductions, read by the aggregates.

Writes add partial sums per (holder shard, period, cell) with one upsert statement per batch
(PostgreSQL: `unnest` of arrays; SQLite: one executemany) and insert first-seen rows with
ON CONFLICT DO NOTHING, so concurrent writers of different shards never touch one row. Reads
sum the partial rows of one period; changed region codes are mapped on read.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
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
from tanpuhui.services.ports import AggregateQuery, Snapshot

_CELL = ("region", "behaviour", "group_code", "enterprise_id", "methodology", "quality")
_BY_COLUMN = {
    "group": "group_code",
    "behaviour": "behaviour",
    "enterprise": "enterprise_id",
    "methodology": "methodology",
    "quality": "quality",
}


class SqlAggregates:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def record(self, changes: Iterable[Change]) -> None:
        """Add the changes to the rollups (call after the ledger's chain lock)."""
        changes = list(changes)
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
        """The reductions as the rollups count them now (active ones; others count 0)."""
        if not reduction_ids:
            return []
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
            .where(any_of(self.conn, e.id, list(reduction_ids)))
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
        where: list[sa.ColumnElement[bool]] = [c.period == q.period]
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
