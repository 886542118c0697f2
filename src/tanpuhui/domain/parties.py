"""The parties: enterprises (scene and/or platform), persons, and the bindings between them.

A person is an opaque id; personal data lives elsewhere. An enterprise knows people only by its
own subject ids; a binding links (enterprise, subject) to a person, one active at a time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Role(StrEnum):
    SCENE = "scene"  # reports behaviours
    PLATFORM = "platform"  # buys, retires, exports reductions


@dataclass(frozen=True, slots=True)
class Enterprise:
    id: uuid.UUID
    name: str
    roles: frozenset[Role]
    created_at: datetime

    @property
    def is_scene(self) -> bool:
        return Role.SCENE in self.roles


@dataclass(frozen=True, slots=True)
class Person:
    id: uuid.UUID
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Binding:
    id: uuid.UUID
    enterprise_id: uuid.UUID
    subject: str
    person_id: uuid.UUID
    bound_at: datetime
    ended_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Credential:
    """An enterprise's API credential: the server keeps only the Ed25519 public key.

    Valid from creation until revoked, or until `expires_at` (set when it is rotated, so the
    old and the new credential both work during the grace period).
    """

    id: uuid.UUID
    enterprise_id: uuid.UUID
    public_key: bytes  # 32 raw bytes
    label: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None and self.revoked_at <= now:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active" if self.expires_at is None else "rotating"

    def valid(self, now: datetime) -> bool:
        return self.status(now) in ("active", "rotating")


#: Binding codes avoid look-alike characters (no 0/O, 1/I/L) so people can read them out.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def format_binding_code(raw: str) -> str:
    """`ABCD2345` → `ABCD-2345` (what a person sees); input may come with or without the dash."""
    clean = normalise_binding_code(raw)
    return f"{clean[:4]}-{clean[4:]}"


def normalise_binding_code(raw: str) -> str:
    return raw.replace("-", "").replace(" ", "").upper()
