"""The intake pipeline for one batch of one enterprise: its records, and the first pure phase.

`prepare_batch` validates, resolves the methodology, checks plausibility and quantifies every
event — it needs no stored state. From its result the service knows which state to load (one
query each): stored outcomes of these event ids, bindings of these subjects, the active claims
of these holders around these days (and of the meters they name), the evidence fingerprints,
the issuer registry and the exclusion register; `attach_evidence` and `apply_exclusions` fold
the two registers in, and `decide_batch` (decision.py) settles each event.

The records here (outcomes, candidates, the decision) are NamedTuples and frozen dataclasses;
`MAX_BATCH_EVENTS` is the one home of the batch-size limit.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from enum import StrEnum
from typing import NamedTuple

from tanpuhui.domain.claims import Claim, Claimed, ClaimScope, claim_scopes
from tanpuhui.domain.events import (
    BehaviourEvent,
    Reason,
    Rejection,
    event_id_of,
    parse_event,
    raw_payload_hash,
)
from tanpuhui.domain.evidence import (
    NO_RIGHTS,
    IssuerRights,
    evidence_fingerprint,
    resend_fingerprint,
)
from tanpuhui.domain.exclusions import Exclusion, claimed_elsewhere, keys_of
from tanpuhui.domain.households import MeterScope, meter_key, meter_of, meter_scope
from tanpuhui.domain.ledger import (
    Entry,
    balance_deltas,
    co2e_asset,
    pending_account,
    person_account,
)
from tanpuhui.domain.methodology import Catalogue, Group
from tanpuhui.domain.models import Quantification, quantify
from tanpuhui.domain.plausibility import check_plausibility
from tanpuhui.domain.quantity import format_decimal
from tanpuhui.domain.regions import RegionCatalogue, province_of
from tanpuhui.domain.settlement import settle_after

#: The contract's largest batch (docs/events.md): the one home of the batch-size limit; the
#: settings may lower it (`Limits.max_batch`), never raise it.
MAX_BATCH_EVENTS = 10_000


class OutcomeKind(StrEnum):
    CREDITED = "credited"
    CAPPED = "capped"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    PENDING_BINDING = "pending_binding"
    CONFLICT = "conflict"  # answered, never stored: the stored outcome stands
    PROVISIONAL = "provisional"  # a day claim or meter period held until its window closes


# The per-event records below are NamedTuples rather than frozen dataclasses: they are built
# once per event on the hot path, where a tuple is several times cheaper; immutable all the same.


class Outcome(NamedTuple):
    """What happened to one event at `position` in its batch."""

    position: int
    event_id: str | None
    kind: OutcomeKind
    grams: int = 0
    grams_cut: int = 0
    duplicate_of: uuid.UUID | None = None
    reason: str | None = None
    message: str | None = None
    methodology: str | None = None
    entry_id: uuid.UUID | None = None
    reduction_id: uuid.UUID | None = None
    replayed: bool = False


class Candidate(NamedTuple):
    """An event that passed validation and was quantified."""

    position: int
    event: BehaviourEvent
    quantification: Quantification
    group: Group
    day: date
    asset: str
    fingerprint: bytes | None
    meter: str | None = None  # the key of the meter whose period this is (households.py)
    #: how long after it ends a day claim or a meter's period is held (settlement.py)
    settle_after: timedelta | None = None


class Held(NamedTuple):
    """A claim held `provisional` until `closes_at`, as decided (settlement.py)."""

    candidate: Candidate
    closes_at: datetime


class Refused(NamedTuple):
    """An event rejected before any state was needed."""

    position: int
    event_id: str | None
    rejection: Rejection
    payload_hash: bytes
    raw: object


Prepared = Candidate | Refused


class StoredOutcome(NamedTuple):
    """An outcome already recorded for an event id of this enterprise."""

    payload_hash: bytes
    outcome: Outcome


@dataclass(slots=True)
class IntakeState:
    existing: Mapping[str, StoredOutcome] = field(default_factory=dict)
    bindings: Mapping[str, uuid.UUID] = field(default_factory=dict)  # subject → person
    claims: Mapping[str, Sequence[Claim]] = field(default_factory=dict)  # holder → claims
    evidence: Mapping[bytes, uuid.UUID] = field(default_factory=dict)  # fingerprint → claim
    evidence_holders: Mapping[bytes, str] = field(default_factory=dict)  # fingerprint → holder


class EventRecord(NamedTuple):
    """One stored event with its outcome; when it credits grams it is also a reduction."""

    id: uuid.UUID
    event_id: str
    payload_hash: bytes
    outcome: Outcome
    event: BehaviourEvent | None  # None when the event failed validation
    raw: object  # the raw event, kept for rejected ones so the enterprise can see it
    candidate: Candidate | None = None
    holder: str | None = None  # the account credited, when grams > 0


@dataclass(frozen=True, slots=True)
class BatchDecision:
    outcomes: list[Outcome]
    records: list[EventRecord]  # new rows
    replaced: list[str]  # event ids whose stored rejection the new record replaces
    entry: Entry | None
    region_deltas: dict[tuple[str, str, date], int]  # (region, group, day) → grams
    held: list[Held] = field(default_factory=list)  # held provisional (settlement.py)

    @property
    def balance_deltas(self) -> dict[tuple[str, str], int]:
        """What the issuance entry changes, by (account, asset)."""
        return balance_deltas(self.entry) if self.entry else {}


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    enterprise_id: uuid.UUID
    items: list[Prepared]

    def candidates(self) -> list[Candidate]:
        return [i for i in self.items if isinstance(i, Candidate)]

    def event_ids(self) -> list[str]:
        ids = {i.event.event_id if isinstance(i, Candidate) else i.event_id for i in self.items}
        return sorted(x for x in ids if x is not None)

    def subjects(self) -> list[str]:
        return sorted({c.event.subject for c in self.candidates()})

    def issuers(self) -> list[str]:
        """The evidence issuers this batch names (for the registry lookup)."""
        return sorted(
            {
                c.event.evidence.issuer
                for c in self.candidates()
                if c.event.evidence is not None and c.event.evidence.issuer is not None
            }
        )

    def meter_scopes(self) -> list[MeterScope]:
        """The meters this batch's events name, as the keys their claims are kept under."""
        keys = {(c.meter, meter_of(c.event)) for c in self.candidates() if c.meter is not None}
        return sorted(meter_scope(key, meter) for key, meter in keys if meter is not None)

    def exclusion_keys(self) -> list[str]:
        """The exclusion-register keys this batch's events can match."""
        return keys_of(self.enterprise_id, (c.event for c in self.candidates()))

    def has_evidence(self) -> bool:
        return any(isinstance(i, Candidate) and i.event.evidence for i in self.items)

    def fingerprints(self) -> list[bytes]:
        return sorted({c.fingerprint for c in self.candidates() if c.fingerprint is not None})

    def claim_scopes(self, catalogue: Catalogue) -> list[ClaimScope]:
        """The stored claims this batch's decision needs (the rule lives in claims.py), and
        for a day claim those of the group it yields to (settlement.py)."""
        claimed = []
        for c in self.candidates():
            ev = c.event
            claimed.append(Claimed(c.group.code, c.day, ev.started_at, ev.ended_at))
            excluded = c.group.day_claims.get(ev.behaviour)
            if excluded is not None:
                claimed.append(Claimed(excluded, c.day, ev.started_at, ev.ended_at))
        return claim_scopes(claimed, catalogue)


def attach_evidence(batch: PreparedBatch, rights: IssuerRights) -> PreparedBatch:
    """The batch with its evidence fingerprinted under the issuer registry's `rights` (one
    lookup per batch, in the transaction): `prepare_batch` fingerprints as if nothing were
    registered; a registered issuer may match across enterprises, or be refused."""
    if rights.trivial:
        return batch
    items: list[Prepared] = []
    for item in batch.items:
        if isinstance(item, Candidate) and item.event.evidence is not None:
            fp = evidence_fingerprint(batch.enterprise_id, item.event, rights)
            meter = meter_of(item.event)
            if isinstance(fp, Rejection):
                ev = item.event
                item = Refused(item.position, ev.event_id, fp, ev.payload_hash, None)
            elif meter is not None:
                key = meter_key(batch.enterprise_id, meter, rights)
                item = item._replace(fingerprint=fp, meter=key)
            else:
                item = item._replace(fingerprint=fp)
        items.append(item)
    return PreparedBatch(batch.enterprise_id, items)


def apply_exclusions(
    batch: PreparedBatch, register: Mapping[str, list[Exclusion]]
) -> PreparedBatch:
    """The batch with every event the exclusion register covers refused `claimed_elsewhere`
    (exclusions.py; the register is read once per batch, in the transaction)."""
    if not register:
        return batch
    items: list[Prepared] = []
    for item in batch.items:
        if isinstance(item, Candidate):
            ev = item.event
            refusal = claimed_elsewhere(register, batch.enterprise_id, ev, item.day)
            if refusal is not None:
                item = Refused(item.position, ev.event_id, refusal, ev.payload_hash, None)
        items.append(item)
    return PreparedBatch(batch.enterprise_id, items)


def _fingerprint(enterprise_id: uuid.UUID, event: BehaviourEvent, group: Group) -> bytes | None:
    """The evidence fingerprint as if no issuer were registered (attach_evidence refines it),
    else, where neither time nor day merging would catch a re-send, the re-send fingerprint."""
    if event.evidence is not None:
        fp = evidence_fingerprint(enterprise_id, event)
        return fp if isinstance(fp, bytes) else None
    if group.exclusive or group.day_merge is not None:
        return None
    return resend_fingerprint(enterprise_id, event)


def prepare_batch(
    enterprise_id: uuid.UUID,
    raws: Sequence[object],
    catalogue: Catalogue,
    regions: RegionCatalogue,
    now: datetime,
    tz: tzinfo,
) -> PreparedBatch:
    """Phase 1: everything that needs no stored state. A `Rejection` in `raws` stands for an
    item that could not even be decoded (e.g. malformed JSON on a file line)."""
    items: list[Prepared] = []
    assets: dict[tuple[str, str, int, int], str] = {}
    for index, raw in enumerate(raws):
        if isinstance(raw, Rejection):
            items.append(Refused(index, None, raw, b"", None))
            continue
        parsed = raw if isinstance(raw, BehaviourEvent) else parse_event(raw, regions)
        if isinstance(parsed, Rejection):
            items.append(Refused(index, event_id_of(raw), parsed, raw_payload_hash(raw), raw))
            continue
        items.append(_prepare_event(enterprise_id, index, parsed, raw, catalogue, now, tz, assets))
    return PreparedBatch(enterprise_id, items)


def _prepare_event(
    enterprise_id: uuid.UUID,
    index: int,
    event: BehaviourEvent,
    raw: object,
    catalogue: Catalogue,
    now: datetime,
    tz: tzinfo,
    assets: dict[tuple[str, str, int, int], str],
) -> Prepared:
    def refuse(rejection: Rejection) -> Refused:
        return Refused(index, event.event_id, rejection, event.payload_hash, raw)

    if not catalogue.knows_behaviour(event.behaviour):
        return refuse(
            Rejection(
                Reason.UNKNOWN_BEHAVIOUR,
                f"no methodology covers behaviour {event.behaviour!r}",
                "behaviour",
            )
        )
    day = event.started_at.astimezone(tz).date()
    methodology = catalogue.resolve(event.behaviour, day, event.region)
    if methodology is None:
        return refuse(
            Rejection(
                Reason.NO_METHODOLOGY,
                f"no methodology for {event.behaviour} in effect on {day} in region {event.region}",
            )
        )
    implausible = check_plausibility(methodology, event, now)
    if implausible is not None:
        return refuse(implausible)
    quantified = quantify(methodology, event, day, catalogue)
    if isinstance(quantified, Rejection):
        return refuse(quantified)
    if quantified.grams == 0:
        return refuse(
            Rejection(
                Reason.ZERO_REDUCTION,
                f"{methodology.key} quantifies this to {format_decimal(quantified.exact_grams)} g,"
                " less than one whole gram",
            )
        )
    group = catalogue.groups[methodology.group]
    province = event.region[:2]
    asset_key = (group.code, province, day.year, day.month)
    asset = assets.get(asset_key)
    if asset is None:
        asset = assets[asset_key] = co2e_asset(group.code, province_of(event.region), day)
    meter = meter_of(event)
    held = None
    if meter is not None or event.behaviour in group.day_claims:
        held = settle_after(catalogue.claim_window_days, group, event.behaviour, meter is not None)
    return Candidate(
        index, event, quantified, group, day, asset, _fingerprint(enterprise_id, event, group),
        None if meter is None else meter_key(enterprise_id, meter, NO_RIGHTS), held,
    )  # fmt: skip


def holder_of(enterprise_id: uuid.UUID, subject: str, bindings: Mapping[str, uuid.UUID]) -> str:
    person = bindings.get(subject)
    return person_account(person) if person else pending_account(enterprise_id, subject)
