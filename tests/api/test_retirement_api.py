"""Retirement and export over real HTTP (issue 13 item 5): a platform enterprise retires grams
it holds, signed (idempotent by request id; refusals as problem+json with stable codes; another
enterprise's retirement is not found); the operator, with its bearer token, creates an export,
marks it and fetches its file; both are in the OpenAPI document."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import httpx

from tanpuhui.adapters.crypto import generate_key, public_raw
from tanpuhui.domain.officials import OfficialKind
from tanpuhui.services.access import register_credential
from tanpuhui.services.officials import add_official
from tests.api.conftest import LiveServer, Onboarded, assert_problem, send_signed
from tests.retirement_world import bought_world

ASK = {"grams": 5000, "beneficiary": "Maps Ltd", "purpose": "2026 scope 1-3", "period": "2026"}


def _signed(
    server: LiveServer, who: Onboarded, method: str, path: str, body: Any = None
) -> httpx.Response:
    raw = b"" if body is None else json.dumps(body).encode()
    return send_signed(server, who, method, path, raw)


def test_retire_and_export_over_http(server: LiveServer) -> None:
    w = bought_world(server.app, persons=10, days=12, platforms=2)
    keys = []
    for platform in w.platforms:
        key = generate_key()
        credential = register_credential(server.ctx, platform, public_raw(key))
        keys.append(Onboarded(_enterprise(server, platform), credential.id, key,
                              server.base_url))  # fmt: skip
    maps, taxi = keys

    made = _signed(server, maps, "POST", "/v1/retirements", {**ASK, "request_id": "r-1"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["certificate"].startswith("TPH-R")  # its signed certificate's serial
    shown = httpx.get(f"{server.base_url}/v1/certificates/{body['certificate']}")
    assert shown.status_code == 200, shown.text
    assert [(b["start"], b["end"]) for b in body["blocks"]] == [(1, 5000)]
    again = _signed(server, maps, "POST", "/v1/retirements", {**ASK, "request_id": "r-1"})
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    clash = _signed(server, maps, "POST", "/v1/retirements",
                    {**ASK, "grams": 1, "request_id": "r-1"})  # fmt: skip
    assert_problem(clash, 409, "request_conflict")
    too_much = _signed(server, maps, "POST", "/v1/retirements",
                       {**ASK, "grams": w.bought, "request_id": "r-2"})  # fmt: skip
    assert_problem(too_much, 409, "insufficient_balance")
    assert_problem(
        _signed(server, maps, "POST", "/v1/retirements", {**ASK, "request_id": "r-3", "x": 1}),
        422, "invalid_request",
    )  # fmt: skip
    assert_problem(
        _signed(server, maps, "POST", "/v1/retirements", {**ASK, "period": "x", "request_id": "r"}),
        422, "invalid_period",
    )  # fmt: skip
    listed = _signed(server, maps, "GET", "/v1/retirements").json()["items"]
    assert [r["id"] for r in listed] == [body["id"]]
    assert_problem(_signed(server, taxi, "GET", f"/v1/retirements/{body['id']}"), 404, "not_found")

    token = add_official(server.ctx, OfficialKind.OPERATOR, "Ops").token
    auth = {"Authorization": f"Bearer {token}"}
    ask = {"enterprise": str(w.platform), "tonnes": 1, "registry": "CCER"}
    assert_problem(server.http.post("/v1/exports", json=ask), 401, "invalid_token")
    export = server.http.post("/v1/exports", json=ask, headers=auth)
    assert export.status_code == 201, export.text
    xid = export.json()["id"]
    assert export.json()["blocks"][0]["start"] == 5001
    assert_problem(server.http.post("/v1/exports", json=ask, headers=auth), 409,
                   "insufficient_balance")  # fmt: skip
    file = server.http.get(f"/v1/exports/{xid}/file", headers=auth)
    assert file.status_code == 200 and file.headers["content-type"].startswith("text/csv")
    (row,) = list(csv.DictReader(io.StringIO(file.text)))
    assert row["methodologies"] == "cycling.shared_bike.wuhan@2" and row["quantity_tonnes"] == "1"
    data = server.http.get(f"/v1/exports/{xid}/file?format=json", headers=auth).json()
    assert data["blocks"][0]["serial"] == row["serial"]
    marked = server.http.post(f"/v1/exports/{xid}/mark", headers=auth,
                              json={"status": "exported", "reference": "CCER-42"})  # fmt: skip
    assert marked.status_code == 200 and marked.json()["status"] == "exported"
    late = server.http.post(f"/v1/exports/{xid}/mark", headers=auth, json={"status": "returned"})
    assert_problem(late, 409, "export_not_pending")
    bad = server.http.post("/v1/exports/nope/mark", headers=auth, json={"status": "returned"})
    assert_problem(bad, 422, "invalid_request")

    paths = server.http.get("/openapi.json").json()["paths"]
    for path in ("/v1/retirements", "/v1/retirements/{retirement_id}", "/v1/exports",
                 "/v1/exports/{export_id}/mark", "/v1/exports/{export_id}/file"):  # fmt: skip
        assert path in paths


def _enterprise(server: LiveServer, enterprise_id: Any) -> Any:
    with server.ctx.uow(write=False) as uow:
        return uow.enterprises.find(enterprise_id)
