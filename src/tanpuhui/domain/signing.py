"""Request signing for enterprise (machine-to-machine) API calls: the canonical string.

In the style of the Chinese payment APIs (WeChat Pay v3, Alipay): the client signs, with its
Ed25519 private key, one string that binds the request's method, path and query, a timestamp,
a random nonce and the SHA-256 of the exact body bytes; the server recomputes the string and
verifies the signature with the public key it stores for the credential. docs/api.md has the
scheme and a worked example.

    TANPUHUI-ED25519-V1\\n
    {METHOD}\\n
    {path}[?{query}]\\n
    {timestamp: Unix seconds}\\n
    {nonce}\\n
    {hex SHA-256 of the body (of b"" when there is none)}\\n
"""

from __future__ import annotations

import hashlib
import re

SCHEME = "TANPUHUI-ED25519-V1"
#: Requests older or newer than this (seconds) are refused, and nonces are kept this long.
MAX_SKEW_S = 300
NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")

HEADER_CREDENTIAL = "X-Tanpuhui-Credential"
HEADER_TIMESTAMP = "X-Tanpuhui-Timestamp"
HEADER_NONCE = "X-Tanpuhui-Nonce"
HEADER_SIGNATURE = "X-Tanpuhui-Signature"


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def canonical_request(
    method: str, path_and_query: str, timestamp: int, nonce: str, body: bytes
) -> bytes:
    """The exact bytes that are signed."""
    return (
        f"{SCHEME}\n{method.upper()}\n{path_and_query}\n{timestamp}\n{nonce}\n{body_digest(body)}\n"
    ).encode()


def timestamp_fresh(timestamp: int, now_s: float) -> bool:
    return abs(now_s - timestamp) <= MAX_SKEW_S
