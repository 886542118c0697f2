"""The market over real HTTP (issue 11 item 5): a person sells to a platform enterprise's
offer with a bearer token; the enterprise publishes the offer, lists its sales, confirms or
voids holds and reads its holdings with lineage, signed. Refusals are problem+json with the
stable codes; an enterprise never reaches another's offers or holds."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx

from tanpuhui.adapters.crypto import generate_key, public_raw
from tanpuhui.client import Client
from tanpuhui.domain.parties import Role
from tanpuhui.services.access import register_credential
from tanpuhui.services.parties import add_enterprise
from tests.api.conftest import (
    LiveServer,
    Onboarded,
    Persona,
    assert_problem,
    onboard_enterprise,
    send_signed,
)
from tests.api.test_flows import bound_person
from tests.builders import event
from tests.conftest import NOW


def _platform(server: LiveServer, name: str) -> Onboarded:
    enterprise = add_enterprise(server.ctx, name, {Role.PLATFORM})
    key = generate_key()
    credential = register_credential(server.ctx, enterprise.id, public_raw(key))
    return Onboarded(enterprise, credential.id, key, server.base_url)


def _signed(
    server: LiveServer, who: Onboarded, method: str, path: str, body: Any = None
) -> httpx.Response:
    raw = b"" if body is None else json.dumps(body).encode()
    return send_signed(server, who, method, path, raw)


def _seller(server: LiveServer, client: Client) -> tuple[Persona, int]:
    persona = bound_person(server, client, "u-1")
    client.submit_events(
        [event(event_id=f"r{i}", start=NOW - timedelta(days=2 - i, hours=3)) for i in range(2)]
    )
    ledger = server.http.get("/v1/me/ledger", headers=persona.auth).json()
    return persona, int(ledger["total_grams"])


def _sell(server: LiveServer, persona: Persona, offer: str, grams: int, rid: str) -> httpx.Response:
    body = {"offer_id": offer, "grams": grams, "request_id": rid}
    return server.http.post("/v1/me/sales", json=body, headers=persona.auth)


def test_a_person_sells_over_http_and_the_enterprise_confirms_the_hold(
    server: LiveServer, client: Client
) -> None:
    persona, grams = _seller(server, client)
    coffee = _platform(server, "Coffee")
    made = _signed(
        server, coffee, "POST", "/v1/offers",
        {"budget_grams": 100000, "coupons": ["K-1", "K-2"], "hold_minutes": 30},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    offer = made.json()["id"]
    mine = server.http.get("/v1/me/offers", headers=persona.auth).json()["items"]
    assert [o["id"] for o in mine] == [offer]
    sold = _sell(server, persona, offer, 300, "s-1")
    assert sold.status_code == 201, sold.text
    hold = sold.json()
    assert hold["status"] == "held" and hold["incentive"] == {"kind": "coupon", "code": "K-1"}
    assert _sell(server, persona, offer, 300, "s-1").status_code == 200  # replay: same sale
    ledger = server.http.get("/v1/me/ledger", headers=persona.auth).json()
    assert [h["id"] for h in ledger["holds"]] == [hold["id"]]
    assert_problem(_sell(server, persona, offer, grams, "s-2"), 409, "insufficient_balance")
    # another enterprise cannot confirm it; the owner can, once
    other = _platform(server, "Rival")
    assert_problem(
        _signed(server, other, "POST", f"/v1/holds/{hold['id']}/confirm"), 404, "not_found"
    )
    done = _signed(server, coffee, "POST", f"/v1/holds/{hold['id']}/confirm")
    assert done.status_code == 200 and done.json()["status"] == "confirmed"
    assert_problem(
        _signed(server, coffee, "POST", f"/v1/holds/{hold['id']}/void"), 409, "hold_not_held"
    )
    sales = _signed(server, coffee, "GET", "/v1/sales").json()["items"]
    assert [s["id"] for s in sales] == [hold["id"]]
    holdings = _signed(server, coffee, "GET", "/v1/holdings").json()
    lots = [lot for c in holdings["classes"] for lot in c["lots"]]
    assert sum(lot["grams"] for lot in lots) == 300
    assert len(lots) == 1  # the oldest ride covers it
    mine_now = server.http.get("/v1/me/sales", headers=persona.auth).json()["items"]
    assert mine_now[0]["status"] == "confirmed"


def test_offer_refusals_are_problems_with_stable_codes(server: LiveServer, client: Client) -> None:
    persona, _ = _seller(server, client)
    scene_only = _signed(
        server, onboard_enterprise(server, "Transit"), "POST", "/v1/offers",
        {"budget_grams": 10, "coupons": ["A"]},
    )  # fmt: skip
    assert_problem(scene_only, 403, "not_platform")
    coffee = _platform(server, "Coffee")
    bad = _signed(server, coffee, "POST", "/v1/offers", {"budget_grams": 0, "coupons": ["A"]})
    assert_problem(bad, 422, "invalid_input")
    offer = _signed(
        server, coffee, "POST", "/v1/offers", {"budget_grams": 100, "coupons": ["A", "B"]}
    ).json()["id"]
    assert_problem(_sell(server, persona, offer, 101, "x"), 409, "budget_exhausted")
    assert _signed(server, coffee, "POST", f"/v1/offers/{offer}/pause").json()["status"] == "paused"
    assert_problem(_sell(server, persona, offer, 10, "y"), 409, "offer_closed")
    refused = server.http.post("/v1/me/sales", json={"offer_id": offer}, headers=persona.auth)
    assert_problem(refused, 422, "invalid_request")
    assert server.http.get("/v1/me/sales").status_code == 401


def test_a_partner_merchant_redeems_points_with_the_persons_one_time_code(
    server: LiveServer,
) -> None:
    from tanpuhui.adapters.programme_files import parse_programme
    from tanpuhui.services.programmes import publish_programme
    from tests.integration.test_points import PROGRAMME, _bus

    programme, content = parse_programme(PROGRAMME.read_text(), PROGRAMME.name)
    publish_programme(server.ctx, programme, content)
    enterprise = add_enterprise(server.ctx, "Luzhou Bus", {Role.SCENE, Role.PLATFORM})
    key = generate_key()
    credential = register_credential(server.ctx, enterprise.id, public_raw(key))
    bus = Onboarded(enterprise, credential.id, key, server.base_url)
    with bus.client() as c:
        persona = bound_person(server, c, "u-1")
        c.submit_events([_bus(0), _bus(2)])
    code = server.http.post("/v1/me/binding-codes", headers=persona.auth).json()["code"]
    body = {"code": code, "programme": "luzhou.lvya", "points": 15, "request_id": "till-9"}
    done = _signed(server, bus, "POST", "/v1/redemptions", body)
    assert done.status_code == 201, done.text
    assert done.json()["points"] == 15 and not done.json()["replayed"]
    again = _signed(server, bus, "POST", "/v1/redemptions", body)
    assert again.status_code == 200 and again.json()["id"] == done.json()["id"]
    ledger = server.http.get("/v1/me/ledger", headers=persona.auth).json()
    assert ledger["points"] == {"luzhou.lvya": 5}
    reused = _signed(server, bus, "POST", "/v1/redemptions", {**body, "request_id": "till-10"})
    assert_problem(reused, 422, "invalid_binding_code")
