"""The scene enterprise's journeys through real HTTP with `tanpuhui.client.Client`: submit,
replay, read back with the trace, late binding with a person's code, the outcome feed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
import pytest

from tanpuhui.client import Client, ConflictError, InvalidRequestError, NotFoundError
from tests.api.conftest import (
    LiveServer,
    Onboarded,
    Persona,
    assert_problem,
    onboard_person,
    send_signed,
)
from tests.builders import event
from tests.conftest import NOW
from tests.db_fixtures import rows

RIDE_GRAMS = 319  # 3.42 km × 93.3 g/km in Wuhan (2025) = 319.086 g, rounded down
RIDE_METHODOLOGY = "cycling.shared_bike.wuhan@2"


def binding_code(server: LiveServer, persona: Persona) -> str:
    response = server.http.post("/v1/me/binding-codes", headers=persona.auth)
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"code", "expires_at"}
    return str(body["code"])


def bound_person(server: LiveServer, client: Client, subject: str) -> Persona:
    persona = onboard_person(server)
    result = client.bind(subject, binding_code(server, persona))
    assert result["created"] is True
    return persona


def test_a_signed_batch_is_credited_in_order_with_a_readable_trace(
    server: LiveServer, client: Client
) -> None:
    bound_person(server, client, "u-1")
    batch = [
        event(event_id="ride-1", start=NOW - timedelta(hours=5)),
        event(
            event_id="order-1",
            behaviour="no_disposable_cutlery",
            region="110101",
            quantity={"count": "1"},
            evidence={"ref": "order-42", "issuer": "coffee-chain"},
        ),
        event(event_id="ride-2", start=NOW - timedelta(hours=3)),
    ]

    result = client.submit_events(batch)

    outcomes = result["outcomes"]
    assert [(o["index"], o["event_id"], o["outcome"]) for o in outcomes] == [
        (0, "ride-1", "credited"),
        (1, "order-1", "credited"),
        (2, "ride-2", "credited"),
    ]
    assert [o["grams"] for o in outcomes] == [RIDE_GRAMS, 23, RIDE_GRAMS]
    assert outcomes[0]["methodology"] == RIDE_METHODOLOGY
    assert all(o["reduction_id"] and o["entry_id"] for o in outcomes)
    assert result["summary"] == {"credited": 3}

    detail = client.get_event("ride-1")
    assert detail["event_id"] == "ride-1"
    assert detail["outcome"] | {"index": 0} == outcomes[0]
    assert detail["event"]["subject"] == "u-1"
    assert detail["event"]["quantity"] == {"distance_km": "3.42"}
    trace = detail["trace"]
    assert trace["methodology"] == RIDE_METHODOLOGY
    assert trace["exact_grams"] == "319.086"
    assert trace["grams"] == RIDE_GRAMS
    assert trace["inputs"] == {"distance_km": "3.42"}
    (factor,) = trace["factors"]
    assert (factor["id"], factor["value"], factor["unit"]) == ("wuhan_bike_2025", "93.3", "g/km")
    assert factor["source"] and factor["source"] != "(methodology version not found)"
    assert factor["confidence"] != "?"
    assert detail["now"]["account"] == "person"
    assert detail["now"]["grams"] == RIDE_GRAMS


def test_a_replayed_batch_credits_nothing_new_and_answers_the_same(
    server: LiveServer, client: Client
) -> None:
    batch = [event(subject=f"u-{i}", event_id=f"r-{i}") for i in range(5)]
    first = client.submit_events(batch)
    again = client.submit_events(batch)

    assert again["outcomes"] == first["outcomes"]
    assert [o["outcome"] for o in first["outcomes"]] == ["pending_binding"] * 5
    assert rows(server.app, "select count(*) from events")[0][0] == 5
    pending = "select sum(amount) from balances where account like 'pending:%'"
    assert rows(server.app, pending)[0][0] == 5 * RIDE_GRAMS
    feed = list(client.iter_outcomes())
    assert sorted(item["event_id"] for item in feed) == [f"r-{i}" for i in range(5)]


def test_bad_events_are_rejected_and_the_good_ones_still_processed(client: Client) -> None:
    good = event(event_id="good-1")
    missing = event(event_id="no-region")
    del missing["region"]
    batch: list[Any] = [
        good,
        event(event_id="bad-region", region="999999"),
        missing,
        42,
        event(event_id="extra", colour="green"),
        event(event_id="reversed", minutes=-5),
        event(event_id="good-2", subject="u-2"),
    ]

    result = client.submit_events(batch)

    kinds = [(o["event_id"], o["outcome"], o.get("reason")) for o in result["outcomes"]]
    assert kinds == [
        ("good-1", "pending_binding", None),
        ("bad-region", "rejected", "invalid_region"),
        ("no-region", "rejected", "missing_field"),
        (None, "rejected", "not_an_object"),
        ("extra", "rejected", "unknown_field"),
        ("reversed", "rejected", "ends_before_start"),
        ("good-2", "pending_binding", None),
    ]
    assert all(o["message"] for o in result["outcomes"] if o["outcome"] == "rejected")
    assert result["summary"] == {"pending_binding": 2, "rejected": 5}
    rejected = client.get_event("bad-region")
    assert rejected["outcome"]["reason"] == "invalid_region"
    assert rejected["trace"] is None and rejected["now"] is None


def test_the_same_event_id_with_another_payload_is_a_per_event_conflict(
    client: Client,
) -> None:
    client.submit_events([event(event_id="x")])

    result = client.submit_events(
        [event(event_id="x", quantity={"distance_km": "9"}), event(event_id="y", subject="u-2")]
    )

    assert [o["outcome"] for o in result["outcomes"]] == ["conflict", "pending_binding"]
    assert result["outcomes"][0]["reason"] == "conflict"
    kept = client.get_event("x")
    assert kept["event"]["quantity"] == {"distance_km": "3.42"}
    assert kept["outcome"]["grams"] == RIDE_GRAMS


def test_late_binding_moves_pending_grams_to_the_person(
    server: LiveServer, bikes: Onboarded, client: Client
) -> None:
    late = [
        event(subject="late", event_id=f"l-{i}", start=NOW - timedelta(hours=10 - i))
        for i in range(3)
    ]
    result = client.submit_events(late)
    assert [o["outcome"] for o in result["outcomes"]] == ["pending_binding"] * 3
    assert client.get_event("l-0")["now"]["account"] == "pending"

    persona = onboard_person(server)
    code = binding_code(server, persona)
    assert len(code) == 9 and code[4] == "-"
    bound = client.bind("late", code)

    assert bound["subject"] == "late"
    assert bound["created"] is True
    assert bound["moved_grams"] == 3 * RIDE_GRAMS
    assert bound["reversed_grams"] == 0
    assert sorted(r["resolution"] for r in bound["reductions"]) == ["moved"] * 3
    for i in range(3):
        now = client.get_event(f"l-{i}")["now"]
        assert (now["account"], now["grams"]) == ("person", RIDE_GRAMS)
    person_account = f"person:{persona.person.id}"
    assert rows(
        server.app,
        "select sum(amount) from balances where account = :a",
        a=person_account,
    ) == [(3 * RIDE_GRAMS,)]

    # the code is spent: neither this enterprise nor anyone can use it again
    with pytest.raises(InvalidRequestError) as used:
        client.bind("late-2", code)
    assert (used.value.status, used.value.code) == (422, "invalid_binding_code")
    body = msgspec.json.encode({"subject": "late-3", "code": "ABCD-EFGH"})
    assert_problem(
        send_signed(server, bikes, "POST", "/v1/bindings", body), 422, "invalid_binding_code"
    )

    # new events of a bound subject are credited to the person directly
    (direct,) = client.submit_events([event(subject="late", event_id="l-3")])["outcomes"]
    assert direct["outcome"] == "credited"

    ended = client.unbind("late")
    assert ended["subject"] == "late" and ended["ended_at"]
    (after,) = client.submit_events(
        [event(subject="late", event_id="l-4", start=NOW - timedelta(minutes=40))]
    )["outcomes"]
    assert after["outcome"] == "pending_binding"
    assert client.get_event("l-0")["now"]["account"] == "person"  # nothing moves back
    with pytest.raises(NotFoundError) as again:
        client.unbind("late")
    assert again.value.code == "not_found"


def test_binding_a_subject_bound_to_someone_else_is_a_conflict_and_keeps_the_code(
    server: LiveServer, client: Client
) -> None:
    bound_person(server, client, "s-1")
    other = onboard_person(server)
    code = binding_code(server, other)

    with pytest.raises(ConflictError) as refused:
        client.bind("s-1", code)
    assert (refused.value.status, refused.value.code) == (409, "conflict")
    assert client.bind("s-2", code.lower().replace("-", " "))["created"] is True


def signed_page(server: LiveServer, who: Onboarded, query: str) -> dict[str, Any]:
    response = send_signed(server, who, "GET", f"/v1/outcomes?{query}")
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def walk_feed(server: LiveServer, who: Onboarded, limit: int) -> tuple[list[str], str | None]:
    """Every item of the feed, page by page with `limit`; and the cursor to poll later."""
    seen: list[str] = []
    page = signed_page(server, who, f"limit={limit}")
    while True:
        assert len(page["items"]) <= limit
        seen += [item["event_id"] for item in page["items"]]
        if page["next_cursor"] is None:
            return seen, page["cursor"]
        assert page["cursor"] == page["next_cursor"]
        page = signed_page(server, who, f"limit={limit}&after={page['next_cursor']}")


def test_the_outcome_feed_is_cursor_paginated_and_complete(
    server: LiveServer, bikes: Onboarded, client: Client
) -> None:
    submitted: list[str] = []
    for b in range(4):
        batch = [event(subject=f"u-{b}-{i}", event_id=f"f-{b}-{i}") for i in range(5)]
        batch.append(event(event_id=f"f-{b}-bad", region="999999"))
        client.submit_events(batch)
        submitted += [e["event_id"] for e in batch]

    for limit in (1, 3, 6, 7, 1000):
        seen, cursor = walk_feed(server, bikes, limit)
        assert seen == submitted, limit
    assert [item["event_id"] for item in client.iter_outcomes(limit=4)] == submitted

    # a later poll from the last cursor sees only what arrived since
    assert cursor is not None
    empty = signed_page(server, bikes, f"after={cursor}")
    assert (empty["items"], empty["next_cursor"], empty["cursor"]) == ([], None, cursor)
    client.submit_events([event(subject="late", event_id=f"n-{i}") for i in range(3)])
    client.submit_events([event(subject="late", event_id="n-0")])  # a replay adds nothing
    newer = signed_page(server, bikes, f"after={cursor}&limit=10")
    assert [item["event_id"] for item in newer["items"]] == ["n-0", "n-1", "n-2"]
    assert newer["next_cursor"] is None
    assert newer["items"][0]["outcome"]["outcome"] == "pending_binding"
    assert newer["items"][0]["outcome"]["index"] == -1


def round_trip(client: Client, event_id: str, subject: str) -> None:
    (outcome,) = client.submit_events([event(event_id=event_id, subject=subject)])["outcomes"]
    assert (outcome["event_id"], outcome["outcome"]) == (event_id, "pending_binding")
    detail = client.get_event(event_id)
    assert detail["event_id"] == event_id
    assert detail["outcome"]["reduction_id"] == outcome["reduction_id"]


def test_event_ids_with_reserved_characters_round_trip_through_the_client(
    client: Client, subtests: pytest.Subtests
) -> None:
    ids = ["trip/2026/11/17", "100%", "a%2Fb", "q?x=1&y=2#frag", "plus+sign", "~;:@!$'()*,="]
    for n, event_id in enumerate(ids):
        with subtests.test(event_id):
            round_trip(client, event_id, subject=f"u-{n}")


def test_dot_segment_event_ids_round_trip_through_the_client(
    client: Client, subtests: pytest.Subtests
) -> None:
    """ "." and ".." are valid event ids (printable ASCII), but the client sends them as path
    segments unescaped, and an HTTP client removes dot segments (RFC 3986 §5.2.4):
    GET /v1/events/.. becomes GET /v1. The server itself answers /v1/events/%2E%2E."""
    for n, event_id in enumerate([".", ".."]):
        with subtests.test(event_id):
            round_trip(client, event_id, subject=f"u-{n}")
