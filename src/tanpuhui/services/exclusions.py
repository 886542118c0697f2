"""Declaring what is claimed under another mechanism (the exclusion register, exclusions.py).

The operator may declare any subject; an enterprise only its own programme
(`enterprise:<its id>`) or a meter or installation whose issuer it is entitled to cite.
Keys, notes and behaviour codes are bounded printable text (whatever entry point sent them).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from tanpuhui.domain.errors import ForbiddenError, InvalidInputError, NotFoundError
from tanpuhui.domain.exclusions import (
    KEY_NAMESPACES,
    MECHANISMS,
    Exclusion,
    enterprise_key,
    valid_key,
)
from tanpuhui.services.audit import audited
from tanpuhui.services.context import Context

NOTE_LIMIT = 500


def declare_claimed_elsewhere(
    ctx: Context,
    key: str,
    mechanism: str,
    *,
    declared_by: uuid.UUID | None = None,
    behaviours: Sequence[str] = (),
    valid_from: date | None = None,
    valid_to: date | None = None,
    note: str = "",
) -> Exclusion:
    """Add a declaration to the register; events it covers are rejected `claimed_elsewhere`."""
    if not valid_key(key) or not key.isprintable():
        raise InvalidInputError(
            f"an exclusion key is one of {', '.join(k + ':…' for k in KEY_NAMESPACES)}",
            code="invalid_exclusion",
        )
    if mechanism not in MECHANISMS:
        raise InvalidInputError(
            f"unknown mechanism {mechanism[:40]!r} (known: {', '.join(sorted(MECHANISMS))})",
            code="invalid_exclusion",
        )
    if len(note) > NOTE_LIMIT or not note.isprintable():
        raise InvalidInputError(
            f"a note is at most {NOTE_LIMIT} printable characters", code="invalid_exclusion"
        )
    if any(len(b) > 64 or not b.isprintable() for b in behaviours):
        raise InvalidInputError("a behaviour is a catalogue code", code="invalid_exclusion")
    if valid_from is not None and valid_to is not None and valid_to <= valid_from:
        raise InvalidInputError("valid_to must be after valid_from", code="invalid_exclusion")
    exclusion = Exclusion(
        ctx.ids.new(), key, mechanism, tuple(sorted(set(behaviours))), valid_from, valid_to,
        declared_by, ctx.clock.now(), note,
    )  # fmt: skip
    with ctx.uow() as uow:
        if declared_by is not None:
            if uow.enterprises.find(declared_by) is None:
                raise NotFoundError(f"no enterprise {declared_by}")
            own = key == enterprise_key(declared_by)
            if not own and key not in uow.evidence.rights_for(declared_by, [key]).entitled:
                raise ForbiddenError(
                    f"enterprise {declared_by} may not declare {key[:80]}",
                    code="not_entitled",
                )
        uow.exclusions.add(exclusion)
        audited(
            uow, ctx, f"enterprise:{declared_by}" if declared_by else "operator",
            "exclusion.declare", f"exclusion:{exclusion.id}",
            after={"key": key, "mechanism": mechanism, "behaviours": list(exclusion.behaviours),
                   "valid_from": valid_from.isoformat() if valid_from else None,
                   "valid_to": valid_to.isoformat() if valid_to else None},
        )  # fmt: skip
        uow.commit()
    return exclusion


def list_exclusions(ctx: Context) -> list[Exclusion]:
    """Every declaration of the exclusion register (the operator's view)."""
    with ctx.uow(write=False) as uow:
        return uow.exclusions.all()
