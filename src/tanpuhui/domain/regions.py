"""Administrative regions (GB/T 2260 six-digit codes) and region scopes.

A *scope* is a region code naming a province (`440000`), a prefecture (`440300`) or a county
(`440305`); `None` is the national scope. An event's region is matched to the most specific
scope that contains it (county → prefecture → province → national).

Regional power grids: the MEE/NBS grid-factor series publishes national, regional-grid and
(for 2022) provincial values. Which province (or, for Inner Mongolia, which prefecture)
belongs to which regional grid is not stated beside those values: `REGIONAL_GRIDS` is an
inference, and factors that rest on it are tagged `derived`. Hong Kong, Macau and Taiwan lie
outside the mainland grids (`regional_grid` gives None), so no mainland factor applies there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str
    level: str  # province | prefecture | county
    parent: str | None


@dataclass(frozen=True, slots=True)
class CodeChange:
    """A code that changed: reductions recorded under `old` aggregate under `new` (since the
    code-list year `since`)."""

    old: str
    new: str
    since: str
    note: str


class RegionCatalogue:
    """The known region codes; immutable once built."""

    def __init__(
        self,
        regions: Iterable[Region],
        *,
        version: str,
        source: str = "",
        changes: Iterable[CodeChange] = (),
    ) -> None:
        self._by_code: Mapping[str, Region] = {r.code: r for r in regions}
        self.version = version
        self.source = source
        self.changes: tuple[CodeChange, ...] = tuple(changes)

    def mapping(self) -> dict[str, str]:
        """Changed codes, old → new (the documented mapping table)."""
        return {c.old: c.new for c in self.changes}

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __len__(self) -> int:
        return len(self._by_code)

    def get(self, code: str) -> Region | None:
        return self._by_code.get(code)

    def all(self) -> list[Region]:
        return sorted(self._by_code.values(), key=lambda r: r.code)

    def children(self, code: str) -> list[Region]:
        """The regions whose parent is `code`, by code."""
        return [r for r in self.all() if r.parent == code]

    def counts(self) -> dict[str, int]:
        """How many regions of each level the list has."""
        levels: dict[str, int] = {}
        for r in self._by_code.values():
            levels[r.level] = levels.get(r.level, 0) + 1
        return levels

    def ancestors(self, code: str) -> list[str]:
        """The code itself and every region containing it, most specific first."""
        chain: list[str] = []
        current = self._by_code.get(code)
        while current is not None:
            chain.append(current.code)
            current = self._by_code.get(current.parent) if current.parent else None
        return chain


def province_of(code: str) -> str:
    """The province-level code containing `code` (first two digits, then zeros)."""
    return code[:2] + "0000"


def scope_contains(scope: str | None, code: str) -> bool:
    """Whether region `code` lies inside `scope` (None = the whole country)."""
    if scope is None:
        return True
    if scope.endswith("0000"):
        return code[:2] == scope[:2]
    if scope.endswith("00"):
        return code[:4] == scope[:4]
    return code == scope


def scope_rank(scope: str | None) -> int:
    """How specific a scope is: national 0, province 1, prefecture 2, county 3."""
    if scope is None:
        return 0
    if scope.endswith("0000"):
        return 1
    if scope.endswith("00"):
        return 2
    return 3


#: Regional grid → the provinces (and prefectures) in it. Eastern Inner Mongolia (赤峰, 通辽,
#: 呼伦贝尔, 兴安盟) is in the Northeast grid; the rest of Inner Mongolia in the North grid.
REGIONAL_GRIDS: Mapping[str, tuple[str, ...]] = {
    "华北": ("110000", "120000", "130000", "140000", "150000", "370000"),
    "东北": ("210000", "220000", "230000", "150400", "150500", "150700", "152200"),
    "华东": ("310000", "320000", "330000", "340000", "350000"),
    "华中": ("360000", "410000", "420000", "430000"),
    "西北": ("610000", "620000", "630000", "640000", "650000"),
    "南方": ("440000", "450000", "460000", "520000", "530000"),
    "西南": ("500000", "510000", "540000"),
}
_GRID_OF = {code: grid for grid, codes in REGIONAL_GRIDS.items() for code in codes}


def regional_grid(code: str) -> str | None:
    """The regional power grid of region `code` (derived, see above); None outside the
    mainland grids (Hong Kong, Macau, Taiwan)."""
    for scope in (code[:4] + "00", province_of(code)):
        if scope in _GRID_OF:
            return _GRID_OF[scope]
    return None
