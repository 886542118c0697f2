"""Re-quantification on a real database: corrections, never edits; once; caps and sold grams
respected; every ledger invariant holds afterwards (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tanpuhui.adapters.catalogue_files import bundled_catalogue_dir
from tanpuhui.adapters.methodology_files import parse_methodology
from tanpuhui.bootstrap import App
from tanpuhui.domain.errors import ImmutableVersionError
from tanpuhui.domain.ledger import enterprise_account, person_account
from tanpuhui.domain.market import SaleStatus
from tanpuhui.domain.methodology import Catalogue
from tanpuhui.domain.parties import Role
from tanpuhui.services.catalogue import VersionFile, publish_version, retire_version
from tanpuhui.services.intake import submit_events
from tanpuhui.services.ledger import show_ledger, verify_ledger
from tanpuhui.services.market import (
    OfferTerms,
    create_offer,
    holdings_of,
    sell_reductions,
    settle_hold,
)
from tanpuhui.services.parties import add_enterprise, add_person, bind_subject
from tanpuhui.services.requantify import requantify
from tests.builders import event
from tests.conftest import CST, NOW
from tests.db_fixtures import rows

CODE = "cycling.shared_bike.wuhan"
V2 = (bundled_catalogue_dir() / f"{CODE}@2.yaml").read_text(encoding="utf-8")


def version_3(app: App, value: str = "80.1", cap: int | None = None) -> VersionFile:
    """A corrected Wuhan cycling factor, as an operator would publish it."""
    text = V2.replace("version: 2", "version: 3").replace('value: "93.3"', f'value: "{value}"')
    text = text.replace("id: wuhan_bike_2025", "id: wuhan_bike_2025_fixed")
    if cap is not None:
        text = text.replace("group: mobility", f"group: mobility\ndaily_cap_grams: {cap}")
    loaded = parse_methodology(text, f"{CODE}@3.yaml", app.ctx.regions)
    return VersionFile(f"{CODE}@3.yaml", loaded.methodology, loaded.content)


def rides(app: App, person_subjects: int = 3, per_subject: int = 4) -> object:
    """Rides of 3.42 km in Wuhan, all on NOW's local day (07:30, 08:30, … +08:00)."""
    bikes = add_enterprise(app.ctx, "Bikes", {Role.SCENE})
    batch = [
        event(subject=f"u-{s}", event_id=f"r-{s}-{i}", start=NOW - timedelta(hours=8 - i))
        for s in range(person_subjects)
        for i in range(per_subject)
    ]
    submit_events(app.ctx, bikes.id, batch)
    return bikes


def test_requantify_corrects_by_entries_once_and_the_ledger_stays_true(app: App) -> None:
    bikes = rides(app)
    person = add_person(app.ctx)
    bind_subject(app.ctx, bikes.id, "u-0", person.id)  # some person-held, some pending
    publish_version(app.ctx, version_3(app), NOW.date() + timedelta(days=1))
    dry = requantify(app.ctx, CODE, 2, 3)
    assert (dry.reductions, dry.changed, dry.applied) == (12, 12, False)
    # 3.42 km: 319 g at 93.3 g/km → 273 g at 80.1 g/km (273.942, rounded down)
    assert (dry.grams_before, dry.grams_after) == (12 * 319, 12 * 273)
    assert rows(app, "select count(*) from corrections")[0][0] == 0  # a dry run writes nothing

    done = requantify(app.ctx, CODE, 2, 3, apply=True)
    assert (done.grams_before, done.grams_after, done.difference) == (
        dry.grams_before, dry.grams_after, dry.difference,
    )  # fmt: skip
    assert show_ledger(app.ctx, person_account(person.id)).total_grams == 4 * 273
    assert rows(app, "select sum(grams) from events")[0][0] == 12 * 319  # history unchanged
    assert verify_ledger(app.ctx) == []

    again = requantify(app.ctx, CODE, 2, 3, apply=True)
    assert (again.reductions, again.changed) == (0, 0)
    assert rows(app, "select count(*) from corrections")[0][0] == 12
    assert verify_ledger(app.ctx) == []


def test_requantify_up_is_held_to_the_daily_cap(app: App) -> None:
    bikes = rides(app, person_subjects=1, per_subject=4)
    publish_version(app.ctx, version_3(app, value="200", cap=1500), NOW.date() + timedelta(days=1))
    done = requantify(app.ctx, CODE, 2, 3, apply=True)
    # 4 rides × 684 g would be 2,736 g; the new version's own cap allows 1,500 g a day
    assert done.grams_after == 1500
    assert done.capped >= 1
    assert show_ledger(app.ctx, f"pending:{bikes.id}:u-0").total_grams == 1500
    assert verify_ledger(app.ctx) == []


def test_a_decrease_comes_out_of_the_lots_that_hold_the_reduction(app: App) -> None:
    """Before: the person gave back the 38 g it still had and the buffer covered 532 g, while
    the buyer kept 600 g whose reductions now back 68 g (and ledger verify excused the
    person's negative lots)."""
    bikes = rides(app, person_subjects=1, per_subject=2)
    person = add_person(app.ctx)
    bind_subject(app.ctx, bikes.id, "u-0", person.id)
    buyer = add_enterprise(app.ctx, "Coffee", {Role.PLATFORM})
    # the person sold 600 of their 638 g (to a coupon offer, through the market): all of the
    # first ride, 281 g of the second
    offer = create_offer(app.ctx, buyer.id, OfferTerms(1000, coupons=("C-1",))).offer.id
    sell_reductions(app.ctx, person.id, offer, 600)
    publish_version(app.ctx, version_3(app, value="10"), NOW.date() + timedelta(days=1))
    done = requantify(app.ctx, CODE, 2, 3, apply=True)
    # 2 × 319 g → 2 × 34 g: 570 g to take back, 38 g from the person, 532 g from the buyer
    assert (done.grams_before, done.grams_after, done.shortfall) == (638, 68, 0)
    assert show_ledger(app.ctx, person_account(person.id)).total_grams == 0
    buyer_lots = holdings_of(app.ctx, enterprise_account(buyer.id))
    assert [lot.grams for lots in buyer_lots.values() for lot in lots] == [34, 34]
    assert show_ledger(app.ctx, enterprise_account(buyer.id)).total_grams == 68
    assert rows(app, "select count(*) from balances where account like 'buffer:%'")[0][0] == 0
    assert verify_ledger(app.ctx) == []


def test_grams_an_open_hold_reserves_are_covered_by_the_buffer(app: App) -> None:
    """What the lots cannot give (here: reserved by a hold the enterprise may still confirm)
    goes to the buffer, and the hold can still be confirmed."""
    bikes = rides(app, person_subjects=1, per_subject=2)
    person = add_person(app.ctx)
    bind_subject(app.ctx, bikes.id, "u-0", person.id)
    buyer = add_enterprise(app.ctx, "Coffee", {Role.PLATFORM})
    terms = OfferTerms(1000, coupons=("C-1",), hold_minutes=30)
    offer = create_offer(app.ctx, buyer.id, terms).offer.id
    hold = sell_reductions(app.ctx, person.id, offer, 600)
    publish_version(app.ctx, version_3(app, value="10"), NOW.date() + timedelta(days=1))
    done = requantify(app.ctx, CODE, 2, 3, apply=True)
    assert (done.grams_after, done.shortfall) == (68, 532)  # 38 g were free, 532 g reserved
    assert show_ledger(app.ctx, person_account(person.id)).total_grams == 600
    assert rows(app, "select sum(amount) from balances where account like 'buffer:%'")[0][0] == -532
    assert verify_ledger(app.ctx) == []
    settle_hold(app.ctx, hold.sale.id, SaleStatus.CONFIRMED)
    assert show_ledger(app.ctx, person_account(person.id)).total_grams == 0
    assert show_ledger(app.ctx, enterprise_account(buyer.id)).total_grams == 600
    assert verify_ledger(app.ctx) == []


def test_published_versions_are_immutable(app: App) -> None:
    v3 = version_3(app)
    assert publish_version(app.ctx, v3, NOW.date()).created
    assert not publish_version(app.ctx, v3, NOW.date()).created  # same content: no change
    with pytest.raises(ImmutableVersionError):
        publish_version(app.ctx, version_3(app, value="81"), NOW.date())


def test_publishing_closes_the_open_version_and_retiring_ends_one(app: App) -> None:
    result = publish_version(app.ctx, version_3(app), NOW.date())
    assert result.closed == [(f"{CODE}@2", NOW.date())]
    retired = retire_version(app.ctx, f"{CODE}@3", NOW.date() + timedelta(days=30))
    assert retired.effective_to == NOW.date() + timedelta(days=30)


def test_events_resolve_to_the_version_in_effect_on_their_day(app: App) -> None:
    bikes = add_enterprise(app.ctx, "Bikes", {Role.SCENE})
    publish_version(app.ctx, version_3(app), (NOW - timedelta(hours=30)).date())
    old, new = submit_events(app.ctx, bikes.id, [
        event(event_id="before", start=NOW - timedelta(days=3)),
        event(event_id="after", start=NOW - timedelta(hours=3)),
    ])  # fmt: skip
    assert (old.methodology, old.grams) == (f"{CODE}@2", 319)
    assert (new.methodology, new.grams) == (f"{CODE}@3", 273)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    value=st.decimals(min_value=1, max_value=500, places=1),
    count=st.integers(min_value=1, max_value=6),
    cap=st.one_of(st.none(), st.integers(min_value=100, max_value=3000)),
    bind=st.booleans(),
)
def test_requantify_properties(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    value: object,
    count: int,
    cap: int | None,
    bind: bool,
) -> None:
    from tanpuhui.adapters.system import FixedClock
    from tanpuhui.bootstrap import build
    from tanpuhui.config import Settings
    from tests.db_fixtures import fresh_database_url

    url = fresh_database_url(request, "sqlite", tmp_path_factory.mktemp("rq"))
    app = build(Settings(database_url=url), clock=FixedClock(NOW))
    try:
        bikes = rides(app, person_subjects=2, per_subject=count)
        if bind:
            bind_subject(app.ctx, bikes.id, "u-0", add_person(app.ctx).id)
        publish_version(app.ctx, version_3(app, str(value), cap), NOW.date() + timedelta(days=1))
        first = requantify(app.ctx, CODE, 2, 3, apply=True)
        assert first.reductions == 2 * count
        assert first.grams_after >= 0
        if cap is not None:  # one day, per holder: never over the new version's cap
            for (total,) in rows(
                app, "select sum(live_grams) from events where state = 'active' group by holder"
            ):
                assert total <= cap
        assert verify_ledger(app.ctx) == []
        second = requantify(app.ctx, CODE, 2, 3, apply=True)
        assert (second.reductions, second.changed) == (0, 0)
        assert verify_ledger(app.ctx) == []
    finally:
        app.close()


ENERGY = "household_electricity.saved"


def tripled_energy_version(app: App) -> tuple[int, VersionFile]:
    """household_electricity.saved@2 with 北京's 2023 factor tripled (1.9083 kg/kWh), as the
    version after the newest published, effective after all of them."""
    versions = app_catalogue(app).versions(ENERGY)
    number = max(v.version for v in versions) + 1
    effective = max(v.effective_from for v in versions) + timedelta(days=1)
    text = (bundled_catalogue_dir() / f"{ENERGY}@2.yaml").read_text(encoding="utf-8")
    text = text.replace("version: 2", f"version: {number}")
    text = text.replace("effective_from: 2025-01-01", f"effective_from: {effective}")
    old = 'id: grid_north_11_2023, role: er, value: "0.6361"'
    assert old in text
    text = text.replace(old, 'id: grid_north_11_2023_x3, role: er, value: "1.9083"')
    name = f"{ENERGY}@{number}.yaml"
    loaded = parse_methodology(text, name, app.ctx.regions)
    return number, VersionFile(name, loaded.methodology, loaded.content)


def app_catalogue(app: App) -> Catalogue:
    with app.ctx.uow(write=False) as uow:
        return app.ctx.catalogues.current(uow).catalogue


def test_requantifying_a_multi_day_claim_counts_it_against_every_day_it_covers(
    app: App,
) -> None:
    """A 3-day reading (1 kWh, 636 g: 212 g on each of its days) and a 1-day reading on its
    third day (15 kWh, 9,541 g) in Beijing; the group caps home energy at 10,000 g a day.
    Tripling the factor makes them 1,908 g (636 g a day) and 28,624 g. Re-quantified in time
    order, the 3-day reading keeps 1,908 g, and the third day has 10,000 − 636 = 9,364 g left
    for the other. Before: the 3-day reading was taken out of and put back on its start day
    only, so its 212 g stayed counted on the third day and its new 636 g were not: the other
    reading got 9,788 g, 10,424 g in all on that day, over the cap (11,696 g instead of
    11,272 g)."""
    home = add_enterprise(app.ctx, "Utility", {Role.SCENE})
    person = add_person(app.ctx)
    bind_subject(app.ctx, home.id, "u-1", person.id)
    day = (NOW - timedelta(days=10)).astimezone(CST).replace(hour=12, minute=0, second=0)

    def saved(event_id: str, start: datetime, seconds: int, kwh: str) -> dict[str, Any]:
        return event(event_id=event_id, behaviour="household_electricity_saved",
                     region="110105", start=start, minutes=seconds / 60,
                     quantity={"kwh": kwh})  # fmt: skip

    third = saved("third-day", day + timedelta(days=2, hours=1), 86_400, "15")
    spread = saved("three-days", day, 2 * 86_400 + 1, "1")
    outcomes = submit_events(app.ctx, home.id, [third, spread])
    assert [(o.kind.value, o.grams) for o in outcomes] == [("credited", 9541), ("credited", 636)]

    number, version = tripled_energy_version(app)
    publish_version(app.ctx, version, version.methodology.effective_from)
    done = requantify(app.ctx, ENERGY, 2, number)
    assert (done.grams_before, done.grams_after, done.capped) == (10_177, 11_272, 1)
    applied = requantify(app.ctx, ENERGY, 2, number, apply=True)
    assert (applied.grams_before, applied.grams_after) == (10_177, 11_272)
    assert show_ledger(app.ctx, person_account(person.id)).total_grams == 11_272
    assert verify_ledger(app.ctx) == []
