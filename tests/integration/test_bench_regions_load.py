"""`tanpuhui bench regions` loads most of its reductions set-based (SQL over a plain table)
and only a sample through the intake's rollup write; its timings mean something only if the
two give the same rollups. Checked here on both engines against the domain's own deltas."""

from __future__ import annotations

from collections import Counter, defaultdict

import sqlalchemy as sa

from tanpuhui.adapters.db import schema as t
from tanpuhui.adapters.db.aggregates_repository import SqlAggregates
from tanpuhui.bootstrap import App
from tanpuhui.cli.bench_regions import _generator, _load
from tanpuhui.domain.aggregates import (
    COUNTY,
    Cell,
    activity_rows,
    level_activity,
    level_deltas,
    rollup_deltas,
)

COUNT, SAMPLE, SEED = 3_000, 1_000, 5


def test_the_bulk_load_gives_the_rows_the_intake_write_gives(app: App) -> None:
    _load(app, COUNT, SEED, SAMPLE)
    changes = _generator(app, COUNT, SEED)(COUNT)  # the same stream again
    r, pa, lv = t.region_rollups.c, t.person_activity.c, t.region_levels.c
    cell = (r.region, r.behaviour, r.group_code, r.enterprise_id, r.methodology, r.quality)
    with app.engine.connect() as conn:
        fine = {
            (p, Cell(*c)): (int(g), int(n))
            for p, *c, g, n in conn.execute(
                sa.select(r.period, *cell, sa.func.sum(r.grams), sa.func.sum(r.events)).group_by(
                    r.period, *cell
                )
            )
        }
        seen = {
            (s, h, p, Cell(*c))
            for s, h, p, *c in conn.execute(
                sa.select(pa.shard, pa.holder, pa.period, pa.region, pa.behaviour, pa.group_code,
                          pa.enterprise_id, pa.methodology, pa.quality)
            )
        }  # fmt: skip
        levels = {
            (p, int(level), code, g): (int(gr), int(n), int(persons))
            for p, level, code, g, gr, n, persons in conn.execute(
                sa.select(lv.period, lv.level, lv.region, lv.group_code, sa.func.sum(lv.grams),
                          sa.func.sum(lv.events), sa.func.sum(lv.persons))
                .group_by(lv.period, lv.level, lv.region, lv.group_code)
            )
        }  # fmt: skip
        assert list(SqlAggregates(conn)._levels_consistency()) == []  # no events: fine vs coarse
    assert fine == rollup_deltas(changes)
    assert seen == activity_rows(changes)
    persons = Counter(row[2:] for row in level_activity(changes))
    # a county's persons: its first-seen rows per region, of months and years
    regional = {(h, p, c.region) for _, h, p, c in activity_rows(changes) if len(p) < 10}
    persons.update((p, COUNTY, region, "") for _, p, region in regional)
    want: dict[tuple[str, int, str, str], tuple[int, int, int]] = defaultdict(lambda: (0, 0, 0))
    for key, (g, n) in level_deltas(changes).items():
        want[key] = (g, n, persons[key])
    assert levels == dict(want)
