"""What every service needs besides its arguments: storage, time, ids, regions, the timezone,
and the cached methodology catalogue."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import tzinfo

from tanpuhui.domain.regions import RegionCatalogue
from tanpuhui.services.ports import Clock, IdSource, StoredCatalogue, UnitOfWork, UnitOfWorkFactory


class CatalogueCache:
    """The published catalogue, reloaded only when its revision number changes."""

    def __init__(self) -> None:
        self._stored: StoredCatalogue | None = None
        self._lock = threading.Lock()

    def current(self, uow: UnitOfWork) -> StoredCatalogue:
        revision = uow.catalogue.revision()
        with self._lock:
            if self._stored is None or self._stored.revision != revision:
                self._stored = uow.catalogue.load()
            return self._stored


@dataclass(frozen=True)
class Context:
    uow: UnitOfWorkFactory
    clock: Clock
    ids: IdSource
    regions: RegionCatalogue
    tz: tzinfo
    catalogues: CatalogueCache = field(default_factory=CatalogueCache)
