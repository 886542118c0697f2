"""What a scene enterprise may read back: one of its events with outcome and trace, and its
outcome feed for reconciliation (cursor-paginated, in commit order, never skipping a batch
that committed late). An enterprise sees only its own events."""

from __future__ import annotations

import base64
import binascii
import uuid
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


def encode_cursor(seq: int, row_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(seq.to_bytes(8, "big") + row_id.bytes).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise InvalidInputError("malformed cursor", code="invalid_cursor") from None
    seq = int.from_bytes(raw[:8], "big")
    if len(raw) != 24 or seq >= 2**63:  # sequence numbers are signed 64-bit in storage
        raise InvalidInputError("malformed cursor", code="invalid_cursor")
    return seq, uuid.UUID(bytes=raw[8:])


def outcome_feed(
    ctx: Context, enterprise_id: uuid.UUID, after: str | None, limit: int = 100
) -> FeedPage:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInputError(f"limit must be 1-{MAX_PAGE}", code="invalid_limit")
    position = decode_cursor(after) if after else None
    with ctx.uow(write=False) as uow:
        items = uow.queries.feed(enterprise_id, position, limit)
    if not items:
        return FeedPage([], None, after)
    last = items[-1]
    assert last.batch_seq is not None
    cursor = encode_cursor(last.batch_seq, last.id)
    return FeedPage(items, cursor if len(items) == limit else None, cursor)
