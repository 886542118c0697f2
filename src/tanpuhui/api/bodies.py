"""Reading what a route was sent: an id from the path, a JSON body into its msgspec struct.
Both refuse with `invalid_request` (400) and a message naming what was wrong."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from tanpuhui.domain.errors import InvalidInputError


def parse_id(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInputError(f"{value!r} is not {what} id", code="invalid_request") from None


def decode_body(body: bytes, kind: type[Any], what: str) -> Any:
    try:
        return msgspec.json.decode(body, type=kind)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise InvalidInputError(f"invalid {what}: {exc}", code="invalid_request") from None
