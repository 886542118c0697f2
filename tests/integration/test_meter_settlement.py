"""A meter's period goes to one report by a documented rule, whatever the arrival order
(domain/households.py): held `provisional` until no rival report can still arrive (93 days
after the period ends: the home-energy claim window, 92 days, and a day; settlement.py), then
the meter's registered issuer's report wins, else the smallest (enterprise id, event id)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from tanpuhui.adapters.system import FixedClock
from tanpuhui.bootstrap import App
from tanpuhui.domain.intake import Outcome, OutcomeKind
from tanpuhui.domain.ledger import person_account
from tanpuhui.domain.parties import Role
from tanpuhui.services.events import get_event
from tanpuhui.services.evidence import authorise_issuer
from tanpuhui.services.intake import settle_due, submit_events
from tanpuhui.services.ledger import show_ledger, verify_ledger
from tanpuhui.services.parties import add_enterprise, add_person, bind_subject
from tests.builders import event
from tests.conftest import CST, NOW
from tests.integration.test_settlement_window import held_until

K = OutcomeKind
TODAY = NOW.astimezone(CST).replace(hour=0, minute=0, second=0, microsecond=0)
MONTH_GRAMS = 190_830  # 300 kWh × 636.1 g (华北 grid)
CLOSES = TODAY + timedelta(days=93)  # the month's window: 92-day claim window and a day


def meter_month(event_id: str, subject: str, meter: str) -> dict[str, Any]:
    """300 kWh saved over the 30 days up to this midnight: its window closes 93 days later."""
    return event(
        event_id=event_id,
        subject=subject,
        behaviour="household_electricity_saved",
        region="110105",
        start=TODAY - timedelta(days=30),
        minutes=30 * 24 * 60,
        quantity={"kwh": "300"},
        evidence={"ref": f"read-{event_id}", "issuer": meter},
    )


class Household:
    """Two enterprises reporting one meter: subject u-1 of the first is the account holder,
    subject u-2 of the second the spouse."""

    def __init__(self, app: App, meter: str, *, first_is_issuer: bool) -> None:
        self.app, self.meter = app, meter
        tag = meter.partition(":")[2]
        self.holder, self.spouse = add_person(app.ctx), add_person(app.ctx)
        self.first = add_enterprise(app.ctx, f"Utility-{tag}", {Role.SCENE}).id
        self.second = add_enterprise(app.ctx, f"SmartHome-{tag}", {Role.SCENE}).id
        bind_subject(app.ctx, self.first, "u-1", self.holder.id)
        bind_subject(app.ctx, self.second, "u-2", self.spouse.id)
        authorise_issuer(app.ctx, meter, self.first, is_issuer=first_is_issuer)
        authorise_issuer(app.ctx, meter, self.second)

    def report(self, who: uuid.UUID) -> Outcome:
        subject = "u-1" if who == self.first else "u-2"
        raw = meter_month(f"m-{subject}", subject, self.meter)
        (outcome,) = submit_events(self.app.ctx, who, [raw])
        return outcome

    def grams(self) -> tuple[int, int]:
        """The meter month's grams of the account holder and of the spouse."""
        return (
            show_ledger(self.app.ctx, person_account(self.holder.id)).total_grams,
            show_ledger(self.app.ctx, person_account(self.spouse.id)).total_grams,
        )


def test_the_utilitys_account_holder_gets_the_meter_month_whichever_report_arrives_first(
    app: App, clock: FixedClock
) -> None:
    """Before: the month went to the person of the first report — the spouse (190,830 g) when
    the smart-home app reported before the utility. Now both orders credit the account holder."""
    results = []
    for n, utility_first in enumerate((True, False)):
        home = Household(app, f"meter:SG-{n}", first_is_issuer=True)
        order = [home.first, home.second] if utility_first else [home.second, home.first]
        arrived = [home.report(who) for who in order]
        assert [o.kind for o in arrived] == [K.PROVISIONAL, K.PROVISIONAL]
        assert [held_until(o) for o in arrived] == [CLOSES, CLOSES]
        replay = home.report(order[0])
        assert (replay.kind, replay.replayed) == (K.PROVISIONAL, True)
        assert replay.message is not None and "meter's period" in replay.message
        view = get_event(app.ctx, home.first, "m-u-1")  # the enterprise sees it held
        assert (view.outcome.kind, view.outcome.message) == (K.PROVISIONAL, replay.message)
        assert home.grams() == (0, 0)

        clock.moment = CLOSES  # the window closes: the app's next intake
        smart = home.report(home.second)  # settles both reports, the utility's too
        bill = home.report(home.first)
        clock.moment = NOW
        assert (bill.kind, bill.grams, bill.replayed) == (K.CREDITED, MONTH_GRAMS, True)
        assert (smart.kind, smart.duplicate_of) == (K.DUPLICATE, bill.reduction_id)
        results.append(home.grams())
    assert results == [(MONTH_GRAMS, 0), (MONTH_GRAMS, 0)]
    assert verify_ledger(app.ctx) == []


def test_without_the_issuers_report_the_smallest_enterprise_id_wins_in_either_order(
    app: App, clock: FixedClock
) -> None:
    """Two entitled apps, neither the meter's issuer: the report of the smaller enterprise id
    is credited, whichever arrived first (before: the first to arrive)."""
    results = []
    for n, smaller_first in enumerate((True, False)):
        home = Household(app, f"meter:SG-{n}", first_is_issuer=False)
        smaller = min(home.first, home.second)
        larger = max(home.first, home.second)
        for who in [smaller, larger] if smaller_first else [larger, smaller]:
            assert home.report(who).kind == K.PROVISIONAL
        clock.moment = CLOSES - timedelta(seconds=1)
        assert settle_due(app.ctx) == 0
        clock.moment = CLOSES
        assert settle_due(app.ctx) == 2  # what `tanpuhui settle` runs
        won, lost = home.report(smaller), home.report(larger)
        clock.moment = NOW
        assert (won.kind, won.grams) == (K.CREDITED, MONTH_GRAMS)
        assert (lost.kind, lost.duplicate_of) == (K.DUPLICATE, won.reduction_id)
        holder, spouse = home.grams()
        results.append(holder if smaller == home.first else spouse)
    assert results == [MONTH_GRAMS, MONTH_GRAMS]
    assert verify_ledger(app.ctx) == []


def test_the_issuers_report_wins_however_late_it_arrives_within_its_claim_window(
    app: App, clock: FixedClock
) -> None:
    """Before: the window closed a day after the month ended, so the app's report settled
    alone and the utility's, arriving two months later, was its duplicate — the spouse kept
    the month (190,830 g) because the utility was late. Now the month waits for every report
    its claim window admits: the account holder gets it; after the window nothing can be
    reported for the month any more (`outside_claim_window`), so the settlement stands."""
    home = Household(app, "meter:SG-9", first_is_issuer=True)
    assert home.report(home.second).kind == K.PROVISIONAL
    clock.moment = NOW + timedelta(days=60)
    assert settle_due(app.ctx) == 0
    assert home.report(home.first).kind == K.PROVISIONAL
    clock.moment = CLOSES
    assert settle_due(app.ctx, home.second) == 2  # the utility's rival report with it
    smart, bill = home.report(home.second), home.report(home.first)
    assert (bill.kind, bill.grams) == (K.CREDITED, MONTH_GRAMS)
    assert (smart.kind, smart.duplicate_of) == (K.DUPLICATE, bill.reduction_id)
    too_late = submit_events(app.ctx, home.first, [dict(meter_month("m-late", "u-1", home.meter))])
    assert (too_late[0].kind, too_late[0].reason) == (K.REJECTED, "outside_claim_window")
    clock.moment = NOW
    assert home.grams() == (MONTH_GRAMS, 0)
    assert verify_ledger(app.ctx) == []
