"""What every service needs besides its arguments: storage, time, ids, regions, the timezone,
and the cached methodology catalogue."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any, TypeVar

from tanpuhui.domain.aggregates import DEFAULT_MIN_PERSONS
from tanpuhui.domain.errors import RaceLostError
from tanpuhui.domain.intake import MAX_BATCH_EVENTS
from tanpuhui.domain.regions import RegionCatalogue
from tanpuhui.services.group_commit import GroupCommit
from tanpuhui.services.ports import (
    Clock,
    IdSource,
    NoteSigner,
    SecretSource,
    SignatureVerifier,
    StoredCatalogue,
    UnitOfWork,
    UnitOfWorkFactory,
)

T = TypeVar("T")


def retry_races(action: Callable[[], T], attempts: int = 3) -> T:
    """The one retry policy for lost races: run a unit of work again when a concurrent one won
    a uniqueness race, with exponential back-off (10 ms, 20 ms …); the next attempt sees the
    winner's rows and gives the precise answer (e.g. "exists already"). The last attempt's
    `RaceLostError` propagates."""
    for attempt in range(attempts - 1):
        try:
            return action()
        except RaceLostError:
            time.sleep(0.01 * 2**attempt)
    return action()


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
class Limits:
    """Operational limits of the API (settings)."""

    rate_per_s: float = 20.0  # sustained requests per second per credential
    burst: float = 40.0  # bucket size
    max_body_bytes: int = 16 * 1024 * 1024
    max_batch: int = MAX_BATCH_EVENTS  # lowers, never raises, the contract's limit
    binding_code_minutes: int = 15
    #: At most this many distinct subjects settle in one transaction (each takes a lock or two;
    #: a batch with more is settled in several transactions — safe, as intake is idempotent).
    max_subjects_per_transaction: int = 4000
    #: k of the regional aggregates: a cell with fewer active persons is suppressed.
    min_persons: int = DEFAULT_MIN_PERSONS


@dataclass(frozen=True)
class Context:
    """`clock` is business time (when behaviours happen, claim windows, entries); `wall_clock`
    is real time (request signatures, nonces, rate limits). They differ only in simulations."""

    uow: UnitOfWorkFactory
    clock: Clock
    ids: IdSource
    regions: RegionCatalogue
    tz: tzinfo
    wall_clock: Clock
    verifier: SignatureVerifier
    secrets: SecretSource
    log_signer: NoteSigner
    limits: Limits = field(default_factory=Limits)
    catalogues: CatalogueCache = field(default_factory=CatalogueCache)
    #: this process's concurrent sales, committed in groups (services/market.py)
    sale_groups: GroupCommit[Any, Any] = field(default_factory=GroupCommit)
