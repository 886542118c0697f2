"""Points programmes on both engines: points earned when reductions are credited and when
pending ones move at binding, the daily cap, redemption at partner merchants (idempotent) and
expiry by ledger entries; `ledger verify` clean throughout."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from tanpuhui.adapters.programme_files import parse_programme
from tanpuhui.adapters.system import FixedClock
from tanpuhui.bootstrap import App
from tanpuhui.domain.errors import TanpuhuiError
from tanpuhui.domain.ledger import enterprise_account, person_account
from tanpuhui.domain.parties import Role
from tanpuhui.services.intake import submit_events
from tanpuhui.services.ledger import verify_ledger
from tanpuhui.services.parties import add_enterprise, add_person, bind_subject
from tanpuhui.services.points import expire_points, redeem_points
from tanpuhui.services.programmes import publish_programme
from tests.builders import event
from tests.conftest import NOW
from tests.db_fixtures import rows

PROGRAMME = Path(__file__).parents[2] / "src/tanpuhui/programmes/luzhou.lvya@1.yaml"
PROGRAMME_CODE = "luzhou.lvya"


def _bus(i: int, subject: str = "u-1", day: int = 1) -> dict[str, object]:
    """A Luzhou bus ride by QR code (80 g, 10 points), 10 minutes, `i` quarter-hours on."""
    start = NOW - timedelta(days=day) + timedelta(minutes=15 * i)
    return event(
        subject=subject, behaviour="bus_ride", region="510502", start=start, minutes=10,
        quantity={"distance_km": "5"},
    )  # fmt: skip


def _points(app: App, account: str) -> int:
    found = rows(
        app,
        "select amount from balances where account = :a and asset = :s",
        a=account,
        s=f"points:{PROGRAMME_CODE}",
    )
    return int(found[0].amount) if found else 0


def _setup(app: App) -> tuple[uuid.UUID, uuid.UUID]:
    programme, content = parse_programme(PROGRAMME.read_text(), PROGRAMME.name)
    publish_programme(app.ctx, programme, content)
    bus = add_enterprise(app.ctx, "Luzhou Bus", {Role.SCENE, Role.PLATFORM}).id
    return bus, add_person(app.ctx).id


def _clean(app: App) -> None:
    assert verify_ledger(app.ctx) == []


def test_a_credited_bus_ride_in_luzhou_earns_10_points_not_grams_proportional(app: App) -> None:
    bus, person = _setup(app)
    bind_subject(app.ctx, bus, "u-1", person)
    outcomes = submit_events(app.ctx, bus, [_bus(0), _bus(3)])
    assert [o.grams for o in outcomes] == [80, 80]
    assert _points(app, person_account(person)) == 20
    _clean(app)


def test_the_daily_point_cap_stops_awards_at_200(app: App) -> None:
    """25 rides of 10 points in one day: the programme's cap of 200 points a day holds."""
    bus, person = _setup(app)
    bind_subject(app.ctx, bus, "u-1", person)
    outcomes = submit_events(app.ctx, bus, [_bus(i) for i in range(25)])
    credited = sum(1 for o in outcomes if o.grams > 0)
    assert credited > 20
    assert _points(app, person_account(person)) == 200
    submit_events(app.ctx, bus, [_bus(0, day=2)])  # another day: earns again
    assert _points(app, person_account(person)) == 210
    _clean(app)


def test_pending_reductions_earn_their_points_when_they_move_at_binding(app: App) -> None:
    bus, person = _setup(app)
    submit_events(app.ctx, bus, [_bus(0), _bus(2)])
    assert _points(app, person_account(person)) == 0
    assert rows(app, "select * from points_days") == []
    bind_subject(app.ctx, bus, "u-1", person)
    assert _points(app, person_account(person)) == 20
    _clean(app)


def test_redemption_at_a_partner_merchant_is_idempotent_and_never_overdraws(app: App) -> None:
    bus, person = _setup(app)
    bind_subject(app.ctx, bus, "u-1", person)
    submit_events(app.ctx, bus, [_bus(0), _bus(2), _bus(4)])
    first, new = redeem_points(app.ctx, bus, person, PROGRAMME_CODE, 25, "till-1")
    again, new_again = redeem_points(app.ctx, bus, person, PROGRAMME_CODE, 25, "till-1")
    assert new and not new_again and again.id == first.id
    assert _points(app, person_account(person)) == 5
    assert _points(app, enterprise_account(bus)) == 25
    with pytest.raises(TanpuhuiError) as short:
        redeem_points(app.ctx, bus, person, PROGRAMME_CODE, 6, "till-2")
    assert short.value.code == "insufficient_balance"
    stranger = add_enterprise(app.ctx, "Noodles", {Role.PLATFORM}).id
    with pytest.raises(TanpuhuiError) as refused:
        redeem_points(app.ctx, stranger, person, PROGRAMME_CODE, 1, "n-1")
    assert refused.value.code == "not_partner"
    _clean(app)


def test_points_expire_by_ledger_entries_oldest_first(app: App, clock: FixedClock) -> None:
    bus, person = _setup(app)
    bind_subject(app.ctx, bus, "u-1", person)
    submit_events(app.ctx, bus, [_bus(0), _bus(2)])  # 20 points, a day ago
    redeem_points(app.ctx, bus, person, PROGRAMME_CODE, 5, "r-1")  # spends the oldest
    assert expire_points(app.ctx) == 0
    clock.moment += timedelta(days=366)
    assert expire_points(app.ctx) == 15
    assert _points(app, person_account(person)) == 0
    assert expire_points(app.ctx) == 0  # nothing twice
    kinds = {r.kind for r in rows(app, "select kind from ledger_entries")}
    assert {"points_award", "redemption", "points_expiry"} <= kinds
    _clean(app)
