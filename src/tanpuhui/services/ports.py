"""The ports the services need: repositories inside a unit of work, a clock, an id source.

Adapters implement them (adapters/db for storage); tests may use fakes. A repository method
never commits: only the service that opened the unit of work does.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, Self

from tanpuhui.domain.aggregates import Cell, Change, Counts
from tanpuhui.domain.audit import AuditRecord, SealedRecord
from tanpuhui.domain.binding import Move, PendingReduction
from tanpuhui.domain.checkpoint import PublishedCheckpoint, StoredLeaf
from tanpuhui.domain.checks import Violation
from tanpuhui.domain.claims import Claim, ClaimScope
from tanpuhui.domain.events import BehaviourEvent
from tanpuhui.domain.evidence import IssuerGrant, IssuerRights
from tanpuhui.domain.exclusions import Exclusion
from tanpuhui.domain.households import MeterScope
from tanpuhui.domain.intake import (
    BatchDecision,
    Held,
    IntakeState,
    Outcome,
    StoredOutcome,
)
from tanpuhui.domain.ledger import Entry
from tanpuhui.domain.log_checks import NoteKey, StoredEntry
from tanpuhui.domain.merkle import SubtreeHash
from tanpuhui.domain.methodology import Catalogue, Group, Methodology
from tanpuhui.domain.mrv import BatchState, Statement
from tanpuhui.domain.officials import Official
from tanpuhui.domain.parties import Binding, Credential, Enterprise, Person
from tanpuhui.domain.requantify import RequantifyPlan, StoredReduction
from tanpuhui.services.certificate_ports import CertificateRepository
from tanpuhui.services.market_ports import MarketRepository
from tanpuhui.services.retirement_ports import RetirementRepository

if TYPE_CHECKING:  # the pages' ports (page_ports imports this module's views)
    from tanpuhui.services.page_ports import PageQueries, SignInRepository


class Clock(Protocol):
    def now(self) -> datetime: ...


class IdSource(Protocol):
    def new(self) -> uuid.UUID: ...

    def many(self, count: int) -> list[uuid.UUID]:
        """`count` new ids at once, in order (a batch needs one per event)."""
        ...


class SignatureVerifier(Protocol):
    def verify(self, public_key: bytes, signature: str, message: bytes) -> bool: ...


class NoteSigner(Protocol):
    """Signs checkpoint notes: `name` is the key name (the log's origin)."""

    @property
    def name(self) -> str: ...
    @property
    def public_key(self) -> bytes: ...
    def sign(self, message: bytes) -> bytes: ...


class SecretSource(Protocol):
    """Unguessable tokens and codes, and the one-way hash they are stored under."""

    def new_token(self) -> str: ...
    def random_code(self, alphabet: str, length: int) -> str: ...
    def digest(self, secret: str) -> bytes: ...


class AccessRepository(Protocol):
    def add_credential(self, credential: Credential) -> None: ...
    def find_credential(self, credential_id: uuid.UUID) -> Credential | None: ...
    def find_credential_by_key(self, public_key: bytes) -> Credential | None: ...
    def credentials_of(self, enterprise_id: uuid.UUID) -> list[Credential]: ...
    def set_credential_end(
        self,
        credential_id: uuid.UUID,
        *,
        expires_at: datetime | None = None,
        revoked_at: datetime | None = None,
    ) -> None: ...
    def remember_nonce(self, credential_id: uuid.UUID, nonce: str, seen_at: datetime) -> bool: ...
    def forget_nonces(self, before: datetime) -> int: ...
    def take_token(
        self, credential_id: uuid.UUID, now: datetime, rate_per_s: float, burst: float
    ) -> float: ...
    def add_person_token(
        self, digest: bytes, person_id: uuid.UUID, created_at: datetime
    ) -> None: ...
    def person_of_token(self, digest: bytes) -> uuid.UUID | None: ...
    def add_binding_code(
        self, digest: bytes, person_id: uuid.UUID, created_at: datetime, expires_at: datetime
    ) -> None: ...
    def redeem_binding_code(
        self, digest: bytes, enterprise_id: uuid.UUID, now: datetime
    ) -> tuple[uuid.UUID, bool] | None: ...


class EnterpriseRepository(Protocol):
    def add(self, enterprise: Enterprise) -> None: ...
    def find(self, enterprise_id: uuid.UUID) -> Enterprise | None: ...
    def find_by_name(self, name: str) -> Enterprise | None: ...
    def list(self) -> list[Enterprise]: ...


class PersonRepository(Protocol):
    def add(self, person: Person) -> None: ...
    def add_many(self, persons: Sequence[Person]) -> None: ...
    def find(self, person_id: uuid.UUID) -> Person | None: ...
    def missing(self, person_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]: ...


class BindingRepository(Protocol):
    def active_for(
        self, enterprise_id: uuid.UUID, subjects: Sequence[str]
    ) -> dict[str, uuid.UUID]: ...
    def find_active(self, enterprise_id: uuid.UUID, subject: str) -> Binding | None: ...
    def add(self, binding: Binding) -> None: ...
    def add_many(self, bindings: Sequence[Binding]) -> None: ...
    def end(self, binding: Binding, ended_at: datetime) -> None: ...
    def subjects_of(self, person_id: uuid.UUID) -> list[Binding]: ...


class LockRepository(Protocol):
    def acquire(self, keys: Sequence[str]) -> None:
        """Take transaction-scoped exclusive locks on `keys`, in sorted order."""


@dataclass(frozen=True, slots=True)
class StoredCatalogue:
    revision: int
    catalogue: Catalogue
    ids: Mapping[str, uuid.UUID]  # methodology key → stored version id


@dataclass(frozen=True, slots=True)
class PublishedVersion:
    id: uuid.UUID
    methodology: Methodology
    content: str
    source_name: str
    published_at: datetime


class CatalogueRepository(Protocol):
    def revision(self) -> int: ...
    def load(self) -> StoredCatalogue: ...
    def versions(self) -> list[PublishedVersion]: ...
    def add_version(self, version: PublishedVersion) -> None: ...
    def set_effective(
        self, version_id: uuid.UUID, effective_from: date, effective_to: date | None
    ) -> None: ...
    def set_groups(self, groups: Sequence[Group], updated_at: datetime) -> None: ...
    def bump_revision(self) -> None: ...


class IntakeRepository(Protocol):
    def load_state(
        self,
        enterprise_id: uuid.UUID,
        event_ids: Sequence[str],
        holders: Sequence[str],
        scopes: Sequence[ClaimScope],
        fingerprints: Sequence[bytes],
        meters: Sequence[MeterScope] = (),
    ) -> IntakeState: ...

    def save(
        self,
        batch_id: uuid.UUID,
        enterprise_id: uuid.UUID,
        received_at: datetime,
        source: str,
        decision: BatchDecision,
        methodology_ids: Mapping[str, uuid.UUID],
    ) -> None: ...

    def close_batch(self, enterprise_id: uuid.UUID, batch_id: uuid.UUID) -> int: ...
    def pending_reductions(self, holder: str) -> list[PendingReduction]: ...
    def holders_with_claims(self, holders: Sequence[str]) -> set[str]: ...
    def claims_of(self, holder: str, scopes: Sequence[ClaimScope]) -> list[Claim]: ...
    def claims_for(
        self, holders: Sequence[str], scopes: Sequence[ClaimScope]
    ) -> dict[str, list[Claim]]: ...
    def apply_moves(self, holder: str, moves: Sequence[Move], resolved_at: datetime) -> None: ...
    def add_region_totals(self, deltas: Mapping[tuple[str, str, date], int]) -> None: ...


class LedgerRepository(Protocol):
    def open(self, entry: Entry) -> None:
        """Write the entry row, unsealed: its lines may be written after this."""

    def record(self, entry: Entry, *, lines_on_events: bool) -> None:
        """Store the opened `entry`'s postings (its holder lines already on event rows when
        `lines_on_events`), apply its balance changes, and seal it into the hash chain."""

    def record_many(self, entries: Sequence[Entry]) -> None:
        """`open` and `record` several entries with no line on an event row, set-based."""

    def balances_of(self, account: str) -> dict[str, int]: ...
    def entries_of(self, account: str, limit: int) -> list[Entry]: ...


@dataclass(frozen=True, slots=True)
class ReductionView:
    """A credited (or pending) reduction as a ledger page or CLI shows it."""

    id: uuid.UUID
    enterprise: str
    event_id: str
    behaviour: str
    region: str
    started_at: datetime
    ended_at: datetime
    day: date
    outcome: str
    grams: int
    live_grams: int
    holder: str | None
    state: str | None
    resolution: str | None
    trace: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class EventView:
    """One stored event and its outcome, as its enterprise may see it."""

    id: uuid.UUID
    event_id: str
    batch_seq: int | None
    received_at: datetime
    outcome: Outcome
    subject: str | None
    behaviour: str | None
    started_at: datetime | None
    ended_at: datetime | None
    region: str | None
    quantities: Mapping[str, str] | None
    evidence_ref: str | None
    evidence_issuer: str | None
    raw: object | None
    trace: Mapping[str, object] | None
    account_kind: str | None  # person | pending: where its grams are now
    state: str | None
    live_grams: int
    resolution: str | None
    resolution_ref: uuid.UUID | None
    batch_id: uuid.UUID | None = None


class ReadQueries(Protocol):
    def recent_reductions(self, holder: str, limit: int) -> list[ReductionView]: ...
    def outcome_counts(self) -> dict[str, int]: ...
    def event_of(self, enterprise_id: uuid.UUID, event_id: str) -> EventView | None: ...
    def feed(
        self, enterprise_id: uuid.UUID, after: tuple[int, uuid.UUID] | None, limit: int
    ) -> list[EventView]: ...
    def batch_seq_of(self, enterprise_id: uuid.UUID, batch_id: uuid.UUID) -> int | None:
        """The commit position of one of this enterprise's batches (None: not its batch)."""
        ...

    def own_events(self, enterprise_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Which of these event (reduction) ids are this enterprise's own."""
        ...


class LogRepository(Protocol):
    """The per-shard Merkle logs and their checkpoints (adapters/db/log_repository.py)."""

    def shards(self) -> int: ...
    def sequence(self, shards: Iterable[int] | None = None, *, wait: bool = False) -> int:
        """Integrate queued lines into their shard logs (all queued: None)."""
        ...

    def heads(self) -> list[tuple[int, bytes]]: ...
    def subtrees(self, shard: int) -> SubtreeHash: ...
    def leaves_of(self, entry_id: uuid.UUID) -> list[StoredLeaf]: ...
    def stored_entry(self, entry_id: uuid.UUID) -> StoredEntry | None: ...
    def entry_of_reduction(self, reduction_id: uuid.UUID) -> uuid.UUID | None: ...
    def add_checkpoint(self, cp: PublishedCheckpoint) -> None: ...
    def add_cosignature(self, checkpoint_id: int, line: str) -> None: ...
    def checkpoint(self, checkpoint_id: int | None = None) -> PublishedCheckpoint | None: ...
    def add_shard_checkpoints(
        self, rows: Sequence[tuple[int, int, bytes, str, datetime]]
    ) -> None: ...
    def shard_checkpoint(self, shard: int, size: int) -> str | None: ...
    def signed_shard_sizes(self) -> dict[int, int]: ...


class VerifyRepository(Protocol):
    def violations(
        self, catalogue: Catalogue, tz: tzinfo, notes: NoteKey | None = None
    ) -> Iterator[Violation]: ...


class CorrectionRepository(Protocol):
    def reductions_at(
        self,
        version_id: uuid.UUID,
        since: date | None,
        after: uuid.UUID | None,
        limit: int,
        ids: Sequence[uuid.UUID] | None = None,
    ) -> list[StoredReduction]: ...
    def balances_for(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]: ...
    def record(
        self,
        plan: RequantifyPlan,
        from_id: uuid.UUID,
        to_id: uuid.UUID,
        new_ids: Sequence[uuid.UUID],
        now: datetime,
    ) -> None: ...


class EvidenceRepository(Protocol):
    def grants_of(self, issuer: str) -> list[IssuerGrant]: ...
    def grant(self, grant: IssuerGrant) -> None: ...
    def issuer_identity(self, enterprise_id: uuid.UUID) -> str | None: ...
    def rights_for(self, enterprise_id: uuid.UUID, issuers: Sequence[str]) -> IssuerRights: ...
    def all_grants(self) -> list[IssuerGrant]: ...


class ExclusionRepository(Protocol):
    def add(self, exclusion: Exclusion) -> None: ...
    def register_for(self, keys: Sequence[str]) -> dict[str, list[Exclusion]]: ...
    def all(self) -> list[Exclusion]: ...


@dataclass(frozen=True, slots=True)
class HeldClaim:
    """A day claim or a meter's period held provisional (settlement.py), as stored."""

    id: uuid.UUID
    enterprise_id: uuid.UUID
    received_at: datetime
    event: BehaviourEvent


class SettlementRepository(Protocol):
    def hold(
        self,
        enterprise_id: uuid.UUID,
        held: Sequence[Held],
        received_at: datetime,
        new_id: Callable[[], uuid.UUID],
    ) -> None: ...
    def held_outcomes(
        self, enterprise_id: uuid.UUID, event_ids: Sequence[str]
    ) -> dict[str, StoredOutcome]: ...
    def due(
        self, now: datetime, enterprise_id: uuid.UUID | None, limit: int
    ) -> list[HeldClaim]: ...
    def due_of_meters(self, now: datetime, meters: Sequence[str]) -> list[HeldClaim]: ...
    def mark_settled(
        self, enterprise_id: uuid.UUID, ids: Sequence[uuid.UUID], now: datetime
    ) -> None: ...


class Snapshot(NamedTuple):
    """A reduction as the rollups count it: its holder, cell, day and live grams."""

    id: uuid.UUID
    holder: str
    cell: Cell
    day: date
    grams: int


class AggregateQuery(NamedTuple):
    period: str
    bounds: tuple[str, str] | None  # region codes inside the scope; None = the nation
    mapped: Mapping[str, str]  # changed region codes: old → current
    filters: Mapping[str, str]  # breakdown name (BREAKDOWNS) → value
    by: str | None
    child_digits: int  # a by-region breakdown: the leading digits naming a child


class AggregateRepository(Protocol):
    def record(self, changes: Iterable[Change]) -> None: ...
    def snapshots(self, reduction_ids: Sequence[uuid.UUID]) -> list[Snapshot]: ...
    def counts(self, q: AggregateQuery) -> tuple[Counts, list[tuple[str, Counts]]]: ...
    def consistency(self) -> Iterator[Violation]: ...


class OfficialRepository(Protocol):
    def add(self, official: Official, token_hash: bytes) -> None: ...
    def find_by_token(self, token_hash: bytes) -> Official | None: ...
    def list(self, kind: str | None = None) -> list[Official]: ...
    def keys(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, bytes | None]: ...


class BatchCandidate(NamedTuple):
    id: uuid.UUID
    holder: str
    grams: int
    region: str
    behaviour: str
    day: date
    methodology_id: uuid.UUID | None = None  # the version it is quantified with now


@dataclass(frozen=True)
class IssuanceBatch:
    id: uuid.UUID
    methodology_id: uuid.UUID | None  # None: a batch of one scene enterprise
    region: str | None
    month: str
    state: BatchState
    report: dict[str, Any]
    created_by: str
    created_at: datetime
    sample_seed: int | None = None
    sample: list[dict[str, Any]] | None = None
    decided_by: uuid.UUID | None = None
    decided_at: datetime | None = None
    comment: str | None = None
    enterprise_id: uuid.UUID | None = None


class MrvRepository(Protocol):
    def candidates(
        self, methodology_id: uuid.UUID, bounds: tuple[str, str] | None, first: date, last: date
    ) -> list[BatchCandidate]: ...
    def enterprise_candidates(
        self, enterprise_id: uuid.UUID, first: date, last: date
    ) -> list[BatchCandidate]: ...
    def versions_of(self, reduction_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]: ...
    def add_statement(self, statement: Statement) -> None: ...
    def statements(self, batch_id: uuid.UUID) -> list[Statement]: ...
    def statement_seen(self, text: str) -> bool: ...
    def batch_ids(self) -> list[uuid.UUID]: ...
    def add(self, batch: IssuanceBatch, members: list[BatchCandidate]) -> None: ...
    def get(self, batch_id: uuid.UUID) -> IssuanceBatch: ...
    def members(self, batch_id: uuid.UUID) -> list[uuid.UUID]: ...
    def record_sample(
        self, batch_id: uuid.UUID, seed: int, sample: list[dict[str, Any]], by: uuid.UUID
    ) -> None: ...
    def decide(
        self,
        batch_id: uuid.UUID,
        state: BatchState,
        by: uuid.UUID,
        at: datetime,
        comment: str,
        entry_id: uuid.UUID | None,
    ) -> None: ...
    def verification(self, reduction_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]: ...


class AuditRepository(Protocol):
    def append(self, record: AuditRecord) -> SealedRecord: ...
    def find(
        self, actor: str | None, kind: str | None, since: datetime | None, limit: int
    ) -> list[SealedRecord]: ...
    def chain(self) -> Iterator[SealedRecord]: ...


class UnitOfWork(Protocol):
    """One transaction and the repositories bound to it (read-only members: covariant)."""

    @property
    def enterprises(self) -> EnterpriseRepository: ...
    @property
    def persons(self) -> PersonRepository: ...
    @property
    def bindings(self) -> BindingRepository: ...
    @property
    def locks(self) -> LockRepository: ...
    @property
    def catalogue(self) -> CatalogueRepository: ...
    @property
    def intake(self) -> IntakeRepository: ...
    @property
    def ledger(self) -> LedgerRepository: ...
    @property
    def verify(self) -> VerifyRepository: ...
    @property
    def logs(self) -> LogRepository: ...
    @property
    def queries(self) -> ReadQueries: ...
    @property
    def access(self) -> AccessRepository: ...
    @property
    def corrections(self) -> CorrectionRepository: ...
    @property
    def evidence(self) -> EvidenceRepository: ...
    @property
    def exclusions(self) -> ExclusionRepository: ...
    @property
    def settlement(self) -> SettlementRepository: ...
    @property
    def sign_in(self) -> SignInRepository: ...
    @property
    def pages(self) -> PageQueries: ...
    @property
    def aggregates(self) -> AggregateRepository: ...
    @property
    def officials(self) -> OfficialRepository: ...
    @property
    def mrv(self) -> MrvRepository: ...
    @property
    def audit(self) -> AuditRepository: ...
    @property
    def market(self) -> MarketRepository: ...
    @property
    def certificates(self) -> CertificateRepository: ...
    @property
    def retirement(self) -> RetirementRepository: ...

    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, write: bool = True) -> UnitOfWork: ...
