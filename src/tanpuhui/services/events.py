"""What a scene enterprise may read back: one of its events with outcome and trace, and its
outcome feed for reconciliation (cursor-paginated, in commit order, never skipping a batch
that committed late). An enterprise sees only its own events.

A cursor names a position by the enterprise's own ids only — its batch and its event — never
by the platform-wide commit number, so no tenant can measure another's volume from cursors.
(Cursors of the old form, which carried the number, are still read.)"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from tanpuhui.domain.errors import InvalidInputError, NotFoundError
from tanpuhui.services.context import Context
from tanpuhui.services.ports import EventView

MAX_PAGE = 1000


def get_event(ctx: Context, enterprise_id: uuid.UUID, event_id: str) -> EventView:
    with ctx.uow(write=False) as uow:
        view = uow.queries.event_of(enterprise_id, event_id)
    if view is None:
        raise NotFoundError(f"no event {event_id!r} from this enterprise")
    return view


@dataclass(frozen=True, slots=True)
class FeedPage:
    items: list[EventView]
    next_cursor: str | None  # None: nothing more yet (poll again later with the last cursor)
    cursor: str | None  # where a later poll continues from


def encode_cursor(batch_id: uuid.UUID, row_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(batch_id.bytes + row_id.bytes).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int | uuid.UUID, uuid.UUID]:
    """(batch id, event row id); or, from an old cursor, (commit number, event row id)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise InvalidInputError("malformed cursor", code="invalid_cursor") from None
    if len(raw) == 32:
        return uuid.UUID(bytes=raw[:16]), uuid.UUID(bytes=raw[16:])
    seq = int.from_bytes(raw[:8], "big")
    if len(raw) != 24 or seq >= 2**63:  # sequence numbers are signed 64-bit in storage
        raise InvalidInputError("malformed cursor", code="invalid_cursor")
    return seq, uuid.UUID(bytes=raw[8:])


def outcome_feed(
    ctx: Context, enterprise_id: uuid.UUID, after: str | None, limit: int = 100
) -> FeedPage:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInputError(f"limit must be 1-{MAX_PAGE}", code="invalid_limit")
    decoded = decode_cursor(after) if after else None
    with ctx.uow(write=False) as uow:
        position: tuple[int, uuid.UUID] | None = None
        if decoded is not None:
            batch, row_id = decoded
            seq = (
                uow.queries.batch_seq_of(enterprise_id, batch)
                if isinstance(batch, uuid.UUID)
                else batch
            )
            if seq is None:
                raise InvalidInputError("not a cursor of this feed", code="invalid_cursor")
            position = (seq, row_id)
        items = uow.queries.feed(enterprise_id, position, limit)
    if not items:
        return FeedPage([], None, after)
    last = items[-1]
    assert last.batch_id is not None
    cursor = encode_cursor(last.batch_id, last.id)
    return FeedPage(items, cursor if len(items) == limit else None, cursor)


def own_reductions(
    ctx: Context, enterprise_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of these reduction ids are the enterprise's own events (the others it may not
    be told anything about)."""
    if not ids:
        return set()
    with ctx.uow(write=False) as uow:
        return uow.queries.own_events(enterprise_id, ids)
