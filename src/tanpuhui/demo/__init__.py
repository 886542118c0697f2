"""`tanpuhui demo` — the live demo: a month of a city-scale carbon ledger, through the real API.

A fresh SQLite database; eight scene enterprises of different kinds, each with its own Ed25519
credential; ten thousand people in five cities. The API server runs in its own process; the
simulator posts signed batches to it day by day for 30 simulated days (business time follows
the simulation through a shared clock; signatures use real time):

- bike rides, transit rides, steps, meals without disposable cutlery, clean plates, clothes
  handed in for recycling, and each household's monthly electricity saving;
- the same trip reported by the bike app and by a map app's navigation (caught as overlap);
- the same order reported by the food platform and by a wallet (caught by its evidence);
- responses lost on the network and the batch sent again (a replay: nothing new credited);
- a few malformed events in some batches (rejected with reasons, the rest processed);
- most people bound their apps before the month began; some bind during it through the API
  (a one-time code from the person, redeemed by the enterprise: their pending grams move);
  some never do (their grams wait in pending accounts).

Then it prints the outcome summary, verifies every ledger invariant, and keeps serving at
http://127.0.0.1:8000 (`--no-serve` stops after the summary).

The demo owns its server: the server process ends with the demo on Ctrl-C, SIGTERM, SIGHUP,
an error, and (by a parent-death signal and a watch on the parent) SIGKILL of the demo. A port
in use is refused before any work, and the demo talks only to a server that answers with the
random instance token it gave its own (header `X-Tanpuhui-Demo-Instance`): never to a stale one.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import re
import secrets
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec

from tanpuhui.adapters.crypto import generate_key, private_pem, public_raw
from tanpuhui.adapters.processes import port_error, port_is_free, stop_signals
from tanpuhui.adapters.synthetic import CITIES
from tanpuhui.adapters.system import SharedClock
from tanpuhui.bootstrap import App, build, business_clock, upgrade_database
from tanpuhui.client import Client, ClientError
from tanpuhui.config import Settings
from tanpuhui.demo.certificates import run_certificates
from tanpuhui.demo.market import run_market
from tanpuhui.demo.month import (
    BINDING_APPS,
    CST,
    ENTERPRISES,
    FOOD_ISSUER,
    Person,
    batches,
    day_reports,
    make_people,
    monthly_power,
)
from tanpuhui.demo.retirement import run_retirement
from tanpuhui.demo.server import HOST, serve_api, stop, wait_ready
from tanpuhui.domain.errors import InvalidInputError, UnavailableError
from tanpuhui.domain.parties import Role
from tanpuhui.domain.sign_in import PrincipalKind, sign_in_path
from tanpuhui.services.access import issue_person_token, register_credential
from tanpuhui.services.evidence import authorise_issuer
from tanpuhui.services.ledger import verify_ledger
from tanpuhui.services.parties import add_enterprise, add_persons, bind_subjects
from tanpuhui.services.sign_in import issue_code
from tanpuhui.services.transparency import publish_checkpoint

URL_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:/")


@dataclass
class Stats:
    outcomes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    replays: int = 0
    grams: int = 0
    posted: int = 0
    requests: int = 0
    bindings: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _post(client: Client, key: str, batch: list[dict[str, Any]], stats: Stats, lost: bool) -> None:
    body = msgspec.json.encode({"events": batch})
    if lost:  # the response is lost on the way back; the enterprise sends the batch again
        client.submit_raw(body)
        with stats.lock:
            stats.requests += 1
    answer = client.submit_raw(body)
    with stats.lock:
        stats.requests += 1
        stats.posted += len(batch)
        for o in answer["outcomes"]:
            stats.outcomes[key][o["outcome"]] += 1
            stats.grams += o.get("grams") or 0
        if lost:
            stats.replays += len(batch)


@dataclass
class DemoResult:
    stats: Stats
    persons: int
    days: int
    seconds: float
    violations: int
    by_city: dict[str, int]
    pending_grams: int
    person_grams: int
    enterprises: list[tuple[str, str, str]]
    base_url: str
    credentials_file: Path
    sign_in_link: str = ""  # the pages: one demo person's sign-in (a code valid 10 minutes)
    checkpoint: tuple[int, int] = (0, 0)  # the signed checkpoint published at the end: id, leaves
    own_key: bool = False  # signed with TANPUHUI_CHECKPOINT_KEY, not the public dev key


def check_demo_path(db: Path) -> None:
    """--db is a file path for a fresh SQLite database, not a URL nor a directory."""
    text = str(db)
    if URL_LIKE.match(text):  # a Path turns sqlite:///x.db into sqlite:/x.db
        raise InvalidInputError(
            "--db takes the path of a SQLite file to create, not a database URL: "
            "e.g. --db tanpuhui-demo.db"
        )
    if db.is_dir():
        raise InvalidInputError(f"--db {text} is a directory: give a file path")
    if not db.absolute().parent.is_dir():
        raise InvalidInputError(
            f"--db {text}: the directory {db.absolute().parent} does not exist",
            code="file_error",
        )


def run_demo(
    db: Path, *, persons: int = 10_000, days: int = 30, port: int = 8000, seed: int = 2026,
    serve: bool = True, progress: Any = None, on_summary: Any = None,
) -> DemoResult:  # fmt: skip
    """Run the demo; `on_summary(result)` is called once the month is posted and verified,
    then, when `serve`, the API keeps serving until Ctrl-C, SIGTERM or SIGHUP. The server
    process ends with this one in every case (with SIGKILL too: `die_with_parent`)."""
    check_demo_path(db)
    if not port_is_free(HOST, port):  # before minutes of set-up, not after
        raise port_error(HOST, port)
    started = time.perf_counter()
    report = progress or (lambda _text: None)

    def say(text: str) -> None:
        report(f"[{time.perf_counter() - started:5.1f} s] {text}")

    with stop_signals():
        world = _onboard(db, persons, days, seed, say)
        token = secrets.token_urlsafe(16)
        mp = multiprocessing.get_context("spawn")
        say("starting the API server …")
        failures = mp.SimpleQueue()
        server = mp.Process(target=serve_api, args=(world.url, port, world.clock, token, failures))
        server.start()
        try:
            wait_ready(f"http://{HOST}:{port}", port, server, token, failures)
            result = _run_month(world, port, server, say)
            result.seconds = time.perf_counter() - started
            announce = (lambda: on_summary(result)) if on_summary is not None else lambda: None
            if serve:
                _serve_until_stopped(server, announce)
            else:
                announce()
        finally:
            stop(server)
            world.app.close()
    return result


def _serve_until_stopped(
    server: multiprocessing.process.BaseProcess, announce: Callable[[], None]
) -> None:
    """Ctrl-C, SIGTERM or SIGHUP end the demo normally from the moment the summary (which says
    "serving at …") starts printing — a stop signal that arrives while it prints is a normal
    end too; the server ending by itself is an error."""
    try:
        announce()
        server.join()
    except KeyboardInterrupt:
        return
    raise UnavailableError(f"the API server stopped by itself (exit code {server.exitcode})")


@dataclass
class World:
    app: App
    url: str
    clock: Any
    first: datetime
    days: int
    rng: random.Random
    people: list[Person]
    clients: dict[str, tuple[Any, Any]]
    credentials_file: Path


def _onboard(db: Path, persons: int, days: int, seed: int, say: Any) -> World:
    """A fresh database with the enterprises, their credentials and the people."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    rng = random.Random(seed)
    now = business_clock(Settings()).now()
    first = (now.astimezone(CST) - timedelta(days=days)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    clock = multiprocessing.get_context("spawn").Value("d", first.timestamp())
    app = build(Settings(database_url=url), clock=SharedClock(clock))
    upgrade_database(app)
    say("onboarding enterprises and people …")
    clients, enterprise_ids, keys = {}, {}, {}
    for key, name, _kind in ENTERPRISES:
        enterprise = add_enterprise(app.ctx, name, {Role.SCENE})
        private = generate_key()
        credential = register_credential(app.ctx, enterprise.id, public_raw(private), "demo")
        enterprise_ids[key] = enterprise.id
        clients[key] = (credential.id, private)
        keys[name] = {"enterprise_id": str(enterprise.id), "credential_id": str(credential.id),
                      "private_key": private_pem(private)}  # fmt: skip
    # the food platform issues its orders; the wallet that paid them may cite them
    authorise_issuer(app.ctx, FOOD_ISSUER, enterprise_ids["food"], is_issuer=True)
    authorise_issuer(app.ctx, FOOD_ISSUER, enterprise_ids["wallet"])
    credentials_file = db.with_name(db.name + ".credentials.json")
    credentials_file.write_text(json.dumps(keys, ensure_ascii=False, indent=2))
    credentials_file.chmod(0o600)
    people = make_people(persons, days, rng)
    for p, created in zip(people, add_persons(app.ctx, len(people)), strict=True):
        p.id = created.id
    early = [p for p in people if p.binds == "early"]
    bind_subjects(
        app.ctx, [(enterprise_ids[k], p.subject(k), p.id) for p in early for k in BINDING_APPS]
    )
    return World(app, url, clock, first, days, rng, people, clients, credentials_file)


def _run_month(
    world: World, port: int, server: multiprocessing.process.BaseProcess, say: Any
) -> DemoResult:
    base = f"http://{HOST}:{port}"
    try:
        stats = _post_month(world, base, say)
    except (httpx.HTTPError, ClientError):
        if server.is_alive():
            raise
        raise UnavailableError(
            f"the API server stopped during the demo (exit code {server.exitcode})"
        ) from None
    world.clock.value = 0.0  # from now on the server runs on real time
    run_market(world.app, [p.id for p in world.people if p.binds == "early"], say)
    early = [p.id for p in world.people if p.binds == "early"]
    run_certificates(world.app, early, world.first, world.days, base, say)
    run_retirement(world.app, say)
    say("verifying the ledger …")
    violations = len(verify_ledger(world.app.ctx))
    say("signing a checkpoint of the ledger's logs …")
    checkpoint = publish_checkpoint(world.app.ctx)
    by_city, pending, owned = _totals(world.app, world.people)
    someone = next(p for p in world.people if p.binds == "early")
    _, code = issue_code(world.app.ctx, PrincipalKind.PERSON, str(someone.id))
    return DemoResult(
        stats, len(world.people), world.days, 0.0, violations, by_city, pending, owned,
        list(ENTERPRISES), base, world.credentials_file,
        base + sign_in_path(PrincipalKind.PERSON, someone.id, code),
        (checkpoint.id, checkpoint.size), bool(world.app.settings.checkpoint_key.strip()),
    )  # fmt: skip


def _post_month(world: World, base: str, say: Any) -> Stats:
    """Every simulated day's reports, the late bindings, then the utility's month."""
    stats, rng, clock, first = Stats(), world.rng, world.clock, world.first
    api = {
        key: Client(base, str(cid), private, timeout=120)
        for key, (cid, private) in world.clients.items()
    }
    late = defaultdict(list)
    for p in world.people:
        if p.binds == "late":
            late[p.late_day].append(p)
    tokens = {p.index: issue_person_token(world.app.ctx, p.id) for ps in late.values() for p in ps}
    people_app = httpx.Client(base_url=base, timeout=30)  # the platform's own mobile app
    try:
        with ThreadPoolExecutor(3) as pool:
            for day in range(world.days):
                start = first + timedelta(days=day)
                clock.value = (start + timedelta(days=1, hours=1)).timestamp()
                reports = day_reports(world.people, day, start, rng)
                _all(
                    pool.submit(_post, api[key], key, batch, stats, rng.random() < 0.04)
                    for key, events in reports.items()
                    for batch in batches(events, rng)
                )
                _all(
                    pool.submit(_bind_late, people_app, api, p, tokens[p.index], stats)
                    for p in late.get(day, ())
                )
                if day % 5 == 4 or day == 0:
                    say(f"day {day + 1}/{world.days}: {stats.posted:,} events posted")
        clock.value = (first + timedelta(days=world.days, hours=2)).timestamp()
        for batch in batches(monthly_power(world.people, first, world.days, rng), rng):
            _post(api["power"], "power", batch, stats, lost=False)
    finally:
        for client in api.values():
            client.close()
        people_app.close()
    return stats


def _all(futures: Iterator[Future[None]]) -> None:
    for f in list(futures):
        f.result()


def _bind_late(
    app_http: httpx.Client, api: dict[str, Client], p: Person, token: str, stats: Stats
) -> None:
    """A person who installs the platform mid-month binds four of their apps. The map app
    navigated some rides the bike app reported: moved second, those copies are reversed."""
    for key in ("bikes", "maps", "transit", "steps"):
        answer = app_http.post("/v1/me/binding-codes", headers={"Authorization": f"Bearer {token}"})
        answer.raise_for_status()
        code = answer.json()["code"]
        bound = api[key].bind(p.subject(key), code)
        with stats.lock:
            stats.bindings.append(bound)
            stats.requests += 2


def _totals(app: App, people: list[Person]) -> tuple[dict[str, int], int, int]:
    import sqlalchemy as sa

    with app.engine.connect() as conn:
        regions: dict[str, int] = {
            str(r): int(g)
            for r, g in conn.execute(
                sa.text("select region, sum(grams) from region_totals group by region")
            )
        }
        pending = conn.execute(sa.text(
            "select coalesce(sum(amount), 0) from balances where account like 'pending:%'"
        )).scalar_one()  # fmt: skip
        owned = conn.execute(sa.text(
            "select coalesce(sum(amount), 0) from balances where account like 'person:%'"
        )).scalar_one()  # fmt: skip
    by_city = {c.name: sum(int(regions.get(county, 0)) for county in c.counties) for c in CITIES}
    return by_city, int(pending), int(owned)
