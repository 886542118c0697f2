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
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from queue import Empty
from typing import Annotated, Any

import msgspec
import typer

from tanpuhui.adapters.db.embedded import create_database, start_server
from tanpuhui.adapters.event_codec import EventDecoder
from tanpuhui.adapters.processes import die_with_parent, failure_of, port_error, port_is_free
from tanpuhui.bootstrap import build, business_clock, tune_runtime, upgrade_database
from tanpuhui.cli.bench import make_events
from tanpuhui.cli.common import console, emit_json, err_console, handled
from tanpuhui.config import Settings
from tanpuhui.domain.errors import InvalidInputError, TanpuhuiError
from tanpuhui.domain.parties import Role
from tanpuhui.services.intake import submit_events
from tanpuhui.services.parties import add_enterprise

HOST = "127.0.0.1"


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
    if engine not in ("sqlite", "postgres"):
        raise InvalidInputError("--engine must be sqlite or postgres")
    if engine == "sqlite" and workers > 1:
        raise InvalidInputError("several server workers need PostgreSQL")
    if not port_is_free(HOST, port):
        raise port_error(HOST, port)
    say = err_console.print
    with ExitStack() as owned:  # also on Ctrl-C, SIGTERM, SIGHUP: nothing started outlives it
        work = Path(tempfile.mkdtemp(prefix="tanpuhui-bench-api-"))
        owned.callback(shutil.rmtree, work, ignore_errors=True)
        say(f"generating {events:,} events …")
        # a batch body is one JSON document: keep invalid events, drop the malformed-JSON lines
        lines = [
            line for line in make_events(events, business_clock(Settings()).now()) if _is_json(line)
        ]
        batches = [lines[i : i + batch_size] for i in range(0, len(lines), batch_size)]
        bodies = [b'{"events":[' + b",".join(batch) + b"]}" for batch in batches]
        setup = _databases(engine, work, owned)
        say(f"in-process pipeline, batches of {batch_size:,} …")
        local_seconds = _in_process(setup, bodies)
        say(f"HTTP: {workers} server worker(s), {threads} concurrent signed requests …")
        base = _start_server(setup.http_url, port, workers, owned)
        http_seconds, latencies = _over_http(base, setup, bodies, threads, work, owned)
    result = _api_result(len(lines), local_seconds, http_seconds, latencies)
    result.update(engine=engine, batch_size=batch_size, server_workers=workers,
                  concurrent_requests=threads)  # fmt: skip
    if as_json:
        emit_json(result)
        return
    lat = result["http"]["batch_latency_ms"]
    console.print(
        f"[bold]{engine}[/], {result['events']:,} events in batches of {batch_size:,}:\n"
        f"  in-process pipeline  {result['in_process']['events_per_s']:>9,} events/s\n"
        f"  signed HTTP          {result['http']['events_per_s']:>9,} events/s  ({workers} "
        f"worker(s), {threads} concurrent; batch latency p50 {lat['p50']} ms, p99 "
        f"{lat['p99']} ms)\n"
        f"  ratio                {result['ratio']:.0%} of the in-process rate"
    )


@dataclass(frozen=True)
class Setup:
    http_url: str  # the database behind the HTTP server
    local_url: str  # the database of the in-process run
    local_enterprise: uuid.UUID
    credential: str  # of the HTTP database's enterprise
    key_pem: str


def _databases(engine: str, work: Path, owned: ExitStack) -> Setup:
    """Two fresh, migrated databases of `engine`, each with the bench enterprise; the HTTP one
    with a credential (an embedded PostgreSQL server is stopped by `owned`)."""
    from tanpuhui.adapters.crypto import generate_key, private_pem, public_raw
    from tanpuhui.services.access import register_credential

    if engine == "sqlite":
        http_url, local_url = f"sqlite:///{work / 'http.db'}", f"sqlite:///{work / 'local.db'}"
    else:
        server, server_url = start_server(work / "pg")
        owned.callback(server.cleanup)
        http_url = create_database(server_url, "bench_http")
        local_url = create_database(server_url, "bench_local")
    key = generate_key()
    ids, credential = {}, ""
    for url in (http_url, local_url):
        app = build(Settings(database_url=url))
        upgrade_database(app)
        ids[url] = add_enterprise(app.ctx, "bench scene enterprise", {Role.SCENE}).id
        if url == http_url:
            credential = str(register_credential(app.ctx, ids[url], public_raw(key)).id)
        app.close()
    return Setup(http_url, local_url, ids[local_url], credential, private_pem(key))


def _in_process(setup: Setup, bodies: list[bytes]) -> float:
    """Seconds the in-process pipeline takes for `bodies`."""
    tune_runtime()
    app = build(Settings(database_url=setup.local_url))
    decoder = EventDecoder(app.ctx.regions)
    started = time.perf_counter()
    for body in bodies:
        items = decoder.batch(body)
        assert items is not None
        submit_events(app.ctx, setup.local_enterprise, items, source="bench")
    seconds = time.perf_counter() - started
    app.close()
    return seconds


def _start_server(url: str, port: int, workers: int, owned: ExitStack) -> str:
    """`tanpuhui serve` on `url` (stopped by `owned`, and ending with this process whatever
    ends it); its base URL once ready."""
    import os
    import subprocess
    import sys

    import httpx

    env = dict(os.environ, TANPUHUI_DATABASE_URL=url, TANPUHUI_RATE_LIMIT_PER_S="1e6",
               TANPUHUI_RATE_LIMIT_BURST="1e6")  # fmt: skip
    process = subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, "-m", "tanpuhui", "serve", "--port", str(port),
         "--workers", str(workers), "--with-parent"],
        env=env,
    )  # fmt: skip
    owned.callback(process.wait, 30)
    owned.callback(process.terminate)
    base = f"http://{HOST}:{port}"
    for _ in range(600):
        if process.poll() is not None:
            raise TanpuhuiError(f"the server did not start (exit code {process.returncode})")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return base
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TanpuhuiError("the server did not become ready within a minute")


def _over_http(
    base: str, setup: Setup, bodies: list[bytes], threads: int, work: Path, owned: ExitStack
) -> tuple[float, list[float]]:
    """(seconds, batch latencies) of posting every body from a driver process."""
    bodies_path = work / "bodies.bin"
    with bodies_path.open("wb") as fh:
        fh.write(" ".join(str(len(b)) for b in bodies).encode() + b"\n")
        for b in bodies:
            fh.write(b)
    mp = multiprocessing.get_context("spawn")
    queue = mp.Queue()
    driver = mp.Process(
        target=_drive,
        args=(base, setup.credential, setup.key_pem, str(bodies_path), threads, queue),
    )
    driver.start()
    owned.callback(_end, driver)
    while True:
        try:
            seconds, latencies, errors = queue.get(timeout=1)
            break
        except Empty:
            if driver.exitcode is not None:
                raise TanpuhuiError(
                    f"the load driver failed (exit code {driver.exitcode})"
                ) from None
    if errors:
        raise TanpuhuiError(f"{len(errors)} request(s) failed, e.g. {errors[0]}")
    return seconds, latencies


def _end(process: multiprocessing.process.BaseProcess) -> None:
    if process.is_alive():
        process.terminate()
    process.join(30)


def _api_result(
    events: int, local_seconds: float, http_seconds: float, latencies: list[float]
) -> dict[str, Any]:
    import os

    local_rate, http_rate = events / local_seconds, events / http_seconds
    return {
        "events": events,
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
