"""One real act is credited once, whoever reports it and however (issue 9, holes 1-7), on
SQLite and PostgreSQL. Each test notes what the platform answered before the rule existed."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from tanpuhui.adapters.system import FixedClock
from tanpuhui.bootstrap import App
from tanpuhui.cli.main import cli
from tanpuhui.domain.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from tanpuhui.domain.intake import Outcome, OutcomeKind
from tanpuhui.domain.parties import Role
from tanpuhui.services.events import get_event
from tanpuhui.services.evidence import authorise_issuer
from tanpuhui.services.exclusions import declare_claimed_elsewhere
from tanpuhui.services.intake import settle_due, submit_events
from tanpuhui.services.ledger import verify_ledger
from tanpuhui.services.parties import add_enterprise, add_person, bind_subject
from tests.builders import event
from tests.conftest import CST, NOW
from tests.integration.test_settlement_window import held_until

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

    def settle(self, held: Outcome, *sent: tuple[str, dict[str, Any]]) -> list[Outcome]:
        """Move the clock to where `held`'s window closes (its outcome says when), settle what
        is due, and return what each `sent` event became (its replay)."""
        clock = self.app.ctx.clock
        assert isinstance(clock, FixedClock)
        clock.moment = held_until(held)
        settle_due(self.app.ctx)
        return [self.send(name, raw)[0] for name, raw in sent]


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


# --- hole 3 and issue 15 item 3: evidence names its issuer, and is owned ---------------------


def meal(event_id: str, start: datetime, **evidence: str) -> dict[str, Any]:
    """No disposable cutlery on a Beijing order: 23 g."""
    return event(
        event_id=event_id,
        behaviour="no_disposable_cutlery",
        region="110101",
        start=start,
        minutes=30,
        quantity={"count": "1"},
        evidence=evidence or None,
    )


def test_the_canteens_meal_reported_by_a_food_app_too_is_credited_once(app: App) -> None:
    """Before: the canteen's reference without an issuer was in the canteen's own namespace and
    the food app's in another, so the same meal was credited twice (23 g + 23 g)."""
    w = World(app, "Canteen", "Food")
    authorise_issuer(app.ctx, "canteen:tsinghua-3", w.ids["Canteen"], is_issuer=True)
    authorise_issuer(app.ctx, "canteen:tsinghua-3", w.ids["Food"])

    (own,) = w.send("Canteen", meal("c-1", at(12), ref="meal-881"))
    (food,) = w.send("Food", meal("f-1", at(12, 5), ref="meal-881", issuer="canteen:tsinghua-3"))

    assert (own.kind, own.grams) == (K.CREDITED, 23)
    assert (food.kind, food.duplicate_of) == (K.DUPLICATE, own.reduction_id)


def test_an_identical_claim_re_sent_under_a_new_event_id_is_credited_once(app: App) -> None:
    """Before: a non-exclusive behaviour without evidence re-sent under another id was credited
    again (an e-invoice: 1 g + 1 g)."""
    w = World(app, "Tax")
    invoice = {"behaviour": "e_invoice", "minutes": 0, "quantity": {"count": "1"}}
    (first,) = w.send("Tax", event(event_id="i-1", start=at(10), **invoice))
    (again,) = w.send("Tax", event(event_id="i-1-retry", start=at(10), **invoice))
    (other,) = w.send("Tax", event(event_id="i-2", start=at(10, 1), **invoice))

    assert first.kind == K.CREDITED
    assert (again.kind, again.duplicate_of) == (K.DUPLICATE, first.reduction_id)
    assert other.kind == K.CREDITED  # another invoice a minute later


def test_an_enterprise_cannot_pre_empt_an_issuers_evidence(app: App) -> None:
    """Issue 15 item 3. Before: B reported (SZ-Metro, tap-9001) for its own subject first, the
    metro's genuine tap became its duplicate and B kept the grams."""
    w = World(app, "Metro", "Intruder")
    authorise_issuer(app.ctx, "transit:sz-metro", w.ids["Metro"], is_issuer=True)
    ride = {"behaviour": "metro_ride", "region": "440304", "quantity": {"distance_km": "8"}}
    tap = {"ref": "tap-9001", "issuer": "transit:sz-metro"}

    (fake,) = w.send("Intruder", event(event_id="x-1", subject="u-9", evidence=tap, **ride))
    (genuine,) = w.send("Metro", event(event_id="m-1", evidence={"ref": "tap-9001"}, **ride))

    assert (fake.kind, fake.reason, fake.grams) == (K.REJECTED, "issuer_not_entitled", 0)
    assert genuine.kind == K.CREDITED and genuine.grams > 0
    assert verify_ledger(app.ctx) == []


def test_an_enterprise_registered_as_one_issuer_is_refused_as_a_second_with_a_conflict(
    app: App,
) -> None:
    """An enterprise is the issuer of one name. Before: the second registration reached the
    unique index and the caller got 503 race_lost, as if it should retry."""
    w = World(app, "Metro")
    authorise_issuer(app.ctx, "transit:sz-metro", w.ids["Metro"], is_issuer=True)
    with pytest.raises(ConflictError, match="already registered as the issuer 'transit:sz-metro'"):
        authorise_issuer(app.ctx, "transit:sz-bus", w.ids["Metro"], is_issuer=True)
    # a partner's grant for another name is still possible, and re-registering is idempotent
    authorise_issuer(app.ctx, "transit:sz-bus", w.ids["Metro"])
    authorise_issuer(app.ctx, "transit:sz-metro", w.ids["Metro"], is_issuer=True)


def test_naming_an_unregistered_issuer_neither_collides_with_nor_probes_another_tenant(
    app: App,
) -> None:
    """Before: evidence matched globally, so B's answer (duplicate or not) told it whether A
    had reported the reference. Now an issuer nobody registered is each reporter's own."""
    w = World(app, "A", "B")
    tap = {"ref": "tap-1", "issuer": "transit:some-line"}
    ride = {"behaviour": "metro_ride", "region": "440304", "quantity": {"distance_km": "8"}}
    (a,) = w.send("A", event(event_id="a-1", subject="u-7", evidence=tap, **ride))
    (b,) = w.send("B", event(event_id="b-1", subject="u-8", evidence=tap, **ride))
    (b_fresh,) = w.send(
        "B", event(event_id="b-2", subject="u-9", evidence=dict(tap, ref="tap-2"), **ride)
    )

    assert a.kind == b.kind == b_fresh.kind == K.PENDING_BINDING
    (b_again,) = w.send("B", event(event_id="b-3", subject="u-8", evidence=tap, **ride))
    assert (b_again.kind, b_again.duplicate_of) == (K.DUPLICATE, b.reduction_id)  # its own


def test_the_same_evidence_claimed_for_two_persons_is_flagged_for_review(app: App) -> None:
    """Before: the second person's claim was silently a duplicate (first wins)."""
    w = World(app, "Coffee", "Bank")
    other = add_person(app.ctx)
    bind_subject(app.ctx, w.ids["Bank"], "u-2", other.id)
    authorise_issuer(app.ctx, "merchant:coffee", w.ids["Coffee"], is_issuer=True)
    authorise_issuer(app.ctx, "merchant:coffee", w.ids["Bank"])

    (first,) = w.send("Coffee", meal("c-1", at(9), ref="order-5"))
    (second,) = w.send("Bank", meal("k-1", at(9), ref="order-5", issuer="merchant:coffee"))
    (third,) = w.send(
        "Bank", dict(meal("k-2", at(9), ref="order-5", issuer="merchant:coffee"), subject="u-2")
    )

    assert first.kind == K.CREDITED
    assert (second.kind, second.reason) == (K.DUPLICATE, None)  # the same person: one act
    assert (third.kind, third.duplicate_of, third.reason) == (
        K.DUPLICATE,
        first.reduction_id,
        "evidence_contested",
    )


def test_more_clean_plates_than_the_methodology_allows_in_two_hours_are_rejected(
    app: App,
) -> None:
    """Before: nothing limited clean plates per person (three in twenty minutes: 3 × 449 g)."""
    w = World(app, "Canteen", "Food")
    plate = {"behaviour": "clean_plate", "region": "110101", "minutes": 20, "quantity": {}}
    (lunch,) = w.send("Canteen", event(event_id="c-1", start=at(12, days_ago=1), **plate))
    (again,) = w.send("Food", event(event_id="f-1", start=at(12, 10, days_ago=1), **plate))
    (also,) = w.send("Canteen", event(event_id="c-2", start=at(12, 20, days_ago=1), **plate))
    (dinner,) = w.send("Canteen", event(event_id="c-3", start=at(18, days_ago=1), **plate))

    assert (lunch.kind, lunch.grams, lunch.methodology) == (
        K.CREDITED,
        449,
        "clean_plate.beijing@2",
    )
    assert (again.kind, again.reason) == (K.REJECTED, "too_frequent")
    assert (also.kind, also.reason) == (K.REJECTED, "too_frequent")
    assert dinner.kind == K.CREDITED
    assert verify_ledger(app.ctx) == []


# --- hole 4: bounds and caps per day of the period an event covers ---------------------------


def saved(event_id: str, kwh: str, start: datetime, days: int) -> dict[str, Any]:
    """Electricity a Beijing household saved over `days` days (华北 grid, 0.6361 kg/kWh)."""
    return event(
        event_id=event_id,
        behaviour="household_electricity_saved",
        region="110105",
        start=start,
        minutes=days * 24 * 60,
        quantity={"kwh": kwh},
    )


def test_one_day_may_not_save_a_months_worth(app: App) -> None:
    """Before: 5,000 kWh saved in one day was credited to the 300 kg "per period" cap, and
    again the next day (300,000 g + 300,000 g); now the cap is 10 kg per day covered."""
    w = World(app, "Power")
    (one,) = w.send("Power", saved("d-1", "5000", at(0, days_ago=3), 1))
    (two,) = w.send("Power", saved("d-2", "5000", at(0, days_ago=2), 1))

    assert (one.kind, one.grams) == (K.CAPPED, 10_000)
    assert (two.kind, two.grams) == (K.CAPPED, 10_000)
    assert verify_ledger(app.ctx) == []


def test_from_2027_a_days_saving_beyond_the_bound_per_day_is_refused(
    app: App, clock: FixedClock
) -> None:
    """household_electricity.saved@4 bounds the saving per day of the period (17 kWh, an
    operator-set parameter): 5,000 kWh in one day is refused `out_of_bounds` — under @3 it
    was credited up to the day's cap (10,000 g) — while a 30-day reading of 300 kWh (10 kWh
    a day) is credited in full (300 × 636.1 g)."""
    w = World(app, "Power")
    clock.moment = datetime(2027, 3, 1, 12, tzinfo=CST)
    day = datetime(2027, 1, 10, tzinfo=CST)
    (one,) = w.send("Power", saved("d-1", "5000", day, 1))
    (month,) = w.send("Power", saved("m-1", "300", day + timedelta(days=1), 30))

    assert (one.kind, one.reason) == (K.REJECTED, "out_of_bounds")
    assert "household_electricity.saved@4" in (one.message or "")
    assert (month.kind, month.grams) == (K.CREDITED, 190_830)
    assert verify_ledger(app.ctx) == []


def test_a_months_reading_may_save_a_month_of_daily_caps(app: App) -> None:
    w = World(app, "Power")
    (month,) = w.send("Power", saved("m-1", "400", at(0, days_ago=31), 30))

    assert (month.kind, month.grams) == (K.CREDITED, 254_440)  # 400 kWh × 636.1 g < 30 × 10 kg
    assert verify_ledger(app.ctx) == []


# --- hole 6: claimed elsewhere ---------------------------------------------------------------


def generated(event_id: str, meter: str, start: datetime, days: int) -> dict[str, Any]:
    """Rooftop PV generation in Beijing read from `meter` over `days` days."""
    return event(
        event_id=event_id,
        behaviour="rooftop_pv_generation",
        region="110105",
        start=start,
        minutes=days * 24 * 60,
        quantity={"kwh": "300"},
        evidence={"ref": f"read-{event_id}", "issuer": meter},
    )


def test_generation_that_carries_green_certificates_is_claimed_elsewhere(app: App) -> None:
    """Before: PV already carrying 绿证 was credited here too (there was no register)."""
    w = World(app, "Grid")
    declare_claimed_elsewhere(
        app.ctx, "meter:PV-0042", "green_certificate", valid_from=at(0, days_ago=60).date()
    )
    (certified,) = w.send("Grid", generated("g-1", "meter:PV-0042", at(0, days_ago=31), 30))
    uncertified = generated("g-2", "meter:PV-0043", at(0, days_ago=31), 30)
    (held,) = w.send("Grid", uncertified)
    (other,) = w.settle(held, ("Grid", uncertified))

    assert (certified.kind, certified.reason, certified.grams) == (
        K.REJECTED,
        "claimed_elsewhere",
        0,
    )
    assert "green_certificate" in (certified.message or "")
    assert other.kind == K.CREDITED


def test_an_ets_programme_excludes_only_its_behaviours_and_period(app: App) -> None:
    w = World(app, "Plant", "Bikes")
    declare_claimed_elsewhere(
        app.ctx,
        f"enterprise:{w.ids['Plant']}",
        "ets",
        behaviours=["household_electricity_saved"],
        valid_from=at(0, days_ago=10).date(),
        declared_by=w.ids["Plant"],
    )
    (inside,) = w.send("Plant", saved("p-1", "10", at(0, days_ago=5), 1))
    (before,) = w.send("Plant", saved("p-2", "10", at(0, days_ago=20), 1))
    (ride,) = w.send("Plant", event(event_id="p-3", start=at(9)))

    assert (inside.kind, inside.reason) == (K.REJECTED, "claimed_elsewhere")
    assert before.kind == K.CREDITED and ride.kind == K.CREDITED


def test_an_enterprise_may_declare_only_what_it_is_entitled_to(app: App) -> None:
    w = World(app, "Grid", "Rival")
    with pytest.raises(ForbiddenError):
        declare_claimed_elsewhere(
            app.ctx, f"enterprise:{w.ids['Grid']}", "ccer", declared_by=w.ids["Rival"]
        )
    with pytest.raises(InvalidInputError):
        declare_claimed_elsewhere(app.ctx, "person:x", "ccer")


# --- hole 5: a meter's period is one act, whoever in the household reports it ---------------


def meter_month(event_id: str, subject: str, ref: str) -> dict[str, Any]:
    return dict(
        saved(event_id, "300", at(0, days_ago=31), 30),
        subject=subject,
        evidence={"ref": ref, "issuer": "meter:SG-4400123"},
    )


def test_one_meter_month_reported_for_two_members_of_a_household_is_credited_once(
    app: App,
) -> None:
    """Before: the utility's reading for one member and the smart-home app's for the other were
    both credited in full (190,830 g twice)."""
    w = World(app, "Utility", "SmartHome")
    spouse = add_person(app.ctx)
    bind_subject(app.ctx, w.ids["SmartHome"], "u-2", spouse.id)
    for name in ("Utility", "SmartHome"):
        authorise_issuer(app.ctx, "meter:SG-4400123", w.ids[name])

    sent = [
        ("Utility", meter_month("b-1", "u-1", "bill-2026-10")),
        ("SmartHome", meter_month("s-1", "u-2", "dev-77-oct")),
    ]
    held = [w.send(name, raw)[0] for name, raw in sent]
    assert [o.kind for o in held] == [K.PROVISIONAL, K.PROVISIONAL]
    bill, app_report = w.settle(held[0], *sent)

    assert (bill.kind, bill.grams) == (K.CREDITED, 190_830)  # 300 kWh × 636.1 g
    assert (app_report.kind, app_report.duplicate_of) == (K.DUPLICATE, bill.reduction_id)
    assert verify_ledger(app.ctx) == []


def test_two_meters_of_one_person_in_one_period_both_credit(app: App) -> None:
    """Two homes, one account holder: each meter's month is its own saving. Before: home
    energy was exclusive per person, so the second meter's month was a `duplicate` of the
    first (63,610 g instead of 127,220 g). A reading that names no meter may be either
    meter's, so the metered months yield to it (conservative; it is decided on arrival, and
    always arrives before they settle: their window outlasts its claim window)."""
    w = World(app, "Utility")
    other = add_person(app.ctx)
    bind_subject(app.ctx, w.ids["Utility"], "u-2", other.id)
    for meter in ("meter:HOME-A", "meter:HOME-B", "meter:HOME-C"):
        authorise_issuer(app.ctx, meter, w.ids["Utility"])

    def month(event_id: str, subject: str, meter: str | None) -> dict[str, Any]:
        raw = dict(saved(event_id, "100", at(0, days_ago=31), 30), subject=subject)
        return raw if meter is None else dict(raw, evidence={"ref": event_id, "issuer": meter})

    sent = [
        ("Utility", month("a-1", "u-1", "meter:HOME-A")),
        ("Utility", month("b-1", "u-1", "meter:HOME-B")),
        ("Utility", month("c-1", "u-2", "meter:HOME-C")),
    ]
    held = [w.send(name, raw)[0] for name, raw in sent]
    assert [o.kind for o in held] == [K.PROVISIONAL] * 3
    (unnamed,) = w.send("Utility", month("n-1", "u-2", None))
    assert (unnamed.kind, unnamed.grams) == (K.CREDITED, 63_610)
    home_a, home_b, home_c = w.settle(held[0], *sent)

    assert [(o.kind, o.grams) for o in (home_a, home_b)] == [(K.CREDITED, 63_610)] * 2
    assert (home_c.kind, home_c.duplicate_of) == (K.DUPLICATE, unnamed.reduction_id)
    assert verify_ledger(app.ctx) == []


def test_an_unregistered_meter_is_one_act_within_the_reporting_enterprise_only(
    app: App,
) -> None:
    w = World(app, "Utility", "Other")
    spouse = add_person(app.ctx)
    bind_subject(app.ctx, w.ids["Utility"], "u-2", spouse.id)

    sent = [
        ("Utility", meter_month("b-1", "u-1", "bill-1")),
        ("Utility", meter_month("b-2", "u-2", "bill-1b")),
        ("Other", meter_month("o-1", "u-1", "x")),  # cannot reach the utility's
    ]
    held = [w.send(name, raw)[0] for name, raw in sent]
    first, again, other = w.settle(held[0], *sent)

    assert first.kind == K.CREDITED
    assert (again.kind, again.duplicate_of) == (K.DUPLICATE, first.reduction_id)
    assert other.kind == K.DUPLICATE  # the same person's same period: dedup by the holder


# --- hole 7: where two claims exclude each other, the result does not depend on the order ----


def car_free(event_id: str) -> dict[str, Any]:
    """Yesterday without the car, in Beijing (4.63 kg)."""
    return event(
        event_id=event_id,
        behaviour="car_non_use_day",
        region="110105",
        start=at(0, days_ago=1),
        minutes=24 * 60 - 1,
        quantity={"count": "1"},
    )


def metro(event_id: str) -> dict[str, Any]:
    """Yesterday's Beijing metro ride (46 g per trip)."""
    return event(
        event_id=event_id,
        behaviour="metro_ride",
        region="110105",
        start=at(8, days_ago=1),
        minutes=30,
        quantity={"distance_km": "12"},
    )


def settled_total(app: App, clock: FixedClock, first: str) -> tuple[int, list[Outcome]]:
    cars, trains = f"Cars-{first}", f"Metro-{first}"
    w = World(app, cars, trains)
    day, ride = car_free(f"cf-{first}"), metro(f"m-{first}")
    sends = [(cars, day), (trains, ride)] if first == "day" else [(trains, ride), (cars, day)]
    answers = [w.send(name, raw)[0] for name, raw in sends]
    (held,) = [o for o in answers if o.kind == K.PROVISIONAL]
    clock.moment = held_until(held)  # the day's window closes …
    w.send(cars, event(event_id=f"next-{first}", start=clock.moment - timedelta(hours=2)))
    again = [w.send(name, raw)[0] for name, raw in sends]  # … and it settled with that intake
    clock.moment = NOW
    return sum(o.grams for o in again), answers + again


def test_a_car_free_day_and_that_days_metro_ride_credit_the_same_in_either_order(
    app: App, clock: FixedClock
) -> None:
    """Before: 4,630 g when the car-free day arrived first (the ride was its duplicate), 46 g
    when the ride did. Now the day claim is held until its day closes, then yields to the
    day's trips: 46 g, whichever arrives first."""
    day_first, outcomes = settled_total(app, clock, "day")
    cf, ride, cf_after, ride_after = outcomes
    assert (cf.kind, cf.grams) == (K.PROVISIONAL, 0)
    assert (ride.kind, ride.grams) == (K.CREDITED, 46)
    assert (cf_after.kind, cf_after.duplicate_of) == (K.DUPLICATE, ride.reduction_id)
    assert cf_after.replayed and ride_after.replayed
    ride_first, _ = settled_total(app, clock, "ride")
    assert day_first == ride_first == 46
    assert verify_ledger(app.ctx) == []


def test_a_car_free_day_without_trips_is_credited_when_it_settles(
    app: App, clock: FixedClock
) -> None:
    w = World(app, "Cars")
    (held,) = w.send("Cars", car_free("cf-1"))
    assert held.kind == K.PROVISIONAL
    (replay,) = w.send("Cars", car_free("cf-1"))
    assert (replay.kind, replay.replayed) == (K.PROVISIONAL, True)

    view = get_event(app.ctx, w.ids["Cars"], "cf-1")  # the enterprise sees it held
    assert (view.outcome.kind, view.behaviour, view.live_grams) == (
        K.PROVISIONAL,
        "car_non_use_day",
        0,
    )

    assert held_until(held) == at(23, 59, days_ago=1) + timedelta(days=31)  # was: 1 day
    clock.moment = held_until(held) - timedelta(seconds=1)
    assert settle_due(app.ctx) == 0
    clock.moment = held_until(held)
    assert settle_due(app.ctx) == 1
    assert get_event(app.ctx, w.ids["Cars"], "cf-1").outcome.kind == K.CREDITED
    (settled,) = w.send("Cars", car_free("cf-1"))
    assert (settled.kind, settled.grams, settled.replayed) == (K.CREDITED, 4630, True)
    assert settle_due(app.ctx) == 0
    assert verify_ledger(app.ctx) == []


def test_a_video_conference_avoiding_a_trip_yields_to_that_days_ride(
    app: App, clock: FixedClock
) -> None:
    """Before: the conference was credited although the person rode the metro that day."""
    w = World(app, "Office", "Metro")
    conference = {"behaviour": "video_conference", "minutes": 60, "quantity": {"count": "1"}}
    (vc,) = w.send("Office", event(event_id="vc-1", start=at(16, days_ago=1), **conference))
    (ride,) = w.send("Metro", metro("m-1"))
    assert vc.kind == K.PROVISIONAL

    clock.moment = held_until(vc)
    settle_due(app.ctx)
    (vc_after,) = w.send("Office", event(event_id="vc-1", start=at(16, days_ago=1), **conference))
    assert (vc_after.kind, vc_after.duplicate_of) == (K.DUPLICATE, ride.reduction_id)


def test_tanpuhui_settle_settles_on_demand(app: App, clock: FixedClock, database_url: str) -> None:
    """The command runs on the system clock: the day claim is sent 60 days before `NOW`, so its
    31-day window closed before `NOW` (and so before any real day this test runs on)."""
    w = World(app, "Cars")
    clock.moment = NOW - timedelta(days=60)
    old_day = dict(
        car_free("cf-1"),
        started_at=(TODAY - timedelta(days=61)).isoformat(),
        ended_at=(TODAY - timedelta(days=60, minutes=1)).isoformat(),
    )
    (held,) = w.send("Cars", old_day)
    assert held.kind == K.PROVISIONAL and held_until(held) < NOW
    result = CliRunner().invoke(
        cli, ["--database-url", database_url, "settle", "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0 and '"settled": 1' in result.stdout


def test_a_day_claim_reported_days_late_is_held_and_yields_to_that_days_trip(app: App) -> None:
    """Before: a car-free day reported three days late was past its one-day window and decided
    at once; now it is held like any (its window covers the trips' claim windows)."""
    w = World(app, "Cars", "Metro")
    ride = dict(metro("m-1"), started_at=at(8, days_ago=3).isoformat(),
                ended_at=at(8, 30, days_ago=3).isoformat())  # fmt: skip
    (trip,) = w.send("Metro", ride)
    late = dict(car_free("cf-1"), started_at=at(0, days_ago=3).isoformat(),
                ended_at=at(23, 59, days_ago=3).isoformat())  # fmt: skip
    (held,) = w.send("Cars", late)
    assert held.kind == K.PROVISIONAL
    (day,) = w.settle(held, ("Cars", late))

    assert (day.kind, day.duplicate_of) == (K.DUPLICATE, trip.reduction_id)


def test_the_registries_refuse_what_they_cannot_hold(app: App) -> None:
    w = World(app, "Canteen", "Other")
    with pytest.raises(InvalidInputError):
        authorise_issuer(app.ctx, "wuhan-metro", w.ids["Canteen"])  # no namespace
    with pytest.raises(NotFoundError):
        authorise_issuer(app.ctx, "canteen:one", uuid.UUID(int=1))
    first = authorise_issuer(app.ctx, "canteen:one", w.ids["Canteen"], is_issuer=True)
    assert authorise_issuer(app.ctx, "canteen:one", w.ids["Canteen"], is_issuer=True) == first
    with pytest.raises(ConflictError):
        authorise_issuer(app.ctx, "canteen:one", w.ids["Other"], is_issuer=True)
    with pytest.raises(InvalidInputError):
        declare_claimed_elsewhere(app.ctx, "meter:1", "carbon-magic")
    with pytest.raises(InvalidInputError):
        declare_claimed_elsewhere(
            app.ctx, "meter:1", "ccer", valid_from=at(0).date(), valid_to=at(0).date()
        )
    with pytest.raises(NotFoundError):
        declare_claimed_elsewhere(app.ctx, "meter:1", "ccer", declared_by=uuid.UUID(int=1))


# --- the Luzhou QR-code tap without a distance (the decision left open) ----------------------


def test_a_luzhou_qr_tap_without_a_distance_is_credited_as_the_shortest_ride(
    app: App, clock: FixedClock
) -> None:
    """Before (bus.luzhou@2): `quantity_mismatch`. From bus.luzhou@3 a tap without a distance
    earns the shortest ride's share (80 g × 0.2 / 3 km = 5 g), never more than a ride reported
    with its distance (2.4 km: 64 g)."""
    w = World(app, "Bus")
    clock.moment = datetime(2027, 1, 20, 12, tzinfo=CST)
    tap = {"behaviour": "bus_ride", "region": "510502", "minutes": 20}
    morning, evening = datetime(2027, 1, 15, 8, tzinfo=CST), datetime(2027, 1, 15, 18, tzinfo=CST)
    (bare,) = w.send("Bus", event(event_id="t-1", start=morning, quantity={"count": "1"}, **tap))
    (known,) = w.send(
        "Bus", event(event_id="t-2", start=evening, quantity={"distance_km": "2.4"}, **tap)
    )

    assert (bare.kind, bare.grams, bare.methodology) == (K.CREDITED, 5, "bus.luzhou@3")
    assert (known.kind, known.grams) == (K.CREDITED, 64)
    assert verify_ledger(app.ctx) == []
