"""The defects an outside probe found (issue 15), each reproduced over real HTTP on SQLite and
PostgreSQL; every docstring notes the old answer. Tenant isolation: test_tenant_isolation.py;
the fuzz suite: test_fuzz.py."""

from __future__ import annotations

import socket
import time
import uuid

import msgspec
import pytest
import sqlalchemy as sa

from tanpuhui.adapters.db.intake_repository import SqlIntake
from tanpuhui.client import Client
from tanpuhui.domain.errors import LockTableFullError, RaceLostError
from tanpuhui.domain.signing import HEADER_TIMESTAMP
from tests.api.conftest import (
    LiveServer,
    Onboarded,
    Serve,
    assert_no_leak,
    assert_problem,
    onboard_enterprise,
    send_signed,
    signed_headers,
)
from tests.builders import event


def rewrite_raw(server: LiveServer, event_id: str, raw: str) -> None:
    """Store `raw` for a rejected event as older code could have (rows are immutable in
    place; a rejected one may be replaced, as a corrected resend does)."""
    with server.app.engine.begin() as conn:
        conn.execute(
            sa.text("CREATE TEMP TABLE old_row AS SELECT * FROM events WHERE event_id = :e"),
            {"e": event_id},
        )
        conn.execute(sa.text("DELETE FROM events WHERE event_id = :e"), {"e": event_id})
        conn.execute(sa.text("UPDATE old_row SET raw = :raw"), {"raw": raw})
        conn.execute(sa.text("INSERT INTO events SELECT * FROM old_row"))
        conn.execute(sa.text("DROP TABLE old_row"))


def submit(server: LiveServer, who: Onboarded, *events: dict[str, object]) -> list[dict]:
    body = msgspec.json.encode({"events": list(events)})
    response = send_signed(server, who, "POST", "/v1/events", body)
    assert response.status_code == 200, response.text
    outcomes: list[dict] = response.json()["outcomes"]
    return outcomes


# --- item 1: one over-long rejected event must not poison the read paths -----------------


def test_an_over_long_rejected_event_is_stored_as_valid_json_and_reads_back(
    server: LiveServer, bikes: Onboarded, client: Client
) -> None:
    """Was: the raw JSON was cut at 8,192 characters (no longer JSON), and from then on
    `GET /v1/events/{id}`, every feed page holding it and `iter_outcomes()` answered 500."""
    junk = "x" * 9000
    (outcome,) = submit(server, bikes, event(event_id="long-1", junk=junk))
    assert outcome["outcome"] == "rejected", outcome
    submit(server, bikes, event(event_id="fine-1"))

    detail = client.get_event("long-1")
    received = detail["received"]
    assert received["truncated"] is True
    assert received["size"] > 9000 and len(received["sha256"]) == 64
    assert received["fields"]["event_id"] == "long-1"  # short fields kept, the 9 KB one not
    assert "junk" not in received["fields"] and received["omitted_fields"] == 1
    assert [item["event_id"] for item in client.iter_outcomes(limit=1)] == ["long-1", "fine-1"]


def test_a_row_cut_by_the_old_code_does_not_break_the_reads(
    server: LiveServer, bikes: Onboarded, client: Client
) -> None:
    """Rows written before the fix hold cut, invalid JSON: read defensively, not a 500."""
    submit(server, bikes, event(event_id="old-1", junk="y" * 100))
    rewrite_raw(server, "old-1", '{"event_id": "old-1", "junk": "yyyy')
    detail = client.get_event("old-1")
    assert detail["received"]["unreadable"] is True
    assert detail["outcome"]["outcome"] == "rejected"
    assert [item["event_id"] for item in client.iter_outcomes()] == ["old-1"]


def test_a_stored_lone_surrogate_reads_back_replaced(
    server: LiveServer, bikes: Onboarded, client: Client
) -> None:
    """A stored raw event holding a lone surrogate escape cannot be encoded as UTF-8: it is
    read with U+FFFD in its place instead of failing the answer."""
    submit(server, bikes, event(event_id="sur-1", junk="z"))
    rewrite_raw(server, "sur-1", '{"event_id": "sur-1", "junk": "\\ud800x"}')
    assert client.get_event("sur-1")["received"] == {"event_id": "sur-1", "junk": "\ufffdx"}


# --- items 5 and 10: the timestamp header in exactly one spelling --------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        "9" * 5000,
        "1" * 13,
        "+{ts}",
        "{ts}.0",
        "1_{rest}",
        "{head} {rest}",
        "-{ts}",
        "0x1f",
        "0{ts}",
    ],
)
def test_a_timestamp_in_any_other_spelling_is_refused(
    server: LiveServer, bikes: Onboarded, spelling: str
) -> None:
    """Was: a 5,000-digit timestamp gave a 500 before any key was checked; `+1796…` and
    `1_796…` were accepted although they are not what was signed."""
    ts = str(int(time.time()))
    value = spelling.format(ts=ts, head=ts[:4], rest=ts[1:])
    headers = bikes.headers("GET", "/v1/outcomes", timestamp=int(ts))
    headers[HEADER_TIMESTAMP] = value
    response = server.http.get("/v1/outcomes", headers=headers)
    problem = assert_problem(response, 401, "missing_signature")
    assert "timestamp" in problem["detail"]


# --- item 6: retryable failures are 503 with Retry-After -----------------------------------


def test_a_database_not_migrated_yet_is_a_retryable_503(
    server: LiveServer, bikes: Onboarded
) -> None:
    """Was: `not_migrated` without Retry-After (a configuration error), so clients gave up."""
    with server.app.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE request_nonces"))
    response = send_signed(server, bikes, "GET", "/v1/outcomes")
    assert_problem(response, 503, "not_migrated")
    assert response.headers["retry-after"] == "1"


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_sqlite_locked_by_another_process_is_a_retryable_503_and_not_ready(
    serve: Serve,
) -> None:
    """Was: "database is locked" past the busy timeout was a 500 that called itself a bug,
    and /readyz answered 200 while no write could go through."""
    server = serve(rate_limit_per_s=1000, rate_limit_burst=1000)
    bikes = onboard_enterprise(server)
    engine = server.app.engine

    @sa.event.listens_for(engine, "connect")
    def _short_busy_timeout(dbapi_connection: object, _record: object) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=200")  # type: ignore[attr-defined]

    engine.dispose()
    assert server.http.get("/readyz").status_code == 200
    other = sa.create_engine(engine.url, connect_args={"isolation_level": None})
    with other.connect() as blocker:
        blocker.exec_driver_sql("BEGIN IMMEDIATE")  # another process takes the writer lock
        body = msgspec.json.encode({"events": [event()]})
        response = send_signed(server, bikes, "POST", "/v1/events", body)
        assert_problem(response, 503, "database_busy")
        assert response.headers["retry-after"] == "1"
        assert_problem(server.http.get("/readyz"), 503, "not_ready")
        blocker.exec_driver_sql("ROLLBACK")
    other.dispose()
    assert server.http.get("/readyz").status_code == 200
    assert send_signed(server, bikes, "POST", "/v1/events", body).status_code == 200


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (RaceLostError("duplicate key"), "concurrent_write"),
        (LockTableFullError("shm"), "database_busy"),
    ],
)
def test_a_batch_that_keeps_losing_races_is_a_retryable_503(
    server: LiveServer, bikes: Onboarded, monkeypatch: pytest.MonkeyPatch, error: Exception,
    code: str,
) -> None:  # fmt: skip
    """Was: 409 `conflict` without Retry-After, which the client does not retry: the batch
    was abandoned."""

    real_close = SqlIntake.close_batch
    losses = [0]  # how many settlements lose next (a race: all 5 of the service's attempts)

    def loses(self: SqlIntake, enterprise_id: uuid.UUID, batch_id: uuid.UUID) -> int:
        if losses[0] > 0:
            losses[0] -= 1
            raise error
        return real_close(self, enterprise_id, batch_id)

    monkeypatch.setattr(SqlIntake, "close_batch", loses)
    body = msgspec.json.encode({"events": [event(event_id="raced-1")]})
    losses[0] = 5 if code == "concurrent_write" else 1
    response = send_signed(server, bikes, "POST", "/v1/events", body)
    problem = assert_problem(response, 503, code)
    assert response.headers["retry-after"] == "1" and "retry" in problem["detail"]
    losses[0] = 5 if code == "concurrent_write" else 1
    with bikes.client(backoff=0.01) as client:  # the client retries the 503 and gets through
        answer = client.submit_events([event(event_id="raced-2")])
    assert answer["summary"] == {"pending_binding": 1} and losses == [0]


# --- item 7: cheap refusals first ----------------------------------------------------------


def raw_exchange(server: LiveServer, head: bytes, body: bytes = b"", wait_s: float = 10) -> bytes:
    """Send `head` (and the start of a body) over a raw socket; what comes back in `wait_s`."""
    host, port = server.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait_s) as sock:
        sock.sendall(head + body)
        received = b""
        try:
            while b"\r\n\r\n" not in received:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except TimeoutError:
            pass
    return received


def test_an_unsigned_request_is_refused_before_its_body_arrives(server: LiveServer) -> None:
    """Was: the whole body (up to 16 MiB) was read and hashed before any check."""
    head = (
        b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000000\r\n\r\n"
    )
    started = time.monotonic()
    answer = raw_exchange(server, head)  # not one byte of the body is sent
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert time.monotonic() - started < 5


def test_a_stalled_upload_is_cut_off(serve: Serve) -> None:
    """Was: a stalled upload held its connection and worker forever."""
    server = serve(body_timeout_s=0.5)
    bikes = onboard_enterprise(server)
    headers = bikes.headers("POST", "/v1/events", b"{}" * 50)
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head = f"POST /v1/events HTTP/1.1\r\nHost: {bikes.host}\r\n{lines}Content-Length: 100\r\n\r\n"
    started = time.monotonic()
    answer = raw_exchange(server, head.encode(), b'{"events": [')
    assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
    assert b"body_timeout" in answer
    assert time.monotonic() - started < 5


def test_failed_authentications_from_one_address_are_limited(serve: Serve) -> None:
    """Was: failed signatures were not limited (hundreds a second from one connection)."""
    server = serve(auth_failures_per_minute=6, auth_failure_burst=3)
    bikes = onboard_enterprise(server)
    forged = signed_headers(
        onboard_enterprise(server, "Other").key, bikes.credential_id, "GET", "/v1/outcomes",
        host=bikes.host,
    )  # fmt: skip
    for _ in range(3):
        assert_problem(server.http.get("/v1/outcomes", headers=forged), 401, "bad_signature")
    response = server.http.get("/v1/outcomes", headers=forged)
    problem = assert_problem(response, 429, "rate_limited")
    assert int(response.headers["retry-after"]) >= 1 and problem["retry_after_s"] > 0
    # the address is refused before its requests cost anything, however they are signed
    assert_problem(send_signed(server, bikes, "GET", "/v1/outcomes"), 429, "rate_limited")
    assert_problem(server.http.get("/v1/outcomes"), 429, "rate_limited")


def test_successful_requests_do_not_use_up_the_failure_limit(serve: Serve) -> None:
    server = serve(auth_failures_per_minute=6, auth_failure_burst=2, rate_limit_burst=100)
    bikes = onboard_enterprise(server)
    for _ in range(10):
        assert send_signed(server, bikes, "GET", "/v1/outcomes").status_code == 200


# --- item 8: the signature covers the host and the credential id ---------------------------


def test_a_request_signed_for_another_host_is_refused(server: LiveServer, bikes: Onboarded) -> None:
    """Was: the host was not signed, so a request replayed to another deployment verified."""
    headers = bikes.headers("GET", "/v1/outcomes", host="tanpuhui.other.example")
    assert_problem(server.http.get("/v1/outcomes", headers=headers), 401, "bad_signature")
    assert send_signed(server, bikes, "GET", "/v1/outcomes").status_code == 200


def test_a_signature_made_for_another_credential_id_is_refused(serve: Serve) -> None:
    """Was: the credential id was not signed: the same key registered as another credential
    (on another deployment) accepted the request with only the credential header changed."""
    server = serve(signature_v1_until=None)
    bikes = onboard_enterprise(server)
    other_id = uuid.uuid4()
    headers = signed_headers(bikes.key, other_id, "GET", "/v1/outcomes", host=bikes.host)
    headers["X-Tanpuhui-Credential"] = str(bikes.credential_id)
    assert_problem(server.http.get("/v1/outcomes", headers=headers), 401, "bad_signature")


def test_version_1_signatures_are_accepted_only_during_the_deprecation_period(
    serve: Serve,
) -> None:
    before = serve(signature_v1_until="2999-01-01")
    bikes = onboard_enterprise(before)
    assert send_signed(before, bikes, "GET", "/v1/outcomes", version=1).status_code == 200
    after = serve(signature_v1_until="2020-01-01")
    same = Onboarded(bikes.enterprise, bikes.credential_id, bikes.key, after.base_url)
    assert_problem(send_signed(after, same, "GET", "/v1/outcomes", version=1), 401, "bad_signature")
    assert send_signed(after, same, "GET", "/v1/outcomes").status_code == 200


def test_a_deployment_with_public_hosts_refuses_requests_signed_for_others(serve: Serve) -> None:
    server = serve(public_hosts="api.tanpuhui.example, api2.tanpuhui.example")
    bikes = onboard_enterprise(server)
    response = send_signed(server, bikes, "GET", "/v1/outcomes")  # signed for 127.0.0.1:port
    assert_problem(response, 401, "wrong_host")
    headers = bikes.headers("GET", "/v1/outcomes", host="api2.tanpuhui.example")
    headers["Host"] = "api2.tanpuhui.example"
    assert server.http.get("/v1/outcomes", headers=headers).status_code == 200


# --- item 10: smaller mismatches -----------------------------------------------------------


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "abc", "1e3", ""])
def test_a_limit_out_of_range_is_the_documented_invalid_limit(
    server: LiveServer, bikes: Onboarded, limit: str
) -> None:
    """Was: `invalid_request`, where docs/api.md documents `invalid_limit`."""
    path = f"/v1/outcomes?limit={limit}"
    problem = assert_problem(send_signed(server, bikes, "GET", path), 422, "invalid_limit")
    assert problem["errors"][0]["location"] == "query.limit"


def test_authenticated_answers_are_not_cached_or_sniffed(
    server: LiveServer, bikes: Onboarded
) -> None:
    """Was: neither `Cache-Control: no-store` nor `X-Content-Type-Options: nosniff`."""
    for response in (
        send_signed(server, bikes, "GET", "/v1/outcomes"),
        send_signed(server, bikes, "GET", "/v1/events/nope"),
        server.http.get("/v1/outcomes"),
    ):
        assert response.headers["cache-control"] == "no-store", response.headers
        assert response.headers["x-content-type-options"] == "nosniff"
        assert_no_leak(response)
    health = server.http.get("/healthz")
    assert health.headers["x-content-type-options"] == "nosniff"
    assert "no-store" not in health.headers.get("cache-control", "")
