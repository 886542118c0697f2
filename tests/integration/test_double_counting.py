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
