"""Intake: `submit_events` — one batch of behaviour events from one scene enterprise.

The batch is prepared (validated, quantified) outside any transaction, then settled in one
transaction that locks its holders, reads the state it needs (one query each), decides every
event, and writes the outcome rows, the issuance entry and the aggregates in bulk. If a
concurrent transaction wins a uniqueness race, the whole unit is retried: the second attempt
sees the winner's rows, so nothing is credited twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from tanpuhui.domain.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
)
from tanpuhui.domain.intake import Outcome, decide_batch, holder_of, prepare_batch
from tanpuhui.domain.ledger import pending_account, person_account
from tanpuhui.services.context import Context
from tanpuhui.services.ports import RaceLostError

MAX_BATCH = 10_000
ATTEMPTS = 5


def submit_events(
    ctx: Context,
    enterprise_id: uuid.UUID,
    raws: Sequence[object],
    *,
    source: str = "api",
) -> list[Outcome]:
    """Settle a batch; returns one outcome per item, in order. Never raises for a bad event.

    Items are decoded JSON values, already-validated `BehaviourEvent`s (the adapters' fast
    decoding path) or `Rejection`s for items that could not be decoded at all."""
    limit = min(MAX_BATCH, ctx.limits.max_batch)
    if len(raws) > limit:
        raise PayloadTooLargeError(
            f"a batch holds at most {limit} events, not {len(raws)}",
            details={"limit": limit},
            code="batch_too_large",
        )
    with ctx.uow(write=False) as uow:
        enterprise = uow.enterprises.find(enterprise_id)
        stored = ctx.catalogues.current(uow)
    if enterprise is None:
        raise NotFoundError(f"no enterprise {enterprise_id}")
    if not enterprise.is_scene:
        raise InvalidInputError(f"enterprise {enterprise.name} has no scene role")
    if not raws:
        return []
    now = ctx.clock.now()
    catalogue = stored.catalogue
    prepared = prepare_batch(enterprise_id, raws, catalogue, ctx.regions, now, ctx.tz)
    subjects = prepared.subjects()
    for attempt in range(ATTEMPTS):
        try:
            with ctx.uow() as uow:
                # Lock order: every subject's pending account, then every person's account.
                uow.locks.acquire([pending_account(enterprise_id, s) for s in subjects])
                bindings = uow.bindings.active_for(enterprise_id, subjects)
                uow.locks.acquire([person_account(p) for p in set(bindings.values())])
                state = uow.intake.load_state(
                    enterprise_id,
                    prepared.event_ids(),
                    sorted({holder_of(enterprise_id, s, bindings) for s in subjects}),
                    prepared.claim_scopes(catalogue, ctx.tz),
                    prepared.fingerprints(),
                )
                state.bindings = bindings
                decision = decide_batch(prepared, state, ctx.ids.new, now)
                if decision.entry is not None:
                    uow.ledger.open(decision.entry)
                batch_id = ctx.ids.new()
                uow.intake.save(batch_id, enterprise_id, now, source, decision, stored.ids)
                if decision.entry is not None:
                    uow.ledger.record(decision.entry, lines_on_events=True)
                uow.intake.add_region_totals(decision.region_deltas)
                uow.intake.close_batch(batch_id)
                uow.commit()
                return decision.outcomes
        except RaceLostError:
            if attempt == ATTEMPTS - 1:
                raise ConflictError(
                    "the batch kept colliding with concurrent writers; retry it"
                ) from None
    raise AssertionError("unreachable")
