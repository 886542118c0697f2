"""The demo's simulated month: who the people are and what every enterprise reports each day.

Eight scene enterprises of different kinds; people in the five cities of `synthetic.CITIES`,
most bound to their apps before the month, some during it, some never. Each day: bike rides
(a map app navigating some of them: the same trip twice), transit, steps, meals without
disposable cutlery (a wallet reporting some of the same orders: caught by evidence), clean
plates, clothes for recycling; after the month, the utility's household savings. Now and then
an enterprise's export has a bug (malformed events). Deterministic for a given `rng`.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from tanpuhui.adapters.synthetic import CITIES, City

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


def _stamp(moment: datetime) -> str:
    return moment.astimezone(CST).isoformat(timespec="seconds")


def make_people(count: int, days: int, rng: random.Random) -> list[Person]:
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


def day_reports(
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


def monthly_power(
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


def batches(events: list[dict[str, Any]], rng: random.Random) -> Iterator[list[dict[str, Any]]]:
    for at in range(0, len(events), BATCH):
        batch = list(events[at : at + BATCH])
        if batch and rng.random() < 0.3:  # now and then a bug in the enterprise's export
            for _ in range(rng.randint(1, 3)):
                broken = rng.choice(_MALFORMED)(dict(rng.choice(batch)))
                broken["event_id"] = f"broken-{rng.getrandbits(40):x}"
                batch.append(broken)
        yield batch
