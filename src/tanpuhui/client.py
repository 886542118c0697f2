"""A Python client for scene enterprises: `Client(base_url, credential_id, private_key)`.

It signs every request (docs/api.md; signature version 2, which covers the host it is sent
to and the credential id), retries network errors, 5xx answers — among them the 503s of lost
races, a busy or not yet migrated database — and 429s with exponential back-off (honouring
Retry-After) — safe, because the API is idempotent by event id and each retry is signed afresh
with a new nonce — and raises typed errors for problems.

    with Client("http://127.0.0.1:8000", credential_id, private_key_pem) as client:
        result = client.submit_events([{"event_id": "ride-1", ...}])
        for item in client.iter_outcomes():
            ...
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx
import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tanpuhui.adapters.crypto import load_private_key, sign
from tanpuhui.domain.signing import (
    HEADER_CREDENTIAL,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    canonical_request,
)


class ClientError(Exception):
    """A problem the API answered with (`status`, stable `code`, `detail`), or no answer."""

    def __init__(
        self, status: int, code: str, detail: str, problem: Mapping[str, Any] | None = None
    ):
        super().__init__(f"{status} {code}: {detail}")
        self.status, self.code, self.detail = status, code, detail
        self.problem = dict(problem or {})


class AuthError(ClientError):
    """401: the signature, timestamp, nonce or credential was refused."""


class ForbiddenError(ClientError):
    """403."""


class NotFoundError(ClientError):
    """404."""


class ConflictError(ClientError):
    """409."""


class InvalidRequestError(ClientError):
    """413, 415, 422: the request must be fixed, retrying cannot help."""


class RateLimitedError(ClientError):
    """429 after the retries: slow down."""


class ServerError(ClientError):
    """5xx after the retries, or the server could not be reached (status 0)."""


_ERRORS: dict[int, type[ClientError]] = {
    401: AuthError, 403: ForbiddenError, 404: NotFoundError, 409: ConflictError,
    413: InvalidRequestError, 415: InvalidRequestError, 422: InvalidRequestError,
    429: RateLimitedError,
}  # fmt: skip


class Client:
    def __init__(
        self,
        base_url: str,
        credential_id: str,
        private_key: str | bytes | Ed25519PrivateKey,
        *,
        timeout: float = 60.0,
        retries: int = 5,
        backoff: float = 0.25,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.credential_id = credential_id
        self.key = (
            private_key if isinstance(private_key, Ed25519PrivateKey)
            else load_private_key(private_key)
        )  # fmt: skip
        self.retries, self.backoff = retries, backoff
        self.http = httpx.Client(base_url=base_url, timeout=timeout, transport=transport)
        #: the Host header httpx sends (the port only when it is not the scheme's default)
        self.host = self.http.build_request("GET", "/").headers["host"]

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    # --- the API -----------------------------------------------------------------------------

    def submit_events(self, events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """POST a batch (≤ 10,000 events); returns {"outcomes": [...], "summary": {...}}."""
        body = msgspec.json.encode({"events": list(events)})
        return self._call("POST", "/v1/events", body)

    def submit_raw(self, body: bytes) -> dict[str, Any]:
        """POST an already-encoded batch body."""
        return self._call("POST", "/v1/events", body)

    def get_event(self, event_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/events/{_segment(event_id)}")

    def iter_outcomes(self, after: str | None = None, limit: int = 500) -> Iterator[dict[str, Any]]:
        """Every outcome after `after` (a cursor), page by page, until the feed is exhausted."""
        while True:
            params = f"?limit={limit}" + (f"&after={after}" if after else "")
            page = self._call("GET", "/v1/outcomes" + params)
            yield from page["items"]
            if page["next_cursor"] is None:
                return
            after = page["next_cursor"]

    def bind(self, subject: str, code: str) -> dict[str, Any]:
        body = msgspec.json.encode({"subject": subject, "code": code})
        return self._call("POST", "/v1/bindings", body)

    def unbind(self, subject: str) -> dict[str, Any]:
        return self._call("DELETE", f"/v1/bindings/{_segment(subject)}")

    # --- signing and retries -------------------------------------------------------------------

    def signed_headers(
        self, method: str, path_and_query: str, body: bytes, host: str | None = None
    ) -> dict[str, str]:
        """The signature headers for this request to `host` (default: the base URL's)."""
        timestamp = int(time.time())
        nonce = secrets.token_urlsafe(18)
        host = host if host is not None else self.host
        message = canonical_request(
            method, host, path_and_query, self.credential_id, timestamp, nonce, body
        )
        return {
            HEADER_CREDENTIAL: self.credential_id,
            HEADER_TIMESTAMP: str(timestamp),
            HEADER_NONCE: nonce,
            HEADER_SIGNATURE: sign(self.key, message),
            "Content-Type": "application/json",
        }

    def _call(self, method: str, path_and_query: str, body: bytes = b"") -> dict[str, Any]:
        attempt = 0
        while True:
            headers = self.signed_headers(method, path_and_query, body)
            try:
                response = self.http.request(
                    method, path_and_query, content=body or None, headers=headers
                )
            except httpx.TransportError as exc:
                if attempt >= self.retries:
                    raise ServerError(0, "unreachable", str(exc)) from exc
                self._sleep(attempt, None)
                attempt += 1
                continue
            if response.status_code < 400:
                result: dict[str, Any] = response.json()
                return result
            retryable = response.status_code >= 500 or response.status_code == 429
            if retryable and attempt < self.retries:
                self._sleep(attempt, response.headers.get("Retry-After"))
                attempt += 1
                continue
            raise _error(response)

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        delay = self.backoff * (2**attempt)
        if retry_after and retry_after.isdigit():
            delay = max(delay, float(retry_after))
        time.sleep(min(delay, 30.0))


def _segment(value: str) -> str:
    """A path segment with every reserved character percent-encoded — dots too, so an id
    "." or ".." is not read as a dot segment and removed on the way."""
    return quote(value, safe="").replace(".", "%2E")


def _error(response: httpx.Response) -> ClientError:
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    kind = _ERRORS.get(response.status_code, ServerError)
    return kind(
        response.status_code,
        str(problem.get("code", "http_error")),
        str(problem.get("detail", response.reason_phrase)),
        problem,
    )
