"""`tanpuhui bench api`: signed HTTP intake under concurrent load, beside the in-process rate.

The same pipeline behind the signed HTTP API (`tanpuhui serve --workers N --with-parent`, so it
ends with the benchmark), driven from another process with concurrent 1,000-event batches,
beside the in-process rate measured in the same run. Not a test: nothing asserts on time.
"""

from __future__ import annotations

import multiprocessing
import platform
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer

from tanpuhui.adapters.db.embedded import create_database, start_server
from tanpuhui.adapters.event_codec import EventDecoder
from tanpuhui.adapters.processes import die_with_parent, failure_of, port_error, port_is_free
from tanpuhui.bootstrap import build, tune_runtime, upgrade_database
from tanpuhui.cli.bench import make_events
from tanpuhui.cli.common import console, emit_json, err_console, handled
from tanpuhui.config import Settings
from tanpuhui.domain.errors import InvalidInputError, TanpuhuiError
from tanpuhui.domain.parties import Role
from tanpuhui.services.intake import submit_events
from tanpuhui.services.parties import add_enterprise


def _drive(
    base: str, credential: str, key_pem: str, bodies_path: str, threads: int, queue: Any
) -> None:
    """The load generator (its own process): post every body, `threads` at a time; the wall
    time, latencies and errors go to `queue`."""
    die_with_parent()
    try:
        queue.put(_load(base, credential, key_pem, bodies_path, threads))
    except Exception as exc:  # reported by the parent in its one error line
        queue.put((0.0, [], [failure_of(exc).message]))


def _load(
    base: str, credential: str, key_pem: str, bodies_path: str, threads: int
) -> tuple[float, list[float], list[str]]:
    import threading

    from tanpuhui.client import Client

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
    return time.perf_counter() - wall, latencies, errors


def _is_json(line: bytes) -> bool:
    try:
        msgspec.json.decode(line)
    except msgspec.DecodeError:
        return False
    return True


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


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
