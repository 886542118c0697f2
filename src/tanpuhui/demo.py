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
"""

from __future__ import annotations

import json
import multiprocessing
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import msgspec

from tanpuhui.adapters.crypto import generate_key, private_pem, public_raw
from tanpuhui.adapters.synthetic import CITIES, City
from tanpuhui.adapters.system import SharedClock
from tanpuhui.bootstrap import App, build, tune_runtime, upgrade_database
from tanpuhui.client import Client
from tanpuhui.config import Settings
from tanpuhui.domain.errors import ConfigurationError
from tanpuhui.domain.parties import Role
from tanpuhui.services.access import issue_person_token, register_credential
from tanpuhui.services.evidence import authorise_issuer
from tanpuhui.services.ledger import verify_ledger
from tanpuhui.services.parties import add_enterprise, add_persons, bind_subjects

CST = timezone(timedelta(hours=8))
BATCH = 2_000


#: (key, name, kind): the scene enterprises of the demo
ENTERPRISES = (
    ("bikes", "Demo Shared Bikes 共享单车", "bike sharing"),
    ("maps", "Demo Maps 地图导航", "map app (cycling and transit navigation)"),
    ("transit", "Demo Transit Card 公交地铁卡", "bus and metro operator"),
    ("food", "Demo Food Delivery 外卖平台", "food delivery"),
    ("wallet", "Demo Wallet 支付", "payment app (sees the same orders)"),
    ("steps", "Demo Step Counter 运动健康", "step counter"),
    ("recycling", "Demo Clothes Recycling 旧衣回收", "used-clothes recycling"),
    ("power", "Demo Power Utility 电网", "electricity utility"),
)
#: The issuer of the food platform's orders (domain/evidence.py).
FOOD_ISSUER = "platform:demo-food"
BINDING_APPS = ("bikes", "maps", "transit", "food", "wallet", "steps", "recycling", "power")


@dataclass
class Person:
    index: int
    city: City
    region: str
    binds: str  # early | late | never
    late_day: int
    id: Any = None  # person id once created

    def subject(self, app: str) -> str:
        # every enterprise has its own id scheme for the same person
        return f"{app[:2]}{(self.index * 7919 + len(app) * 104729) % 10_000_019:08d}"


@dataclass
class Stats:
    outcomes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    replays: int = 0
    grams: int = 0
    posted: int = 0
    requests: int = 0
    bindings: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(CST).isoformat(timespec="seconds")


def _people(count: int, days: int, rng: random.Random) -> list[Person]:
    weights = [c.share for c in CITIES]
    people = []
    for i in range(count):
        city = rng.choices(CITIES, weights)[0]
        roll = rng.random()
        binds = "early" if roll < 0.8 else ("late" if roll < 0.9 else "never")
        people.append(
            Person(i, city, rng.choice(city.counties), binds, rng.randint(5, max(5, days - 5)))
        )
    return people


def _day(
    people: list[Person], day: int, start: datetime, rng: random.Random
) -> dict[str, list[dict[str, Any]]]:
    """Every enterprise's reports of one simulated day."""
    reports: dict[str, list[dict[str, Any]]] = defaultdict(list)
    tag = f"{start:%Y%m%d}"
    for p in people:
        if rng.random() > 0.6:
            continue  # not everyone does something green every day
        clock = start + timedelta(hours=7, minutes=rng.randint(0, 100))
        if rng.random() < 0.5:
            km = max(0.6, rng.gauss(2.0, 0.7))
            ride, clock = _trip(p, tag, "bikes", "bike_share_ride", clock, km,
                                max(4.0, km * 6 * rng.uniform(0.8, 1.2)), rng)  # fmt: skip
            ride["evidence"] = {"ref": f"ride-{tag}-{p.index}"}
            reports["bikes"].append(ride)
            if rng.random() < 0.3:  # the map app navigated the same ride
                nav = dict(ride, event_id=f"nav-{tag}-{p.index}", subject=p.subject("maps"))
                del nav["evidence"]
                shift = timedelta(seconds=rng.randint(-60, 60))
                nav["started_at"] = _stamp(datetime.fromisoformat(ride["started_at"]) + shift)
                nav["ended_at"] = _stamp(datetime.fromisoformat(ride["ended_at"]) + shift)
                reports["maps"].append(nav)
        if "metro_ride" in p.city.transit and rng.random() < 0.45:
            km = max(1.5, rng.gauss(9, 3))
            metro, clock = _trip(p, tag, "transit", "metro_ride", clock, km, km * 2.6 + 5, rng)
            reports["transit"].append(metro)
        if "bus_ride" in p.city.transit and rng.random() < 0.35:
            km = max(1.0, rng.gauss(5, 2))
            bus, clock = _trip(p, tag, "transit", "bus_ride", clock, km, km * 4 + 4, rng)
            reports["transit"].append(bus)
        if rng.random() < 0.7:
            reports["steps"].append({
                "event_id": f"steps-{tag}-{p.index}",
                "subject": p.subject("steps"),
                "behaviour": "walking_steps",
                "started_at": _stamp(start),
                "ended_at": _stamp(start + timedelta(days=1, seconds=-1)),
                "quantity": {"steps": str(rng.randint(1500, 16000))},
                "region": p.region,
            })  # fmt: skip
        meal = start + timedelta(hours=12, minutes=rng.randint(0, 90))
        if rng.random() < 0.2:
            order = {
                "event_id": f"food-{tag}-{p.index}",
                "subject": p.subject("food"),
                "behaviour": "no_disposable_cutlery",
                "started_at": _stamp(meal),
                "ended_at": _stamp(meal + timedelta(minutes=35)),
                "quantity": {"count": "1"},
                "region": p.region,
                "evidence": {"ref": f"order-{tag}-{p.index}", "issuer": FOOD_ISSUER},
            }
            reports["food"].append(order)
            if rng.random() < 0.1:  # the wallet that paid for it reports the same order
                reports["wallet"].append(
                    dict(order, event_id=f"pay-{tag}-{p.index}", subject=p.subject("wallet"))
                )
        if rng.random() < 0.2:
            reports["food"].append({
                "event_id": f"plate-{tag}-{p.index}",
                "subject": p.subject("food"),
                "behaviour": "clean_plate",
                "started_at": _stamp(meal + timedelta(hours=6)),
                "ended_at": _stamp(meal + timedelta(hours=6, minutes=45)),
                "region": p.region,
            })  # fmt: skip
        if rng.random() < 0.004:
            reports["recycling"].append({
                "event_id": f"clothes-{tag}-{p.index}",
                "subject": p.subject("recycling"),
                "behaviour": "used_clothes_recycling",
                "started_at": _stamp(meal + timedelta(hours=3)),
                "ended_at": _stamp(meal + timedelta(hours=3, minutes=10)),
                "quantity": {"weight_kg": f"{rng.uniform(0.5, 8):.1f}"},
                "region": p.region,
            })  # fmt: skip
    return reports


def _trip(
    p: Person,
    tag: str,
    app: str,
    behaviour: str,
    begin: datetime,
    km: float,
    minutes: float,
    rng: random.Random,
) -> tuple[dict[str, Any], datetime]:
    """One trip as `app` reports it, and when the person is next free."""
    end = begin + timedelta(minutes=minutes)
    event = {
        "event_id": f"{app}-{tag}-{p.index}-{behaviour[:3]}",
        "subject": p.subject(app),
        "behaviour": behaviour,
        "started_at": _stamp(begin),
        "ended_at": _stamp(end),
        "quantity": {"distance_km": f"{km:.2f}"},
        "region": p.region,
    }
    return event, end + timedelta(hours=rng.uniform(1, 8))


def _monthly_power(
    people: list[Person], first: datetime, days: int, rng: random.Random
) -> list[dict[str, Any]]:
    """The utility's report, after the month: each participating household's saving."""
    return [
        {
            "event_id": f"power-{first:%Y%m}-{p.index}",
            "subject": p.subject("power"),
            "behaviour": "household_electricity_saved",
            "started_at": _stamp(first),
            "ended_at": _stamp(first + timedelta(days=days, seconds=-1)),
            "quantity": {"kwh": f"{rng.uniform(3, 45):.1f}"},
            "region": p.region,
        }
        for p in people
        if p.index % 5 == 0
    ]


_MALFORMED = (
    lambda e: {k: v for k, v in e.items() if k != "region"},
    lambda e: dict(e, started_at=e["started_at"][:19]),
    lambda e: dict(e, behaviour="teleportation"),
    lambda e: dict(e, quantity={"distance_km": "-3"}),
    lambda e: dict(e, colour="green"),
    lambda e: dict(e, region="999999"),
)


def _batches(events: list[dict[str, Any]], rng: random.Random) -> Iterator[list[dict[str, Any]]]:
    for at in range(0, len(events), BATCH):
        batch = list(events[at : at + BATCH])
        if batch and rng.random() < 0.3:  # now and then a bug in the enterprise's export
            for _ in range(rng.randint(1, 3)):
                broken = rng.choice(_MALFORMED)(dict(rng.choice(batch)))
                broken["event_id"] = f"broken-{rng.getrandbits(40):x}"
                batch.append(broken)
        yield batch


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


def _serve(url: str, port: int, clock: Any) -> None:
    import uvicorn

    from tanpuhui.api.app import create_app

    tune_runtime()
    settings = Settings(database_url=url, rate_limit_per_s=5000, rate_limit_burst=5000)
    uvicorn.run(create_app(build(settings, clock=SharedClock(clock))), host="127.0.0.1",
                port=port, log_level="warning")  # fmt: skip


def _wait_ready(base: str, process: multiprocessing.process.BaseProcess) -> None:
    for _ in range(300):
        if not process.is_alive():
            raise ConfigurationError(f"the API server did not start (is {base} in use?)")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise ConfigurationError("the API server did not become ready")


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


def run_demo(
    db: Path, *, persons: int = 10_000, days: int = 30, port: int = 8000, seed: int = 2026,
    serve: bool = True, progress: Any = None,
) -> tuple[DemoResult, multiprocessing.process.BaseProcess | None, Any]:  # fmt: skip
    """Run the demo; returns the result, and the still-running server when `serve`."""
    started = time.perf_counter()
    report = progress or (lambda _text: None)

    def say(text: str) -> None:
        report(f"[{time.perf_counter() - started:5.1f} s] {text}")

    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    rng = random.Random(seed)
    now = datetime.now(UTC)
    first = (now.astimezone(CST) - timedelta(days=days)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    mp = multiprocessing.get_context("spawn")
    clock = mp.Value("d", first.timestamp())
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
    people = _people(persons, days, rng)
    for p, created in zip(people, add_persons(app.ctx, len(people)), strict=True):
        p.id = created.id
    bind_subjects(
        app.ctx,
        [
            (enterprise_ids[key], p.subject(key), p.id)
            for p in people
            if p.binds == "early"
            for key in BINDING_APPS
        ],
    )

    base = f"http://127.0.0.1:{port}"
    say("starting the API server …")
    server = mp.Process(target=_serve, args=(url, port, clock), daemon=True)
    server.start()
    stats = Stats()
    try:
        _wait_ready(base, server)
        api = {
            key: Client(base, str(cid), private, timeout=120)
            for key, (cid, private) in clients.items()
        }
        late = defaultdict(list)
        for p in people:
            if p.binds == "late":
                late[p.late_day].append(p)
        tokens = {p.index: issue_person_token(app.ctx, p.id) for ps in late.values() for p in ps}
        people_app = httpx.Client(base_url=base, timeout=30)  # the platform's own mobile app
        with ThreadPoolExecutor(3) as pool:
            for day in range(days):
                start = first + timedelta(days=day)
                clock.value = (start + timedelta(days=1, hours=1)).timestamp()
                reports = _day(people, day, start, rng)
                futures = [
                    pool.submit(_post, api[key], key, batch, stats, rng.random() < 0.04)
                    for key, events in reports.items()
                    for batch in _batches(events, rng)
                ]
                for f in futures:
                    f.result()
                if late.get(day):
                    futures = [
                        pool.submit(_bind_late, people_app, api, p, tokens[p.index], stats)
                        for p in late[day]
                    ]
                    for f in futures:
                        f.result()
                if day % 5 == 4 or day == 0:
                    say(f"day {day + 1}/{days}: {stats.posted:,} events posted")
            clock.value = (first + timedelta(days=days, hours=2)).timestamp()
            power = _monthly_power(people, first, days, rng)
            for batch in _batches(power, rng):
                _post(api["power"], "power", batch, stats, lost=False)
        for client in api.values():
            client.close()
        people_app.close()
        clock.value = 0.0  # from now on the server runs on real time
        say("verifying the ledger …")
        violations = len(verify_ledger(app.ctx))
        by_city, pending, owned = _totals(app, people)
    except BaseException:
        server.terminate()
        raise
    finally:
        app.close()
    result = DemoResult(
        stats, persons, days, time.perf_counter() - started, violations, by_city, pending,
        owned, list(ENTERPRISES), base, credentials_file,
    )  # fmt: skip
    if not serve:
        server.terminate()
        server.join(10)
        return result, None, clock
    return result, server, clock


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
