"""Request signing for enterprise (machine-to-machine) API calls: the canonical strings and
the strict reading of the signature headers.

In the style of the Chinese payment APIs (WeChat Pay v3, Alipay): the client signs, with its
Ed25519 private key, one string that binds the request's method, host, path and query, the
credential id, a timestamp, a random nonce and the SHA-256 of the exact body bytes; the server
recomputes the string and verifies the signature with the public key it stores for the
credential. docs/api.md has the scheme and worked examples.

    TANPUHUI-ED25519-V2\\n
    {METHOD}\\n
    {host[:port], lower case, as in the Host header}\\n
    {path}[?{query}]\\n
    {credential id}\\n
    {timestamp: Unix seconds}\\n
    {nonce}\\n
    {hex SHA-256 of the body (of b"" when there is none)}\\n

Version 1 (no host, no credential id: a request signed for one deployment replays to another
where the same key is registered) is still accepted during its deprecation period
(`SignaturePolicy.v1_until`).

Invariant: a header is accepted only in exactly the spelling that is signed — the timestamp
is ASCII decimal digits (no sign, no `_`, no spaces, at most 12), so no two spellings of one
request verify and no absurd value reaches arithmetic.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from tanpuhui.domain.errors import AuthenticationError

SCHEME = "TANPUHUI-ED25519-V2"
SCHEME_V1 = "TANPUHUI-ED25519-V1"
#: Requests older or newer than this (seconds) are refused, and nonces are kept this long.
MAX_SKEW_S = 300
NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
TIMESTAMP = re.compile(r"0|[1-9][0-9]{0,11}")  # no sign, no leading zero: one spelling
SIGNATURE = re.compile(r"[A-Za-z0-9+/]{86}==")
CREDENTIAL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

HEADER_CREDENTIAL = "X-Tanpuhui-Credential"
HEADER_TIMESTAMP = "X-Tanpuhui-Timestamp"
HEADER_NONCE = "X-Tanpuhui-Nonce"
HEADER_SIGNATURE = "X-Tanpuhui-Signature"


@dataclass(frozen=True, slots=True)
class SignatureHeaders:
    """The four signature headers, checked for form (nothing about keys yet)."""

    credential_id: uuid.UUID
    timestamp: int
    nonce: str
    signature: str


@dataclass(frozen=True, slots=True)
class SignaturePolicy:
    """What a deployment accepts: version 1 signatures until `v1_until` (None: never), and,
    when `hosts` is not empty, only requests signed for one of those host names."""

    v1_until: datetime | None = None
    hosts: frozenset[str] = frozenset()

    def accepts_v1(self, now: datetime) -> bool:
        return self.v1_until is not None and now < self.v1_until


def read_headers(
    credential: str | None, timestamp: str | None, nonce: str | None, signature: str | None
) -> SignatureHeaders:
    """The headers in their one accepted spelling, or `AuthenticationError(missing_signature)`."""
    if not (credential and timestamp and nonce and signature):
        raise AuthenticationError(
            "sign the request: X-Tanpuhui-Credential, -Timestamp, -Nonce and -Signature headers",
            code="missing_signature",
        )
    if not CREDENTIAL.fullmatch(credential) or not TIMESTAMP.fullmatch(timestamp):
        raise AuthenticationError(
            "the credential id must be a lower-case UUID and the timestamp 1-12 decimal digits "
            "without a leading zero",
            code="missing_signature",
        )
    if not NONCE.fullmatch(nonce) or not SIGNATURE.fullmatch(signature):
        raise AuthenticationError(
            "the nonce must be 16-64 of [A-Za-z0-9_-]; the signature 64 bytes in base64",
            code="missing_signature",
        )
    return SignatureHeaders(uuid.UUID(credential), int(timestamp), nonce, signature)


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def canonical_request(
    method: str,
    host: str,
    path_and_query: str,
    credential_id: uuid.UUID | str,
    timestamp: int,
    nonce: str,
    body: bytes,
) -> bytes:
    """The exact bytes that are signed (version 2)."""
    return (
        f"{SCHEME}\n{method.upper()}\n{host.lower()}\n{path_and_query}\n{credential_id}\n"
        f"{timestamp}\n{nonce}\n{body_digest(body)}\n"
    ).encode()


def canonical_request_v1(
    method: str, path_and_query: str, timestamp: int, nonce: str, body: bytes
) -> bytes:
    """The bytes version 1 signed (deprecated: no host, no credential id)."""
    return (
        f"{SCHEME_V1}\n{method.upper()}\n{path_and_query}\n{timestamp}\n{nonce}\n"
        f"{body_digest(body)}\n"
    ).encode()


def timestamp_fresh(timestamp: int, now_s: float) -> bool:
    return abs(now_s - timestamp) <= MAX_SKEW_S
