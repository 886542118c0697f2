"""Certificates (issue 13 item 4): what a certificate says, its serial, and the exact bytes the
platform's Ed25519 key signs (docs/certificates.md).

A serial reads `TPH-{kind}{yyyymmdd}-{shard:04d}-{token}{check}`: the kind letter (L a
leaderboard placing, M a programme milestone, R a retirement), the local issue day, the shard of
the holder it is about (the certificate lives there: a look-up by serial reads one shard), ten
Crockford base-32 characters of the certificate id's random bits, and one check character that
catches a mistyped serial before any look-up. The check character is no security: the signature
is.

Invariants kept here:
- the content is canonical JSON (keys sorted, no whitespace, UTF-8, only strings and integers),
  so it round-trips byte for byte and anyone can recompute what was signed;
- what is signed is `SIGNING_CONTEXT` followed by those bytes: the key also signs checkpoint
  notes, and no note begins with the context line, so a signature never transfers between them.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from tanpuhui.domain.errors import InvalidInputError

SIGNING_CONTEXT = b"tanpuhui certificate v1\n"
CONTENT_VERSION = 1
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base 32: no I, L, O, U
SERIAL = re.compile(r"TPH-([LMR])(\d{8})-(\d{4})-([0-9A-HJKMNP-TV-Z]{10})([0-9A-HJKMNP-TV-Z])")
MAX_SERIAL_LENGTH = 40


class CertificateKind(StrEnum):
    LEADERBOARD = "leaderboard"
    MILESTONE = "milestone"
    RETIREMENT = "retirement"


LETTER = {
    CertificateKind.LEADERBOARD: "L",
    CertificateKind.MILESTONE: "M",
    CertificateKind.RETIREMENT: "R",
}
KIND_OF = {letter: kind for kind, letter in LETTER.items()}

#: The fields of a certificate's content, all required, and their types.
FIELDS: dict[str, type] = {
    "v": int,
    "serial": str,
    "kind": str,
    "recipient": str,  # the display name a person chose, or the enterprise's name
    "achievement": str,
    "grams": int,
    "period": str,
    "issuer": str,
    "issued_at": str,
    "details": dict,  # kind-specific strings: board, rank, beneficiary, purpose, …
}


@dataclass(frozen=True, slots=True)
class SerialParts:
    kind: CertificateKind
    day: date
    shard: int


def _check_char(body: str) -> str:
    return ALPHABET[hashlib.sha256(body.encode()).digest()[0] % 32]


def make_serial(kind: CertificateKind, day: date, shard: int, token_bits: int) -> str:
    token = "".join(ALPHABET[(token_bits >> (5 * i)) & 31] for i in reversed(range(10)))
    body = f"TPH-{LETTER[kind]}{day:%Y%m%d}-{shard:04d}-{token}"
    return body + _check_char(body)


def read_serial(text: str) -> SerialParts:
    """The parts of a well-formed serial, or `InvalidInputError(invalid_serial)`."""
    match = SERIAL.fullmatch(text) if len(text) <= MAX_SERIAL_LENGTH else None
    if match is None or _check_char(text[:-1]) != text[-1]:
        raise InvalidInputError(
            f"{text[:MAX_SERIAL_LENGTH]!r} is not a certificate serial", code="invalid_serial"
        )
    letter, day, shard = match.group(1), match.group(2), int(match.group(3))
    try:
        issued = date(int(day[:4]), int(day[4:6]), int(day[6:]))
    except ValueError:
        raise InvalidInputError(
            f"{text!r} is not a certificate serial", code="invalid_serial"
        ) from None
    return SerialParts(KIND_OF[letter], issued, shard)


@dataclass(frozen=True, slots=True)
class Certificate:
    """A certificate's content (what is signed) and its signature (base64)."""

    content: dict[str, Any]
    signature: str

    @property
    def serial(self) -> str:
        return str(self.content["serial"])

    @property
    def canonical(self) -> bytes:
        return canonical(self.content)


def canonical(content: dict[str, Any]) -> bytes:
    return json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def signed_message(content_bytes: bytes) -> bytes:
    return SIGNING_CONTEXT + content_bytes


def build_content(
    serial: str,
    kind: CertificateKind,
    recipient: str,
    achievement: str,
    grams: int,
    period: str,
    issuer: str,
    issued_at: str,
    details: dict[str, str],
) -> dict[str, Any]:
    content = {
        "v": CONTENT_VERSION,
        "serial": serial,
        "kind": kind.value,
        "recipient": recipient,
        "achievement": achievement,
        "grams": grams,
        "period": period,
        "issuer": issuer,
        "issued_at": issued_at,
        "details": dict(details),
    }
    check_content(content)
    return content


def check_content(content: object) -> dict[str, Any]:
    """The content of a certificate as read from a file or the database, checked for shape
    (every field, of its type, nothing else; `details` strings only), or
    `InvalidInputError(invalid_certificate)`."""

    def refuse(why: str) -> InvalidInputError:
        return InvalidInputError(f"not a tanpuhui certificate: {why}", code="invalid_certificate")

    if not isinstance(content, dict) or set(content) != set(FIELDS):
        raise refuse(f"its content has the fields {', '.join(sorted(FIELDS))}")
    for name, kind in FIELDS.items():
        value = content[name]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise refuse(f"{name} is not a {kind.__name__}")
    if content["v"] != CONTENT_VERSION or content["kind"] not in set(CertificateKind):
        raise refuse("unknown version or kind")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in content["details"].items()):
        raise refuse("details are strings")
    if content["grams"] < 0:
        raise refuse("negative grams")
    read_serial(content["serial"])
    return content


def parse_content(text: bytes) -> dict[str, Any]:
    """Content bytes back to the content, refusing anything that is not exactly canonical."""
    try:
        content = check_content(json.loads(text.decode()))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidInputError(
            "not a tanpuhui certificate: the content is not JSON", code="invalid_certificate"
        ) from None
    if canonical(content) != text:
        raise InvalidInputError(
            "not a tanpuhui certificate: the content is not canonical", code="invalid_certificate"
        )
    return content


def format_grams(grams: int) -> str:
    """Grams for people: kg with one decimal from 1 kg (rounded down: never claim more)."""
    if grams < 1000:
        return f"{grams} g CO₂e"
    return f"{grams // 100 / 10:,.1f} kg CO₂e"
