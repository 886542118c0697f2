"""Inputs that once broke a whole batch, through the real HTTP server on both engines (issue 15).

Each test sends the probe's input signed to `POST /v1/events` and checks the answer is a
stable code — never a 500 — that the batch's valid events are kept, and that no traceback
reached the server's log. Then it reads the feed back, which must not be poisoned either.
The served /openapi.json is checked against the wire contract at the end (issue 8 item 5).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tanpuhui.adapters import wire
from tanpuhui.domain.events import FIELDS, REQUIRED, Reason
from tanpuhui.domain.quantity import QUANTITY_KEYS
from tests.api.conftest import LiveServer, Onboarded, assert_no_leak, assert_problem, send_signed
from tests.builders import event
from tests.conftest import NOW


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Everything the server logs during the test; it must hold no traceback."""
    caplog.set_level(logging.WARNING)
    yield caplog
    assert not [r for r in caplog.records if r.exc_info], "a traceback reached the log"
    assert "Traceback" not in caplog.text


def post(server: LiveServer, who: Onboarded, body: bytes) -> Any:
    return send_signed(server, who, "POST", "/v1/events", body)


def batch_of(*items: str, **top: Any) -> bytes:
    extra = "".join(f', "{k}": {json.dumps(v)}' for k, v in top.items())
    return ('{"events": [' + ", ".join(items) + "]" + extra + "}").encode()


def outcomes_of(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert_no_leak(response)
    return list(response.json()["outcomes"])


def assert_feed_reads(server: LiveServer, who: Onboarded, events: int) -> None:
    feed = send_signed(server, who, "GET", "/v1/outcomes?limit=100")
    assert feed.status_code == 200, feed.text
    assert len(feed.json()["items"]) == events


def test_an_instant_at_the_calendars_end_is_rejected_alone(
    server: LiveServer, bikes: Onboarded, log: pytest.LogCaptureFixture
) -> None:
    """Old answer: 500 internal_error for the whole batch (converting
    9999-12-31T23:50:00+00:00 to the platform's zone overflowed); nothing was stored."""
    good = json.dumps(event(event_id="good"))
    late = json.dumps(
        event(
            event_id="late",
            started_at="9999-12-31T23:50:00+00:00",
            ended_at="9999-12-31T23:55:00+00:00",
        )
    )
    early = json.dumps(event(event_id="early", ended_at="0001-01-01T00:10:00+05:00"))

    outcomes = outcomes_of(post(server, bikes, batch_of(good, late, early)))

    assert [o["outcome"] for o in outcomes] == ["pending_binding", "rejected", "rejected"]
    assert {o["reason"] for o in outcomes[1:]} == {Reason.INVALID_TIMESTAMP.value}
    assert "outside the instants the platform can represent" in outcomes[1]["message"]
    detail = send_signed(server, bikes, "GET", "/v1/events/late")
    assert detail.status_code == 200, detail.text
    assert detail.json()["outcome"]["reason"] == "invalid_timestamp"
    assert_feed_reads(server, bikes, 3)


def test_an_event_nested_500_levels_deep_is_rejected_alone(
    server: LiveServer, bikes: Onboarded, log: pytest.LogCaptureFixture
) -> None:
    """Old answer: 500 for the whole batch, and a traceback hundreds of times the body's size
    in the log (about 500 levels inside one event, ~1 kB of body)."""
    good = json.dumps(event(event_id="good"))
    deep = json.dumps(event(event_id="deep"))[:-1] + ', "junk": ' + "[" * 500 + "]" * 500 + "}"

    later = json.dumps(event(event_id="later", start=NOW - timedelta(hours=5)))

    outcomes = outcomes_of(post(server, bikes, batch_of(good, deep, later)))

    assert [o["outcome"] for o in outcomes] == ["pending_binding", "rejected", "pending_binding"]
    assert outcomes[1]["reason"] == Reason.TOO_DEEP.value
    assert outcomes[1]["event_id"] is None and outcomes[1]["index"] == 1
    assert_feed_reads(server, bikes, 2)


@pytest.mark.parametrize("levels", [600, 100_000])
def test_a_body_nested_past_the_parsers_reach_is_422_too_deep(
    levels: int, server: LiveServer, bikes: Onboarded, log: pytest.LogCaptureFixture
) -> None:
    """Old answer: 500 (a RecursionError out of the decoder)."""
    deep = json.dumps(event())[:-1] + ', "junk": ' + "[" * levels + "]" * levels + "}"

    response = post(server, bikes, batch_of(json.dumps(event()), deep))

    body = assert_problem(response, 422, "too_deep")
    assert "512 levels" in body["detail"]
    assert_feed_reads(server, bikes, 0)


def test_a_lone_surrogate_rejects_only_its_event(
    server: LiveServer, bikes: Onboarded, log: pytest.LogCaptureFixture
) -> None:
    """Old answer: 422 invalid_request 'the body must be a JSON object {"events": [...]}' for
    the whole batch, because of one `\\ud800` escape in one event."""
    good = json.dumps(event(event_id="good"))
    bad = json.dumps(event(event_id="bad", evidence={"ref": "X"})).replace('"X"', '"o-\\ud800"')

    outcomes = outcomes_of(post(server, bikes, batch_of(good, bad)))

    assert [o["outcome"] for o in outcomes] == ["pending_binding", "rejected"]
    assert outcomes[1]["reason"] == Reason.INVALID_UNICODE.value
    assert "evidence.ref holds a lone UTF-16 surrogate" in outcomes[1]["message"]
    assert_feed_reads(server, bikes, 1)


def test_an_unknown_top_level_batch_field_is_422_unknown_field(
    server: LiveServer, bikes: Onboarded, log: pytest.LogCaptureFixture
) -> None:
    """Old answer: 200, the batch processed and `foo` silently ignored."""
    response = post(server, bikes, batch_of(json.dumps(event(event_id="e-1")), foo=1))

    body = assert_problem(response, 422, "unknown_field")
    assert "'foo'" in body["detail"]
    assert send_signed(server, bikes, "GET", "/v1/events/e-1").status_code == 404


def test_the_served_openapi_document_is_the_wire_contract(server: LiveServer) -> None:
    document = server.http.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    event_schema = schemas["Event"]
    (quantity,) = [
        s for s in event_schema["properties"]["quantity"]["anyOf"] if s.get("type") == "object"
    ]
    described = schemas["Outcome"]["properties"]["reason"]["description"]

    assert document["openapi"].startswith("3.1")
    for name in ("Event", "Evidence", "EventBatch", "Outcome", "BatchResult", "Problem"):
        assert schemas[name] == wire.components()[name]
    assert set(event_schema["properties"]) == FIELDS
    assert set(event_schema["required"]) == set(REQUIRED)
    assert set(quantity["properties"]) == QUANTITY_KEYS
    assert all(f"`{reason.value}`" in described for reason in Reason)
    batch = document["paths"]["/v1/events"]["post"]
    assert batch["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/EventBatch"
    }


def _refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_every_reference_in_the_served_openapi_document_resolves(server: LiveServer) -> None:
    """Was: `POST /v1/exclusions` named `#/components/schemas/ExclusionRequest`, which the
    document did not hold — ReDoc stopped with "Invalid reference token" and rendered nothing."""
    document = server.http.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    prefix = "#/components/schemas/"
    refs = set(_refs(document))

    assert refs, "the document references its components"
    assert {r for r in refs if not r.startswith(prefix)} == set()
    assert {r for r in refs if r.removeprefix(prefix) not in schemas} == set()
