"""Intake: `submit_events` — one batch of behaviour events from one scene enterprise.

The batch is prepared (validated, quantified) outside any transaction, then settled in a
transaction that locks its holders, reads the state it needs (one query each), decides every
event, and writes the outcome rows, the issuance entry and the aggregates in bulk. A batch with
more distinct subjects than one transaction should lock is settled in consecutive parts —
safe, because intake is idempotent per event id: a retried batch replays what committed. If a
concurrent transaction wins a uniqueness race, the part is retried: the second attempt sees
the winner's rows, so nothing is credited twice.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from tanpuhui.domain.decision import decide_batch
from tanpuhui.domain.errors import (
    InvalidInputError,
    LockTableFullError,
    NotFoundError,
    PayloadTooLargeError,
)
from tanpuhui.domain.households import meter_of, settlement_rank, settlement_rounds
from tanpuhui.domain.intake import (
    MAX_BATCH_EVENTS,
    Candidate,
    Outcome,
    PreparedBatch,
    apply_exclusions,
    attach_evidence,
    holder_of,
    prepare_batch,
)
from tanpuhui.domain.ledger import pending_account, person_account
from tanpuhui.services.aggregates import changes_of_decision
from tanpuhui.services.context import Context, Limits, retry_races
from tanpuhui.services.points import award_in, credits_of
from tanpuhui.services.ports import HeldClaim, StoredCatalogue

#: Attempts of one part of a batch that keeps losing uniqueness races.
ATTEMPTS = 5


def check_batch_size(count: int, limits: Limits) -> None:
    """Refuse a batch above the configured limit (never above the contract's
    `MAX_BATCH_EVENTS`), before any of it is read further."""
    limit = min(MAX_BATCH_EVENTS, limits.max_batch)
    if count > limit:
        raise PayloadTooLargeError(
            f"a batch holds at most {limit} events, not {count}",
            details={"limit": limit},
            code="batch_too_large",
        )


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
    check_batch_size(len(raws), ctx.limits)
    with ctx.uow(write=False) as uow:
        enterprise = uow.enterprises.find(enterprise_id)
        stored = ctx.catalogues.current(uow)
    if enterprise is None:
        raise NotFoundError(f"no enterprise {enterprise_id}")
    if not enterprise.is_scene:
        raise InvalidInputError(f"enterprise {enterprise.name} has no scene role")
    if not raws:
        return []
    settle_due(ctx, enterprise_id)  # a closed window settles by itself with the next intake
    now = ctx.clock.now()
    prepared = prepare_batch(enterprise_id, raws, stored.catalogue, ctx.regions, now, ctx.tz)
    outcomes: list[Outcome] = []
    for part in _parts(prepared, ctx.limits.max_subjects_per_transaction):
        outcomes += _settle(ctx, stored, part, now, source)
    return outcomes


def _parts(prepared: PreparedBatch, max_subjects: int) -> list[PreparedBatch]:
    """Consecutive slices of the batch with at most `max_subjects` distinct subjects each."""
    parts: list[PreparedBatch] = []
    start, subjects = 0, set[str]()
    for i, item in enumerate(prepared.items):
        if isinstance(item, Candidate) and item.event.subject not in subjects:
            if len(subjects) == max_subjects:
                parts.append(PreparedBatch(prepared.enterprise_id, prepared.items[start:i]))
                start, subjects = i, set()
            subjects.add(item.event.subject)
    parts.append(PreparedBatch(prepared.enterprise_id, prepared.items[start:]))
    return parts


def settle_due(ctx: Context, enterprise_id: uuid.UUID | None = None, limit: int = 10_000) -> int:
    """Settle the held claims whose window has closed (settlement.py) — of one enterprise, or
    of all; returns how many were settled. Each group of claims received together is prepared
    as it was then, and decided now against everything credited meanwhile. Meter periods
    settle with the due rival reports of the same meters from every enterprise, in rounds of
    `settlement_rank` (households.py): each meter's winner before the reports it beats."""
    now = ctx.clock.now()
    with ctx.uow(write=False) as uow:
        due = uow.settlement.due(now, enterprise_id, limit)
        if not due:
            return 0
        meters = sorted({m for h in due if (m := meter_of(h.event)) is not None})
        if meters and enterprise_id is not None:
            known = {h.id for h in due}
            rivals = uow.settlement.due_of_meters(now, meters)
            due += [h for h in rivals if h.id not in known]
        reporters = {h.enterprise_id for h in due if meter_of(h.event) is not None}
        issuers = {e: uow.evidence.rights_for(e, meters).own for e in reporters}
        stored = ctx.catalogues.current(uow)
    for members in _settlement_batches(due, issuers):
        enterprise, received_at = members[0].enterprise_id, members[0].received_at
        events = [h.event for h in members]
        prepared = prepare_batch(
            enterprise, events, stored.catalogue, ctx.regions, received_at, ctx.tz
        )
        held_ids = {h.event.event_id: h.id for h in members}
        _settle(ctx, stored, prepared, now, "settlement", held_ids)
    return len(due)


def _settlement_batches(
    due: Sequence[HeldClaim], issuers: Mapping[uuid.UUID, str | None]
) -> list[list[HeldClaim]]:
    """The due claims as batches to settle in order: the meter periods in the rounds of
    `settlement_rounds` (consecutive reports received together settle as one batch), then
    the day claims, grouped by (enterprise, time received)."""

    def rank(h: HeldClaim) -> tuple[bool, uuid.UUID, str]:
        is_issuer = issuers.get(h.enterprise_id) == meter_of(h.event)
        return settlement_rank(h.enterprise_id, h.event.event_id, is_issuer)

    metered = [(meter, h) for h in due if (meter := meter_of(h.event)) is not None]
    batches: list[list[HeldClaim]] = []
    for round_ in settlement_rounds(metered, rank):
        start = len(batches)
        for held in round_:
            if len(batches) > start and _received_together(batches[-1][-1], held):
                batches[-1].append(held)
            else:
                batches.append([held])
    groups: dict[tuple[uuid.UUID, datetime], list[HeldClaim]] = defaultdict(list)
    for held in due:
        if meter_of(held.event) is None:
            groups[(held.enterprise_id, held.received_at)].append(held)
    return batches + [groups[key] for key in sorted(groups)]


def _received_together(a: HeldClaim, b: HeldClaim) -> bool:
    return (a.enterprise_id, a.received_at) == (b.enterprise_id, b.received_at)


def _settle(
    ctx: Context,
    stored: StoredCatalogue,
    prepared: PreparedBatch,
    now: datetime,
    source: str,
    settling: Mapping[str, uuid.UUID] | None = None,
) -> list[Outcome]:
    """Settle one part of a batch in one transaction, retrying lost races (the last one
    propagates: a retryable 503, never a conflict); halves itself if the database's lock table
    is full. `settling`: the held claims (by event id) the batch
    settles."""
    try:
        return retry_races(
            lambda: _settle_once(ctx, stored, prepared, now, source, settling), ATTEMPTS
        )
    except LockTableFullError:
        if len(prepared.subjects()) <= 50:
            raise  # retryable as it is (503 + Retry-After), not a conflict to fix
        half = len(prepared.items) // 2
        return [
            *_settle(
                ctx, stored, replace(prepared, items=prepared.items[:half]), now, source, settling
            ),
            *_settle(
                ctx, stored, replace(prepared, items=prepared.items[half:]), now, source, settling
            ),
        ]


def _settle_once(
    ctx: Context,
    stored: StoredCatalogue,
    prepared: PreparedBatch,
    now: datetime,
    source: str,
    settling: Mapping[str, uuid.UUID] | None,
) -> list[Outcome]:
    catalogue = stored.catalogue
    enterprise_id = prepared.enterprise_id
    subjects = prepared.subjects()
    with ctx.uow() as uow:
        # Lock order: every subject's pending account, then every person's account.
        uow.locks.acquire([pending_account(enterprise_id, s) for s in subjects])
        bindings = uow.bindings.active_for(enterprise_id, subjects)
        uow.locks.acquire([person_account(p) for p in set(bindings.values())])
        if prepared.has_evidence():
            rights = uow.evidence.rights_for(enterprise_id, prepared.issuers())
            prepared = attach_evidence(prepared, rights)
        register = uow.exclusions.register_for(prepared.exclusion_keys())
        prepared = apply_exclusions(prepared, register)
        state = uow.intake.load_state(
            enterprise_id,
            prepared.event_ids(),
            sorted({holder_of(enterprise_id, s, bindings) for s in subjects}),
            prepared.claim_scopes(catalogue),
            prepared.fingerprints(),
            prepared.meter_scopes(),
        )
        state.bindings = bindings
        if settling is None:  # replays of held day claims are answered as held
            held = uow.settlement.held_outcomes(enterprise_id, prepared.event_ids())
            state.existing = {**held, **state.existing}
        # ids for the entry and every record, made at once
        ids = iter(ctx.ids.many(len(prepared.items) + 1))
        decision = decide_batch(prepared, state, ids.__next__, now, settling=settling is not None)
        if decision.entry is not None:
            uow.ledger.open(decision.entry)
        batch_id = ctx.ids.new()
        uow.intake.save(batch_id, enterprise_id, now, source, decision, stored.ids)
        if decision.entry is not None:
            uow.ledger.record(decision.entry, lines_on_events=True)
        uow.intake.add_region_totals(decision.region_deltas)
        uow.aggregates.record(changes_of_decision(decision, enterprise_id))
        award_in(uow, ctx, credits_of(decision.records), now)
        uow.settlement.hold(enterprise_id, decision.held, now, ctx.ids.new)
        if settling is not None:
            uow.settlement.mark_settled(
                enterprise_id, [settling[e] for e in prepared.event_ids()], now
            )
        uow.intake.close_batch(enterprise_id, batch_id)
        uow.commit()
        return decision.outcomes
