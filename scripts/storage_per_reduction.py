"""Storage per reduction on PostgreSQL (docs/scaling.md): run `bench ingest`'s pipeline over N
generated events into an embedded server, then sum `pg_total_relation_size` (table, indexes,
TOAST; a partitioned table over its partitions) per table and divide by the credited reductions.

    python scripts/storage_per_reduction.py --events 200000 [--pg-partitions 16] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import sqlalchemy as sa

from tanpuhui.adapters.db.embedded import create_database, server_cpu_seconds, start_server
from tanpuhui.adapters.db.migrate import partition_shard_tables
from tanpuhui.bootstrap import build, business_clock, upgrade_database
from tanpuhui.cli.bench import make_events, run_pipeline
from tanpuhui.config import Settings

SIZES = """
SELECT c.relname,
       COALESCE((SELECT sum(pg_total_relation_size(t.relid)) FROM pg_partition_tree(c.oid) t),
                pg_total_relation_size(c.oid))::bigint,
       c.reltuples::bigint
FROM pg_class c
WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
  AND NOT c.relispartition
ORDER BY 2 DESC
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pg-partitions", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tanpuhui-storage-"))
    server, server_url = start_server(work / "pg")
    try:
        url = create_database(server_url, "storage")
        app = build(Settings(database_url=url))
        upgrade_database(app)
        if args.pg_partitions:
            partition_shard_tables(app.engine, args.pg_partitions)
        app.close()
        lines = make_events(args.events, business_clock(Settings()).now())
        pipeline = run_pipeline(
            url,
            lines,
            args.workers,
            10_000,
            work,
            lambda: server_cpu_seconds(work / "pg" / "pgdata"),
        )
        engine = sa.create_engine(url)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
            reductions = conn.exec_driver_sql(
                "SELECT count(*) FROM events WHERE grams > 0"
            ).scalar_one()
            events = conn.exec_driver_sql("SELECT count(*) FROM events").scalar_one()
            tables = [(n, int(b), int(r)) for n, b, r in conn.exec_driver_sql(SIZES)]
        engine.dispose()
    finally:
        server.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    total = sum(b for _, b, _ in tables)
    result = {
        "events": events,
        "reductions": reductions,
        "total_bytes": total,
        "bytes_per_reduction": round(total / reductions) if reductions else None,
        "bytes_per_event": round(total / events) if events else None,
        "pg_partitions": args.pg_partitions,
        "pipeline_seconds": round(pipeline["seconds"], 1),
        "cpu_us_per_event": {
            "python": round(pipeline["worker_cpu_seconds"] / args.events * 1e6, 1),
            "database_server": round((pipeline["server_cpu_seconds"] or 0) / args.events * 1e6, 1),
        },
        "tables": {n: {"bytes": b, "rows": r} for n, b, r in tables if b > 16_384 * 2},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{events:,} events, {reductions:,} reductions: {total / 1e6:.1f} MB,"
        f" {result['bytes_per_reduction']} bytes per reduction; CPU per event"
        f" {result['cpu_us_per_event']} µs ({args.pg_partitions or 'no'} partitions)"
    )
    for n, b, r in tables[:15]:
        print(f"  {n:24} {b / 1e6:9.1f} MB  {r:>10,} rows")


if __name__ == "__main__":
    main()
