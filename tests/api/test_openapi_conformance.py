"""Schemathesis against the live server's own OpenAPI document (`/openapi.json`), over real
HTTP: no 5xx, and every status code, content type and response body as documented.

Twice: unsigned — every `/v1` call must then be refused with a documented 401 — and signed,
where a `requests.Session` signs each prepared request over the exact bytes it sends (method,
path and query as on the wire, body) and person endpoints get a bearer token, so the real
intake, feed and binding paths are fuzzed too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tanpuhui.domain.officials import OfficialKind
from tanpuhui.services.officials import add_official
from tests.api.conftest import (
    LEAKS,
    PROBLEM,
    LiveServer,
    LogWatch,
    Onboarded,
    Persona,
    Serve,
    onboard_enterprise,
    onboard_person,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: per operation, per engine: 20 (was 30) keeps the run derandomized and every operation's
#: documented answers checked at two-thirds of the time, with ~70 operations documented
BOUNDED = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
PUBLIC = ("/healthz", "/readyz", "/openapi.json")


@pytest.fixture
def live(serve: Serve) -> LiveServer:
    # fuzzing sends hundreds of requests a second: no rate limit in the way
    return serve(
        rate_limit_per_s=1e6,
        rate_limit_burst=1e6,
        auth_failures_per_minute=1e6,
        auth_failure_burst=1e6,
    )


@pytest.fixture(autouse=True)
def no_error_logged(log: LogWatch) -> Iterator[None]:
    """Whatever Schemathesis sent, the server logged no traceback and no error."""
    yield
    assert not log.bad, log.bad


@pytest.fixture
def live_schema(live: LiveServer) -> Any:
    return schemathesis.openapi.from_url(f"{live.base_url}/openapi.json")


class SigningSession(requests.Session):
    """Signs every `/v1` request as the enterprise would, over exactly what is sent."""

    def __init__(
        self, enterprise: Onboarded, person: Persona, officials: dict[str, str] | None = None
    ) -> None:
        super().__init__()
        self.enterprise, self.person = enterprise, person
        self.officials = officials or {}  # path prefix → an official's bearer token
        self.statuses: Counter[tuple[str, str, int]] = Counter()

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        path = request.path_url
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        official = self.officials.get(path.split("?")[0]) or next(  # an exact path, a prefix
            (t for p, t in self.officials.items() if path.startswith(p)), None
        )
        if path.startswith("/v1/me/"):
            request.headers["Authorization"] = f"Bearer {self.person.token}"
        elif official is not None:
            request.headers["Authorization"] = f"Bearer {official}"
        elif path.startswith("/v1/"):
            assert request.method is not None
            request.headers.update(
                self.enterprise.headers(request.method, path, body, content_type=None)
            )
        response = super().send(request, **kwargs)
        self.statuses[(str(request.method), path.split("?")[0], response.status_code)] += 1
        return response


@pytest.fixture
def signing(live: LiveServer) -> Iterator[SigningSession]:
    officials = {
        "/v1/government/": add_official(
            live.ctx, OfficialKind.GOVERNMENT, "深圳市", "440300"
        ).token,
        "/v1/mrv/": add_official(live.ctx, OfficialKind.VERIFIER, "CQC").token,
        "/v1/certificates": (ops := add_official(live.ctx, OfficialKind.OPERATOR, "Ops").token),
        "/v1/mrv/batches": ops,  # the operator creates batches; a verifier reviews them
        "/v1/leaderboards": ops,
        "/v1/exports": ops,
    }
    session = SigningSession(onboard_enterprise(live), onboard_person(live), officials)
    yield session
    session.close()


BINARY = ("application/pdf", "application/vnd.openxmlformats")  # the government exports


def no_leak(response: Any) -> None:
    if str(response.headers.get("content-type", [""])[0]).startswith(BINARY):
        return  # a file, not text (its content is the service's suppressed figures)
    for leak in LEAKS:
        assert leak not in response.text, (leak, response.text[:500])


schema = schemathesis.pytest.from_fixture("live_schema")


@schema.parametrize()
@BOUNDED
def test_unsigned_requests_conform_and_are_refused(case: Any) -> None:
    response = case.call_and_validate(checks=CHECKS)
    no_leak(response)
    # the transparency log and certificate verification: for anyone
    public = case.path.startswith(("/v1/log/", "/v1/certificates/"))
    if case.path.startswith("/v1/") and not public and response.status_code not in (405, 413):
        if response.status_code == 404 and _names_no_route(case):
            assert response.json()["code"] == "not_found", response.text
            return
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == [PROBLEM]
        bearer = case.path.startswith(
            (
                "/v1/me/", "/v1/government/", "/v1/mrv/", "/v1/certificates", "/v1/leaderboards",
                "/v1/exports",
            )
        )  # fmt: skip
        expected = "invalid_token" if bearer else "missing_signature"
        assert response.json()["code"] == expected


def _names_no_route(case: Any) -> bool:
    """A `{name:path}` parameter (event and binding ids) matches `.*`, never a line break: a
    URL with one there names no route and is answered 404 before any authentication, as any
    unknown path is (found by Schemathesis: GET /v1/events/%0A0)."""
    values = (case.path_parameters or {}).values()
    breaks = ("\n", "\r", "%0A", "%0D")  # Schemathesis hands them over percent-encoded
    return any(b in str(v).upper() for v in values for b in breaks)


@schema.parametrize()
@BOUNDED
def test_signed_requests_conform(case: Any, signing: SigningSession) -> None:
    response = case.call_and_validate(session=signing, checks=CHECKS)
    no_leak(response)
    if case.path.startswith("/v1/") and response.status_code == 401:
        # signing is right, so a refusal can only be about the request itself
        pytest.fail(f"a signed request was refused: {response.text}")


def test_the_signed_run_reaches_the_intake(live: LiveServer, signing: SigningSession) -> None:
    """The signing session itself: a documented example batch is admitted and processed."""
    loaded = schemathesis.openapi.from_url(f"{live.base_url}/openapi.json")
    operation = loaded["/v1/events"]["POST"]
    case = operation.Case(
        body={
            "events": [
                {
                    "event_id": "fuzz-1",
                    "subject": "u-1",
                    "behaviour": "bike_share_ride",
                    "started_at": "2026-11-17T13:18:00+08:00",
                    "ended_at": "2026-11-17T13:30:00+08:00",
                    "quantity": {"distance_km": "3.42"},
                    "region": "420106",
                }
            ]
        },
        media_type="application/json",
    )
    response = case.call_and_validate(session=signing, checks=CHECKS)
    assert response.status_code == 200, response.text
    assert response.json()["outcomes"][0]["outcome"] == "pending_binding"
    assert signing.statuses[("POST", "/v1/events", 200)] == 1
