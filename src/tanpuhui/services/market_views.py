"""The JSON shapes of the market's facts: the API, the CLI and the pages render these (one
function per fact, so the outputs cannot drift)."""

from __future__ import annotations

import uuid
from typing import Any

from tanpuhui.domain.market import Lot, SaleStatus
from tanpuhui.domain.points import Redemption
from tanpuhui.domain.programmes import Programme
from tanpuhui.services.context import Context
from tanpuhui.services.market import OfferView, SaleResult, points_of, sales_of_person


def offer_view(v: OfferView) -> dict[str, Any]:
    o = v.offer
    return {
        "id": str(o.id),
        "enterprise_id": str(o.enterprise_id),
        "status": o.status.value,
        "budget_grams": o.budget_grams,
        "remaining_grams": v.remaining_grams,
        "incentive": (
            {"kind": "points", "programme": o.programme, "points_per_kg": o.points_per_kg}
            if o.programme is not None
            else {"kind": "coupon", "coupons_left": v.coupons_left}
        ),
        "accepts": {
            "groups": list(o.groups),
            "regions": list(o.regions),
            "vintages": list(o.vintages),
            "min_quality": o.min_quality.value if o.min_quality else None,
        },
        "min_grams": o.min_grams,
        "max_per_person_grams": o.max_per_person_grams,
        "valid_from": o.valid_from.isoformat(),
        "valid_until": o.valid_until.isoformat() if o.valid_until else None,
        "hold_minutes": o.hold_minutes,
    }


def lot_view(lot: Lot) -> dict[str, Any]:
    return {
        "reduction_id": str(lot.reduction_id),
        "asset": lot.asset,
        "grams": lot.grams,
        "started_at": lot.started_at.isoformat(),
    }


def sale_view(r: SaleResult) -> dict[str, Any]:
    s = r.sale
    return {
        "id": str(s.id),
        "offer_id": str(s.offer_id),
        "person_id": str(s.person_id),
        "enterprise_id": str(s.enterprise_id),
        "request_id": s.request_id,
        "status": r.status.value,
        "grams": s.grams,
        "incentive": (
            {"kind": "points", "programme": s.programme, "points": s.points}
            if s.programme is not None
            else {"kind": "coupon", "code": s.coupon}
        ),
        "entry_id": str(s.entry_id) if s.entry_id else None,
        "created_at": s.created_at.isoformat(),
        "expires_at": s.expires_at.isoformat() if s.expires_at else None,
        "settled_at": s.settled_at.isoformat() if s.settled_at else None,
        "replayed": r.replayed,
        "lots": [lot_view(lot) for lot in r.lots],
    }


def holdings_view(account: str, by_class: dict[str, list[Lot]]) -> dict[str, Any]:
    return {
        "account": account,
        "classes": [
            {
                "asset": asset,
                "grams": sum(lot.grams for lot in lots),
                "lots": [lot_view(lot) for lot in lots],
            }
            for asset, lots in sorted(by_class.items())
        ],
    }


def programme_view(p: Programme) -> dict[str, Any]:
    return {
        "code": p.code,
        "version": p.version,
        "ref": p.ref,
        "name": p.name,
        "region": p.region,
        "valid_from": p.valid_from.isoformat(),
        "valid_to": p.valid_to.isoformat() if p.valid_to else None,
        "rules": [
            {"behaviour": r.behaviour, "points": r.points, "per": r.basis.value, "source": r.source}
            for r in p.rules
        ],
        "daily_cap_points": p.daily_cap_points,
        "merchants": list(p.merchants),
        "expiry_days": p.expiry_days,
        "content_hash": p.content_hash,
    }


def person_market_view(ctx: Context, account: str, limit: int) -> dict[str, Any]:
    """What a person's ledger adds from the market: points by programme, holds, sales (empty
    for any other account)."""
    kind, _, rest = account.partition(":")
    if kind != "person":
        return {}
    sales = [sale_view(r) for r in sales_of_person(ctx, uuid.UUID(rest), limit)]
    return {
        "points": points_of(ctx, account),
        "holds": [s for s in sales if s["status"] == SaleStatus.HELD.value],
        "sales": sales,
    }


def redemption_view(r: Redemption) -> dict[str, Any]:
    return {
        "id": str(r.id),
        "merchant_id": str(r.merchant_id),
        "request_id": r.request_id,
        "person_id": str(r.person_id),
        "programme": r.programme,
        "points": r.points,
        "entry_id": str(r.entry_id),
        "created_at": r.created_at.isoformat(),
    }
