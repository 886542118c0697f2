"""The regional rollups and first-seen person rows (schema `region_rollups`,
`person_activity`, `person_regions`, and the coarse `region_levels` / `person_levels`):
written with the batches that change reductions, read by the aggregates.

A writer adds its partial sums to the rows of the *stripe* it holds alone for its
transaction (`stripes.writer_stripe`), so two concurrent batches never update one rollup row
and never wait for each other; readers sum the stripes. Fine rows are per (period, cell); coarse
rows per (period, level, code, group) for months and years, with a persons counter that a
first-seen row adds 1 to when its insert is new (PostgreSQL: one statement, `ON CONFLICT DO
NOTHING RETURNING` feeding the upsert). First-seen rows are keyed by the holder's shard; a
county's are the first-seen rows per region the fine reads count persons by already.
Reads sum one period's rows; changed region codes are mapped on read, and a query whose level
a changed code crosses (a city merged into another) is answered from the fine rows.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from tanpuhui.adapters.db import schema as t
from tanpuhui.adapters.db.bulk import any_of
from tanpuhui.adapters.db.stripes import writer_stripe
from tanpuhui.domain.aggregates import (
    CITY,
    COUNTY,
    NATION,
    PROVINCE,
    Cell,
    Change,
    Counts,
    activity_rows,
    check_rollups,
    level_activity,
    level_codes,
    level_deltas,
    level_groups,
    level_of_bounds,
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


_LEVEL_COLS = ("period", "level", "region", "group_code")


class SqlAggregates:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def record(self, changes: Iterable[Change]) -> None:
        """Add the changes to the rollups of this transaction's stripe."""
        changes = list(changes)
        deltas = sorted(rollup_deltas(changes).items())
        coarse = sorted(level_deltas(changes).items())
        firsts = list(level_activity(changes))  # PostgreSQL inserts them in key order
        seen = sorted(activity_rows(changes))
        regional = sorted({(s, h, p, cell.region) for s, h, p, cell in seen})
        if deltas or coarse or firsts or regional:
            stripe = writer_stripe(self.conn)
            if deltas:
                self._upsert(stripe, deltas)
            if coarse or firsts or regional:
                self._levels(stripe, coarse, firsts, regional)
        if seen:
            flat = [(s, h, p, *cell) for s, h, p, cell in seen]
            self._insert_new(
                t.person_activity,
                [dict(zip(("shard", "holder", "period", *_CELL), r, strict=True)) for r in flat],
            )

    def _upsert(self, stripe: int, deltas: list[tuple[tuple[str, Cell], tuple[int, int]]]) -> None:
        cols = ("shard", "period", *_CELL, "grams", "events")
        rows = [(stripe, p, *cell, g, e) for (p, cell), (g, e) in deltas]
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

    def _levels(
        self,
        stripe: int,
        deltas: list[tuple[tuple[str, int, str, str], tuple[int, int]]],
        firsts: list[tuple[int, str, str, int, str, str]],
        regional: list[tuple[int, str, str, str]],
    ) -> None:
        """The coarse rows: grams and events added, and 1 person for each first-seen row
        that is new (a person already counted in a cell, by any writer, adds nothing). The
        first-seen rows per region (`regional`: shard, holder, period, region) are inserted
        here too: a new one of a month or year is a new person of that county."""
        cols = ", ".join(_LEVEL_COLS)
        upsert = (
            f"INSERT INTO region_levels (shard, {cols}, grams, events, persons) "
            "{select} ON CONFLICT (period, level, region, group_code, shard) DO UPDATE SET "
            "grams = region_levels.grams + EXCLUDED.grams, "
            "events = region_levels.events + EXCLUDED.events, "
            "persons = region_levels.persons + EXCLUDED.persons"
        )
        if self.conn.dialect.name == "postgresql":
            keys = [k for k, _ in deltas]
            params: dict[str, Any] = {
                "k": stripe,
                "fs": [r[0] for r in firsts],
                "fh": [r[1] for r in firsts],
                "fp": [r[2] for r in firsts],
                "fl": [r[3] for r in firsts],
                "fr": [r[4] for r in firsts],
                "fg": [r[5] for r in firsts],
                "rs": [r[0] for r in regional],
                "rh": [r[1] for r in regional],
                "rp": [r[2] for r in regional],
                "rr": [r[3] for r in regional],
                "dp": [k[0] for k in keys],
                "dl": [k[1] for k in keys],
                "dr": [k[2] for k in keys],
                "dg": [k[3] for k in keys],
                "dgr": [g for _, (g, _) in deltas],
                "de": [e for _, (_, e) in deltas],
            }
            select = (
                "SELECT %(k)s, period, level, region, group_code, sum(grams), sum(events), "
                "sum(persons) FROM ("
                "SELECT period, level, region, group_code, grams, events, 0::int8 AS persons "
                "FROM unnest(%(dp)s::text[], %(dl)s::int2[], %(dr)s::text[], %(dg)s::text[], "
                "%(dgr)s::int8[], %(de)s::int8[]) AS d(period, level, region, group_code, "
                "grams, events) "
                "UNION ALL SELECT period, level, region, group_code, 0, 0, 1 FROM new "
                f"UNION ALL SELECT period, {COUNTY}::int2, region, '', 0, 0, 1 FROM newr "
                "WHERE length(period) < 10"
                ") AS x GROUP BY period, level, region, group_code "
                "ORDER BY period, level, region, group_code"
            )
            self.conn.exec_driver_sql(
                "WITH new AS (INSERT INTO person_levels (shard, holder, period, level, region, "
                "group_code) SELECT * FROM unnest(%(fs)s::int2[], %(fh)s::text[], "
                "%(fp)s::text[], %(fl)s::int2[], %(fr)s::text[], %(fg)s::text[]) AS f(shard, "
                "holder, period, level, region, group_code) "
                # in key order: two writers crediting the same persons never deadlock
                "ORDER BY period, level, region, group_code, holder, shard "
                f"ON CONFLICT DO NOTHING RETURNING {cols}), "
                "newr AS (INSERT INTO person_regions (shard, holder, period, region) "
                "SELECT * FROM unnest(%(rs)s::int2[], %(rh)s::text[], %(rp)s::text[], "
                "%(rr)s::text[]) AS f(shard, holder, period, region) "
                "ORDER BY period, region, holder, shard "
                "ON CONFLICT DO NOTHING RETURNING period, region) " + upsert.format(select=select),
                params,
            )
            return
        # SQLite: the inserts return the rows that were new (a conflict returns nothing)
        new = self._inserted(t.person_levels, ("shard", "holder", *_LEVEL_COLS), firsts)
        fresh = self._inserted(t.person_regions, ("shard", "holder", "period", "region"), regional)
        sums: dict[tuple[str, int, str, str], list[int]] = {k: [g, e, 0] for k, (g, e) in deltas}
        for r in new:
            sums.setdefault(r[2:], [0, 0, 0])[2] += 1
        for _, _, period, region in fresh:
            if len(period) < 10:
                sums.setdefault((period, COUNTY, region, ""), [0, 0, 0])[2] += 1
        if not sums:  # every person already counted and no grams: nothing to add
            return
        self.conn.exec_driver_sql(
            upsert.format(select="VALUES (?, ?, ?, ?, ?, ?, ?, ?)").replace("region_levels.", ""),
            [(stripe, *k, *v) for k, v in sorted(sums.items())],
        )

    def _inserted(
        self, table: sa.Table, names: tuple[str, ...], rows: Sequence[tuple[Any, ...]]
    ) -> list[tuple[Any, ...]]:
        if not rows:
            return []
        cols = [table.c[n] for n in names]
        statement = sqlite.insert(table).on_conflict_do_nothing().returning(*cols)
        params = [dict(zip(names, r, strict=True)) for r in rows]
        return [tuple(r) for r in self.conn.execute(statement, params)]

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
        """The total of the query's cell and its breakdown rows, summed over stripes: from
        the coarse rows where they answer the query, else from the fine rows."""
        plan = coarse_plan(q)
        if plan is not None:
            return self._level_counts(q, *plan)
        return self.fine_counts(q)

    def fine_counts(self, q: AggregateQuery) -> tuple[Counts, list[tuple[str, Counts]]]:
        """The same answer from the fine rows alone (every query has one; slower above a
        county): what the coarse rows are checked against."""
        sums = self._sums(t.region_rollups, q)
        persons = self._persons(q)
        total = Counts(*sums.pop(None, (0, 0)), persons.pop(None, 0))
        keys = sorted(k for k in set(sums) | set(persons) if k is not None)
        rows = [(k, Counts(*sums.get(k, (0, 0)), persons.get(k, 0))) for k in keys if k]
        return total, rows

    def _level_counts(
        self, q: AggregateQuery, level: int, code: str, read: int, group: str
    ) -> tuple[Counts, list[tuple[str, Counts]]]:
        c = t.region_levels.c
        measures = (sa.func.sum(c.grams), sa.func.sum(c.events), sa.func.sum(c.persons))
        own = (c.period == q.period, c.level == level, c.region == code)
        g, n, p = self.conn.execute(sa.select(*measures).where(*own, c.group_code == group)).one()
        total = Counts(int(g or 0), int(n or 0), int(p or 0))
        if q.by is None:
            return total, []
        if q.by == "group":
            key: sa.ColumnElement[Any] = c.group_code
            where = [*own, c.group_code != ""]
        else:
            key = c.region
            where = [c.period == q.period, c.level == read, c.group_code == group]
            if q.bounds is not None:
                where.append(c.region.between(*q.bounds))
        rows: dict[str, Counts] = {}
        for k, g, n, p in self.conn.execute(sa.select(key, *measures).where(*where).group_by(key)):
            name = k[: q.child_digits] if q.by == "region" else k
            if name:
                rows[name] = Counts(int(g), int(n), int(p))
        return total, sorted(rows.items())

    def rebuild_levels(self, persons: bool = True) -> None:
        """The coarse rows again from the fine ones (and, with `persons`, their first-seen
        rows from the fine first-seen rows): a bulk load, a repair; stripes fold into 0."""
        for statement in rebuild_level_statements(persons):
            self.conn.exec_driver_sql(statement)

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
        yield from self._levels_consistency()

    def _levels_consistency(self) -> Iterator[Violation]:
        """The coarse rows against the fine: grams and reductions per (period, level, code,
        group) equal the fine rows under them, and the persons counter equals both its
        first-seen rows and the distinct persons of the fine first-seen rows."""
        r, lv, pl = t.region_rollups.c, t.region_levels.c, t.person_levels.c
        want: dict[tuple[str, int, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
        fine = self.conn.execute(
            sa.select(r.period, r.region, r.group_code, sa.func.sum(r.grams), sa.func.sum(r.events))
            .where(sa.func.length(r.period) < 10)
            .group_by(r.period, r.region, r.group_code)
        )
        for period, region, group, grams, events in fine:
            for level, code in level_codes(region):
                for g in level_groups(level, group):
                    acc = want[(period, level, code, g)]
                    acc[0] += int(grams)
                    acc[1] += int(events)
        persons = self.conn.exec_driver_sql(_distinct_persons_statement())
        for period, level, code, group, n in persons:
            want[(period, int(level), code, group)][2] = int(n)
        counted = {
            (period, int(level), code, group): int(n)
            for period, level, code, group, n in self.conn.execute(
                sa.select(pl.period, pl.level, pl.region, pl.group_code, sa.func.count()).group_by(
                    pl.period, pl.level, pl.region, pl.group_code
                )
            )
        }
        pr = t.person_regions.c  # a county's first-seen rows
        for period, code, n in self.conn.execute(
            sa.select(pr.period, pr.region, sa.func.count())
            .where(sa.func.length(pr.period) < 10)
            .group_by(pr.period, pr.region)
        ):
            counted[(period, COUNTY, code, "")] = int(n)
        got = {
            (period, int(level), code, group): (int(g), int(n), int(p))
            for period, level, code, group, g, n, p in self.conn.execute(
                sa.select(
                    lv.period, lv.level, lv.region, lv.group_code,
                    sa.func.sum(lv.grams), sa.func.sum(lv.events), sa.func.sum(lv.persons),
                ).group_by(lv.period, lv.level, lv.region, lv.group_code)
            )
        }  # fmt: skip
        for key in sorted(set(want) | set(got)):
            expected = tuple(want.get(key, (0, 0, 0)))
            found = got.get(key, (0, 0, 0))
            rows = counted.get(key, 0)
            if expected != found or rows != found[2]:
                period, level, code, group = key
                yield Violation(
                    7,
                    "region_level_mismatch",
                    f"{period}/level {level}/{code or 'nation'}/{group or 'all groups'}",
                    f"fine rollups say {expected[0]} g, {expected[1]} reductions, "
                    f"{expected[2]} persons; the coarse rows {found[0]} g, {found[1]}, "
                    f"{found[2]} ({rows} first-seen rows)",
                )


def coarse_plan(q: AggregateQuery) -> tuple[int, str, int, str] | None:
    """(scope level, scope code, level read, group or "") when the coarse rows answer `q`:
    a month or a year; no filter but a group (and then no breakdown by group; neither at a
    county); a breakdown by region, by group or none; and no changed region code inside the
    scope that moves a reduction to another code at the levels read."""
    if len(q.period) == 10 or set(q.filters) - {"group"} or q.by not in (None, "region", "group"):
        return None
    if "group" in q.filters and q.by == "group":
        return None
    level, code = level_of_bounds(q.bounds)
    read = level + 1 if q.by == "region" else level
    if read > COUNTY:
        return None
    if COUNTY in (level, read) and (q.filters or q.by == "group"):
        return None  # a county has coarse rows for all groups only
    digits = {NATION: 0, PROVINCE: 2, CITY: 4, COUNTY: 6}
    for old, new in q.mapped.items():
        inside = q.bounds is None or any(q.bounds[0] <= x <= q.bounds[1] for x in (old, new))
        moved = any(old[: digits[lv]] != new[: digits[lv]] for lv in {level, read})
        if inside and moved:
            return None
    return level, code, read, q.filters.get("group", "")


def _distinct_persons_statement() -> str:
    """(period, level, code, group, distinct persons) from the fine first-seen rows."""
    return (
        "SELECT period, level, region, group_code, count(DISTINCT holder) FROM ("
        f"SELECT f.period, v.level, {_LEVEL_CODE} AS region, {_LEVEL_GROUP} AS group_code, "
        f"f.holder FROM person_activity AS f CROSS JOIN {_ROLLUP_EXPANSIONS} "
        "WHERE length(f.period) < 10) AS x GROUP BY period, level, region, group_code"
    )


#: The six (level, all groups?) a fine first-seen row expands into in `person_levels`, as a
#: relation (as `level_codes` and `level_groups`); a fine rollup row adds the county's one.
_EXPANSIONS = (
    "(SELECT 0 AS level, 1 AS all_groups UNION ALL SELECT 0, 0 UNION ALL SELECT 1, 1 "
    "UNION ALL SELECT 1, 0 UNION ALL SELECT 2, 1 UNION ALL SELECT 2, 0) AS v"
)
_ROLLUP_EXPANSIONS = _EXPANSIONS.replace(") AS v", f" UNION ALL SELECT {COUNTY}, 1) AS v")
_LEVEL_CODE = (
    "CASE v.level WHEN 0 THEN '' WHEN 1 THEN substr(f.region, 1, 2) || '0000' "
    "WHEN 2 THEN substr(f.region, 1, 4) || '00' ELSE f.region END"
)
_LEVEL_GROUP = "CASE v.all_groups WHEN 1 THEN '' ELSE f.group_code END"


def person_level_statement(source: str, where: str = "length(f.period) < 10") -> str:
    """Insert the first-seen level rows of `source` (alias f: shard, holder, period, region,
    group_code) that are not there yet, in key order."""
    return (
        "INSERT INTO person_levels (shard, holder, period, level, region, group_code) "
        f"SELECT DISTINCT f.shard, f.holder, f.period, v.level, {_LEVEL_CODE}, {_LEVEL_GROUP} "
        f"FROM {source} AS f CROSS JOIN {_EXPANSIONS} WHERE {where} "
        "ON CONFLICT DO NOTHING"
    )


def rebuild_level_statements(persons: bool = True) -> list[str]:
    """SQL (both engines) that rebuilds `region_levels` (and with `persons`, `person_levels`
    from `person_activity` first) from the fine rollups and the first-seen rows (a county's
    persons are its `person_regions` rows): one pass over each table, every stripe folded
    into stripe 0 (`rebuild_levels`, the bench's bulk load; migrations 0020 and 0021 hold
    frozen copies of what it wrote then)."""
    out = ["DELETE FROM region_levels"]
    if persons:
        out += ["DELETE FROM person_levels", person_level_statement("person_activity")]
    county = (
        f"UNION ALL SELECT period, {COUNTY}, region, '', 0, 0, 1 FROM person_regions "
        "WHERE length(period) < 10"
    )
    out.append(
        "INSERT INTO region_levels (shard, period, level, region, group_code, grams, events, "
        "persons) SELECT 0, period, level, region, group_code, sum(grams), sum(events), "
        "sum(persons) FROM ("
        f"SELECT f.period, v.level, {_LEVEL_CODE} AS region, {_LEVEL_GROUP} AS group_code, "
        f"f.grams, f.events, 0 AS persons FROM region_rollups AS f "
        f"CROSS JOIN {_ROLLUP_EXPANSIONS} WHERE length(f.period) < 10 "
        f"UNION ALL SELECT period, level, region, group_code, 0, 0, 1 FROM person_levels {county}"
        ") AS x GROUP BY period, level, region, group_code"
    )
    return out


def _text(value: object) -> str:
    return str(value) if not isinstance(value, str) else value
