"""`tanpuhui bench …` — benchmarks that print rates beside the hardware ceiling of this run.

`bench api`: see `cli/bench_api.py`.

`bench ingest`: N synthetic events (with replays, cross-source echoes, evidence collisions
and malformed lines) go through the whole pipeline — parse, validate, quantify, dedup, cap,
post — on a fresh database. Then exactly the rows it wrote are bulk-inserted into a second fresh
database of the same engine and schema, one transaction per batch, with the fastest bulk path
(COPY on PostgreSQL, executemany on SQLite): the raw ceiling. Both rates and their ratio are
printed. Not a test: nothing asserts on time.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import random
import shutil
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from queue import Empty
from typing import Annotated, Any

import msgspec
import sqlalchemy as sa
import typer

from tanpuhui.adapters import synthetic
from tanpuhui.adapters.db import schema as t
from tanpuhui.adapters.db.bulk import insert_rows
from tanpuhui.adapters.db.embedded import create_database, server_cpu_seconds, start_server
from tanpuhui.adapters.db.engine import WRITE, create_engine
from tanpuhui.adapters.db.lock_waits import LockWaitSampler
from tanpuhui.adapters.db.migrate import upgrade
from tanpuhui.adapters.event_codec import EventDecoder
from tanpuhui.adapters.processes import (
    ChildFailure,
    die_with_parent,
    failure_of,
)
from tanpuhui.bootstrap import build, business_clock, tune_runtime, upgrade_database
from tanpuhui.cli.common import console, emit_json, err_console, handled
from tanpuhui.config import Settings
from tanpuhui.domain.errors import InvalidInputError, TanpuhuiError
from tanpuhui.domain.parties import Role
from tanpuhui.services.intake import submit_events
from tanpuhui.services.ledger import verify_ledger
from tanpuhui.services.parties import add_enterprise
from tanpuhui.services.transparency import integrate_queued

cli = typer.Typer(
    help="Benchmarks (rates beside the raw ceiling of the same run).", no_args_is_help=True
)
ROW_TABLES = (
    "ledger_entries", "events", "postings", "balances", "region_totals", "batches",
    "log_leaves", "log_nodes", "event_keys", "evidence_keys",
)  # fmt: skip


def make_events(count: int, now: datetime, seed: int = 5) -> list[bytes]:
    """`count` JSON lines: realistic behaviours plus 2% map-app echoes of trips, 1% replays,
    0.5% evidence collisions and 0.3% malformed lines."""
    rng = random.Random(seed)
    lines: list[bytes] = []
    encode = msgspec.json.encode
    cohort = 0
    while len(lines) < count:  # cohorts of people until there are enough events
        people = synthetic.persons(max(1, count // 8), seed + cohort, prefix=f"c{cohort}-")
        for event in synthetic.generate(people, 3, now - timedelta(hours=1), seed=seed + cohort,
                                        prefix=f"c{cohort}"):  # fmt: skip
            lines.append(encode(event))
            roll = rng.random()
            if roll < 0.02 and event["behaviour"].endswith("_ride"):
                lines.append(encode(synthetic.map_app_echo(event, rng)))
            elif roll < 0.03 and lines:
                lines.append(lines[rng.randrange(len(lines))])
            elif roll < 0.035 and "evidence" in event:
                twin = dict(event, event_id="twin-" + event["event_id"])
                lines.append(encode(twin))
            elif roll < 0.038:
                lines.append(b'{"event_id": "broken-' + str(len(lines)).encode() + b'", "subj')
            if len(lines) >= count:
                break
        cohort += 1
    return lines[:count]


def _shard(line: bytes, workers: int) -> int:
    start = line.find(b'"subject":"')
    if start < 0:
        return 0
    end = line.find(b'"', start + 11)
    return zlib.crc32(line[start + 11 : end]) % workers


def _worker(url: str, enterprise_id: str, path: str, batch_size: int, queue: Any) -> None:
    """A pipeline process: its timings and outcome counts, or why it failed, go to `queue`."""
    die_with_parent()
    try:
        queue.put(_pipeline(url, enterprise_id, path, batch_size))
    except Exception as exc:  # reported by the parent in its one error line
        queue.put(failure_of(exc))


def _pipeline(
    url: str, enterprise_id: str, path: str, batch_size: int
) -> tuple[float, dict[str, int], float]:
    import uuid

    tune_runtime()
    app = build(Settings(database_url=url))
    decoder = EventDecoder(app.ctx.regions)
    with open(path, "rb") as fh:  # noqa: PTH123
        lines = fh.read().splitlines()
    started, cpu = time.perf_counter(), time.process_time()
    items = [decoder.line(line) for line in lines if line.strip()]
    counts: dict[str, int] = {}
    for start in range(0, len(items), batch_size):
        for o in submit_events(
            app.ctx, uuid.UUID(enterprise_id), items[start : start + batch_size], source="bench"
        ):
            counts[o.kind.value] = counts.get(o.kind.value, 0) + 1
    app.close()
    return time.perf_counter() - started, counts, time.process_time() - cpu


CpuProbe = Callable[[], float | None]


def _no_probe() -> float | None:
    return None


def run_pipeline(
    url: str,
    lines: list[bytes],
    workers: int,
    batch_size: int,
    work: Path,
    server_cpu: CpuProbe = _no_probe,
    bind: bool = False,
    programme: str | None = None,
    lock_waits: bool = False,
) -> dict[str, Any]:
    app = build(Settings(database_url=url))
    upgrade_database(app)
    enterprise = add_enterprise(app.ctx, "bench scene enterprise", {Role.SCENE})
    if bind or programme is not None:
        bind_and_publish(app, enterprise.id, lines, bind, programme)
    app.close()
    shards: list[list[bytes]] = [[] for _ in range(workers)]
    for line in lines:
        shards[_shard(line, workers)].append(line)
    paths = []
    for i, shard in enumerate(shards):
        path = work / f"shard-{i}.jsonl"
        path.write_bytes(b"\n".join(shard) + b"\n")
        paths.append(str(path))
    mp = multiprocessing.get_context("spawn")
    queue = mp.Queue()
    procs = [
        mp.Process(target=_worker, args=(url, str(enterprise.id), p, batch_size, queue))
        for p in paths
    ]
    sampler = LockWaitSampler(url) if lock_waits else None
    wall, server_before = time.perf_counter(), server_cpu()
    try:
        if sampler is not None:
            sampler.start()
        for p in procs:
            p.start()
        results = _collect(procs, queue)
        # the lines a worker's sequencing pass skipped (a shard another worker was
        # integrating) are integrated here, inside the timed window and its CPU
        tail_cpu = time.process_time()
        tail_app = build(Settings(database_url=url))
        try:
            tail_lines = integrate_queued(tail_app.ctx)
        finally:
            tail_app.close()
        tail_cpu = time.process_time() - tail_cpu
    finally:  # also on Ctrl-C, SIGTERM, SIGHUP: no worker outlives the benchmark
        if sampler is not None:
            sampler.stop()
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()
    wall, server_after = time.perf_counter() - wall, server_cpu()
    counts: dict[str, int] = {}
    for _, c, _ in results:
        for k, v in c.items():
            counts[k] = counts.get(k, 0) + v
    return {
        "seconds": wall,
        "worker_seconds": [r[0] for r in results],
        "worker_cpu_seconds": sum(r[2] for r in results) + tail_cpu,
        "lines_integrated_after_workers": tail_lines,
        "server_cpu_seconds": _difference(server_before, server_after),
        "outcomes": counts,
        "lock_waits": sampler.summary() if sampler is not None else None,
    }


#: `bench ingest --programme all`: every behaviour of the synthetic stream earns 1 point per
#: occurrence, nationwide, capped at 200 a day (operator-set, for this benchmark only: the
#: worst case of the awards, one point posting per person and batch).
BENCH_PROGRAMME = """
code: bench.all
version: 1
name: benchmark programme (every behaviour earns)
region: "000000"
valid_from: 2000-01-01
rules:
{rules}
daily_cap_points: 200
expiry_days: 365
"""


def _programme_file(points: str) -> tuple[Any, str]:
    """The programme `--programme` names: `all` (BENCH_PROGRAMME), a bundled programme's
    code (e.g. luzhou.lvya) or a file."""
    from tanpuhui.adapters.programme_files import parse_programme

    if points == "all":
        rules = "\n".join(
            f"  - {{behaviour: {b}, points: 1, per: occurrence, source: operator-set}}"
            for b in ("bike_share_ride", "metro_ride", "bus_ride", *synthetic.DAILY)
        )
        return parse_programme(BENCH_PROGRAMME.format(rules=rules), "bench.all")
    bundled = sorted((Path(__file__).parents[1] / "programmes").glob(f"{points}@*.yaml"))
    path = bundled[-1] if bundled else Path(points)
    if not path.is_file():
        raise InvalidInputError(f"--programme: no bundled programme or file {points!r}")
    return parse_programme(path.read_text(encoding="utf-8"), path.name)


def bind_and_publish(
    app: Any, enterprise_id: Any, lines: list[bytes], bind: bool, programme: str | None
) -> None:
    """Untimed set-up of `--bind` and `--programme`: publish the programme; bind every subject
    of the stream to a new person, so its reductions are credited to persons (holdings) and,
    with a programme, earn points."""
    from tanpuhui.services.parties import add_persons, bind_subjects
    from tanpuhui.services.programmes import publish_programme

    if programme is not None:
        publish_programme(app.ctx, *_programme_file(programme))
    if not bind:
        return
    subjects: set[str] = set()
    for line in lines:
        start = line.find(b'"subject":"')
        if start >= 0:
            subjects.add(line[start + 11 : line.find(b'"', start + 11)].decode())
    ordered = sorted(subjects)
    for at in range(0, len(ordered), 50_000):
        part = ordered[at : at + 50_000]
        persons = add_persons(app.ctx, len(part))
        bind_subjects(
            app.ctx, [(enterprise_id, s, p.id) for s, p in zip(part, persons, strict=True)]
        )


def _collect(procs: list[Any], queue: Any) -> list[tuple[float, dict[str, int], float]]:
    results: list[tuple[float, dict[str, int], float]] = []
    while len(results) < len(procs):
        try:
            item = queue.get(timeout=1)
        except Empty:
            failed = [p for p in procs if p.exitcode not in (None, 0)]
            if failed:
                raise TanpuhuiError(
                    f"a pipeline worker failed (exit code {failed[0].exitcode})"
                ) from None
            continue
        if isinstance(item, ChildFailure):
            raise TanpuhuiError(f"a pipeline worker failed: {item.message}", code=item.code)
        results.append(item)
    return results


def _difference(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


def run_raw(source_url: str, target_url: str, server_cpu: CpuProbe = _no_probe) -> dict[str, Any]:
    """Bulk-insert the rows the pipeline wrote into a fresh database of the same schema, one
    transaction per pipeline batch (its event rows, its entry and postings, its batch record;
    the final balances and regional totals spread over the same transactions)."""
    source = create_engine(source_url)
    target = create_engine(target_url)
    upgrade(target)
    with source.connect() as conn:
        copied = {
            name: conn.execute(sa.select(t.metadata.tables[name])).all()
            for name in ("methodology_versions", "enterprises", *ROW_TABLES)
        }
    with target.begin() as conn:
        for name in ("methodology_versions", "enterprises"):
            table = t.metadata.tables[name]
            insert_rows(conn, table, [c.name for c in table.columns], copied[name])
    chunks = _chunks_by_batch(copied)
    le = t.ledger_entries
    seal = (
        le.update()
        .where(le.c.shard == sa.bindparam("k"), le.c.id == sa.bindparam("eid"))
        .values(hash=sa.bindparam("h"))
    )
    started, cpu, server_before = time.perf_counter(), time.process_time(), server_cpu()
    for chunk in chunks:
        with target.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            # as the pipeline does: entries first, unsealed; then their lines; then the seal
            entries = chunk["ledger_entries"]
            insert_rows(
                conn,
                le,
                ["shard", "id", "kind", "created_at", "memo"],
                [(r.shard, r.id, r.kind, r.created_at, r.memo) for r in entries],
            )
            for name in ROW_TABLES[1:]:
                table = t.metadata.tables[name]
                insert_rows(conn, table, [c.name for c in table.columns], chunk[name])
            if entries:
                conn.execute(
                    seal,
                    [{"k": r.shard, "eid": r.id, "h": r.hash} for r in entries],
                )
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    server_seconds = _difference(server_before, server_cpu())
    source.dispose()
    target.dispose()
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "server_cpu_seconds": server_seconds,
        "rows": sum(len(copied[n]) for n in ROW_TABLES),
        "events_rows": len(copied["events"]),
    }


def _chunks_by_batch(copied: dict[str, Sequence[Any]]) -> list[dict[str, list[Any]]]:
    batch_of_entry: dict[Any, Any] = {}
    chunks: dict[Any, dict[str, list[Any]]] = {}
    for row in copied["batches"]:
        chunks[row.id] = {name: [] for name in ROW_TABLES}
        chunks[row.id]["batches"].append(row)
    for row in copied["events"]:
        chunks[row.batch_id]["events"].append(row)
        if row.entry_id is not None:
            batch_of_entry[row.entry_id] = row.batch_id
    ordered = list(chunks.values())
    # an entry no event names (a batch's points award) goes with the first batch
    first = next(iter(chunks)) if chunks else None
    for row in copied["ledger_entries"]:
        chunks[batch_of_entry.get(row.id, first)]["ledger_entries"].append(row)
    for row in copied["postings"]:
        chunks[batch_of_entry.get(row.entry_id, first)]["postings"].append(row)
    for name in ("balances", "region_totals", "log_leaves", "log_nodes", "event_keys",
                 "evidence_keys"):  # fmt: skip
        rows = copied[name]
        size = -(-len(rows) // len(ordered)) if ordered else 1
        for i, chunk in enumerate(ordered):
            chunk[name] = list(rows[i * size : (i + 1) * size])
    return ordered


@cli.command("ingest")
@handled
def bench_ingest(
    events: Annotated[int, typer.Option(min=1000, help="How many events.")] = 1_000_000,
    engine: Annotated[str, typer.Option(help="sqlite or postgres (embedded server)")] = "sqlite",
    workers: Annotated[int, typer.Option(min=1, max=16, help="Pipeline processes.")] = 1,
    batch_size: Annotated[int, typer.Option(min=100, max=10_000)] = 10_000,
    verify: Annotated[bool, typer.Option(help="Run ledger verify afterwards (untimed).")] = True,
    keep: Annotated[Path | None, typer.Option(help="Keep the databases in this directory.")] = None,
    bind: Annotated[
        bool, typer.Option(help="Bind every subject to a person first (untimed): holdings.")
    ] = False,
    programme: Annotated[
        str | None,
        typer.Option(help="Publish a points programme first: all, a bundled code or a file."),
    ] = None,
    lock_waits: Annotated[
        bool,
        typer.Option(
            "--lock-waits",
            help="PostgreSQL: sample the workers' lock waits every 5 ms (costs server CPU).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The whole intake pipeline against the raw bulk-insert ceiling of the same engine."""
    if engine not in ("sqlite", "postgres"):
        raise InvalidInputError("--engine must be sqlite or postgres")
    if lock_waits and engine != "postgres":
        raise InvalidInputError(
            "--lock-waits samples PostgreSQL's lock table: use --engine postgres"
        )
    work = keep or Path(tempfile.mkdtemp(prefix="tanpuhui-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    server = None
    probe: CpuProbe = _no_probe
    try:
        say = err_console.print
        say(f"generating {events:,} events …")
        lines = make_events(events, business_clock(Settings()).now())
        if engine == "sqlite":
            pipeline_url = f"sqlite:///{work / 'pipeline.db'}"
            raw_url = f"sqlite:///{work / 'raw.db'}"
            for f in work.glob("*.db*"):
                f.unlink()
        else:
            server, server_url = start_server(work / "pg")
            pipeline_url = create_database(server_url, "bench_pipeline")
            raw_url = create_database(server_url, "bench_raw")

            def probe() -> float | None:
                return server_cpu_seconds(work / "pg" / "pgdata")

        say(f"pipeline: {workers} process(es), batches of {batch_size:,} …")
        pipeline = run_pipeline(
            pipeline_url, lines, workers, batch_size, work, probe, bind, programme, lock_waits
        )
        say("raw bulk insert of the same rows …")
        raw = run_raw(pipeline_url, raw_url, probe)
        violations = None
        if verify:
            say("ledger verify …")
            app = build(Settings(database_url=pipeline_url))
            violations = len(verify_ledger(app.ctx))
            app.close()
        points_awarded = _points_awarded(pipeline_url)
        pipeline_rate = events / pipeline["seconds"]
        raw_rate = raw["events_rows"] / raw["seconds"]
        result = {
            "engine": engine,
            "events": events,
            "workers": workers,
            "batch_size": batch_size,
            "bound": bind,
            "programme": programme,
            "points_awarded": points_awarded,
            "machine": {
                "cpus": os.cpu_count(),
                "cpu": platform.processor() or platform.machine(),
                "python": platform.python_version(),
            },
            "pipeline": {
                "seconds": round(pipeline["seconds"], 2),
                "events_per_s": round(pipeline_rate),
                "outcomes": pipeline["outcomes"],
                # log lines a worker's sequencing pass left queued (its shard was being
                # integrated by another worker), integrated at the end inside the timing
                "lines_integrated_after_workers": pipeline["lines_integrated_after_workers"],
            },
            "raw_bulk_insert": {
                "seconds": round(raw["seconds"], 2),
                "rows": raw["rows"],
                "events_rows": raw["events_rows"],
                "events_per_s": round(raw_rate),
            },
            "ratio": round(pipeline_rate / raw_rate, 3),
            # SQLite has one writer at a time: its pipeline can use one CPU, whatever the machine
            "cpu": cpu_budget(
                events,
                raw["events_rows"],
                pipeline,
                raw,
                1 if engine == "sqlite" else os.cpu_count() or 1,
            ),
            "verify_violations": violations,
            "lock_waits": pipeline["lock_waits"],
        }
    finally:
        if server is not None:
            server.cleanup()
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
    if as_json:
        emit_json(result)
        return
    console.print(
        f"[bold]{engine}[/], {events:,} events, {workers} worker(s):\n"
        f"  pipeline         {result['pipeline']['events_per_s']:>9,} events/s "
        f"({pipeline['seconds']:.1f} s)\n"
        f"  raw bulk insert  {result['raw_bulk_insert']['events_per_s']:>9,} event rows/s "
        f"({raw['seconds']:.1f} s, {raw['rows']:,} rows in {len(ROW_TABLES)} tables)\n"
        f"  ratio            {result['ratio']:.0%} of the raw ceiling\n"
        f"{_cpu_lines(result['cpu'])}"
        f"  outcomes         {pipeline['outcomes']}\n"
        f"  log lines integrated after the workers "
        f"{pipeline['lines_integrated_after_workers']:,}\n"
        f"  points awarded   {points_awarded:,} (bound: {bind}, programme: {programme})\n"
        f"  ledger verify    {violations if violations is not None else 'skipped'} violation(s)"
        f"{_lock_lines(pipeline['lock_waits'])}"
    )


def _lock_lines(waits: dict[str, Any] | None) -> str:
    if waits is None:
        return ""
    tables = ", ".join(f"{name} {share:.1%}" for name, share in waits["by_table"].items())
    return (
        f"\n  lock waits       {waits['waiting_share']:.1%} of {waits['busy_backend_samples']:,} "
        f"busy backend samples ({waits['samples']:,} samples){': ' + tables if tables else ''}"
    )


def _points_awarded(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(t.points_days.c.points), 0)))
        awarded = int(total.scalar_one())
    engine.dispose()
    return awarded


def cpu_budget(
    events: int, event_rows: int, pipeline: dict[str, Any], raw: dict[str, Any], cpus: int
) -> dict[str, Any]:
    """CPU time per event, split between the Python processes and the database server (whose
    share is only separable for PostgreSQL: SQLite runs inside the Python process), and the
    rate `cpus` usable CPUs allow at that cost: the hardware ceiling of this pipeline."""

    def per(seconds: float | None, count: int) -> float | None:
        return None if seconds is None else round(seconds / count * 1e6, 1)

    python_us = per(pipeline["worker_cpu_seconds"], events)
    server_us = per(pipeline["server_cpu_seconds"], events)
    total_us = (python_us or 0) + (server_us or 0)
    raw_python_us = per(raw["cpu_seconds"], event_rows)
    raw_server_us = per(raw["server_cpu_seconds"], event_rows)
    return {
        "cpus": cpus,
        "pipeline_us_per_event": {
            "python": python_us,
            "database_server": server_us,
            "total": round(total_us, 1),
        },
        "raw_insert_us_per_event_row": {
            "python": raw_python_us,
            "database_server": raw_server_us,
            "total": round((raw_python_us or 0) + (raw_server_us or 0), 1),
        },
        "pipeline_ceiling_events_per_s": round(cpus * 1e6 / total_us) if total_us else None,
    }


def _cpu_lines(cpu: dict[str, Any]) -> str:
    p, r = cpu["pipeline_us_per_event"], cpu["raw_insert_us_per_event_row"]

    def split(part: dict[str, Any]) -> str:
        if part["database_server"] is None:
            return f"{part['total']:.1f} µs (database in-process)"
        return (
            f"{part['total']:.1f} µs ({part['python']:.1f} Python + "
            f"{part['database_server']:.1f} database server)"
        )

    return (
        f"  CPU per event    pipeline {split(p)}; raw insert {split(r)}\n"
        f"  CPU ceiling      {cpu['cpus']} CPUs at {p['total']:.1f} µs per event: "
        f"{cpu['pipeline_ceiling_events_per_s'] or 0:,} events/s\n"
    )
