"""docs/api.md's worked signing example is what the code computes (so a reader can trust it):
signature version 2 (host and credential id signed) and the deprecated version 1."""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tanpuhui.adapters.crypto import Ed25519Verifier, private_pem, public_raw, sign
from tanpuhui.domain.signing import body_digest, canonical_request, canonical_request_v1

DOC = (Path(__file__).parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
HOST = "tanpuhui.example"
CREDENTIAL = "0191fe2a-5c00-7d3e-9a41-6b2f0c8e1d57"
BODY = (
    b'{"events":[{"event_id":"bike-20240917-000123","subject":"u-88412",'
    b'"behaviour":"bike_share_ride","started_at":"2024-09-17T08:01:12+08:00",'
    b'"ended_at":"2024-09-17T08:14:40+08:00","quantity":{"distance_km":"3.42"},'
    b'"region":"440305","evidence":{"ref":"order-7731"}}]}'
)


def test_the_documented_key_and_body_are_the_ones_computed_with() -> None:
    assert private_pem(KEY).strip() in DOC
    assert base64.b64encode(public_raw(KEY)).decode() in DOC
    assert BODY.decode() in DOC
    assert f"`{CREDENTIAL}`" in DOC and f"https://{HOST}/v1/events" in DOC


def test_the_documented_post_digest_canonical_string_and_signature_are_right() -> None:
    message = canonical_request(
        "POST", HOST, "/v1/events", CREDENTIAL, 1726531200, "3q2nF8Q0xM5uYvZ1kL7pAa", BODY
    )
    assert message.decode().startswith("TANPUHUI-ED25519-V2\nPOST\ntanpuhui.example\n")
    assert body_digest(BODY) in DOC
    assert message.decode() in DOC
    signature = sign(KEY, message)
    assert signature in DOC
    assert Ed25519Verifier().verify(public_raw(KEY), signature, message)


def test_the_documented_get_signature_is_right() -> None:
    message = canonical_request(
        "GET", HOST, "/v1/outcomes?limit=100", CREDENTIAL, 1726531200, "Zx9Qw2Er4Ty6Ui8Op0As", b""
    )
    assert body_digest(b"") in DOC
    assert sign(KEY, message) in DOC


def test_the_documented_version_1_signature_is_right() -> None:
    message = canonical_request_v1("POST", "/v1/events", 1726531200, "3q2nF8Q0xM5uYvZ1kL7pAa", BODY)
    assert sign(KEY, message) in DOC
