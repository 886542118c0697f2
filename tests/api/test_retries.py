"""The Python client's retries over a real network, against the real app behind a chaos
middleware (tests/api/chaos.py): transient faults are retried with fresh signatures and the
events are credited once; a 4xx is raised at once as its typed error."""

from __future__ import annotations

import time

import msgspec
import pytest

from tanpuhui.adapters.crypto import generate_key
from tanpuhui.client import (
    AuthError,
    Client,
    ClientError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    ServerError,
)
from tests.api.chaos import Chaos
from tests.api.conftest import LiveServer, Persona, Serve, onboard_enterprise, onboard_person
from tests.builders import event
from tests.db_fixtures import rows

RIDE_GRAMS = 319


def chaotic(
    serve: Serve, script: list[str], only: str | None = "/v1/events", **settings: object
) -> tuple[Chaos, LiveServer]:
    chaos = Chaos(script, only)
    settings.setdefault("rate_limit_per_s", 1000)
    settings.setdefault("rate_limit_burst", 1000)
    return chaos, serve(wrap=chaos.wrap, **settings)


def stored(server: LiveServer) -> tuple[int, int]:
    """(events stored, grams waiting in pending accounts)."""
    events = rows(server.app, "select count(*) from events")[0][0]
    grams = rows(
        server.app, "select coalesce(sum(amount), 0) from balances where account like 'pending:%'"
    )[0][0]
    return events, grams


@pytest.mark.parametrize(
    "script",
    [["503", "503", "503"], ["drop", "drop"], ["503", "drop", "503"]],
    ids=["503s", "drops", "mixed"],
)
def test_transient_faults_before_the_app_are_retried(serve: Serve, script: list[str]) -> None:
    chaos, server = chaotic(serve, script)
    who = onboard_enterprise(server)
    batch = [event(subject=f"u-{i}", event_id=f"t-{i}") for i in range(4)]

    with who.client(retries=5) as client:
        result = client.submit_events(batch)

    assert [o["outcome"] for o in result["outcomes"]] == ["pending_binding"] * 4
    attempts = chaos.attempts("/v1/events")
    assert [a.fault for a in attempts] == [*script, "pass"]
    assert attempts[-1].status == 200
    assert len({a.nonce for a in attempts}) == len(attempts)  # each attempt signed afresh
    assert stored(server) == (4, 4 * RIDE_GRAMS)


def test_answers_lost_after_the_commit_are_retried_and_credit_once(serve: Serve) -> None:
    chaos, server = chaotic(serve, ["lost", "lost"])
    who = onboard_enterprise(server)
    persona = onboard_person(server)
    batch = [event(subject=f"u-{i}", event_id=f"t-{i}") for i in range(4)]

    with who.client(retries=3) as client:
        result = client.submit_events(batch)
        feed = [item["event_id"] for item in client.iter_outcomes()]
        code = server.http.post("/v1/me/binding-codes", headers=persona.auth).json()["code"]
        bound = client.bind("u-0", code)

    attempts = chaos.attempts("/v1/events")
    assert [(a.fault, a.status) for a in attempts] == [("lost", 200), ("lost", 200), ("pass", 200)]
    assert [o["outcome"] for o in result["outcomes"]] == ["pending_binding"] * 4
    # the answer the client finally got is the one the first, committed attempt gave
    assert msgspec.json.decode(attempts[0].lost_body) == result
    assert feed == [f"t-{i}" for i in range(4)]
    assert bound["moved_grams"] == RIDE_GRAMS
    assert stored(server) == (4, 3 * RIDE_GRAMS)


def code_for(server: LiveServer, persona: Persona) -> str:
    response = server.http.post("/v1/me/binding-codes", headers=persona.auth)
    assert response.status_code == 201, response.text
    return str(response.json()["code"])


def test_a_binding_whose_answer_was_lost_is_retried_safely(serve: Serve) -> None:
    """The client retries POST /v1/bindings like any call. When the first attempt committed
    and only its answer was lost, the grams must move once — and the retry should say so
    (binding a subject to the same person again is a no-op, 200 `created: false`), not
    refuse the code the first attempt spent."""
    chaos, server = chaotic(serve, ["lost"], only="/v1/bindings")
    who = onboard_enterprise(server)
    persona = onboard_person(server)
    code = code_for(server, persona)
    with who.client(retries=3) as client:
        client.submit_events([event(subject="late", event_id="l-1")])
        try:
            retried: dict[str, object] | ClientError = client.bind("late", code)
        except ClientError as exc:
            retried = exc

    attempts = chaos.attempts("/v1/bindings")
    assert [a.fault for a in attempts] == ["lost", "pass"]
    assert attempts[0].status == 201
    person = rows(
        server.app,
        "select coalesce(sum(amount), 0) from balances where account = :a",
        a=f"person:{persona.person.id}",
    )
    assert person == [(RIDE_GRAMS,)]  # moved exactly once
    assert not isinstance(retried, ClientError), (
        f"the binding was made, but the retried call raised {retried!r}"
    )
    assert (retried["subject"], retried["created"]) == ("late", False)


def test_a_429_is_retried_after_retry_after(serve: Serve) -> None:
    chaos, server = chaotic(serve, ["429"])
    who = onboard_enterprise(server)
    with who.client(retries=2) as client:
        started = time.monotonic()
        result = client.submit_events([event(event_id="r-1")])
        waited = time.monotonic() - started
    assert result["outcomes"][0]["outcome"] == "pending_binding"
    assert [a.fault for a in chaos.attempts("/v1/events")] == ["429", "pass"]
    assert waited >= 1.0  # honoured Retry-After: 1 over a back-off of 0.01 s


def test_the_real_rate_limit_is_retried_by_the_client(serve: Serve) -> None:
    chaos, server = chaotic(serve, [], rate_limit_per_s=2, rate_limit_burst=1)
    who = onboard_enterprise(server)
    with who.client(retries=3) as client:
        client.submit_events([event(event_id="q-1", subject="u-1")])
        client.submit_events([event(event_id="q-2", subject="u-2")])
    statuses = [a.status for a in chaos.attempts("/v1/events")]
    assert statuses[0] == 200 and statuses[-1] == 200
    assert set(statuses[1:-1]) <= {429}
    assert stored(server) == (2, 2 * RIDE_GRAMS)


@pytest.mark.parametrize(
    ("fault", "status", "code"), [("503", 503, "unavailable"), ("drop", 0, "unreachable")]
)
def test_retries_give_up_with_a_server_error(
    serve: Serve, fault: str, status: int, code: str
) -> None:
    chaos, server = chaotic(serve, [fault] * 10)
    who = onboard_enterprise(server)
    with who.client(retries=2) as client, pytest.raises(ServerError) as failed:
        client.submit_events([event()])
    assert (failed.value.status, failed.value.code) == (status, code)
    assert len(chaos.attempts("/v1/events")) == 3
    assert stored(server) == (0, 0)


def test_client_errors_are_raised_at_once_without_retrying(serve: Serve) -> None:
    chaos, server = chaotic(serve, [])
    who = onboard_enterprise(server)
    first, second = onboard_person(server), onboard_person(server)

    with who.client(retries=5) as client:
        with pytest.raises(InvalidRequestError) as invalid:
            client.submit_raw(b"not json")
        assert (invalid.value.status, invalid.value.code) == (422, "invalid_request")
        assert invalid.value.problem["instance"] == "/v1/events"

        with pytest.raises(NotFoundError) as missing:
            client.get_event("never-sent")
        assert (missing.value.status, missing.value.code) == (404, "not_found")

        with pytest.raises(InvalidRequestError) as bad_code:
            client.bind("u-1", "ABCD-EFGH")
        assert (bad_code.value.status, bad_code.value.code) == (422, "invalid_binding_code")

        client.bind("u-1", code_for(server, first))
        with pytest.raises(ConflictError) as conflict:
            client.bind("u-1", code_for(server, second))
        assert (conflict.value.status, conflict.value.code) == (409, "conflict")

    forger = Client(server.base_url, str(who.credential_id), generate_key(), retries=5)
    with forger, pytest.raises(AuthError) as refused:
        forger.submit_events([event()])
    assert (refused.value.status, refused.value.code) == (401, "bad_signature")

    signed = [s for s in chaos.seen if not s.path.startswith("/v1/me/")]
    assert [(s.path, s.status) for s in signed] == [
        ("/v1/events", 422),
        ("/v1/events/never-sent", 404),
        ("/v1/bindings", 422),
        ("/v1/bindings", 201),
        ("/v1/bindings", 409),
        ("/v1/events", 401),
    ]
    assert stored(server) == (0, 0)


def test_a_body_too_large_is_not_retried(serve: Serve) -> None:
    chaos, server = chaotic(serve, [], max_body_bytes=4096)
    who = onboard_enterprise(server)
    big = msgspec.json.encode({"events": [event(subject=f"u-{i}") for i in range(40)]})
    assert len(big) > 4096
    with who.client(retries=5) as client, pytest.raises(InvalidRequestError) as refused:
        client.submit_raw(big)
    assert (refused.value.status, refused.value.code) == (413, "body_too_large")
    assert len(chaos.attempts("/v1/events")) == 1
