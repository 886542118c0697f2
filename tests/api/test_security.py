"""Request admission over real HTTP: every refusal has its status and stable problem+json code
(docs/api.md, "Why requests are refused"), and no answer leaks internals."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import httpx
import msgspec
import pytest

from tanpuhui.adapters.crypto import generate_key, public_raw
from tanpuhui.client import AuthError, Client, RateLimitedError
from tanpuhui.services.access import revoke_credential, rotate_credential
from tests.api.conftest import (
    PROBLEM,
    LiveServer,
    Onboarded,
    Serve,
    assert_no_leak,
    assert_problem,
    onboard_enterprise,
    onboard_person,
    send_signed,
    signed_headers,
)
from tests.builders import event


def batch_body(*events: dict[str, object]) -> bytes:
    return msgspec.json.encode({"events": list(events) or [event()]})


def test_a_correctly_signed_request_is_admitted(server: LiveServer, bikes: Onboarded) -> None:
    response = send_signed(server, bikes, "GET", "/v1/outcomes?limit=5")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"items": [], "next_cursor": None, "cursor": None}


ENTERPRISE_CALLS = [
    ("POST", "/v1/events"),
    ("GET", "/v1/events/x"),
    ("GET", "/v1/outcomes"),
    ("GET", "/v1/outcomes?limit=0"),
    ("POST", "/v1/bindings"),
    ("DELETE", "/v1/bindings/x"),
    ("POST", "/v1/exclusions"),
]


def test_an_unsigned_request_is_refused(server: LiveServer, subtests: pytest.Subtests) -> None:
    for method, path in ENTERPRISE_CALLS:
        with subtests.test(f"{method} {path}"):
            body = b'{"events": []}' if method == "POST" else None
            response = server.http.request(method, path, content=body)
            assert_problem(response, 401, "missing_signature")
            assert response.headers["www-authenticate"] == "Tanpuhui-Ed25519"


def test_a_partly_signed_or_malformed_request_is_refused(
    server: LiveServer, bikes: Onboarded
) -> None:
    good = bikes.headers("GET", "/v1/outcomes")
    for header in list(good):
        if header.startswith("X-Tanpuhui"):
            partial = {k: v for k, v in good.items() if k != header}
            response = server.http.get("/v1/outcomes", headers=partial)
            assert_problem(response, 401, "missing_signature")
    for header, value in [
        ("X-Tanpuhui-Credential", "not-a-uuid"),
        ("X-Tanpuhui-Timestamp", "yesterday"),
        ("X-Tanpuhui-Nonce", "short"),
        ("X-Tanpuhui-Nonce", "has spaces in it, 16+ chars"),
        ("X-Tanpuhui-Signature", "bm90IGEgc2lnbmF0dXJl"),
    ]:
        response = server.http.get("/v1/outcomes", headers={**good, header: value})
        assert_problem(response, 401, "missing_signature")


def test_a_request_signed_with_the_wrong_key_is_refused(
    server: LiveServer, bikes: Onboarded
) -> None:
    body = batch_body()
    headers = signed_headers(
        generate_key(), bikes.credential_id, "POST", "/v1/events", body, host=bikes.host
    )
    response = server.http.post("/v1/events", content=body, headers=headers)
    assert_problem(response, 401, "bad_signature")
    forger = Client(server.base_url, str(bikes.credential_id), generate_key(), retries=0)
    with forger, pytest.raises(AuthError) as refused:
        forger.submit_events([event()])
    assert (refused.value.status, refused.value.code) == (401, "bad_signature")


def test_a_body_changed_after_signing_is_refused(server: LiveServer, bikes: Onboarded) -> None:
    signed = batch_body(event(event_id="a", quantity={"distance_km": "3.42"}))
    sent = batch_body(event(event_id="a", quantity={"distance_km": "34.2"}))
    headers = bikes.headers("POST", "/v1/events", signed)
    assert_problem(
        server.http.post("/v1/events", content=sent, headers=headers), 401, "bad_signature"
    )
    # nothing was stored
    response = send_signed(server, bikes, "GET", "/v1/events/a")
    assert_problem(response, 404, "not_found")


def test_a_path_or_query_changed_after_signing_is_refused(
    server: LiveServer, bikes: Onboarded, subtests: pytest.Subtests
) -> None:
    for signed, sent in [
        ("/v1/outcomes?limit=5", "/v1/outcomes?limit=6"),
        ("/v1/outcomes?limit=5", "/v1/outcomes"),
        ("/v1/outcomes", "/v1/outcomes?limit=5"),
        ("/v1/outcomes?limit=5&after=x", "/v1/outcomes?after=x&limit=5"),
        ("/v1/events/a%2Fb", "/v1/events/a/b"),
        ("/v1/events/ab", "/v1/events/AB"),
    ]:
        with subtests.test(f"signed {signed}, sent {sent}"):
            headers = bikes.headers("GET", signed)
            assert_problem(server.http.get(sent, headers=headers), 401, "bad_signature")


def test_the_method_is_signed(server: LiveServer, bikes: Onboarded) -> None:
    headers = bikes.headers("GET", "/v1/bindings/u-1")
    response = server.http.delete("/v1/bindings/u-1", headers=headers)
    assert_problem(response, 401, "bad_signature")


def test_a_stale_or_future_timestamp_is_refused(
    server: LiveServer, bikes: Onboarded, subtests: pytest.Subtests
) -> None:
    for skew_s in (-600, 600, -310, 310):
        with subtests.test(f"{skew_s:+} s"):
            headers = bikes.headers("GET", "/v1/outcomes", timestamp=int(time.time()) + skew_s)
            response = server.http.get("/v1/outcomes", headers=headers)
            assert_problem(response, 401, "stale_timestamp")
    for skew_s in (-240, 240):
        with subtests.test(f"{skew_s:+} s is within the window"):
            headers = bikes.headers("GET", "/v1/outcomes", timestamp=int(time.time()) + skew_s)
            assert server.http.get("/v1/outcomes", headers=headers).status_code == 200


def test_a_replayed_nonce_is_refused(server: LiveServer, bikes: Onboarded) -> None:
    body = batch_body()
    headers = bikes.headers("POST", "/v1/events", body)
    first = server.http.post("/v1/events", content=body, headers=headers)
    assert first.status_code == 200, first.text
    again = server.http.post("/v1/events", content=body, headers=headers)
    assert_problem(again, 401, "replayed_nonce")
    # the same nonce on a different request is a replay too
    nonce = headers["X-Tanpuhui-Nonce"]
    other = bikes.headers("GET", "/v1/outcomes", nonce=nonce)
    assert_problem(server.http.get("/v1/outcomes", headers=other), 401, "replayed_nonce")


def test_a_nonce_is_per_credential(server: LiveServer, bikes: Onboarded) -> None:
    maps = onboard_enterprise(server, "Maps")
    nonce = "shared-nonce-0123456789"
    for who in (bikes, maps):
        response = send_signed(server, who, "GET", "/v1/outcomes", nonce=nonce)
        assert response.status_code == 200, response.text


def test_refused_signatures_spend_neither_nonces_nor_the_rate_budget(
    serve: Serve,
) -> None:
    server = serve(rate_limit_per_s=0.01, rate_limit_burst=2)
    bikes = onboard_enterprise(server)
    forger = generate_key()
    nonce = "nonce-the-forger-tried-1"
    for _ in range(5):
        headers = signed_headers(
            forger, bikes.credential_id, "GET", "/v1/outcomes", nonce=nonce, host=bikes.host
        )
        assert_problem(server.http.get("/v1/outcomes", headers=headers), 401, "bad_signature")
    response = send_signed(server, bikes, "GET", "/v1/outcomes", nonce=nonce)
    assert response.status_code == 200, response.text


def test_a_revoked_credential_is_refused(server: LiveServer, bikes: Onboarded) -> None:
    with bikes.client(retries=0) as client:
        client.submit_events([event()])
        revoke_credential(server.ctx, bikes.credential_id)
        with pytest.raises(AuthError) as refused:
            client.submit_events([event()])
    assert refused.value.code == "revoked_credential"
    response = send_signed(server, bikes, "GET", "/v1/outcomes")
    assert_problem(response, 401, "revoked_credential")


def test_a_rotated_credential_works_with_its_successor_until_the_grace_period_ends(
    server: LiveServer, bikes: Onboarded
) -> None:
    new_key = generate_key()
    old, new = rotate_credential(
        server.ctx, bikes.credential_id, public_raw(new_key), grace=timedelta(seconds=2)
    )
    successor = Onboarded(bikes.enterprise, new.id, new_key, server.base_url)

    for who in (bikes, successor):  # during the grace period both work
        response = send_signed(server, who, "GET", "/v1/outcomes")
        assert response.status_code == 200, response.text
    with successor.client() as client:
        client.submit_events([event(event_id="by-successor")])
    with bikes.client() as client:  # same enterprise: the old key reads the new key's events
        assert client.get_event("by-successor")["event_id"] == "by-successor"

    assert old.expires_at is not None
    time.sleep(max(0.0, (old.expires_at - server.ctx.wall_clock.now()).total_seconds()) + 0.2)

    response = send_signed(server, bikes, "GET", "/v1/outcomes")
    problem = assert_problem(response, 401, "revoked_credential")
    assert "expired" in problem["detail"]
    assert send_signed(server, successor, "GET", "/v1/outcomes").status_code == 200


def test_a_rotation_without_grace_stops_the_old_credential_at_once(
    server: LiveServer, bikes: Onboarded
) -> None:
    new_key = generate_key()
    _, new = rotate_credential(server.ctx, bikes.credential_id, public_raw(new_key), timedelta(0))
    successor = Onboarded(bikes.enterprise, new.id, new_key, server.base_url)
    assert_problem(send_signed(server, bikes, "GET", "/v1/outcomes"), 401, "revoked_credential")
    assert send_signed(server, successor, "GET", "/v1/outcomes").status_code == 200


def test_an_unknown_credential_is_refused_like_a_bad_signature(
    server: LiveServer, bikes: Onboarded
) -> None:
    """Was: 401 `unknown_credential` — anyone could probe which credential ids exist."""
    key = generate_key()
    headers = signed_headers(key, uuid.uuid4(), "GET", "/v1/outcomes", host=bikes.host)
    unknown = assert_problem(server.http.get("/v1/outcomes", headers=headers), 401, "bad_signature")
    # a real credential id signed by someone else's key answers exactly the same
    headers = signed_headers(key, bikes.credential_id, "GET", "/v1/outcomes", host=bikes.host)
    known = assert_problem(server.http.get("/v1/outcomes", headers=headers), 401, "bad_signature")
    assert unknown == known


def test_an_enterprise_sees_only_its_own_events(server: LiveServer, bikes: Onboarded) -> None:
    maps = onboard_enterprise(server, "Maps")
    with bikes.client() as a, maps.client() as b:
        a.submit_events([event(event_id="shared-id", subject="a-1")])
        b.submit_events(
            [event(event_id=f"b-{i}", subject=f"b-{i}", region="110101") for i in range(3)]
            + [event(event_id="shared-id", subject="b-9", region="110101")]
        )
        bound_b = onboard_person(server)
        code = server.http.post("/v1/me/binding-codes", headers=bound_b.auth).json()["code"]
        b.bind("b-0", code)

        assert a.get_event("shared-id")["event"]["subject"] == "a-1"
        assert b.get_event("shared-id")["event"]["subject"] == "b-9"
        feed = [item["event_id"] for item in a.iter_outcomes(limit=2)]
        assert feed == ["shared-id"]
        assert [item["event"]["subject"] for item in a.iter_outcomes()] == ["a-1"]

    response = send_signed(server, bikes, "GET", "/v1/events/b-1")
    assert_problem(response, 404, "not_found")
    # A cannot end B's binding either, and B's binding stands
    assert_problem(send_signed(server, bikes, "DELETE", "/v1/bindings/b-0"), 404, "not_found")
    assert send_signed(server, maps, "DELETE", "/v1/bindings/b-0").status_code == 200


# --- sizes and limits ------------------------------------------------------------------------


@pytest.fixture
def small(serve: Serve) -> LiveServer:
    return serve(max_body_bytes=64 * 1024, max_batch=5, rate_limit_per_s=1000)


def padded(size: int) -> bytes:
    """A valid batch body of exactly `size` bytes (JSON whitespace as padding)."""
    head = batch_body(event(event_id="padded"))
    return head[:-1] + b" " * (size - len(head)) + b"}"


def test_an_oversized_body_is_refused(small: LiveServer) -> None:
    who = onboard_enterprise(small)
    body = padded(100 * 1024)
    problem = assert_problem(
        send_signed(small, who, "POST", "/v1/events", body), 413, "body_too_large"
    )
    assert problem["limit"] == 64 * 1024
    # the limit holds before authentication too
    response = small.http.post("/v1/events", content=body)
    assert_problem(response, 413, "body_too_large")


def test_an_oversized_chunked_body_without_content_length_is_refused(small: LiveServer) -> None:
    who = onboard_enterprise(small)
    body = padded(100 * 1024)

    def chunks() -> Iterator[bytes]:
        for at in range(0, len(body), 4096):
            yield body[at : at + 4096]

    headers = who.headers("POST", "/v1/events", body)
    response = small.http.post("/v1/events", content=chunks(), headers=headers)
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "body_too_large")


def test_a_body_at_the_limit_is_accepted_also_chunked(small: LiveServer) -> None:
    who = onboard_enterprise(small)
    body = padded(64 * 1024)
    response = send_signed(small, who, "POST", "/v1/events", body)
    assert response.status_code == 200, response.text
    assert response.json()["outcomes"][0]["outcome"] == "pending_binding"

    headers = who.headers("POST", "/v1/events", body)
    response = small.http.post(
        "/v1/events", content=iter([body[:1000], body[1000:]]), headers=headers
    )
    assert response.status_code == 200, response.text


def test_a_batch_over_the_limit_is_refused(small: LiveServer) -> None:
    who = onboard_enterprise(small)
    six = batch_body(*(event(subject=f"u-{i}") for i in range(6)))
    problem = assert_problem(
        send_signed(small, who, "POST", "/v1/events", six), 413, "batch_too_large"
    )
    assert problem["limit"] == 5
    five = batch_body(*(event(subject=f"u-{i}") for i in range(5)))
    assert send_signed(small, who, "POST", "/v1/events", five).status_code == 200


def test_too_many_requests_are_rate_limited_with_retry_after(serve: Serve) -> None:
    server = serve(rate_limit_per_s=0.5, rate_limit_burst=3)
    who = onboard_enterprise(server)
    statuses = [send_signed(server, who, "GET", "/v1/outcomes").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]

    response = send_signed(server, who, "GET", "/v1/outcomes")
    problem = assert_problem(response, 429, "rate_limited")
    retry_after = response.headers["retry-after"]
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 2
    assert 0 < problem["retry_after_s"] <= 2
    with who.client(retries=0) as client, pytest.raises(RateLimitedError) as limited:
        client.submit_events([event()])
    assert (limited.value.status, limited.value.code) == (429, "rate_limited")
    # the bucket is per credential
    other = onboard_enterprise(server, "Maps")
    assert send_signed(server, other, "GET", "/v1/outcomes").status_code == 200


# --- the shape of requests -------------------------------------------------------------------


def test_a_body_that_is_not_a_batch_is_an_invalid_request(
    server: LiveServer, bikes: Onboarded, subtests: pytest.Subtests
) -> None:
    for body in [
        b"not json",
        b'{"events": 5}',
        b"[]",
        b'{"events": [',
        b"",
        b'{"evnts": []}',
        b"\xff\xfe",
        b"null",
    ]:
        with subtests.test(repr(body)):
            response = send_signed(server, bikes, "POST", "/v1/events", body)
            assert_problem(response, 422, "invalid_request")


def test_a_batch_in_another_media_type_is_refused(
    server: LiveServer, bikes: Onboarded, subtests: pytest.Subtests
) -> None:
    body = batch_body()
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "application/xml"]:
        with subtests.test(content_type):
            response = send_signed(
                server, bikes, "POST", "/v1/events", body, content_type=content_type
            )
            assert_problem(response, 422, "unsupported_media_type")  # docs/api.md: 422
    ok = send_signed(
        server, bikes, "POST", "/v1/events", body, content_type="application/json; charset=utf-8"
    )
    assert ok.status_code == 200


def test_media_type_names_are_case_insensitive(server: LiveServer, bikes: Onboarded) -> None:
    """RFC 9110 §8.3.1: "The type and subtype tokens are case-insensitive"."""
    body = batch_body()
    response = send_signed(
        server, bikes, "POST", "/v1/events", body, content_type="Application/JSON"
    )
    assert response.status_code == 200, response.text


def test_a_binding_request_must_match_its_schema(server: LiveServer, bikes: Onboarded) -> None:
    for body in [
        b"{}",
        b'{"subject": "s"}',
        b'{"subject": "s", "code": "ABCD-2345", "x": 1}',
        b"[",
    ]:
        response = send_signed(server, bikes, "POST", "/v1/bindings", body)
        assert_problem(response, 422, "invalid_request")


def test_a_binding_for_a_subject_outside_the_id_pattern_is_an_invalid_request(
    server: LiveServer, bikes: Onboarded, subtests: pytest.Subtests
) -> None:
    """OpenAPI: BindingRequest.subject matches ^[\\x21-\\x7e]{1,128}$ (as event subjects do),
    so no event could ever be credited through such a binding."""
    for subject in ["", "has space", "中文", "x" * 129]:
        with subtests.test(f"subject {subject[:10]!r} ({len(subject)} characters)"):
            persona = onboard_person(server)
            code = server.http.post("/v1/me/binding-codes", headers=persona.auth).json()["code"]
            body = msgspec.json.encode({"subject": subject, "code": code})
            response = send_signed(server, bikes, "POST", "/v1/bindings", body)
            assert_problem(response, 422, "invalid_request")


def get_outcomes_after(server: LiveServer, who: Onboarded, after: str) -> httpx.Response:
    with httpx.Client(base_url=server.base_url) as http:  # a 500 closes its connection
        path = f"/v1/outcomes?after={after.replace(' ', '%20')}"
        return http.get(path, headers=who.headers("GET", path))


def test_a_malformed_cursor_is_an_invalid_cursor(server: LiveServer, bikes: Onboarded) -> None:
    """Also one over the length limit (was: `invalid_request`, not the documented code)."""
    for after in ["not a cursor!", "AAAA", "A" * 64]:
        assert_problem(get_outcomes_after(server, bikes, after), 422, "invalid_cursor")
    problem = assert_problem(get_outcomes_after(server, bikes, "A" * 65), 422, "invalid_cursor")
    assert problem["errors"][0]["location"] == "query.after"


def test_a_cursor_beyond_any_sequence_number_is_an_invalid_cursor(
    server: LiveServer, bikes: Onboarded, subtests: pytest.Subtests
) -> None:
    """Well-formed cursors (24 bytes) whose sequence number (2**63 and more) no BIGINT or
    SQLite INTEGER can hold: a client error, not a 500."""
    for first in (b"\x80", b"\xff"):
        after = base64.urlsafe_b64encode(first + b"\xff" * 23).decode().rstrip("=")
        with subtests.test(after):
            response = get_outcomes_after(server, bikes, after)
            assert_no_leak(response)
            assert_problem(response, 422, "invalid_cursor")


# --- persons ---------------------------------------------------------------------------------


def test_a_person_endpoint_needs_a_valid_bearer_token(
    server: LiveServer, subtests: pytest.Subtests
) -> None:
    onboard_person(server)
    for authorization in [None, "Bearer not-a-token", "Bearer", "Basic dXNlcjpwYXNz", "token"]:
        with subtests.test(f"Authorization: {authorization}"):
            headers = {"Authorization": authorization} if authorization is not None else {}
            response = server.http.post("/v1/me/binding-codes", headers=headers)
            assert_problem(response, 401, "invalid_token")
            assert response.headers["www-authenticate"] == "Bearer"


def test_an_enterprise_signature_is_no_person_token(server: LiveServer, bikes: Onboarded) -> None:
    response = send_signed(server, bikes, "POST", "/v1/me/binding-codes")
    assert_problem(response, 401, "invalid_token")


def test_a_person_token_is_no_enterprise_signature(server: LiveServer) -> None:
    persona = onboard_person(server)
    response = server.http.get("/v1/outcomes", headers=persona.auth)
    assert_problem(response, 401, "missing_signature")


# --- routes ----------------------------------------------------------------------------------


def test_an_unknown_route_is_a_problem(server: LiveServer, subtests: pytest.Subtests) -> None:
    for path in ["/nope", "/v1", "/v2/events", "/v1/event", "/v1/me"]:
        with subtests.test(path):
            assert_problem(server.http.get(path), 404, "not_found")


def test_a_wrong_method_is_a_problem(server: LiveServer, subtests: pytest.Subtests) -> None:
    for method, path, allow in [
        ("GET", "/v1/events", "POST"),
        ("PUT", "/v1/events", "POST"),
        ("GET", "/v1/bindings", "POST"),
        ("POST", "/v1/outcomes", "GET"),
        ("GET", "/v1/me/binding-codes", "POST"),
        ("POST", "/healthz", "GET"),
    ]:
        with subtests.test(f"{method} {path}"):
            response = server.http.request(method, path)
            assert_problem(response, 405, "method_not_allowed")
            assert response.headers["allow"] == allow


def test_health_endpoints_answer_without_credentials(server: LiveServer) -> None:
    for path in ("/healthz", "/readyz"):
        response = server.http.get(path)
        assert (response.status_code, response.json()) == (200, {"status": "ok"})
    response = server.http.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] != PROBLEM
