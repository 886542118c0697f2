"""Officials: the accounts of governments (scoped to a region), verifiers and operators.

A government account sees its region and the regions inside it, and only aggregates; it is
the `scope` every aggregate query of it is checked against. Officials authenticate with a
bearer token of which only a one-way hash is stored, and sign what they decide (MRV
statements) with an Ed25519 key of which the platform keeps only the public half.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class OfficialKind(StrEnum):
    GOVERNMENT = "government"
    VERIFIER = "verifier"
    OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class Official:
    id: uuid.UUID
    kind: OfficialKind
    name: str
    region: str | None  # a government account's region; None for the others
    created_at: datetime
    revoked_at: datetime | None = None
    #: its Ed25519 public key: its MRV statements verify with it (None: made before keys)
    public_key: bytes | None = None

    @property
    def actor(self) -> str:
        """How the audit trail and MRV statements name it: verifier:{id} …"""
        return f"{self.kind.value}:{self.id}"
