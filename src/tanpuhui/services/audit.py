"""The audit trail (issue 12 item 5): `audited` appends a record inside the caller's unit of
work (so the action and its record commit together or not at all); `list_audit` filters it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tanpuhui.domain.audit import KINDS, AuditRecord, SealedRecord
from tanpuhui.domain.errors import InvalidInputError
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
