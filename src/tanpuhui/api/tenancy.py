"""What one tenant may see of another's claims: nothing that identifies or dates them.

An answer to enterprise V names another reduction (`duplicate_of`, a binding move's
`duplicate_of`, `now.resolution_ref`) as itself only when that reduction is one of V's own
events. Another tenant's reduction is named by an opaque reference instead: stable for V (two
of V's events duplicating the same claim show the same reference), different for every
viewer, and carrying neither the original's id nor its time (ids are time-ordered UUIDs).
The reference is a SHA-256 over the viewer's id and the original's id, whose 74 random bits
make it infeasible to invert.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from starlette.concurrency import run_in_threadpool

from tanpuhui.services.context import Context
from tanpuhui.services.events import own_reductions

PREFIX = "other-"


def foreign_reference(viewer: uuid.UUID, original: uuid.UUID) -> str:
    digest = hashlib.sha256(b"tanpuhui:foreign-claim\0" + viewer.bytes + original.bytes)
    return PREFIX + digest.hexdigest()[:32]


def _slots(views: Iterable[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], str]]:
    """Every (mapping, key) of these rendered answers that names another reduction."""
    for view in views:
        outcome = view.get("outcome")
        if isinstance(outcome, dict):  # an event detail
            yield outcome, "duplicate_of"
        else:  # a batch outcome
            yield view, "duplicate_of"
        now = view.get("now")
        if isinstance(now, dict):
            yield now, "resolution_ref"
        for move in view.get("reductions", ()):
            yield move, "duplicate_of"


async def mask_foreign(
    ctx: Context, viewer: uuid.UUID, views: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Replace, in place, every reference to a reduction that is not `viewer`'s own."""
    slots = [(m, k, _as_uuid(m.get(k))) for m, k in _slots(views)]
    named = [(m, k, ref) for m, k, ref in slots if ref is not None]
    if not named:
        return views
    own = await run_in_threadpool(own_reductions, ctx, viewer, sorted({r for _, _, r in named}))
    for mapping, key, ref in named:
        if ref not in own:
            mapping[key] = foreign_reference(viewer, ref)
    return views


def _as_uuid(value: object) -> uuid.UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
