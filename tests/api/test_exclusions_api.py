"""`POST /v1/exclusions` over real HTTP, on SQLite and PostgreSQL: an enterprise declares its own
programme — or a meter it is authorised to cite — claimed under another mechanism (issue 9,
the exclusion register), and its matching events are rejected `claimed_elsewhere`.

Before: only the operator's service could declare; an enterprise inside an emissions-trading
scheme had no way to keep its own savings from being credited here as well."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec

from tanpuhui.services.evidence import authorise_issuer
from tests.api.conftest import (
    LiveServer,
    Onboarded,
    assert_problem,
    onboard_enterprise,
    send_signed,
)
from tests.builders import event
from tests.conftest import NOW

DAY = NOW - timedelta(days=5)


def declare(server: LiveServer, who: Onboarded, **body: Any) -> Any:
    return send_signed(server, who, "POST", "/v1/exclusions", msgspec.json.encode(body))


def saved(event_id: str, **kw: Any) -> dict[str, Any]:
    """10 kWh a Beijing household saved over one day, five days before NOW."""
    return event(event_id=event_id, behaviour="household_electricity_saved", region="110105",
                 start=DAY, minutes=24 * 60, quantity={"kwh": "10"}, **kw)  # fmt: skip


def test_an_enterprise_declares_its_own_programme_and_its_events_are_claimed_elsewhere(
    server: LiveServer,
) -> None:
    plant = onboard_enterprise(server, "Plant")
    since = (DAY - timedelta(days=10)).date().isoformat()
    response = declare(
        server, plant, key=f"enterprise:{plant.enterprise.id}", mechanism="ets",
        behaviours=["household_electricity_saved"], valid_from=since, note="Beijing ETS",
    )  # fmt: skip
    assert response.status_code == 201, response.text
    body = response.json()
    assert {k: body[k] for k in ("key", "mechanism", "behaviours", "valid_from", "valid_to")} == {
        "key": f"enterprise:{plant.enterprise.id}",
        "mechanism": "ets",
        "behaviours": ["household_electricity_saved"],
        "valid_from": since,
        "valid_to": None,
    }
    assert body["note"] == "Beijing ETS" and body["id"] and body["declared_at"]

    with plant.client() as client:
        inside, ride = client.submit_events([saved("p-1"), event(event_id="p-2")])["outcomes"]
    assert (inside["outcome"], inside["reason"]) == ("rejected", "claimed_elsewhere")
    assert "ets" in inside["message"]
    assert ride["outcome"] == "pending_binding"  # another behaviour: not covered


def test_an_enterprise_may_declare_a_meter_only_once_authorised_to_cite_its_issuer(
    server: LiveServer,
) -> None:
    grid = onboard_enterprise(server, "Grid")
    meter = {"key": "meter:PV-0042", "mechanism": "green_certificate"}
    assert_problem(declare(server, grid, **meter), 403, "not_entitled")

    authorise_issuer(server.ctx, "meter:PV-0042", grid.enterprise.id)
    assert declare(server, grid, **meter).status_code == 201

    reading = {"ref": "read-1", "issuer": "meter:PV-0042"}
    with grid.client() as client:
        (outcome,) = client.submit_events([saved("g-1", evidence=reading)])["outcomes"]
    assert (outcome["outcome"], outcome["reason"]) == ("rejected", "claimed_elsewhere")


def test_no_enterprise_may_declare_another_ones_programme(server: LiveServer) -> None:
    victim, rival = onboard_enterprise(server, "Victim"), onboard_enterprise(server, "Rival")
    response = declare(server, rival, key=f"enterprise:{victim.enterprise.id}", mechanism="ccer")
    assert_problem(response, 403, "not_entitled")
    with victim.client() as client:
        (outcome,) = client.submit_events([saved("v-1")])["outcomes"]
    assert outcome["outcome"] == "pending_binding"  # nothing was declared for it


def test_bad_declarations_are_refused_with_a_code(server: LiveServer) -> None:
    """Was, before the service bounded its text: a NUL in the note answered 500 on PostgreSQL,
    and a NUL in a meter key 403 instead of saying the key is malformed."""
    e = onboard_enterprise(server, "E")
    own = f"enterprise:{e.enterprise.id}"
    cases = [
        ({"key": own, "mechanism": "carbon-magic"}, "invalid_request"),
        ({"key": own, "mechanism": "ccer", "extra": 1}, "invalid_request"),
        ({"key": own, "mechanism": "ccer", "valid_from": "yesterday"}, "invalid_request"),
        ({"key": own, "mechanism": "ccer", "behaviours": ["Not A Behaviour!"]}, "invalid_request"),
        ({"key": "person:x", "mechanism": "ccer"}, "invalid_exclusion"),
        ({"key": "meter:a\x00b", "mechanism": "ccer"}, "invalid_exclusion"),
        ({"key": own, "mechanism": "ccer", "note": "a\x00b"}, "invalid_exclusion"),
        ({"key": own, "mechanism": "ccer", "note": "x" * 501}, "invalid_request"),
        ({"key": own, "mechanism": "ccer", "valid_from": "2026-02-01", "valid_to": "2026-01-01"},
         "invalid_exclusion"),
    ]  # fmt: skip
    for body, code in cases:
        assert_problem(declare(server, e, **body), 422, code)
    assert_problem(
        send_signed(server, e, "POST", "/v1/exclusions", b"[1, 2"), 422, "invalid_request"
    )
    unsigned = server.http.post("/v1/exclusions", json={"key": own, "mechanism": "ccer"})
    assert_problem(unsigned, 401, "missing_signature")
