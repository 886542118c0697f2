"""Plain, JSON-ready renderings of service results: the one place a fact becomes data.

The CLI's `--json`, the HTTP API and the pages all render outcomes, traces and ledgers through
these functions, so the same fact reads the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tanpuhui.domain.checks import Violation
from tanpuhui.domain.intake import Outcome, OutcomeKind
from tanpuhui.domain.methodology import Catalogue, Methodology
from tanpuhui.domain.models import MODELS
from tanpuhui.domain.quantity import format_decimal
from tanpuhui.services.ledger import FactorView, LedgerView, TracedReduction, readable_factors
from tanpuhui.services.ports import EventView


def outcome_view(o: Outcome) -> dict[str, Any]:
    view: dict[str, Any] = {"index": o.position, "event_id": o.event_id, "outcome": o.kind.value}
    if o.kind in (OutcomeKind.CREDITED, OutcomeKind.CAPPED, OutcomeKind.PENDING_BINDING):
        view["grams"] = o.grams
        if o.grams_cut:
            view["grams_cut"] = o.grams_cut
        view["methodology"] = o.methodology
        view["entry_id"] = str(o.entry_id) if o.entry_id else None
        view["reduction_id"] = str(o.reduction_id) if o.reduction_id else None
        if o.duplicate_of is not None:  # a merged day count: what it topped up, and why
            view["duplicate_of"] = str(o.duplicate_of)
            view["reason"] = o.reason
    elif o.kind == OutcomeKind.DUPLICATE:
        view["duplicate_of"] = str(o.duplicate_of)
        view["methodology"] = o.methodology
        if o.reason is not None:  # evidence_contested: kept for review
            view["reason"] = o.reason
    else:
        view["reason"] = o.reason
        view["message"] = o.message
    return view


def traced_view(t: TracedReduction) -> dict[str, Any]:
    r = t.reduction
    return {
        "reduction_id": str(r.id),
        "enterprise": r.enterprise,
        "event_id": r.event_id,
        "behaviour": r.behaviour,
        "region": r.region,
        "started_at": r.started_at.isoformat(),
        "ended_at": r.ended_at.isoformat(),
        "grams": r.grams,
        "live_grams": r.live_grams,
        "outcome": r.outcome,
        "resolution": r.resolution,
        "trace": {
            "methodology": t.methodology,
            "content_hash": r.trace.get("content_hash"),
            "model": r.trace.get("model"),
            "inputs": t.formula_inputs,
            "factors": [factor_view(f) for f in t.factors],
            "quality": r.trace.get("quality"),
            "exact_grams": t.exact_grams,
            "rounding": "down to whole grams",
        },
        "proof": t.proof,
    }


def factor_view(f: FactorView) -> dict[str, str]:
    return {
        "role": f.role,
        "id": f.id,
        "value": f.value,
        "unit": f.unit,
        "source": f.source,
        "confidence": f.confidence,
    }


def readable_trace(trace: Mapping[str, object], catalogue: Catalogue) -> dict[str, Any]:
    """A stored trace with every factor's unit, source and confidence from its version."""
    inputs = trace.get("inputs")
    grams = trace.get("grams")
    return {
        "methodology": str(trace.get("methodology", "")),
        "content_hash": trace.get("content_hash"),
        "model": trace.get("model"),
        "inputs": dict(inputs) if isinstance(inputs, Mapping) else {},
        "factors": [factor_view(f) for f in readable_factors(trace, catalogue)],
        "quality": trace.get("quality"),  # the lowest confidence among the factors used
        "exact_grams": str(trace.get("exact_grams", "")),
        "grams": grams if isinstance(grams, int) else None,
        "rounding": "down to whole grams",
    }


def event_detail(ev: EventView, catalogue: Catalogue) -> dict[str, Any]:
    """One event as its enterprise reads it back (API `GET /v1/events/{id}` and the feed)."""
    event = None
    if ev.behaviour is not None and ev.started_at and ev.ended_at:
        event = {
            "subject": ev.subject,
            "behaviour": ev.behaviour,
            "started_at": ev.started_at.isoformat(),
            "ended_at": ev.ended_at.isoformat(),
            "quantity": dict(ev.quantities or {}),
            "region": ev.region,
            "evidence": (
                {"ref": ev.evidence_ref, "issuer": ev.evidence_issuer} if ev.evidence_ref else None
            ),
        }
    now = None
    if ev.outcome.grams > 0:
        now = {
            "account": ev.account_kind,
            "state": ev.state,
            "grams": ev.live_grams,
            "resolution": ev.resolution,
            "resolution_ref": str(ev.resolution_ref) if ev.resolution_ref else None,
        }
    return {
        "event_id": ev.event_id,
        "received_at": ev.received_at.isoformat(),
        "outcome": outcome_view(ev.outcome),
        "event": event,
        "received": ev.raw,
        "trace": readable_trace(ev.trace, catalogue) if ev.trace else None,
        "now": now,
    }


def ledger_view(v: LedgerView) -> dict[str, Any]:
    return {
        "account": v.account,
        "total_grams": v.total_grams,
        "balances": v.balances,
        "reductions": [traced_view(t) for t in v.reductions],
        "entries": [
            {
                "id": str(e.id),
                "kind": e.kind,
                "created_at": e.created_at.isoformat(),
                "postings": [
                    {"account": p.account, "asset": p.asset, "amount": p.amount}
                    for p in e.postings
                    if p.account == v.account
                ],
            }
            for e in v.entries
        ],
    }


def violation_view(v: Violation) -> dict[str, Any]:
    return {"invariant": v.invariant, "code": v.code, "subject": v.subject, "message": v.message}


def methodology_view(m: Methodology) -> dict[str, Any]:
    return {
        "code": m.code,
        "version": m.version,
        "key": m.key,
        "title": m.title,
        "category": m.category,
        "standard": m.standard,
        "description": m.description,
        "model": m.model,
        "formula": MODELS[m.model].formula,
        "behaviours": list(m.behaviours),
        "group": m.group,
        "region": m.region,
        "effective_from": m.effective_from.isoformat(),
        "effective_to": m.effective_to.isoformat() if m.effective_to else None,
        "claim_window_days": m.claim_window_days,
        "daily_cap_grams": m.daily_cap_grams,
        "content_hash": m.content_hash,
        "quality": dict(zip(("best", "worst"), (q.value for q in m.quality_range()), strict=True)),
        "uncertainty_deduction": {c.value: str(d) for c, d in m.uncertainty_deduction.items()},
        "parameters": {k: str(v) for k, v in m.parameters.items()},
        "factors": [
            {
                "id": f.id,
                "role": f.role,
                "value": format_decimal(f.value),
                "unit": f.unit,
                "region": f.region,
                "valid_from": f.valid_from.isoformat() if f.valid_from else None,
                "valid_to": f.valid_to.isoformat() if f.valid_to else None,
                "confidence": f.confidence.value,
                "series": f.series or None,
                "source": f.source,
                "note": f.note or None,
            }
            for f in m.factors
        ],
        "plausibility": {
            "max_speed_kmh": _num(m.plausibility.max_speed_kmh),
            "duration_s": {
                "min": _num(m.plausibility.duration_s.minimum),
                "max": _num(m.plausibility.duration_s.maximum),
            },
            "quantities": {
                k: {"min": _num(b.minimum), "max": _num(b.maximum)}
                for k, b in m.plausibility.quantities.items()
            },
        },
    }


def _num(value: Any) -> str | None:
    return None if value is None else format_decimal(value)
