"""The audit trail (issue 12 item 5): `audited` appends a record inside the caller's unit of
work (so the action and its record commit together or not at all); `list_audit` filters it."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from tanpuhui.domain.audit import KINDS, AuditRecord, SealedRecord
from tanpuhui.domain.errors import InvalidInputError
from tanpuhui.domain.parties import Binding
from tanpuhui.services.context import Context
from tanpuhui.services.ports import UnitOfWork


def audited(
    uow: UnitOfWork,
    ctx: Context,
    actor: str,
    kind: str,
    subject: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    assert kind in KINDS, kind
    record = AuditRecord(ctx.ids.new(), ctx.wall_clock.now(), actor, kind, subject, before, after)
    uow.audit.append(record)


#: Up to this many bindings are listed one by one in a record; a bigger bulk binding records
#: its count and the SHA-256 of its ids in order (the bindings table has each row).
LISTED_BINDINGS = 100


def audit_bindings(uow: UnitOfWork, ctx: Context, actor: str, bindings: list[Binding]) -> None:
    """One record for the bindings a transaction made (none: no record)."""
    if not bindings:
        return
    rows = [[str(b.id), str(b.enterprise_id), b.subject, str(b.person_id)] for b in bindings]
    after: dict[str, Any] = {"count": len(rows), "bound_at": bindings[0].bound_at.isoformat()}
    if len(rows) <= LISTED_BINDINGS:
        after["bindings"] = rows
    else:
        after["sha256"] = hashlib.sha256(json.dumps(rows).encode()).hexdigest()
    enterprises = sorted({str(b.enterprise_id) for b in bindings})
    subject = f"enterprise:{enterprises[0]}" if len(enterprises) == 1 else "enterprises"
    audited(uow, ctx, actor, "binding.add", subject, after=after)


def list_audit(
    ctx: Context,
    *,
    actor: str | None = None,
    kind: str | None = None,
    since: datetime | None = None,
    limit: int = 1000,
) -> list[SealedRecord]:
    if kind is not None and kind not in KINDS:
        raise InvalidInputError(
            f"unknown audit kind {kind!r}: one of {', '.join(KINDS)}", code="unknown_kind"
        )
    with ctx.uow(write=False) as uow:
        return uow.audit.find(actor, kind, since, limit)
