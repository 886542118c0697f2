"""`tanpuhui bench pages` — the person page's server time on a big database.

A fresh database gets `--events` events in all through the intake pipeline: `--reductions`
of them are one person's bike rides over the last 29 days (spaced so none is a duplicate and
no day is capped), the rest are the synthetic population of `bench ingest`. The app is then
served on a free 127.0.0.1 port, the person signs in through the pages, and `/me` is fetched
`--requests` times; the page's own time (its `Server-Timing: app` header: services, queries,
template) and the client's round trip are reported as p50 / p95 / max. Not a test: nothing
asserts on time.
"""

from __future__ import annotations

import re
import shutil
import socket
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
import uvicorn

from tanpuhui.adapters.db.embedded import create_database, start_server
from tanpuhui.adapters.event_codec import EventDecoder
from tanpuhui.adapters.system import FixedClock
from tanpuhui.api.app import create_app
from tanpuhui.bootstrap import App, build, business_clock, tune_runtime, upgrade_database
from tanpuhui.cli.bench import make_events
from tanpuhui.cli.common import console, emit_json, err_console, handled
from tanpuhui.config import Settings
from tanpuhui.domain.errors import InvalidInputError
from tanpuhui.domain.parties import Role
from tanpuhui.domain.sign_in import PrincipalKind
from tanpuhui.services.intake import submit_events
from tanpuhui.services.parties import add_enterprise, add_person, bind_subject
from tanpuhui.services.sign_in import issue_code

CST = timedelta(hours=8)
BATCH = 10_000


def person_rides(count: int, now: datetime) -> list[dict[str, Any]]:
    """`count` one-minute 0.3 km Wuhan rides, 345 a day over the 29 days before today (250 s
    apart: beyond the mobility group's 180 s skew; 345 × 27 g stays under its 10 kg cap)."""
    today = (now + CST).replace(hour=0, minute=0, second=0, microsecond=0) - CST
    rides = []
    for i in range(count):
        day, slot = divmod(i, 345)
        start = today - timedelta(days=29 - day % 29) + timedelta(seconds=250 * slot)
        rides.append({
            "event_id": f"me-{i}", "subject": "me", "behaviour": "bike_share_ride",
            "started_at": start.isoformat(), "ended_at": (start + timedelta(minutes=1)).isoformat(),
            "quantity": {"distance_km": "0.3"}, "region": "420106",
        })  # fmt: skip
    return rides


def _load(app: App, events: int, reductions: int, now: datetime) -> Any:
    ctx = app.ctx
    population = add_enterprise(ctx, "Bench population", {Role.SCENE}).id
    bikes = add_enterprise(ctx, "Bench bikes", {Role.SCENE}).id
    person = add_person(ctx).id
    bind_subject(ctx, bikes, "me", person)
    rides = person_rides(reductions, now)
    credited = 0
    for at in range(0, len(rides), BATCH):
        outcomes = submit_events(ctx, bikes, rides[at : at + BATCH], source="bench")
        credited += sum(1 for o in outcomes if o.kind.value == "credited")
    if credited != reductions:
        raise InvalidInputError(f"only {credited:,} of the person's rides were credited")
    decoder = EventDecoder(ctx.regions)
    lines = make_events(events - reductions, now)
    items = [decoder.line(line) for line in lines if line.strip()]
    for at in range(0, len(items), BATCH):
        submit_events(ctx, population, items[at : at + BATCH], source="bench")
        if at % 200_000 == 0:
            err_console.print(f"  {at + reductions:,} events in …")
    return person


def _serve(app: App) -> tuple[uvicorn.Server, threading.Thread, socket.socket, str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(create_app(app), host="127.0.0.1", log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise InvalidInputError("the page server did not start")
        time.sleep(0.01)
    return server, thread, sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


def _measure(app: App, base: str, person: Any, requests: int) -> dict[str, Any]:
    _, code = issue_code(app.ctx, PrincipalKind.PERSON, str(person))
    with httpx.Client(base_url=base, timeout=60) as http:
        form = http.get("/signin/code").text
        found = re.search(r'name="csrf" value="([^"]+)"', form)
        assert found is not None
        data = {"csrf": found[1], "as": "person", "account": str(person), "code": code}
        if http.post("/signin/code", data=data).status_code != 303:
            raise InvalidInputError("the bench person could not sign in")
        server_ms, client_ms = [], []
        for i in range(requests + 5):
            started = time.perf_counter()
            answer = http.get("/me")
            elapsed = (time.perf_counter() - started) * 1000
            answer.raise_for_status()
            if i >= 5:  # the first few warm the catalogue cache and the page cache
                client_ms.append(elapsed)
                server_ms.append(float(answer.headers["server-timing"].split("dur=")[1]))
    return {
        "server_ms": _spread(server_ms),
        "client_ms": _spread(client_ms),
        "bytes": len(answer.content),
    }


def _spread(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"p50": pick(0.5), "p95": pick(0.95), "max": round(ordered[-1], 1)}


@handled
def bench_pages(
    events: Annotated[
        int, typer.Option(min=20_000, help="Events in the database in all.")
    ] = 1_000_000,
    reductions: Annotated[int, typer.Option(min=100, help="The person's reductions.")] = 10_000,
    requests: Annotated[int, typer.Option(min=10, help="Fetches of the person page.")] = 200,
    engine: Annotated[str, typer.Option(help="sqlite or postgres (embedded server)")] = "sqlite",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The person page (我的碳账本) for a person with many reductions on a big database."""
    if engine not in ("sqlite", "postgres") or reductions >= events:
        raise InvalidInputError("--engine sqlite|postgres, and fewer --reductions than --events")
    tune_runtime()
    work = Path(tempfile.mkdtemp(prefix="tanpuhui-bench-pages-"))
    pg: Any = None
    if engine == "sqlite":
        url = f"sqlite:///{work / 'pages.db'}"
    else:
        started_pg, server_url = start_server(work / "pg")
        pg = started_pg
        url = create_database(server_url, "bench_pages")
    now = business_clock(Settings()).now()
    app = build(Settings(database_url=url), clock=FixedClock(now))
    try:
        upgrade_database(app)
        err_console.print(f"loading {events:,} events ({reductions:,} of one person) …")
        loading = time.perf_counter()
        person = _load(app, events, reductions, now)
        loaded_s = time.perf_counter() - loading
        server, thread, sock, base = _serve(app)
        try:
            result = _measure(app, base, person, requests)
        finally:
            server.should_exit = True
            thread.join(timeout=15)
            sock.close()
    finally:
        app.close()
        if pg is not None:
            pg.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    result |= {"engine": engine, "events": events, "reductions": reductions,
               "requests": requests, "load_s": round(loaded_s, 1)}  # fmt: skip
    if as_json:
        emit_json(result)
        return
    s, c = result["server_ms"], result["client_ms"]
    console.print(
        f"person page, {reductions:,} reductions of {events:,} events ({engine}), {requests} "
        f"requests: server p50 {s['p50']} ms, p95 {s['p95']} ms, max {s['max']} ms; "
        f"round trip p95 {c['p95']} ms; {result['bytes']:,} bytes",
        highlight=False,
    )
