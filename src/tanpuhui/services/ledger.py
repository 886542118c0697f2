"""Reading the ledger: a holder's balances and recent reductions with their traces, and
`verify_ledger`, which checks every invariant of DESIGN.md §5 over the stored ledger."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from tanpuhui.domain.checks import Violation
from tanpuhui.domain.errors import NotFoundError
from tanpuhui.domain.ledger import Entry, pending_account, person_account
from tanpuhui.domain.methodology import Catalogue
from tanpuhui.services.context import Context
from tanpuhui.services.mrv import verify_batches
from tanpuhui.services.ports import ReductionView
from tanpuhui.services.transparency import note_key


@dataclass(frozen=True, slots=True)
class FactorView:
    role: str
    id: str
    value: str
    unit: str
    source: str
    confidence: str


@dataclass(frozen=True, slots=True)
class TracedReduction:
    reduction: ReductionView
    methodology: str
    formula_inputs: dict[str, str]
    factors: list[FactorView]
    exact_grams: str
    proof: str  # where anyone gets the inclusion proof of its issuance line


@dataclass(frozen=True, slots=True)
class LedgerView:
    account: str
    balances: dict[str, int]  # asset class → grams
    total_grams: int
    reductions: list[TracedReduction]
    entries: list[Entry]


def resolve_account(ctx: Context, who: str, enterprise_id: uuid.UUID | None = None) -> str:
    """The account `who` names: a person id, or (with an enterprise) that enterprise's subject —
    the person it is bound to, or its pending account while unbound."""
    with ctx.uow(write=False) as uow:
        if enterprise_id is None:
            try:
                person_id = uuid.UUID(who)
            except ValueError:
                raise NotFoundError(
                    f"{who!r} is not a person id (give --enterprise for a subject)"
                ) from None
            if uow.persons.find(person_id) is None:
                raise NotFoundError(f"no person {who}")
            return person_account(person_id)
        if uow.enterprises.find(enterprise_id) is None:
            raise NotFoundError(f"no enterprise {enterprise_id}")
        binding = uow.bindings.find_active(enterprise_id, who)
    return person_account(binding.person_id) if binding else pending_account(enterprise_id, who)


def show_ledger(ctx: Context, account: str, *, limit: int = 20) -> LedgerView:
    with ctx.uow(write=False) as uow:
        catalogue = ctx.catalogues.current(uow).catalogue
        balances = uow.ledger.balances_of(account)
        reductions = uow.queries.recent_reductions(account, limit)
        entries = uow.ledger.entries_of(account, limit)
    co2e = {a: g for a, g in balances.items() if a.startswith("co2e:")}
    return LedgerView(
        account=account,
        balances=balances,
        total_grams=sum(co2e.values()),
        reductions=[trace_of(r, catalogue) for r in reductions],
        entries=entries,
    )


def readable_factors(trace: Mapping[str, object], catalogue: Catalogue) -> list[FactorView]:
    """A stored trace's factors made readable: unit, source and confidence from its version."""
    m = catalogue.get(str(trace.get("methodology", "")))
    by_id = {f.id: f for f in m.factors} if m else {}
    traced = trace.get("factors")
    views = []
    for role, used in sorted(traced.items()) if isinstance(traced, Mapping) else ():
        fid = str(used.get("id")) if isinstance(used, Mapping) else ""
        f = by_id.get(fid)
        views.append(
            FactorView(
                role,
                fid,
                str(used.get("value")) if isinstance(used, Mapping) else "",
                f.unit if f else "?",
                f.source if f else "(methodology version not found)",
                f.confidence.value if f else "?",
            )
        )
    return views


def trace_of(r: ReductionView, catalogue: Catalogue) -> TracedReduction:
    inputs = r.trace.get("inputs")
    return TracedReduction(
        reduction=r,
        methodology=str(r.trace.get("methodology", "")),
        formula_inputs=dict(inputs) if isinstance(inputs, Mapping) else {},
        factors=readable_factors(r.trace, catalogue),
        exact_grams=str(r.trace.get("exact_grams", "")),
        proof=proof_link(r.id),
    )


def proof_link(reduction_id: uuid.UUID) -> str:
    """The public API path of a reduction's inclusion proof (docs/verification.md)."""
    return f"/v1/log/proofs/{reduction_id}"


def verify_ledger(ctx: Context) -> list[Violation]:
    with ctx.uow(write=False) as uow:
        catalogue = ctx.catalogues.current(uow).catalogue
        found = list(uow.verify.violations(catalogue, ctx.tz, note_key(ctx)))
    return found + verify_batches(ctx)  # every MRV statement's signature, again


def outcome_counts(ctx: Context) -> dict[str, int]:
    with ctx.uow(write=False) as uow:
        return uow.queries.outcome_counts()
