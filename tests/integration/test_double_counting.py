"""One real act is credited once, whoever reports it and however (issue 9, holes 1-7), on
SQLite and PostgreSQL. Each test notes what the platform answered before the rule existed."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from tanpuhui.bootstrap import App
from tanpuhui.domain.intake import Outcome, OutcomeKind
from tanpuhui.domain.parties import Role
from tanpuhui.services.intake import submit_events
from tanpuhui.services.ledger import verify_ledger
from tanpuhui.services.parties import add_enterprise, add_person, bind_subject
from tests.builders import event
from tests.conftest import CST, NOW

K = OutcomeKind
TODAY = NOW.astimezone(CST).replace(hour=0, minute=0, second=0, microsecond=0)


def at(hour: int, minute: int = 0, second: int = 0, days_ago: int = 0) -> datetime:
    return TODAY - timedelta(days=days_ago) + timedelta(hours=hour, minutes=minute, seconds=second)


class World:
    """Scene enterprises, each with subject u-1 bound to one person."""

    def __init__(self, app: App, *names: str) -> None:
        self.app = app
        self.person = add_person(app.ctx)
        self.ids: dict[str, uuid.UUID] = {}
        for name in names:
            self.ids[name] = add_enterprise(app.ctx, name, {Role.SCENE}).id
            bind_subject(app.ctx, self.ids[name], "u-1", self.person.id)

    def send(self, name: str, *events: dict[str, Any]) -> list[Outcome]:
        return submit_events(self.app.ctx, self.ids[name], list(events))


# --- hole 1: instants, short intervals and skewed clocks -------------------------------------


def test_the_same_bus_ride_from_the_bus_company_and_a_payment_app_is_credited_once(
    app: App,
) -> None:
    """Before: the payment app's one-minute tap record overlapped the bus company's ride by
    30 s, under the 120 s tolerance, so both were credited (80 g + 80 g in Beijing)."""
    w = World(app, "Bus", "Pay")
    ride = {"behaviour": "bus_ride", "region": "110105", "quantity": {"count": "1"}}
    (bus,) = w.send("Bus", event(event_id="b-1", start=at(13, 0, 30), minutes=19, **ride))
    (pay,) = w.send("Pay", event(event_id="p-1", start=at(13), minutes=1, **ride))

    assert (bus.kind, bus.grams) == (K.CREDITED, 80)
    assert (pay.kind, pay.duplicate_of, pay.grams) == (K.DUPLICATE, bus.reduction_id, 0)
    assert verify_ledger(app.ctx) == []


def test_a_short_ride_seen_by_two_apps_with_skewed_clocks_is_credited_once(app: App) -> None:
    """Before: a 70 s ride reported by the bike app and, by a clock 150 s ahead, by the map
    app did not overlap at all, so it was credited twice."""
    w = World(app, "Bikes", "Maps")
    ride = {"minutes": 70 / 60, "quantity": {"distance_km": "0.3"}}
    (bike,) = w.send("Bikes", event(event_id="b-1", start=at(13), **ride))
    (nav,) = w.send("Maps", event(event_id="m-1", start=at(13, 2, 30), **ride))

    assert bike.kind == K.CREDITED
    assert (nav.kind, nav.duplicate_of) == (K.DUPLICATE, bike.reduction_id)


def test_two_toll_payments_stamped_as_instants_by_two_parties_are_one(app: App) -> None:
    """Before: two zero-length claims never overlap, so both were credited."""
    w = World(app, "Toll", "Bank")
    toll = {"behaviour": "etc_nonstop_payment", "minutes": 0, "quantity": {"count": "1"}}
    (first,) = w.send("Toll", event(event_id="t-1", start=at(9), **toll))
    (second,) = w.send("Bank", event(event_id="k-1", start=at(9, 0, 40), **toll))
    (later,) = w.send("Bank", event(event_id="k-2", start=at(9, 5), **toll))

    assert first.kind == K.CREDITED
    assert (second.kind, second.duplicate_of) == (K.DUPLICATE, first.reduction_id)
    assert later.kind == K.CREDITED  # five minutes later: another toll gantry


# --- hole 2: day-level quantities are merged, not summed ------------------------------------


def walked(event_id: str, steps: int, start: datetime, minutes: float = 0) -> dict[str, Any]:
    """Steps in Luzhou (8.2 g per whole 500 steps), yesterday, as an instant by default."""
    return event(
        event_id=event_id,
        behaviour="walking_steps",
        region="510502",
        start=start,
        minutes=minutes,
        quantity={"steps": str(steps)},
    )


def test_two_step_counters_reporting_the_same_day_as_instants_count_it_once(app: App) -> None:
    """Before: the two instants did not overlap, so 164 g + 164 g were credited (328 g, cut to
    the 296 g cap)."""
    w = World(app, "Phone", "Watch")
    (phone,) = w.send("Phone", walked("p-1", 10_000, at(22, days_ago=1)))
    (watch,) = w.send("Watch", walked("w-1", 10_000, at(23, days_ago=1)))

    assert (phone.kind, phone.grams) == (K.CREDITED, 164)
    assert (watch.kind, watch.duplicate_of) == (K.DUPLICATE, phone.reduction_id)
    assert verify_ledger(app.ctx) == []


def test_a_larger_count_of_the_same_day_credits_only_the_difference(app: App) -> None:
    """Before: two non-overlapping halves of the day from two apps were both credited
    (131 g + 164 g); now the day counts its largest count, 10,000 steps = 164 g."""
    w = World(app, "Phone", "Watch")
    (morning,) = w.send("Phone", walked("p-1", 8_000, at(0, days_ago=1), minutes=12 * 60))
    (day,) = w.send("Watch", walked("w-1", 10_000, at(12, days_ago=1), minutes=12 * 60 - 1))

    assert (morning.kind, morning.grams) == (K.CREDITED, 131)
    assert (day.grams, day.duplicate_of, day.reason) == (164 - 131, morning.reduction_id, "merged")
    assert morning.grams + day.grams == 164
    assert verify_ledger(app.ctx) == []


def test_the_merged_day_does_not_depend_on_the_order_the_counts_arrive_in(app: App) -> None:
    counts = [("Phone", 6_000), ("Watch", 12_000), ("Bank", 9_000)]
    totals = []
    for shift, _ in enumerate(counts):
        w = World(app, *(f"{name}-{shift}" for name, _ in counts))
        order = counts[shift:] + counts[:shift]
        credited = 0
        for n, (name, steps) in enumerate(order):
            (o,) = w.send(f"{name}-{shift}", walked(f"s-{n}", steps, at(20, n, days_ago=1)))
            credited += o.grams
        totals.append(credited)
    assert totals == [196, 196, 196]  # 12,000 steps = 24 × 8.2 g, whichever arrives first
