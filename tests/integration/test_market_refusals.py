"""Every refusal of the market's services is a stable error code, never a crash: offer terms,
holds, programmes, redemptions (both engines)."""

from __future__ import annotations

import uuid

import pytest

from tanpuhui.adapters.programme_files import parse_programme
from tanpuhui.bootstrap import App
from tanpuhui.domain.errors import TanpuhuiError
from tanpuhui.domain.market import OfferStatus, SaleStatus
from tanpuhui.domain.parties import Role
from tanpuhui.services.market import (
    OfferTerms,
    create_offer,
    expire_holds,
    list_offers,
    sales_of_enterprise,
    sell_reductions,
    set_offer_status,
    settle_hold,
)
from tanpuhui.services.parties import add_enterprise, add_person
from tanpuhui.services.points import redeem_points, redeem_with_code
from tanpuhui.services.programmes import get_programme, list_programmes, publish_programme
from tests.conftest import NOW
from tests.integration.test_market import _seller
from tests.integration.test_points import PROGRAMME

C = ("A",)


@pytest.mark.parametrize(
    ("terms", "code"),
    [
        (OfferTerms(0, coupons=C), "invalid_input"),
        (OfferTerms(100), "invalid_input"),  # no incentive
        (OfferTerms(100, points_per_kg=5, coupons=C, programme="p"), "invalid_input"),
        (OfferTerms(100, points_per_kg=5), "invalid_input"),  # points without a programme
        (OfferTerms(100, points_per_kg=0, programme="p"), "invalid_input"),
        (OfferTerms(100, coupons=C, min_grams=101), "invalid_input"),
        (OfferTerms(100, coupons=C, min_grams=10, max_per_person_grams=5), "invalid_input"),
        (OfferTerms(100, coupons=C, hold_minutes=0), "invalid_input"),
        (OfferTerms(100, coupons=C, regions=("510502",)), "invalid_input"),
        (OfferTerms(100, coupons=C, vintages=("2026/11",)), "invalid_input"),
        (OfferTerms(100, coupons=("A", "A")), "invalid_input"),
        (OfferTerms(100, coupons=C, valid_until=NOW), "invalid_input"),
        (OfferTerms(100, points_per_kg=5, programme="nope"), "not_found"),
    ],
)
def test_offer_terms_that_make_no_sense_are_refused(app: App, terms: OfferTerms, code: str) -> None:
    buyer = add_enterprise(app.ctx, "Maps", {Role.PLATFORM}).id
    with pytest.raises(TanpuhuiError) as refused:
        create_offer(app.ctx, buyer, terms)
    assert refused.value.code == code


def test_only_a_platform_enterprise_makes_offers_and_only_its_own_are_touched(app: App) -> None:
    scene = add_enterprise(app.ctx, "Bikes", {Role.SCENE}).id
    with pytest.raises(TanpuhuiError) as refused:
        create_offer(app.ctx, scene, OfferTerms(100, coupons=C))
    assert refused.value.code == "not_platform"
    with pytest.raises(TanpuhuiError) as missing:
        create_offer(app.ctx, uuid.uuid4(), OfferTerms(100, coupons=C))
    assert missing.value.code == "not_found"
    buyer = add_enterprise(app.ctx, "Maps", {Role.PLATFORM}).id
    offer = create_offer(app.ctx, buyer, OfferTerms(100, coupons=C)).offer.id
    with pytest.raises(TanpuhuiError) as foreign:
        set_offer_status(app.ctx, offer, OfferStatus.PAUSED, enterprise_id=scene)
    assert foreign.value.code == "not_found"
    assert [v.offer.id for v in list_offers(app.ctx, open_only=True)] == [offer]
    set_offer_status(app.ctx, offer, OfferStatus.PAUSED, enterprise_id=buyer)
    assert list_offers(app.ctx, open_only=True) == []
    assert sales_of_enterprise(app.ctx, scene) == []


def test_an_open_points_offer_whose_minimum_earns_no_point_is_listed(app: App) -> None:
    """min_grams 1 at 100 points/kg: a 1 g sale earns nothing, a 10 g sale one point; the
    offer is open and listed (it was hidden while the listing asked about 1 g)."""
    programme, content = parse_programme(PROGRAMME.read_text(), PROGRAMME.name)
    publish_programme(app.ctx, programme, content)
    buyer = add_enterprise(app.ctx, "Maps", {Role.PLATFORM}).id
    terms = OfferTerms(1_000, points_per_kg=100, programme=programme.code, min_grams=1)
    offer = create_offer(app.ctx, buyer, terms).offer.id
    assert [v.offer.id for v in list_offers(app.ctx, open_only=True)] == [offer]
    person, _ = _seller(app)
    with pytest.raises(TanpuhuiError) as nothing:
        sell_reductions(app.ctx, person, offer, 9)
    assert nothing.value.code == "below_minimum"
    assert sell_reductions(app.ctx, person, offer, 10).sale.points == 1
    set_offer_status(app.ctx, offer, OfferStatus.CLOSED)
    assert list_offers(app.ctx, open_only=True) == []


def test_holds_refuse_moves_the_state_machine_lacks(app: App) -> None:
    person, _ = _seller(app)
    buyer = add_enterprise(app.ctx, "Coffee", {Role.PLATFORM}).id
    offer = create_offer(app.ctx, buyer, OfferTerms(10_000, coupons=C, hold_minutes=5)).offer.id
    hold = sell_reductions(app.ctx, person, offer, 50)
    for bad, code in ((SaleStatus.EXPIRED, "invalid_input"), (SaleStatus.HELD, "invalid_input")):
        with pytest.raises(TanpuhuiError) as refused:
            settle_hold(app.ctx, hold.sale.id, bad)
        assert refused.value.code == code
    with pytest.raises(TanpuhuiError) as other:
        settle_hold(app.ctx, hold.sale.id, SaleStatus.CONFIRMED, enterprise_id=uuid.uuid4())
    assert other.value.code == "not_found"
    assert [r.sale.id for r in sales_of_enterprise(app.ctx, buyer)] == [hold.sale.id]
    assert expire_holds(app.ctx) == 0
    with pytest.raises(TanpuhuiError) as bad_id:
        sell_reductions(app.ctx, person, offer, 50, request_id="has space")
    assert bad_id.value.code == "invalid_request"
    with pytest.raises(TanpuhuiError) as nobody:
        sell_reductions(app.ctx, uuid.uuid4(), offer, 50)
    assert nobody.value.code == "not_found"
    with pytest.raises(TanpuhuiError) as no_offer:
        sell_reductions(app.ctx, person, uuid.uuid4(), 50)
    assert no_offer.value.code == "not_found"


def test_a_programme_version_is_immutable_and_found_by_code(app: App) -> None:
    text = PROGRAMME.read_text()
    first, new = publish_programme(app.ctx, *parse_programme(text, PROGRAMME.name))
    again, new_again = publish_programme(app.ctx, *parse_programme(text, PROGRAMME.name))
    assert new and not new_again and again.content_hash == first.content_hash
    changed = text.replace("points: 10", "points: 11")
    with pytest.raises(TanpuhuiError) as refused:
        publish_programme(app.ctx, *parse_programme(changed, PROGRAMME.name))
    assert refused.value.code == "immutable_version"
    assert get_programme(app.ctx, "luzhou.lvya").ref == "luzhou.lvya@1"
    assert [p.ref for p in list_programmes(app.ctx)] == ["luzhou.lvya@1"]
    with pytest.raises(TanpuhuiError) as missing:
        get_programme(app.ctx, "nope")
    assert missing.value.code == "not_found"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("code: [\n", "not YAML"),
        ("code: x\n", "version"),
        (PROGRAMME.read_text().replace("valid_from: 2024-01-01", "valid_from: 2024-01-01\n"
         "valid_to: 2023-01-01"), "valid_to"),
        (PROGRAMME.read_text().replace("behaviour: clean_plate", "behaviour: bus_ride"),
         "two rules"),
    ],
)  # fmt: skip
def test_a_bad_programme_file_lists_its_problems(text: str, problem: str) -> None:
    with pytest.raises(TanpuhuiError) as refused:
        parse_programme(text, "p.yaml")
    assert refused.value.code == "invalid_methodology"
    assert problem in refused.value.message + " ".join(refused.value.details["problems"])


def test_redemptions_refuse_bad_requests(app: App) -> None:
    publish_programme(app.ctx, *parse_programme(PROGRAMME.read_text(), PROGRAMME.name))
    bank = add_enterprise(app.ctx, "Luzhou City Bank", {Role.PLATFORM}).id
    person = add_person(app.ctx).id
    cases = [
        (lambda: redeem_points(app.ctx, bank, person, "luzhou.lvya", 0, "r"), "invalid_input"),
        (lambda: redeem_points(app.ctx, bank, person, "luzhou.lvya", 1, "a b"), "invalid_request"),
        (lambda: redeem_points(app.ctx, uuid.uuid4(), person, "luzhou.lvya", 1, "r"), "not_found"),
        (lambda: redeem_points(app.ctx, bank, uuid.uuid4(), "luzhou.lvya", 1, "r"), "not_found"),
        (lambda: redeem_points(app.ctx, bank, person, "nope", 1, "r"), "not_found"),
        (lambda: redeem_points(app.ctx, bank, person, "luzhou.lvya", 1, "r"),
         "insufficient_balance"),
        (lambda: redeem_with_code(app.ctx, bank, "0O0O", "luzhou.lvya", 1, "r"),
         "invalid_binding_code"),
        (lambda: redeem_with_code(app.ctx, bank, "ABCD-2345", "luzhou.lvya", 1, "r"),
         "invalid_binding_code"),
    ]  # fmt: skip
    for call, code in cases:
        with pytest.raises(TanpuhuiError) as refused:
            call()
        assert refused.value.code == code


def test_a_redemption_request_id_reused_for_another_redemption_is_a_conflict(app: App) -> None:
    from tanpuhui.services.intake import submit_events
    from tanpuhui.services.parties import bind_subject
    from tests.integration.test_points import _bus

    publish_programme(app.ctx, *parse_programme(PROGRAMME.read_text(), PROGRAMME.name))
    bus = add_enterprise(app.ctx, "Luzhou Bus", {Role.SCENE, Role.PLATFORM}).id
    person = add_person(app.ctx).id
    bind_subject(app.ctx, bus, "u-1", person)
    submit_events(app.ctx, bus, [_bus(0), _bus(2)])
    redeem_points(app.ctx, bus, person, "luzhou.lvya", 5, "same")
    with pytest.raises(TanpuhuiError) as refused:
        redeem_points(app.ctx, bus, person, "luzhou.lvya", 6, "same")
    assert refused.value.code == "request_conflict"
