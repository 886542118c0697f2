"""The audit trail: every administrative action (enterprise onboarding, credential changes,
official accounts, verifications, exports …) as an append-only record with its actor, time
and the state before and after, in a hash chain of its own.

Invariant: record n's `prev_hash` is record n-1's `hash` (the first links to GENESIS), and
each hash covers the record's content, so an edited, removed or reordered record breaks the
chain (`check_audit_chain`).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tanpuhui.domain.checks import Violation

GENESIS = bytes(32)

#: The kinds of action recorded (the `--kind` vocabulary).
KINDS = (
    "enterprise.add",
    "credential.register",
    "credential.rotate",
    "credential.revoke",
    "methodology.publish",
    "methodology.retire",
    "programme.publish",
    "binding.add",
    "binding.end",
    "issuer.authorise",
    "exclusion.declare",
    "official.add",
    "user.add",  # an enterprise's user or an operator of the pages
    "mrv.batch_create",
    "mrv.sample",
    "mrv.approve",
    "mrv.reject",
    "certificate.issue",
    "export",  # a government's data export (CSV, XLSX, PDF)
    "export.create",  # a carbon-market export of verified reductions
    "export.mark",
)

#: Who acts: the operator (CLI, operator pages), an official, an enterprise (its API key or
#: console), a person (the pages), or the platform itself (its own signed statements).
ACTOR_PREFIXES = ("operator", "government:", "verifier:", "enterprise:", "person:", "platform")


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: uuid.UUID
    at: datetime
    actor: str  # operator | government:{id} | verifier:{id} | enterprise:{id} | person:{id}
    kind: str
    subject: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class SealedRecord:
    seq: int
    record: AuditRecord
    prev_hash: bytes
    hash: bytes


def audit_hash(prev: bytes, seq: int, record: AuditRecord) -> bytes:
    content = json.dumps(
        [
            seq,
            str(record.id),
            record.at.astimezone(UTC).isoformat(),
            record.actor,
            record.kind,
            record.subject,
            record.before,
            record.after,
        ],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(prev + content.encode()).digest()


def check_audit_chain(records: Iterable[SealedRecord]) -> Iterator[Violation]:
    prev, expected_seq = GENESIS, 1
    for r in records:
        if r.seq != expected_seq or r.prev_hash != prev:
            yield Violation(9, "audit_chain_broken", f"audit:{r.seq}", "a record is missing")
        if audit_hash(r.prev_hash, r.seq, r.record) != r.hash:
            yield Violation(9, "audit_chain_broken", f"audit:{r.seq}", "a record was changed")
        prev, expected_seq = r.hash, r.seq + 1
