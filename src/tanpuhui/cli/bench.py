"""`tanpuhui bench …` — benchmarks that print rates beside the hardware ceiling of this run.

`bench api`: the same pipeline behind the signed HTTP API, driven from another process with
concurrent 1,000-event batches, beside the in-process rate measured in the same run.

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
from datetime import UTC, datetime, timedelta
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
from tanpuhui.adapters.db.migrate import upgrade
from tanpuhui.adapters.event_codec import EventDecoder
from tanpuhui.adapters.processes import die_with_parent, port_error, port_is_free
from tanpuhui.bootstrap import build, tune_runtime, upgrade_database
from tanpuhui.cli.common import console, emit_json, err_console, handled
from tanpuhui.config import Settings
from tanpuhui.domain.errors import InvalidInputError, TanpuhuiError
from tanpuhui.domain.parties import Role
from tanpuhui.services.intake import submit_events
from tanpuhui.services.ledger import verify_ledger
from tanpuhui.services.parties import add_enterprise

cli = typer.Typer(
    help="Benchmarks (rates beside the raw ceiling of the same run).", no_args_is_help=True
)
ROW_TABLES = ("ledger_entries", "events", "postings", "balances", "region_totals", "batches")


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
    import uuid

    die_with_parent()
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
    queue.put((time.perf_counter() - started, counts, time.process_time() - cpu))
    app.close()


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
) -> dict[str, Any]:
    app = build(Settings(database_url=url))
    upgrade_database(app)
    enterprise = add_enterprise(app.ctx, "bench scene enterprise", {Role.SCENE})
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
    wall, server_before = time.perf_counter(), server_cpu()
    try:
        for p in procs:
            p.start()
        results = _collect(procs, queue)
    finally:  # also on Ctrl-C, SIGTERM, SIGHUP: no worker outlives the benchmark
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
        "worker_cpu_seconds": sum(r[2] for r in results),
        "server_cpu_seconds": _difference(server_before, server_after),
        "outcomes": counts,
    }


def _collect(procs: list[Any], queue: Any) -> list[tuple[float, dict[str, int], float]]:
    results: list[tuple[float, dict[str, int], float]] = []
    while len(results) < len(procs):
        try:
            results.append(queue.get(timeout=1))
        except Empty:
            failed = [p for p in procs if p.exitcode not in (None, 0)]
            if failed:
                raise TanpuhuiError(
                    f"a pipeline worker failed (exit code {failed[0].exitcode})"
                ) from None
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
        conn.execute(t.chain_head.delete())
    chunks = _chunks_by_batch(copied)
    le = t.ledger_entries
    seal = (
        le.update()
        .where(le.c.id == sa.bindparam("eid"))
        .values(seq=sa.bindparam("s"), prev_hash=sa.bindparam("p"), hash=sa.bindparam("h"))
    )
    started, cpu, server_before = time.perf_counter(), time.process_time(), server_cpu()
    for chunk in chunks:
        with target.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            # as the pipeline does: entries first, unsealed; then their lines; then the seal
            entries = chunk["ledger_entries"]
            insert_rows(
                conn,
                le,
                ["id", "kind", "created_at", "memo"],
                [(r.id, r.kind, r.created_at, r.memo) for r in entries],
            )
            for name in ROW_TABLES[1:]:
                table = t.metadata.tables[name]
                insert_rows(conn, table, [c.name for c in table.columns], chunk[name])
            if entries:
                conn.execute(
                    seal,
                    [{"eid": r.id, "s": r.seq, "p": r.prev_hash, "h": r.hash} for r in entries],
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
    for row in copied["ledger_entries"]:
        chunks[batch_of_entry[row.id]]["ledger_entries"].append(row)
    for row in copied["postings"]:
        chunks[batch_of_entry[row.entry_id]]["postings"].append(row)
    ordered = list(chunks.values())
    for name in ("balances", "region_totals"):
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
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The whole intake pipeline against the raw bulk-insert ceiling of the same engine."""
    if engine not in ("sqlite", "postgres"):
        raise InvalidInputError("--engine must be sqlite or postgres")
    work = keep or Path(tempfile.mkdtemp(prefix="tanpuhui-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    server = None
    probe: CpuProbe = _no_probe
    try:
        say = err_console.print
        say(f"generating {events:,} events …")
        lines = make_events(events, datetime.now(UTC))
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
        pipeline = run_pipeline(pipeline_url, lines, workers, batch_size, work, probe)
        say("raw bulk insert of the same rows …")
        raw = run_raw(pipeline_url, raw_url, probe)
        violations = None
        if verify:
            say("ledger verify …")
            app = build(Settings(database_url=pipeline_url))
            violations = len(verify_ledger(app.ctx))
            app.close()
        pipeline_rate = events / pipeline["seconds"]
        raw_rate = raw["events_rows"] / raw["seconds"]
        result = {
            "engine": engine,
            "events": events,
            "workers": workers,
            "batch_size": batch_size,
            "machine": {
                "cpus": os.cpu_count(),
                "cpu": platform.processor() or platform.machine(),
                "python": platform.python_version(),
            },
            "pipeline": {
                "seconds": round(pipeline["seconds"], 2),
                "events_per_s": round(pipeline_rate),
                "outcomes": pipeline["outcomes"],
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
        f"  ledger verify    {violations if violations is not None else 'skipped'} violation(s)"
    )


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


def _drive(
    base: str, credential: str, key_pem: str, bodies_path: str, threads: int, queue: Any
) -> None:
    """The load generator (its own process): post every body, `threads` at a time."""
    import threading

    from tanpuhui.client import Client

    die_with_parent()
    with open(bodies_path, "rb") as fh:  # noqa: PTH123
        bodies = [fh.read(int(n)) for n in fh.readline().split()]
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    position = iter(range(len(bodies)))

    def worker() -> None:
        with Client(base, credential, key_pem, timeout=300) as client:
            while True:
                with lock:
                    index = next(position, None)
                if index is None:
                    return
                started = time.perf_counter()
                try:
                    client.submit_raw(bodies[index])
                except Exception as exc:
                    with lock:
                        errors.append(repr(exc))
                    return
                with lock:
                    latencies.append(time.perf_counter() - started)

    wall = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    queue.put((time.perf_counter() - wall, latencies, errors))


def _is_json(line: bytes) -> bool:
    try:
        msgspec.json.decode(line)
    except msgspec.DecodeError:
        return False
    return True


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@cli.command("api")
@handled
def bench_api(
    events: Annotated[int, typer.Option(min=1000, help="How many events.")] = 200_000,
    engine: Annotated[str, typer.Option(help="sqlite or postgres (embedded server)")] = "sqlite",
    workers: Annotated[int, typer.Option(min=1, max=16, help="Server processes.")] = 1,
    threads: Annotated[int, typer.Option(min=1, max=64, help="Concurrent requests.")] = 4,
    batch_size: Annotated[int, typer.Option(min=100, max=10_000)] = 1_000,
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8181,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Signed HTTP intake under concurrent load, beside the in-process pipeline rate."""
    import os
    import subprocess
    import sys

    import httpx

    from tanpuhui.adapters.crypto import generate_key, private_pem, public_raw
    from tanpuhui.services.access import register_credential

    if engine not in ("sqlite", "postgres"):
        raise InvalidInputError("--engine must be sqlite or postgres")
    if engine == "sqlite" and workers > 1:
        raise InvalidInputError("several server workers need PostgreSQL")
    if not port_is_free("127.0.0.1", port):
        raise port_error("127.0.0.1", port)
    say = err_console.print
    work = Path(tempfile.mkdtemp(prefix="tanpuhui-bench-api-"))
    server = None
    process = None
    driver = None
    try:
        say(f"generating {events:,} events …")
        # a batch body is one JSON document: keep invalid events, drop the malformed-JSON lines
        lines = [line for line in make_events(events, datetime.now(UTC)) if _is_json(line)]
        events = len(lines)
        if engine == "sqlite":
            http_url, local_url = f"sqlite:///{work / 'http.db'}", f"sqlite:///{work / 'local.db'}"
        else:
            server, server_url = start_server(work / "pg")
            http_url = create_database(server_url, "bench_http")
            local_url = create_database(server_url, "bench_local")
        key = generate_key()
        credential = ""
        enterprise_ids = {}
        for url in (http_url, local_url):
            app = build(Settings(database_url=url))
            upgrade_database(app)
            enterprise = add_enterprise(app.ctx, "bench scene enterprise", {Role.SCENE})
            enterprise_ids[url] = enterprise.id
            if url == http_url:
                credential = str(register_credential(app.ctx, enterprise.id, public_raw(key)).id)
            app.close()
        batches = [lines[i : i + batch_size] for i in range(0, len(lines), batch_size)]
        bodies = [b'{"events":[' + b",".join(batch) + b"]}" for batch in batches]

        say(f"in-process pipeline, batches of {batch_size:,} …")
        tune_runtime()
        app = build(Settings(database_url=local_url))
        decoder = EventDecoder(app.ctx.regions)
        started = time.perf_counter()
        for body in bodies:
            items = decoder.batch(body)
            assert items is not None
            submit_events(app.ctx, enterprise_ids[local_url], items, source="bench")
        local_seconds = time.perf_counter() - started
        app.close()

        say(f"HTTP: {workers} server worker(s), {threads} concurrent signed requests …")
        env = dict(os.environ, TANPUHUI_DATABASE_URL=http_url, TANPUHUI_RATE_LIMIT_PER_S="1e6",
                   TANPUHUI_RATE_LIMIT_BURST="1e6")  # fmt: skip
        process = subprocess.Popen(  # noqa: S603 - our own command
            [sys.executable, "-m", "tanpuhui", "serve", "--port", str(port),
             "--workers", str(workers), "--with-parent"],
            env=env,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):
            if process.poll() is not None:
                raise TanpuhuiError(f"the server did not start (is port {port} free?)")
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        bodies_path = work / "bodies.bin"
        with bodies_path.open("wb") as fh:
            fh.write(" ".join(str(len(b)) for b in bodies).encode() + b"\n")
            for b in bodies:
                fh.write(b)
        mp = multiprocessing.get_context("spawn")
        queue = mp.Queue()
        driver = mp.Process(
            target=_drive, args=(base, credential, private_pem(key), str(bodies_path), threads,
                                 queue),
        )  # fmt: skip
        driver.start()
        http_seconds, latencies, errors = queue.get(timeout=3600)
        driver.join()
        if errors:
            raise TanpuhuiError(f"{len(errors)} request(s) failed, e.g. {errors[0]}")
        local_rate = events / local_seconds
        http_rate = events / http_seconds
        result = {
            "engine": engine,
            "events": events,
            "batch_size": batch_size,
            "server_workers": workers,
            "concurrent_requests": threads,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "in_process": {"seconds": round(local_seconds, 2), "events_per_s": round(local_rate)},
            "http": {
                "seconds": round(http_seconds, 2),
                "events_per_s": round(http_rate),
                "batch_latency_ms": {
                    "p50": round(_percentile(latencies, 0.50) * 1000, 1),
                    "p99": round(_percentile(latencies, 0.99) * 1000, 1),
                },
            },
            "ratio": round(http_rate / local_rate, 3),
        }
    finally:  # also on Ctrl-C, SIGTERM, SIGHUP: nothing this started outlives it
        if driver is not None and driver.is_alive():
            driver.terminate()
            driver.join(30)
        if process is not None:
            process.terminate()
            process.wait(30)
        if server is not None:
            server.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    if as_json:
        emit_json(result)
        return
    lat = result["http"]["batch_latency_ms"]
    console.print(
        f"[bold]{engine}[/], {events:,} events in batches of {batch_size:,}:\n"
        f"  in-process pipeline  {round(local_rate):>9,} events/s\n"
        f"  signed HTTP          {round(http_rate):>9,} events/s  ({workers} worker(s), "
        f"{threads} concurrent; batch latency p50 {lat['p50']} ms, p99 {lat['p99']} ms)\n"
        f"  ratio                {result['ratio']:.0%} of the in-process rate"
    )
