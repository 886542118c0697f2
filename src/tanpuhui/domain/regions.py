"""Administrative regions (GB/T 2260 six-digit codes) and region scopes.

A *scope* is a region code naming a province (`440000`), a prefecture (`440300`) or a county
(`440305`); `None` is the national scope. An event's region is matched to the most specific
scope that contains it (county → prefecture → province → national).
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


class RegionCatalogue:
    """The known region codes; immutable once built."""

    def __init__(self, regions: Iterable[Region], *, version: str) -> None:
        self._by_code: Mapping[str, Region] = {r.code: r for r in regions}
        self.version = version

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __len__(self) -> int:
        return len(self._by_code)

    def get(self, code: str) -> Region | None:
        return self._by_code.get(code)

    def all(self) -> list[Region]:
        return sorted(self._by_code.values(), key=lambda r: r.code)

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
