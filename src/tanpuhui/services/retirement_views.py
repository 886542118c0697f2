"""The JSON of retirements, blocks and exports: one function per fact, used by the CLI and
the API alike (so `tanpuhui retire --json` and `POST /v1/retirements` print the same)."""

from __future__ import annotations

from typing import Any

from tanpuhui.domain.retirement import Block
from tanpuhui.services.export import ExportResult
from tanpuhui.services.retirement import RetirementResult


def block_view(block: Block) -> dict[str, Any]:
    c = block.asset_class
    return {
        "serial": block.serial,
        "start": block.start,
        "end": block.end,
        "grams": block.grams,
        "status": block.status.value,
        "class": {
            "programme": c.programme,
            "group": c.group,
            "province": c.province,
            "vintage": c.vintage,
            "tier": c.tier,
        },
        "lineage": [
            {"reduction": str(lot.reduction_id), "asset": lot.asset, "grams": lot.grams}
            for lot in block.lots
        ],
    }


def retirement_view(result: RetirementResult) -> dict[str, Any]:
    r = result.retirement
    return {
        "id": str(r.id),
        "enterprise": str(r.enterprise_id),
        "request_id": r.request_id,
        "grams": r.grams,
        "beneficiary": r.beneficiary,
        "purpose": r.purpose,
        "period": r.period,
        "certificate": r.certificate,
        "entry": str(r.entry_id),
        "created_at": r.created_at.isoformat(),
        "blocks": [block_view(b) for b in result.blocks],
        "replayed": result.replayed,
    }


def export_view(result: ExportResult) -> dict[str, Any]:
    x = result.export
    return {
        "id": str(x.id),
        "enterprise": str(x.enterprise_id),
        "registry": x.registry,
        "tonnes": x.tonnes,
        "status": x.status.value,
        "reference": x.reference,
        "created_at": x.created_at.isoformat(),
        "marked_at": x.marked_at.isoformat() if x.marked_at else None,
        "blocks": [block_view(b) for b in result.blocks],
        "replayed": result.replayed,
    }
