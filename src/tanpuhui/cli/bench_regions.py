"""`tanpuhui bench regions` — regional aggregates from rollups beside a full scan, same data,
same run (issue 12 "Done when").

N synthetic credited reductions (persons with a home county, behaviours of the bundled
catalogue, days over one year) go into a plain table (no rollup, for the full scans). The
first `--sample` of them are also written to the rollups through the intake's own rollup
write (`uow.aggregates.record`, batches of 10,000, one transaction each): its time per
reduction is the rollups' cost per event at intake. The rest reach the rollups set-based —
`INSERT … SELECT … GROUP BY` from the plain table into the fine rollups and their first-seen
rows, then the coarse rows rebuilt from those (`rebuild_levels`) — far faster than the
per-batch write; the result is the same rows the intake write gives
(tests/integration/test_bench_regions_load.py checks it). Then a mix of queries — one
county-month, one province-year by group, the nation by province for a year — runs through
the service (`regional_stats`, with suppression) and as a scan; p50/p99 of both are
printed. Not a test: nothing asserts on time.
"""

from __future__ import annotations

import random
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
import typer

from tanpuhui.adapters.db.aggregates_repository import SqlAggregates, person_level_statement
from tanpuhui.adapters.db.bulk import insert_rows
from tanpuhui.adapters.db.embedded import create_database, start_server
from tanpuhui.bootstrap import App, build, upgrade_database
from tanpuhui.cli.common import console, emit_json, err_console, handled
from tanpuhui.config import Settings
from tanpuhui.domain.aggregates import Cell, Change
from tanpuhui.domain.errors import InvalidInputError
from tanpuhui.domain.shards import shard_of_account
from tanpuhui.services.aggregates import regional_stats

CHUNK = 10_000
YEAR = 2026
_scan_meta = sa.MetaData()
scan_table = sa.Table(
    "bench_reductions",
    _scan_meta,
    sa.Column("shard", sa.SmallInteger),
    sa.Column("holder", sa.Text),
    sa.Column("region", sa.Text),
    sa.Column("behaviour", sa.Text),
    sa.Column("group_code", sa.Text),
    sa.Column("enterprise_id", sa.Uuid),
    sa.Column("methodology", sa.Text),
    sa.Column("quality", sa.Text),
    sa.Column("day", sa.Date),
    sa.Column("grams", sa.BigInteger),
    sa.Column("bulk", sa.SmallInteger),  # 1: not in the sample, rolled up set-based
)
_CELL_COLS = "region, behaviour, group_code, enterprise_id, methodology, quality"


def _generator(app: App, count: int, seed: int) -> Callable[[int], list[Change]]:
    """A function giving the next `n` synthetic reductions, deterministic from `seed`."""
    rng = random.Random(seed)
    with app.ctx.uow(write=False) as uow:
        catalogue = app.ctx.catalogues.current(uow).catalogue
    kinds = sorted({(b, m.group, m.code) for m in catalogue.methodologies for b in m.behaviours})
    counties = [r.code for r in app.ctx.regions.all() if r.level == "county"]
    enterprises = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(12)]
    persons = max(1, count // 20)
    homes = [rng.choice(counties) for _ in range(persons)]
    qualities = ("text", "2nd", "derived")

    def more(n: int) -> list[Change]:
        out = []
        for _ in range(n):
            p = rng.randrange(persons)
            behaviour, group, code = kinds[rng.randrange(len(kinds))]
            cell = Cell(
                homes[p], behaviour, group, enterprises[hash(code) % 12], code,
                qualities[p % 3],
            )  # fmt: skip
            day = date(YEAR, 1, 1) + timedelta(days=rng.randrange(365))
            out.append(Change(f"person:{uuid.UUID(int=p)}", cell, day, rng.randrange(50, 3000), 1))
        return out

    return more


def _load(app: App, count: int, seed: int, sample: int) -> dict[str, float]:
    """The sample through the intake's rollup write, every reduction into the scan table,
    then the rest into the rollups set-based."""
    more = _generator(app, count, seed)
    with app.engine.begin() as conn:
        _scan_meta.create_all(conn)
    rollup_s = scan_s = 0.0
    done = 0
    shards: dict[str, int] = {}
    while done < count:
        changes = more(min(CHUNK, count - done))
        started = time.perf_counter()
        sampled = changes[: max(0, sample - done)]
        if sampled:
            with app.ctx.uow() as uow:
                uow.aggregates.record(sampled)
                uow.commit()
        rollup_s += time.perf_counter() - started
        started = time.perf_counter()
        with app.engine.begin() as conn:
            rows = []
            for i, c in enumerate(changes):
                shard = shards.get(c.holder)
                if shard is None:
                    shard = shards[c.holder] = shard_of_account(c.holder)
                bulk = int(done + i >= sample)
                rows.append((shard, c.holder, *c.cell, c.day, c.grams, bulk))
            insert_rows(conn, scan_table, [c.name for c in scan_table.columns], rows)
        scan_s += time.perf_counter() - started
        done += len(changes)
    started = time.perf_counter()
    if count > sample:
        with app.engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # room to hash and sort millions of rows
                conn.exec_driver_sql("SET LOCAL work_mem = '512MB'")
            for statement in _bulk_statements():
                conn.exec_driver_sql(statement)
            conn.exec_driver_sql(
                person_level_statement(
                    "(SELECT shard, holder, substr(CAST(day AS TEXT), 1, 7) AS period, region, "
                    "group_code, bulk FROM bench_reductions UNION ALL SELECT shard, holder, "
                    "substr(CAST(day AS TEXT), 1, 4), region, group_code, bulk "
                    "FROM bench_reductions)",
                    "f.bulk = 1",
                )
            )
            SqlAggregates(conn).rebuild_levels(persons=False)
    bulk_s = time.perf_counter() - started
    with app.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return {"rollup_seconds": rollup_s, "scan_table_seconds": scan_s, "bulk_seconds": bulk_s}


def _bulk_statements() -> list[str]:
    """The fine rollups and first-seen rows of the scan table's bulk rows, in stripe 0."""
    out = []
    day = "CAST(day AS TEXT)"
    for period in (day, f"substr({day}, 1, 7)", f"substr({day}, 1, 4)"):
        out.append(
            f"INSERT INTO region_rollups (shard, period, {_CELL_COLS}, grams, events) "
            f"SELECT 0, {period}, {_CELL_COLS}, sum(grams), count(*) FROM bench_reductions "
            f"WHERE bulk = 1 GROUP BY {period}, {_CELL_COLS} "
            f"ON CONFLICT (shard, period, {_CELL_COLS}) DO UPDATE SET "
            "grams = region_rollups.grams + excluded.grams, "
            "events = region_rollups.events + excluded.events"
        )
        out.append(
            f"INSERT INTO person_activity (shard, holder, period, {_CELL_COLS}) "
            f"SELECT DISTINCT shard, holder, {period}, {_CELL_COLS} FROM bench_reductions "
            "WHERE bulk = 1 ON CONFLICT DO NOTHING"
        )
        out.append(
            "INSERT INTO person_regions (shard, holder, period, region) "
            f"SELECT DISTINCT shard, holder, {period}, region FROM bench_reductions "
            "WHERE bulk = 1 ON CONFLICT DO NOTHING"
        )
    return out


def _queries(app: App, rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    with app.engine.connect() as conn:
        counties = [r[0] for r in conn.execute(sa.select(scan_table.c.region).distinct())]
    picks = []
    for _ in range(3):
        county = rng.choice(counties)
        month = f"{YEAR}-{rng.randrange(1, 13):02d}"
        picks.append(("county-month", {"region": county, "period": month, "by": None}))
        province = county[:2] + "0000"
        picks.append(("province-year by group", {"region": province, "period": str(YEAR),
                                                 "by": "group"}))  # fmt: skip
        picks.append(("nation by province", {"region": None, "period": str(YEAR), "by": "region"}))
    return picks


def _scan(conn: sa.Connection, region: str | None, period: str, by: str | None) -> Any:
    """The same query answered from the reductions themselves (no rollup)."""
    s = scan_table.c
    first = date(int(period[:4]), int(period[5:7]) if len(period) > 4 else 1, 1)
    last = date(first.year + 1, 1, 1) if len(period) == 4 else (
        first + timedelta(days=32)).replace(day=1)  # fmt: skip
    where = [s.day >= first, s.day < last]
    if region is not None:
        digits = 2 if region.endswith("0000") else 4 if region.endswith("00") else 6
        where.append(sa.func.substr(s.region, 1, digits) == region[:digits])
    measures = (sa.func.sum(s.grams), sa.func.count(), sa.func.count(sa.distinct(s.holder)))
    total = conn.execute(sa.select(*measures).where(*where)).one()
    if by is None:
        return total
    key = s.group_code if by == "group" else sa.func.substr(s.region, 1, 2)
    return total, conn.execute(sa.select(key, *measures).where(*where).group_by(key)).all()


def _time(action: Callable[[], Any], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return times


def _summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered), 2), "p99_ms": round(p99, 2)}


def _measure(app: App, repeat: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    queries = _queries(app, rng)
    service: dict[str, list[float]] = {}
    scan: dict[str, list[float]] = {}
    for name, q in queries:
        service.setdefault(name, []).extend(
            _time(lambda q=q: regional_stats(app.ctx, **q), repeat)  # type: ignore[misc]
        )
        with app.engine.connect() as conn:
            scan.setdefault(name, []).extend(
                _time(lambda q=q, conn=conn: _scan(conn, **q), max(1, repeat // 10))  # type: ignore[misc]
            )
    every = [t for ts in service.values() for t in ts]
    return {
        "queries": {
            name: {"rollups": _summary(service[name]), "full_scan": _summary(scan[name])}
            for name in service
        },
        "rollups_all": _summary(every),
        "full_scan_all": _summary([t for ts in scan.values() for t in ts]),
    }


@handled
def bench_regions(
    reductions: Annotated[int, typer.Option(help="Credited reductions to load.")] = 1_000_000,
    engine: Annotated[str, typer.Option(help="sqlite or postgres (embedded).")] = "sqlite",
    repeat: Annotated[int, typer.Option(help="Runs of each query through the service.")] = 50,
    sample: Annotated[
        int, typer.Option(help="Reductions written through the intake's rollup write (timed).")
    ] = 20_000,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic data.")] = 12,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")] = False,
) -> None:
    """Load N reductions into the rollups in bulk, then time regional queries through the
    service beside a full scan of the same data; prints the rollups' cost per event."""
    if engine not in ("sqlite", "postgres"):
        raise InvalidInputError("--engine is sqlite or postgres")
    if not 1_000 <= reductions <= 100_000_000:
        raise InvalidInputError("--reductions is 1,000 to 100,000,000")
    if sample < 1:
        raise InvalidInputError("--sample is at least 1")
    work = Path(tempfile.mkdtemp(prefix="tanpuhui-bench-regions-"))
    server = None
    try:
        if engine == "sqlite":
            url = f"sqlite:///{work / 'regions.db'}"
        else:
            server, server_url = start_server(work / "pg")
            url = create_database(server_url, "bench_regions")
        app = build(Settings(database_url=url))
        try:
            upgrade_database(app)
            err_console.print(f"loading {reductions:,} reductions …")
            load = _load(app, reductions, seed, min(sample, reductions))
            err_console.print("timing queries …")
            timings = _measure(app, repeat, seed)
            with app.engine.connect() as conn:
                rollup_rows = conn.exec_driver_sql("select count(*) from region_rollups").scalar()
                person_rows = conn.exec_driver_sql("select count(*) from person_activity").scalar()
                level_rows = conn.exec_driver_sql("select count(*) from region_levels").scalar()
                level_persons = conn.exec_driver_sql("select count(*) from person_levels").scalar()
        finally:
            app.close()
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "engine": engine,
        "reductions": reductions,
        "sample": min(sample, reductions),
        "rollup_us_per_event": round(load["rollup_seconds"] / min(sample, reductions) * 1e6, 1),
        "scan_table_insert_us_per_event": round(load["scan_table_seconds"] / reductions * 1e6, 1),
        "bulk_rollup_seconds": round(load["bulk_seconds"], 1),
        "rollup_rows": rollup_rows,
        "person_activity_rows": person_rows,
        "level_rows": level_rows,
        "person_level_rows": level_persons,
        **timings,
    }
    if as_json:
        emit_json(result)
        return
    console.print(
        f"[bold]{engine}[/], {reductions:,} reductions: rollups cost "
        f"{result['rollup_us_per_event']} µs per event at intake (over {result['sample']:,}); "
        f"the rest set-based in {result['bulk_rollup_seconds']} s ({rollup_rows:,} fine rollup "
        f"rows, {person_rows:,} first-seen person rows, {level_rows:,} level rows, "
        f"{level_persons:,} first-seen level rows)"
    )
    for name, q in timings["queries"].items():
        console.print(
            f"  {name:<24} rollups p50 {q['rollups']['p50_ms']:>8} ms p99 "
            f"{q['rollups']['p99_ms']:>8} ms | full scan p50 {q['full_scan']['p50_ms']:>9} ms"
        )
    console.print(
        f"  all: rollups p99 {timings['rollups_all']['p99_ms']} ms; full scan p99 "
        f"{timings['full_scan_all']['p99_ms']} ms"
    )
