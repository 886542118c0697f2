"""Synthetic but realistic behaviour events, for the sample file, the demo and benchmarks.

Persons live in five cities whose methodologies the catalogue ships, and use the transit their
city has a published factor for; each simulated day they ride
shared bikes (≈2 km, ≈12 min — Meituan's average ride), buses and metros, walk, finish their
plates, skip disposable cutlery, now and then recycle clothes. Deterministic for a given seed.
Optional imperfections: the same trip reported again by a map app (cross-source duplicate),
the same order reported twice (evidence), malformed lines.

Every event `generate` writes is one the catalogue accepts as long as its oldest day lies within
the shortest claim window of the behaviours written (`shortest_claim_window`): a sample that
spans more days would get `outside_claim_window` for its oldest events.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, NamedTuple

from tanpuhui.domain.methodology import Catalogue

CST = timezone(timedelta(hours=8))


@dataclass(frozen=True)
class City:
    name: str
    counties: tuple[str, ...]
    share: float  # of the simulated population
    transit: frozenset[str]  # transit behaviours the catalogue has a methodology for here


CITIES = (
    City("Shenzhen 深圳", ("440303", "440304", "440305", "440306", "440307"), 0.25,
         frozenset({"bus_ride", "metro_ride"})),
    City("Wuhan 武汉", ("420102", "420103", "420106", "420111"), 0.20,
         frozenset({"bus_ride", "metro_ride"})),
    City("Beijing 北京", ("110101", "110102", "110105", "110108"), 0.25,
         frozenset({"bus_ride", "metro_ride"})),
    City("Guangzhou 广州", ("440103", "440104", "440105", "440106"), 0.20,
         frozenset({"metro_ride"})),
    City("Luzhou 泸州", ("510502", "510503", "510504"), 0.10, frozenset({"bus_ride"})),
)  # fmt: skip

# behaviour, daily probability, (mean km or quantity), (mean minutes)
TRIPS = [
    ("bike_share_ride", 0.55, 2.0, 12),
    ("metro_ride", 0.45, 9.0, 25),
    ("bus_ride", 0.35, 5.0, 22),
]

#: the other behaviours `day_events` writes, whatever the city
DAILY = ("walking_steps", "clean_plate", "no_disposable_cutlery", "used_clothes_recycling")


class ClaimWindow(NamedTuple):
    days: int
    behaviour: str
    methodology: str  # code@version


def shortest_claim_window(catalogue: Catalogue, day: date) -> ClaimWindow | None:
    """The shortest claim window among the methodologies that would credit, on `day`, the
    behaviours `generate` writes for people anywhere in `CITIES`."""
    windows = [
        ClaimWindow(m.claim_window_days, behaviour, m.key)
        for city in CITIES
        for county in city.counties
        for behaviour in ("bike_share_ride", *sorted(city.transit), *DAILY)
        if (m := catalogue.resolve(behaviour, day, county)) is not None
    ]
    return min(windows, default=None)


@dataclass(frozen=True, slots=True)
class Person:
    subject: str
    region: str
    transit: frozenset[str]


def persons(count: int, seed: int = 7, prefix: str = "u") -> list[Person]:
    rng = random.Random(seed)
    weights = [c.share for c in CITIES]
    people = []
    for i in range(count):
        city = rng.choices(CITIES, weights)[0]
        people.append(Person(f"{prefix}{i:07d}", rng.choice(city.counties), city.transit))
    return people


def _stamp(moment: datetime) -> str:
    return moment.astimezone(CST).isoformat(timespec="seconds")


def day_events(
    person: Person, day_start: datetime, rng: random.Random, prefix: str, now: datetime
) -> Iterator[dict[str, Any]]:
    """One person's behaviours on one day (local midnight `day_start`)."""
    clock = day_start + timedelta(hours=7, minutes=rng.randint(0, 90))
    n = 0
    for behaviour, probability, mean_km, mean_min in TRIPS:
        if rng.random() >= probability or (
            behaviour != "bike_share_ride" and behaviour not in person.transit
        ):
            continue
        km = max(0.6, rng.gauss(mean_km, mean_km / 3))
        minutes = max(3.0, km / mean_km * mean_min * rng.uniform(0.8, 1.25))
        end = clock + timedelta(minutes=minutes)
        if end > now:
            break
        n += 1
        yield {
            "event_id": f"{prefix}-{person.subject}-{day_start:%Y%m%d}-{n}",
            "subject": person.subject,
            "behaviour": behaviour,
            "started_at": _stamp(clock),
            "ended_at": _stamp(end),
            "quantity": {"distance_km": f"{km:.2f}"},
            "region": person.region,
            "evidence": {"ref": f"{prefix}-order-{person.subject}-{day_start:%Y%m%d}-{n}"},
        }
        clock = end + timedelta(hours=rng.uniform(0.5, 9))
    day_end = day_start + timedelta(days=1) - timedelta(seconds=1)
    if rng.random() < 0.7 and day_end < now:
        yield {
            "event_id": f"{prefix}-{person.subject}-{day_start:%Y%m%d}-steps",
            "subject": person.subject,
            "behaviour": "walking_steps",
            "started_at": _stamp(day_start),
            "ended_at": _stamp(day_end),
            "quantity": {"steps": str(rng.randint(1500, 16000))},
            "region": person.region,
        }
    meal = day_start + timedelta(hours=12, minutes=rng.randint(0, 60))
    if rng.random() < 0.25 and meal + timedelta(minutes=40) < now:
        yield {
            "event_id": f"{prefix}-{person.subject}-{day_start:%Y%m%d}-plate",
            "subject": person.subject,
            "behaviour": "clean_plate",
            "started_at": _stamp(meal),
            "ended_at": _stamp(meal + timedelta(minutes=40)),
            "region": person.region,
        }
    if rng.random() < 0.2 and meal + timedelta(minutes=30) < now:
        yield {
            "event_id": f"{prefix}-{person.subject}-{day_start:%Y%m%d}-cutlery",
            "subject": person.subject,
            "behaviour": "no_disposable_cutlery",
            "started_at": _stamp(meal),
            "ended_at": _stamp(meal + timedelta(minutes=30)),
            "quantity": {"count": "1"},
            "region": person.region,
            "evidence": {"ref": f"{prefix}-meal-{person.subject}-{day_start:%Y%m%d}"},
        }
    if rng.random() < 0.01 and meal + timedelta(hours=3) < now:
        yield {
            "event_id": f"{prefix}-{person.subject}-{day_start:%Y%m%d}-clothes",
            "subject": person.subject,
            "behaviour": "used_clothes_recycling",
            "started_at": _stamp(meal + timedelta(hours=2)),
            "ended_at": _stamp(meal + timedelta(hours=2, minutes=10)),
            "quantity": {"weight_kg": f"{rng.uniform(0.5, 6):.1f}"},
            "region": person.region,
        }


def generate(
    people: list[Person], days: int, now: datetime, *, seed: int = 11, prefix: str = "ev"
) -> Iterator[dict[str, Any]]:
    """Every person's events over the `days` local days before `now`, day by day."""
    rng = random.Random(seed)
    today = now.astimezone(CST).replace(hour=0, minute=0, second=0, microsecond=0)
    for back in range(days, -1, -1):
        day_start = today - timedelta(days=back)
        for person in people:
            yield from day_events(person, day_start, rng, prefix, now)


def map_app_echo(event: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The same trip as a map app's navigation reports it: own ids, times a little off."""
    start = datetime.fromisoformat(event["started_at"]) + timedelta(seconds=rng.randint(-60, 60))
    end = datetime.fromisoformat(event["ended_at"]) + timedelta(seconds=rng.randint(-60, 60))
    return {
        "event_id": "nav-" + event["event_id"],
        "subject": event["subject"],
        "behaviour": event["behaviour"],
        "started_at": _stamp(start),
        "ended_at": _stamp(max(end, start + timedelta(minutes=1))),
        "quantity": dict(event["quantity"]),
        "region": event["region"],
    }
