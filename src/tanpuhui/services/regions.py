"""The region code list as users see it: its source, version and counts, and one region with
its parents and children (`tanpuhui regions info|show`, the API)."""

from __future__ import annotations

from typing import Any

from tanpuhui.domain.errors import NotFoundError
from tanpuhui.domain.regions import Region
from tanpuhui.services.context import Context


def region_info(ctx: Context) -> dict[str, Any]:
    regions = ctx.regions
    return {
        "source": regions.source,
        "version": regions.version,
        "counts": dict(sorted(regions.counts().items())),
        "total": len(regions),
        "changes": [
            {"old": c.old, "new": c.new, "since": c.since, "note": c.note} for c in regions.changes
        ],
    }


def show_region(ctx: Context, code: str) -> dict[str, Any]:
    regions = ctx.regions
    region = regions.get(code)
    if region is None:
        mapped = regions.mapping().get(code)
        hint = f" (changed: now {mapped})" if mapped else ""
        raise NotFoundError(
            f"no region {code} in the code list ({regions.version}){hint}", code="unknown_region"
        )
    parents = [regions.get(c) for c in regions.ancestors(code)[1:]]
    return {
        **_region(region),
        "version": regions.version,
        "parents": [_region(p) for p in parents if p is not None],
        "children": [_region(c) for c in regions.children(code)],
        "formerly": [c.old for c in regions.changes if c.new == code],
    }


def _region(r: Region) -> dict[str, Any]:
    return {"code": r.code, "name": r.name, "level": r.level, "parent": r.parent}
