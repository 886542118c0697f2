"""`tanpuhui bench regions` — regional aggregates from rollups beside a full scan, same data,
same run (issue 12 "Done when").

N synthetic credited reductions (persons with a home county, behaviours of the bundled
catalogue, days over one year) are written to the rollups through the intake's own rollup
write (`uow.aggregates.record`, batches of 10,000, one transaction each): its time per
reduction is the rollups' cost per event at intake. The same reductions are bulk-inserted
into a plain table (no rollup) so the same queries can be answered by a full scan. Then a mix
of queries — one county-month, one province-year by group, the nation by province for a year —
runs through the service (`regional_stats`, with suppression) and as a scan; p50/p99 of both
are printed.

The rollups' cost at intake is measured A/B on the real pipeline (`submit_events`, synthetic
events of `bench ingest`, batches of 500, a fresh database per run): without any rollup write,
with this design's one queued row per batch (`queue`), and with the batch folded inside the
intake transaction (`in_tx`, what writing rollups with the batch costs), alternating the
variants for `--ab-rounds` rounds; CPU per event (this process, plus the server's on
PostgreSQL) is the median over rounds. The fold's own cost per event, off the intake
transaction, is printed beside it. Not a test: nothing asserts on time.
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

from tanpuhui.adapters.db.aggregates_repository import SqlAggregates
from tanpuhui.adapters.db.bulk import insert_rows
from tanpuhui.adapters.db.embedded import create_database, server_cpu_seconds, start_server
from tanpuhui.bootstrap import App, build, business_clock, upgrade_database
from tanpuhui.cli.common import console, emit_json, err_console, handled
from tanpuhui.config import Settings
from tanpuhui.domain.aggregates import Cell, Change
from tanpuhui.domain.errors import InvalidInputError
from tanpuhui.domain.parties import Role
from tanpuhui.services.aggregates import fold_rollups, regional_stats
from tanpuhui.services.intake import submit_events
from tanpuhui.services.parties import add_enterprise

CHUNK = 10_000
YEAR = 2026
_scan_meta = sa.MetaData()
scan_table = sa.Table(
    "bench_reductions",
    _scan_meta,
    sa.Column("holder", sa.Text),
    sa.Column("region", sa.Text),
    sa.Column("behaviour", sa.Text),
    sa.Column("group_code", sa.Text),
    sa.Column("day", sa.Date),
    sa.Column("grams", sa.BigInteger),
)


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


def _load(app: App, count: int, seed: int) -> dict[str, float]:
    """Rollups through the intake's write, and the same rows into the scan table."""
    more = _generator(app, count, seed)
    with app.engine.begin() as conn:
        _scan_meta.create_all(conn)
    rollup_s = scan_s = 0.0
    done = 0
    while done < count:
        changes = more(min(CHUNK, count - done))
        started = time.perf_counter()
        with app.ctx.uow() as uow:
            uow.aggregates.record(changes)
            uow.commit()
        rollup_s += time.perf_counter() - started
        started = time.perf_counter()
        with app.engine.begin() as conn:
            rows = [
                (c.holder, c.cell.region, c.cell.behaviour, c.cell.group, c.day, c.grams)
                for c in changes
            ]
            insert_rows(conn, scan_table, [c.name for c in scan_table.columns], rows)
        scan_s += time.perf_counter() - started
        done += len(changes)
    with app.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return {"rollup_seconds": rollup_s, "scan_table_seconds": scan_s}


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


AB_VARIANTS = ("none", "queue", "in_tx")


def _intake_run(
    url: str, variant: str, lines: list[bytes], probe: Callable[[], float | None]
) -> dict[str, float]:
    """One intake run of `lines` on a fresh database at `url` under `variant`."""
    from tanpuhui.adapters.event_codec import EventDecoder

    settings = Settings(database_url=url)
    app = build(settings, clock=business_clock(settings))
    original = SqlAggregates.enqueue
    try:
        upgrade_database(app)
        enterprise = add_enterprise(app.ctx, "Bench", {Role.SCENE}).id
        decoder = EventDecoder(app.ctx.regions)
        items = [decoder.line(line) for line in lines if line.strip()]
        if variant == "none":
            SqlAggregates.enqueue = lambda self, *a, **k: None  # type: ignore[method-assign]
        elif variant == "in_tx":

            def in_tx(self: SqlAggregates, batch_id: uuid.UUID, *_: Any) -> None:
                self._fold_batches([batch_id])

            SqlAggregates.enqueue = in_tx  # type: ignore[method-assign,assignment]
        server0 = probe()
        started, cpu = time.perf_counter(), time.process_time()
        for at in range(0, len(items), 500):
            submit_events(app.ctx, enterprise, items[at : at + 500], source="bench")
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        server1 = probe()
        SqlAggregates.enqueue = original  # type: ignore[method-assign]
        fold_started, fold_cpu = time.perf_counter(), time.process_time()
        folded = fold_rollups(app.ctx).reductions
        fold_wall, fold_cpu = time.perf_counter() - fold_started, time.process_time() - fold_cpu
        server2 = probe()
    finally:
        SqlAggregates.enqueue = original  # type: ignore[method-assign]
        app.close()
    n = len(items)
    out = {"wall_us": wall / n * 1e6, "cpu_us": cpu / n * 1e6}
    if server0 is not None and server1 is not None:
        out["server_cpu_us"] = (server1 - server0) / n * 1e6
    if variant == "queue" and folded:
        out["fold_wall_us"] = fold_wall / folded * 1e6
        out["fold_cpu_us"] = fold_cpu / folded * 1e6
        if server1 is not None and server2 is not None:
            out["fold_server_cpu_us"] = (server2 - server1) / folded * 1e6
    return out


def _intake_ab(
    engine: str, work: Path, server_url: str | None, events: int, rounds: int
) -> dict[str, Any]:
    from tanpuhui.cli.bench import make_events

    lines = make_events(events, business_clock(Settings()).now())
    runs: dict[str, list[dict[str, float]]] = {v: [] for v in AB_VARIANTS}
    number = 0
    for r in range(rounds):
        order = AB_VARIANTS if r % 2 == 0 else tuple(reversed(AB_VARIANTS))
        for variant in order:
            number += 1
            if server_url is None:
                url = f"sqlite:///{work / f'ab{number}.db'}"
                probe: Callable[[], float | None] = lambda: None  # noqa: E731
            else:
                url = create_database(server_url, f"ab{number}")
                probe = lambda: server_cpu_seconds(work / "pg" / "pgdata")  # noqa: E731
            err_console.print(f"intake A/B round {r + 1}: {variant} …")
            runs[variant].append(_intake_run(url, variant, lines, probe))
    med = {
        v: {k: round(statistics.median(run[k] for run in rs), 1) for k in rs[0]}
        for v, rs in runs.items()
    }

    def total(v: str) -> float:
        return med[v]["cpu_us"] + med[v].get("server_cpu_us", 0.0)

    return {
        "events": events,
        "rounds": rounds,
        "medians": med,
        "queue_cost_cpu_us_per_event": round(total("queue") - total("none"), 1),
        "in_tx_cost_cpu_us_per_event": round(total("in_tx") - total("none"), 1),
    }


@handled
def bench_regions(
    reductions: Annotated[int, typer.Option(help="Credited reductions to load.")] = 1_000_000,
    engine: Annotated[str, typer.Option(help="sqlite or postgres (embedded).")] = "sqlite",
    repeat: Annotated[int, typer.Option(help="Runs of each query through the service.")] = 50,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic data.")] = 12,
    ab_events: Annotated[int, typer.Option(help="Events per intake A/B run (0: no A/B).")] = 20_000,
    ab_rounds: Annotated[int, typer.Option(help="Rounds of the intake A/B.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")] = False,
) -> None:
    """Load N reductions into the rollups in bulk, then time regional queries through the
    service beside a full scan of the same data; prints the rollups' cost per event."""
    if engine not in ("sqlite", "postgres"):
        raise InvalidInputError("--engine is sqlite or postgres")
    if not 1_000 <= reductions <= 100_000_000:
        raise InvalidInputError("--reductions is 1,000 to 100,000,000")
    work = Path(tempfile.mkdtemp(prefix="tanpuhui-bench-regions-"))
    server = None
    server_url: str | None = None
    try:
        if engine == "sqlite":
            url = f"sqlite:///{work / 'regions.db'}"
        else:
            server, server_url = start_server(work / "pg")
            url = create_database(server_url, "bench_regions")
        ab = _intake_ab(engine, work, server_url, ab_events, ab_rounds) if ab_events else None
        app = build(Settings(database_url=url))
        try:
            upgrade_database(app)
            err_console.print(f"loading {reductions:,} reductions …")
            load = _load(app, reductions, seed)
            err_console.print("timing queries …")
            timings = _measure(app, repeat, seed)
            with app.engine.connect() as conn:
                rollup_rows = conn.exec_driver_sql("select count(*) from region_rollups").scalar()
                person_rows = conn.exec_driver_sql("select count(*) from person_activity").scalar()
        finally:
            app.close()
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "engine": engine,
        "reductions": reductions,
        "rollup_us_per_event": round(load["rollup_seconds"] / reductions * 1e6, 1),
        "scan_table_insert_us_per_event": round(load["scan_table_seconds"] / reductions * 1e6, 1),
        "rollup_rows": rollup_rows,
        "person_activity_rows": person_rows,
        **timings,
        "intake_ab": ab,
    }
    if as_json:
        emit_json(result)
        return
    console.print(
        f"[bold]{engine}[/], {reductions:,} reductions bulk-loaded: rollup write "
        f"{result['rollup_us_per_event']} µs per reduction "
        f"({rollup_rows:,} rollup rows, {person_rows:,} first-seen person rows)"
    )
    if ab is not None:
        console.print(
            f"  intake A/B ({ab['events']:,} events × {ab['rounds']} rounds, CPU µs per event, "
            f"medians): rollups at intake cost {ab['queue_cost_cpu_us_per_event']} (queued "
            f"batch) vs {ab['in_tx_cost_cpu_us_per_event']} (folded in the intake transaction)"
        )
        for variant, m in ab["medians"].items():
            console.print(f"    {variant:<6} {m}", highlight=False)
    for name, q in timings["queries"].items():
        console.print(
            f"  {name:<24} rollups p50 {q['rollups']['p50_ms']:>8} ms p99 "
            f"{q['rollups']['p99_ms']:>8} ms | full scan p50 {q['full_scan']['p50_ms']:>9} ms"
        )
    console.print(
        f"  all: rollups p99 {timings['rollups_all']['p99_ms']} ms; full scan p99 "
        f"{timings['full_scan_all']['p99_ms']} ms"
    )
