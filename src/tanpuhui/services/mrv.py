"""MRV (issue 12 item 4): the operator groups reductions into issuance batches with a generated
monitoring report; a verifier draws a seeded sample, recomputes it with the engine, and
approves (the reductions become `verified`) or rejects (a correcting entry reverses them, the
buffer account covering grams already sold or redeemed). Each decision records its actor and
time; one transaction per use case."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import date, timedelta
from typing import Any

from tanpuhui.domain.aggregates import parse_period, scope_bounds
from tanpuhui.domain.errors import AuthenticationError, InvalidInputError, NotFoundError
from tanpuhui.domain.events import Rejection
from tanpuhui.domain.methodology import Catalogue, Methodology
from tanpuhui.domain.models import Quantification, quantify
from tanpuhui.domain.mrv import BatchState, check_open, draw_sample, plan_rejection
from tanpuhui.domain.officials import Official, OfficialKind
from tanpuhui.domain.requantify import StoredReduction
from tanpuhui.services.aggregates import changes_between
from tanpuhui.services.audit import audited
from tanpuhui.services.context import Context
from tanpuhui.services.officials import authenticate_official
from tanpuhui.services.ports import BatchCandidate, IssuanceBatch, UnitOfWork


def _month_days(month: str) -> tuple[date, date]:
    if parse_period(month).kind != "month":
        raise InvalidInputError(
            f"a batch covers a month (2026-11), not {month!r}", code="invalid_period"
        )
    first = date(int(month[:4]), int(month[5:7]), 1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return first, last


def create_batch(
    ctx: Context, methodology: str, region: str | None, month: str, actor: str = "operator"
) -> IssuanceBatch:
    """A batch of every active reduction of `methodology` (code@version) in `region` (None:
    the nation) and `month` that is in no batch yet, with its monitoring report."""
    if region is not None and region not in ctx.regions:
        raise NotFoundError(f"no region {region}", code="unknown_region")
    first, last = _month_days(month)
    with ctx.uow() as uow:
        stored = ctx.catalogues.current(uow)
        m = stored.catalogue.get(methodology)
        if m is None:
            raise NotFoundError(f"no methodology {methodology}", code="unknown_methodology")
        members = uow.mrv.candidates(stored.ids[m.key], scope_bounds(region), first, last)
        if not members:
            raise InvalidInputError(
                f"no unbatched reductions of {m.key} in {region or 'the nation'} in {month}",
                code="empty_batch",
            )
        batch = IssuanceBatch(
            ctx.ids.new(), stored.ids[m.key], region, month, BatchState.OPEN,
            monitoring_report(m, region, month, members), actor, ctx.clock.now(),
        )  # fmt: skip
        uow.mrv.add(batch, members)
        audited(
            uow,
            ctx,
            actor,
            "mrv.batch_create",
            f"batch:{batch.id}",
            after={"state": "open", "reductions": len(members), "grams": batch.report["grams"]},
        )
        uow.commit()
    return batch


def monitoring_report(
    m: Methodology, region: str | None, month: str, members: list[BatchCandidate]
) -> dict[str, Any]:
    """What the verifier reviews, generated from the data: totals, breakdowns, the version."""
    by_region: Counter[str] = Counter()
    by_behaviour: Counter[str] = Counter()
    by_day: Counter[str] = Counter()
    for c in members:
        by_region[c.region] += c.grams
        by_behaviour[c.behaviour] += c.grams
        by_day[c.day.isoformat()] += c.grams
    return {
        "methodology": m.key,
        "title": m.title,
        "content_hash": m.content_hash,
        "model": m.model,
        "factors": [{"id": f.id, "value": str(f.value), "source": f.source} for f in m.factors],
        "region": region,
        "month": month,
        "reductions": len(members),
        "grams": sum(c.grams for c in members),
        "persons": len({c.holder for c in members}),
        "by_region": dict(sorted(by_region.items())),
        "by_behaviour": dict(sorted(by_behaviour.items())),
        "by_day": dict(sorted(by_day.items())),
    }


def show_batch(ctx: Context, batch_id: uuid.UUID) -> dict[str, Any]:
    with ctx.uow(write=False) as uow:
        batch = uow.mrv.get(batch_id)
        members = uow.mrv.members(batch_id)
        states = Counter(uow.mrv.verification(members).values()) if members else Counter()
    return {
        "id": str(batch.id),
        "state": batch.state.value,
        "region": batch.region,
        "month": batch.month,
        "created_by": batch.created_by,
        "created_at": batch.created_at.isoformat(),
        "report": batch.report,
        "reductions": len(members),
        "verification": dict(sorted(states.items())),
        "sample_seed": batch.sample_seed,
        "sample": batch.sample,
        "decided_by": str(batch.decided_by) if batch.decided_by else None,
        "decided_at": batch.decided_at.isoformat() if batch.decided_at else None,
        "comment": batch.comment,
    }


def sample_batch(
    ctx: Context, batch_id: uuid.UUID, token: str | None, seed: int, size: int = 20
) -> list[dict[str, Any]]:
    """Draw `size` reductions with `seed` and recompute each from its event with the engine;
    the draw and its results are recorded on the batch."""
    verifier = authenticate_official(ctx, token, OfficialKind.VERIFIER)
    return sample_batch_as(ctx, batch_id, verifier, seed, size)


def sample_batch_as(
    ctx: Context, batch_id: uuid.UUID, verifier: Official, seed: int, size: int = 20
) -> list[dict[str, Any]]:
    """`sample_batch` by a verifier already authenticated (the pages' signed-in session)."""
    _check_verifier(verifier)
    if not 1 <= size <= 1000:
        raise InvalidInputError("a sample is 1-1000 reductions", code="invalid_sample")
    with ctx.uow() as uow:
        batch = uow.mrv.get(batch_id)
        check_open(batch.state, batch_id)
        drawn = draw_sample(uow.mrv.members(batch_id), seed, size)
        stored = ctx.catalogues.current(uow)
        m = _version(stored.catalogue, stored.ids, batch.methodology_id)
        rows = uow.corrections.reductions_at(batch.methodology_id, None, None, len(drawn), drawn)
        results = [_recompute(r, m, stored.catalogue) for r in rows]
        uow.mrv.record_sample(batch_id, seed, results, verifier.id)
        audited(
            uow,
            ctx,
            f"verifier:{verifier.id}",
            "mrv.sample",
            f"batch:{batch_id}",
            after={"seed": seed, "size": size, "drawn": [r["reduction_id"] for r in results]},
        )
        uow.commit()
    return results


def _check_verifier(official: Official) -> None:
    if official.kind is not OfficialKind.VERIFIER or official.revoked_at is not None:
        raise AuthenticationError("only a verifier reviews batches", code="invalid_token")


def _version(catalogue: Catalogue, ids: Any, version_id: uuid.UUID) -> Methodology:
    key = next(k for k, v in ids.items() if v == version_id)
    found = catalogue.get(key)
    assert found is not None
    return found


def _quantified(r: StoredReduction, m: Methodology, catalogue: Catalogue) -> Quantification:
    q = quantify(m, r.event, r.day, catalogue)
    if isinstance(q, Rejection):
        raise InvalidInputError(
            f"reduction {r.id} no longer quantifies with {m.key}: {q.message}",
            code="not_recomputable",
        )
    return q


def _recompute(r: StoredReduction, m: Methodology, catalogue: Catalogue) -> dict[str, Any]:
    q = quantify(m, r.event, r.day, catalogue)
    recomputed = None if isinstance(q, Rejection) else q.grams
    return {
        "reduction_id": str(r.id),
        "event_id": r.event.event_id,
        "credited_grams": r.live_grams,
        "recomputed_grams": recomputed,
        # credited may be less than recomputed (a cap cut it), never more
        "consistent": recomputed is not None and r.live_grams <= recomputed,
    }


def approve_batch(ctx: Context, batch_id: uuid.UUID, token: str | None, comment: str) -> None:
    approve_batch_as(
        ctx, batch_id, authenticate_official(ctx, token, OfficialKind.VERIFIER), comment
    )


def approve_batch_as(ctx: Context, batch_id: uuid.UUID, verifier: Official, comment: str) -> None:
    _check_verifier(verifier)
    with ctx.uow() as uow:
        batch = uow.mrv.get(batch_id)
        check_open(batch.state, batch_id)
        uow.mrv.decide(batch_id, BatchState.APPROVED, verifier.id, ctx.clock.now(), comment, None)
        audited(
            uow,
            ctx,
            f"verifier:{verifier.id}",
            "mrv.approve",
            f"batch:{batch_id}",
            before={"state": "open"},
            after={"state": "approved", "comment": comment},
        )
        uow.commit()


def reject_batch(ctx: Context, batch_id: uuid.UUID, token: str | None, comment: str) -> int:
    """Reverse every reduction of the batch; returns the grams the buffer covered."""
    verifier = authenticate_official(ctx, token, OfficialKind.VERIFIER)
    return reject_batch_as(ctx, batch_id, verifier, comment)


def reject_batch_as(ctx: Context, batch_id: uuid.UUID, verifier: Official, comment: str) -> int:
    _check_verifier(verifier)
    if not comment.strip():
        raise InvalidInputError("a rejection says why (--comment)", code="comment_required")
    now = ctx.clock.now()
    with ctx.uow() as uow:
        batch = uow.mrv.get(batch_id)
        check_open(batch.state, batch_id)
        members = uow.mrv.members(batch_id)
        stored = ctx.catalogues.current(uow)
        m = _version(stored.catalogue, stored.ids, batch.methodology_id)
        rows = _locked_reductions(uow, batch.methodology_id, members)
        plan = plan_rejection(
            [(r, _quantified(r, m, stored.catalogue)) for r in rows],
            uow.corrections.balances_for([(r.holder, r.asset) for r in rows]),
            m.code, ctx.ids.new(), now, f"mrv reject {batch_id}",
        )  # fmt: skip
        before = uow.aggregates.snapshots(members)
        if plan.entry is not None:
            uow.ledger.open(plan.entry)
        ids = [ctx.ids.new() for _ in plan.corrections]
        uow.corrections.record(plan, batch.methodology_id, batch.methodology_id, ids, now)
        if plan.entry is not None:
            uow.ledger.record(plan.entry, lines_on_events=False)
        uow.intake.add_region_totals(plan.region_deltas)
        uow.aggregates.record(changes_between(before, uow.aggregates.snapshots(members)))
        entry_id = plan.entry.id if plan.entry else None
        uow.mrv.decide(batch_id, BatchState.REJECTED, verifier.id, now, comment, entry_id)
        audited(
            uow,
            ctx,
            f"verifier:{verifier.id}",
            "mrv.reject",
            f"batch:{batch_id}",
            before={"state": "open"},
            after={
                "state": "rejected",
                "comment": comment,
                "entry": str(entry_id) if entry_id else None,
            },
        )
        uow.commit()
    return sum(c.shortfall for c in plan.corrections)


def _locked_reductions(
    uow: UnitOfWork, version_id: uuid.UUID, members: list[uuid.UUID]
) -> list[StoredReduction]:
    """The batch's active reductions, their holders locked (fixed order) and read again."""
    rows = uow.corrections.reductions_at(version_id, None, None, len(members), members)
    uow.locks.acquire(sorted({r.holder for r in rows}))
    return uow.corrections.reductions_at(version_id, None, None, len(members), members)
