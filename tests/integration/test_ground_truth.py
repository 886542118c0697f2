"""Ground truth: however enterprises tell people's real acts, each act is credited once.

Hypothesis draws what really happened — each person's trips, meals, daily step totals and one
household meter period — and lets three scene enterprises report each act their own way:
any non-empty subset of them reports it; trips as intervals stamped by clocks up to the
mobility clock-skew tolerance apart (180 s), some shortened (a navigation that starts late),
some under two minutes; meals with the order's registered issuer; steps as partial day
counts (never more than the day's total) and instants; the meter period under different
references, each enterprise for any member of the household (held until its window closes,
then settled by households.py's rule: meter 0's registered issuer is enterprise `a`, meter 1
has none); car-free days (held, then settled against the day's trips); any report may be
re-sent under a new event id. The reports then arrive in two
independent random orders and batch splits, each into a fresh database.

Afterwards, on SQLite and PostgreSQL: no person's credited grams exceed what the ground truth
earns once (each trip and meal once, each day of steps its total up to the 296 g cap, a
car-free day only on a day without trips) plus the meter periods their household may be
credited, the household's total exceeds nothing it earns (each meter period once), and each
person's credited total — so also who got each meter period — is the same in both orders.
(Car-free days are drawn for both days: every held claim's window covers the claim windows of
the reports it awaits (settlement.py), so none arrives after its window closed.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tanpuhui.adapters.system import FixedClock
from tanpuhui.bootstrap import App
from tanpuhui.domain.intake import Outcome, OutcomeKind
from tanpuhui.domain.ledger import person_account
from tanpuhui.domain.parties import Role
from tanpuhui.services.evidence import authorise_issuer
from tanpuhui.services.intake import settle_due, submit_events
from tanpuhui.services.ledger import verify_ledger
from tanpuhui.services.parties import add_enterprise, add_person, bind_subject
from tests.builders import event
from tests.conftest import CST, NOW
from tests.db_fixtures import rows
from tests.integration.test_properties import PHASES, fresh_app
from tests.integration.test_settlement_window import held_until

ENTERPRISES = ("a", "b", "c")
PERSONS = 2
MIDNIGHT = NOW.astimezone(CST).replace(hour=0, minute=0, second=0, microsecond=0)
DAYS = (MIDNIGHT - timedelta(days=1), MIDNIGHT - timedelta(days=2))
SKEW_S = 180  # the mobility group's clock-skew tolerance (groups.yaml)
WALKING_CAP = 296
#: trip kinds: (minutes, km, grams) — Wuhan shared bike, 93.3 g/km rounded down once
TRIPS = {"ride": (12, "3.42", 319), "hop": (1.5, "0.3", 27)}
MEAL_GRAMS = 23  # no disposable cutlery, Beijing
CAR_FREE_GRAMS = 4630  # a car-free day in Beijing; it yields to that day's trips
METER_GRAMS = 190_830  # 300 kWh saved over 30 days in Beijing × 636.1 g/kWh
FOOD, METER = "platform:food", "meter:household-{p}"


def earns(act: Act, acts: list[Act]) -> int:
    """What an act earns once: a car-free day nothing when the person made trips that day
    (the day's travel is counted once, by its trips)."""
    if act.kind == "car_free" and any(
        a.kind == "trip" and a.person == act.person and a.start.date() == act.start.date()
        for a in acts
    ):
        return 0
    return act.grams


def step_grams(steps: int) -> int:
    """Luzhou: 8.2 g per whole 500 steps, rounded down once."""
    return int(Decimal(steps // 500) * Decimal("8.2"))


@dataclass(frozen=True)
class Act:
    kind: str  # trip | meal | steps | meter
    person: int
    start: datetime
    detail: str  # the trip kind, the order ref, the day's step total
    grams: int  # what the act earns once


@dataclass(frozen=True)
class Report:
    enterprise: str
    raw: dict[str, Any]


@st.composite
def truths(draw: st.DrawFn) -> list[Act]:
    acts = []
    for p in range(PERSONS):
        for d, day in enumerate(DAYS):
            # trips at least an hour apart: never within the tolerance of one another
            for hour in draw(st.sets(st.integers(7, 20), max_size=3)):
                kind = draw(st.sampled_from(sorted(TRIPS)))
                start = day + timedelta(hours=hour, minutes=draw(st.integers(0, 30)))
                acts.append(Act("trip", p, start, kind, TRIPS[kind][2]))
            for n in range(draw(st.integers(0, 2))):
                start = day + timedelta(hours=12 + 5 * n)
                acts.append(Act("meal", p, start, f"order-{p}-{d}-{n}", MEAL_GRAMS))
            if draw(st.integers(0, 2)) == 0:  # a day without the car
                acts.append(Act("car_free", p, day, "", CAR_FREE_GRAMS))
            if draw(st.booleans()):
                total = draw(st.integers(500, 30_000))
                grams = min(step_grams(total), WALKING_CAP)
                acts.append(Act("steps", p, day, str(total), grams))
        acts.append(Act("meter", p, MIDNIGHT - timedelta(days=30), "period", METER_GRAMS))
    return acts


@st.composite
def reports_of(draw: st.DrawFn, act: Act) -> list[Report]:
    """Every way the enterprises that saw `act` report it."""
    tellers = draw(st.sets(st.sampled_from(ENTERPRISES), min_size=1))
    first = draw(st.sampled_from(sorted(tellers)))
    base = draw(st.integers(0, SKEW_S))  # clocks at most the tolerance apart
    found = []
    for e in sorted(tellers):
        subject = f"{e}-{act.person}"
        if act.kind == "meter":  # reported for any member of the household
            subject = f"{e}-{draw(st.integers(0, PERSONS - 1))}"
        if act.kind == "trip":
            minutes, km, _ = TRIPS[act.detail]
            offset = timedelta(seconds=draw(st.integers(max(0, base - SKEW_S), base)))
            late = timedelta(seconds=draw(st.integers(0, 20)))  # a navigation starting late
            raw = event(
                subject=subject, start=act.start + offset + late,
                minutes=minutes - late.total_seconds() / 60, quantity={"distance_km": km},
            )  # fmt: skip
            raws = [raw]
        elif act.kind == "meal":
            raws = [
                event(
                    subject=subject,
                    behaviour="no_disposable_cutlery",
                    region="110101",
                    start=act.start + timedelta(minutes=draw(st.integers(0, 10))),
                    minutes=30,
                    quantity={"count": "1"},
                    evidence={"ref": act.detail, "issuer": FOOD},
                )
            ]
        elif act.kind == "steps":
            total = int(act.detail)
            # partial counts of the day (running totals or parts), or the total as an instant
            counts = draw(st.lists(st.integers(0, total), max_size=2))
            if e == first:
                counts.append(total)
            raws = [
                event(
                    subject=subject,
                    behaviour="walking_steps",
                    region="510502",
                    start=act.start + timedelta(hours=8 + i),
                    minutes=draw(st.sampled_from((0, 60))),
                    quantity={"steps": str(count)},
                )
                for i, count in enumerate(counts)
            ]
        elif act.kind == "car_free":
            raws = [
                event(
                    subject=subject,
                    behaviour="car_non_use_day",
                    region="110105",
                    start=act.start,
                    minutes=24 * 60 - 1,
                    quantity={"count": "1"},
                )
            ]
        else:
            raws = [
                event(
                    subject=subject,
                    behaviour="household_electricity_saved",
                    region="110105",
                    start=act.start,
                    minutes=30 * 24 * 60,
                    quantity={"kwh": "300"},
                    evidence={"ref": f"{e}-bill", "issuer": METER.format(p=act.person)},
                )
            ]
        for raw in raws:
            found.append(Report(e, raw))
            if draw(st.integers(0, 4)) == 0:  # re-sent under a new event id
                found.append(Report(e, dict(raw, event_id=raw["event_id"] + "-again")))
    return found


def deliver(app: App, reports: list[Report], cuts: list[bool]) -> dict[int, int]:
    """Send the reports in this order, batch by batch, and return grams per person."""
    ids = {e: add_enterprise(app.ctx, f"Scene {e}", {Role.SCENE}).id for e in ENTERPRISES}
    persons = [add_person(app.ctx) for _ in range(PERSONS)]
    for e, enterprise_id in ids.items():
        authorise_issuer(app.ctx, FOOD, enterprise_id)
        for p, person in enumerate(persons):
            issuer = e == "a" and p == 0  # meter 1 has no registered issuer
            authorise_issuer(app.ctx, METER.format(p=p), enterprise_id, is_issuer=issuer)
            bind_subject(app.ctx, enterprise_id, f"{e}-{p}", person.id)
    batch: list[Report] = []
    outcomes: list[Outcome] = []
    for report, cut in zip(reports, cuts, strict=True):
        if batch and (cut or batch[-1].enterprise != report.enterprise):
            outcomes += submit_events(app.ctx, ids[batch[0].enterprise], [r.raw for r in batch])
            batch = []
        batch.append(report)
    if batch:
        outcomes += submit_events(app.ctx, ids[batch[0].enterprise], [r.raw for r in batch])
    assert isinstance(app.ctx.clock, FixedClock)
    held = [held_until(o) for o in outcomes if o.kind == OutcomeKind.PROVISIONAL]
    app.ctx.clock.moment = max(held, default=NOW)  # every window has closed
    settle_due(app.ctx)
    assert rows(app, "select count(*) from provisional_claims where settled_at is null") == [(0,)]
    assert verify_ledger(app.ctx) == []
    held = dict(rows(app, "select account, sum(amount) from balances group by account"))
    return {p: int(held.get(person_account(person.id), 0)) for p, person in enumerate(persons)}


@pytest.mark.parametrize(
    ("engine", "examples"),
    [("sqlite", 12), pytest.param("postgres", 5, marks=pytest.mark.postgres)],
)
def test_no_act_is_credited_twice_whoever_reports_it_in_whatever_order(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    engine: str,
    examples: int,
) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        phases=PHASES,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        acts = data.draw(truths(), label="ground truth")
        reports = [r for act in acts for r in data.draw(reports_of(act), label=act.kind)]
        own = [a for a in acts if a.kind != "meter"]
        earned = {p: sum(earns(a, acts) for a in own if a.person == p) for p in range(PERSONS)}
        meters = sum(a.grams for a in acts if a.kind == "meter")
        credited = []
        for run in ("first order", "second order"):
            order = data.draw(st.permutations(reports), label=run)
            cuts = data.draw(st.lists(st.booleans(), min_size=len(order), max_size=len(order)))
            with fresh_app(request, engine, tmp_path_factory) as app:
                credited.append(deliver(app, order, cuts))
        for p in range(PERSONS):
            assert credited[0][p] <= earned[p] + meters, (p, credited[0][p], earned[p])
        assert sum(credited[0].values()) <= sum(earned.values()) + meters
        assert credited[0] == credited[1]

    check()
