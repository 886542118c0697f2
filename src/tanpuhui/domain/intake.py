"""The intake pipeline for one batch of one enterprise, as two pure phases.

`prepare_batch` validates, resolves the methodology, checks plausibility and quantifies every
event — it needs no stored state. From its result the service knows which state to load (one
query each): stored outcomes of these event ids, bindings of these subjects, the active claims
of these holders around these days, the evidence fingerprints. `decide_batch` then settles each
event in batch order, deterministically:

    replay (same enterprise + event_id)  → the stored outcome again, nothing new
      … with a different payload         → `conflict` (a stored *rejection* may be corrected)
    refused (invalid …, an issuer it may not cite, claimed elsewhere) → `rejected`
    a day claim in its window            → `provisional`, settled later (settlement.py)
    evidence fingerprint already claimed → `duplicate` of the claim
    the same act in an exclusive group   → `duplicate` of the earlier claim (dedup.py); for a
                                           meter's period, whoever has it (households.py)
    a day-level quantity (steps)         → merged with the day's count (merge.py): only what
                                           it adds is credited, nothing → `duplicate`
    daily caps (group, methodology)      → credited in part (`capped`) or not at all
    otherwise                            → `credited` to the person, or `pending_binding`

Invariants kept: one outcome per event; no event credited twice; no two credited claims of a
holder are one act in an exclusive group; a merged day credits at most its largest count; no
cap exceeded; the issuance entry
balances (the ledger module refuses otherwise).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from enum import StrEnum
from typing import NamedTuple

from tanpuhui.domain.caps import days_covered
from tanpuhui.domain.claims import Claim, ClaimBook, Claimed, ClaimScope, claim_scopes
from tanpuhui.domain.events import (
    BehaviourEvent,
    Reason,
    Rejection,
    event_id_of,
    parse_event,
    raw_payload_hash,
)
from tanpuhui.domain.evidence import (
    CONTESTED,
    NO_RIGHTS,
    IssuerRights,
    evidence_fingerprint,
    resend_fingerprint,
)
from tanpuhui.domain.exclusions import Exclusion, claimed_elsewhere, keys_of
from tanpuhui.domain.households import MeterScope, meter_key, meter_of, meter_scope
from tanpuhui.domain.ledger import (
    Entry,
    Posting,
    balance_deltas,
    co2e_asset,
    issuance_entry,
    pending_account,
    person_account,
)
from tanpuhui.domain.merge import merge_into_day
from tanpuhui.domain.methodology import Catalogue, Group
from tanpuhui.domain.models import Quantification, quantify
from tanpuhui.domain.plausibility import check_plausibility
from tanpuhui.domain.quantity import format_decimal
from tanpuhui.domain.regions import RegionCatalogue, province_of
from tanpuhui.domain.settlement import closes_at, excluding_claim

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
    PROVISIONAL = "provisional"  # a day claim held until its window closes (settlement.py)


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
    held: list[Candidate] = field(default_factory=list)  # day claims held provisional

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
    return Candidate(
        index, event, quantified, group, day, asset, _fingerprint(enterprise_id, event, group),
        None if meter is None else meter_key(enterprise_id, meter, NO_RIGHTS),
    )  # fmt: skip


def holder_of(enterprise_id: uuid.UUID, subject: str, bindings: Mapping[str, uuid.UUID]) -> str:
    person = bindings.get(subject)
    return person_account(person) if person else pending_account(enterprise_id, subject)


def decide_batch(
    batch: PreparedBatch,
    state: IntakeState,
    new_id: Callable[[], uuid.UUID],
    now: datetime,
    *,
    settling: bool = False,
) -> BatchDecision:
    """Phase 2: settle every event against the loaded state, in batch order. `settling`: the
    batch is held day claims whose window closed (settlement.py): none is held again."""
    decider = _Decider(batch.enterprise_id, state, new_id, now, settling)
    for item in batch.items:
        decider.settle(item)
    return decider.decision(now)


class _Decider:
    """The running state of one batch's decision; each step below is one rule of the module
    docstring, applied in that order."""

    __slots__ = (
        "claims",
        "credits",
        "enterprise_id",
        "entry_id",
        "held",
        "holders",
        "new_id",
        "now",
        "outcomes",
        "records",
        "region_deltas",
        "replaced",
        "seen",
        "settling",
        "state",
    )

    def __init__(
        self,
        enterprise_id: uuid.UUID,
        state: IntakeState,
        new_id: Callable[[], uuid.UUID],
        now: datetime,
        settling: bool,
    ) -> None:
        self.now, self.settling = now, settling
        self.held: list[Candidate] = []
        self.enterprise_id = enterprise_id
        self.state = state
        self.new_id = new_id
        self.claims = ClaimBook(state.claims, state.evidence, state.evidence_holders)
        self.entry_id = new_id()
        self.outcomes: list[Outcome] = []
        self.records: list[EventRecord] = []
        self.replaced: list[str] = []
        self.seen: dict[str, StoredOutcome] = {}
        self.credits: list[tuple[Posting, str]] = []
        self.region_deltas: dict[tuple[str, str, date], int] = defaultdict(int)
        self.holders: dict[str, str] = {}

    def settle(self, item: Prepared) -> None:
        if isinstance(item, Candidate):
            event_id: str | None = item.event.event_id
            payload_hash = item.event.payload_hash
        else:
            event_id, payload_hash = item.event_id, item.payload_hash
        if event_id is not None and self.replay_or_conflict(item.position, event_id, payload_hash):
            return
        if isinstance(item, Refused):
            self.refuse(item)
        else:
            self.claim(item)

    def replay_or_conflict(self, position: int, event_id: str, payload_hash: bytes) -> bool:
        """Replay (same id, same payload) → the stored outcome again; another payload →
        `conflict`, unless it corrects a stored rejection. True when the item is answered."""
        prior = self.seen.get(event_id) or self.state.existing.get(event_id)
        if prior is None:
            return False
        if prior.payload_hash == payload_hash:
            self.outcomes.append(_again(prior.outcome, position))
            # answered in this batch now: a later item cannot "correct" the id
            self.seen[event_id] = prior
            return True
        if prior.outcome.kind != OutcomeKind.REJECTED or event_id in self.seen:
            self.outcomes.append(_conflict(position, event_id))
            return True
        self.replaced.append(event_id)  # a corrected resubmission of a rejected event
        return False

    def refuse(self, item: Refused) -> None:
        outcome = Outcome(
            item.position,
            item.event_id,
            OutcomeKind.REJECTED,
            reason=item.rejection.reason.value,
            message=item.rejection.message,
        )
        self.outcomes.append(outcome)
        if item.event_id is not None:
            self.records.append(
                EventRecord(
                    self.new_id(), item.event_id, item.payload_hash, outcome, None, item.raw
                )
            )
            self.seen[item.event_id] = StoredOutcome(item.payload_hash, outcome)

    def holder(self, subject: str) -> str:
        holder = self.holders.get(subject)
        if holder is None:
            holder = self.holders[subject] = holder_of(
                self.enterprise_id, subject, self.state.bindings
            )
        return holder

    def hold(self, c: Candidate) -> bool:
        """A day claim whose window is open is held `provisional` (settlement.py)."""
        ev = c.event
        if self.settling or ev.behaviour not in c.group.day_claims:
            return False
        until = closes_at(ev.ended_at)
        if self.now >= until:
            return False
        outcome = Outcome(
            c.position,
            ev.event_id,
            OutcomeKind.PROVISIONAL,
            methodology=c.quantification.methodology.key,
            message=f"a day claim: held until {until.isoformat()}, then settled",
        )
        self.outcomes.append(outcome)
        self.held.append(c)
        self.seen[ev.event_id] = StoredOutcome(ev.payload_hash, outcome)
        return True

    def claim(self, c: Candidate) -> None:
        """hold → dedup → merge → cap → credit, for an event that passed every stateless
        check."""
        if self.hold(c):
            return
        record_id = self.new_id()
        holder = self.holder(c.event.subject)
        original, flag = self.duplicate_of(holder, c)
        if original is None and self.too_frequent(holder, c, record_id):
            return
        grams, tops_up = c.quantification.grams, None
        if original is None and c.group.day_merge is not None:
            grams, tops_up = merge_into_day(self.claims, holder, c.group, c.day, grams)
            if grams == 0:
                original = tops_up
        if original is not None:
            outcome = Outcome(
                c.position,
                c.event.event_id,
                OutcomeKind.DUPLICATE,
                duplicate_of=original,
                methodology=c.quantification.methodology.key,
                reason=flag,
                message=None if flag is None else _CONTESTED_MESSAGE,
            )
        else:
            outcome = self.credit(holder, c, record_id, self.capped(holder, c, grams))
            if tops_up is not None:
                outcome = outcome._replace(
                    duplicate_of=tops_up,
                    reason="merged",
                    message=f"the day already counts {c.quantification.grams - grams} g of"
                    " these: credits only the difference",
                )
        self.outcomes.append(outcome)
        self.records.append(
            EventRecord(
                record_id,
                c.event.event_id,
                c.event.payload_hash,
                outcome,
                c.event,
                None,
                c,
                holder if outcome.grams > 0 else None,
            )
        )
        self.seen[c.event.event_id] = StoredOutcome(c.event.payload_hash, outcome)

    def duplicate_of(self, holder: str, c: Candidate) -> tuple[uuid.UUID | None, str | None]:
        """The claim this one repeats — the same evidence, else the same act in its group —
        and `evidence_contested` when the evidence backs another person's claim."""
        if c.fingerprint is not None:
            original = self.claims.evidence.get(c.fingerprint)
            if original is not None:
                other = self.claims.evidence_holder.get(c.fingerprint)
                contested = (
                    other is not None
                    and other != holder
                    and other.startswith("person:")
                    and holder.startswith("person:")
                )
                return original, CONTESTED if contested else None
        ev = c.event
        excluded = c.group.day_claims.get(ev.behaviour)
        if excluded is not None:  # a day claim yields to the day's measured claims
            yielded = excluding_claim(
                self.claims.by_holder.get(holder, ()), excluded, ev.behaviour, c.day
            )
            if yielded is not None:
                return yielded.id, None
        if c.meter is not None:  # the meter's period, whoever in the household has it
            same = self.claims.overlapping(c.meter, c.group, ev.started_at, ev.ended_at)
            if same is not None:
                return same.id, None
        same = self.claims.overlapping(holder, c.group, ev.started_at, ev.ended_at)
        return (same.id if same else None), None

    def too_frequent(self, holder: str, c: Candidate, record_id: uuid.UUID) -> bool:
        """A claim beyond its methodology's frequency limit is rejected `too_frequent`."""
        limit = c.quantification.methodology.plausibility.frequency
        if limit is None:
            return False
        window = timedelta(seconds=limit.window_s)
        if len(self.claims.frequent(holder, c.event.behaviour, c.event.started_at, window)) < (
            limit.max_count
        ):
            return False
        outcome = Outcome(
            c.position,
            c.event.event_id,
            OutcomeKind.REJECTED,
            reason=Reason.TOO_FREQUENT.value,
            message=f"at most {limit.max_count} {c.event.behaviour} per person within"
            f" {limit.window_s} s ({c.quantification.methodology.key})",
            methodology=c.quantification.methodology.key,
        )
        self.outcomes.append(outcome)
        ev = c.event
        self.records.append(
            EventRecord(record_id, ev.event_id, ev.payload_hash, outcome, ev, None, c)
        )
        self.seen[ev.event_id] = StoredOutcome(ev.payload_hash, outcome)
        return True

    def capped(self, holder: str, c: Candidate, grams: int) -> int:
        """The grams the caps leave of `grams` of this claim."""
        m, ev = c.quantification.methodology, c.event
        days = days_covered(ev.started_at, ev.ended_at)
        room = self.claims.room(holder, c.group, ev.behaviour, c.day, m.daily_cap_grams, days)
        return grams if room is None else min(grams, room)

    def credit(self, holder: str, c: Candidate, record_id: uuid.UUID, credited: int) -> Outcome:
        """The outcome of `credited` grams of the claim, added to the book and the entry."""
        cut = c.quantification.grams - credited
        if credited == 0:
            kind = OutcomeKind.CAPPED if cut else OutcomeKind.CREDITED
        elif holder.startswith("pending:"):
            kind = OutcomeKind.PENDING_BINDING
        else:
            kind = OutcomeKind.CAPPED if cut else OutcomeKind.CREDITED
        m = c.quantification.methodology
        outcome = Outcome(
            c.position,
            c.event.event_id,
            kind,
            grams=credited,
            grams_cut=cut,
            methodology=m.key,
            entry_id=self.entry_id if credited > 0 else None,
            reduction_id=record_id if credited > 0 else None,
        )
        if credited > 0:
            ev = c.event
            claim = Claim(
                record_id, c.group.code, ev.behaviour, ev.started_at, ev.ended_at, c.day, credited
            )
            self.claims.add(holder, claim, c.fingerprint)
            if c.meter is not None:
                self.claims.add(c.meter, claim)
            self.credits.append((Posting(holder, c.asset, credited, record_id), m.code))
            self.region_deltas[(ev.region, c.group.code, c.day)] += credited
        return outcome

    def decision(self, now: datetime) -> BatchDecision:
        entry = issuance_entry(self.entry_id, now, self.credits) if self.credits else None
        return BatchDecision(
            outcomes=self.outcomes,
            records=self.records,
            replaced=self.replaced,
            entry=entry,
            region_deltas=dict(self.region_deltas),
            held=self.held,
        )


_CONTESTED_MESSAGE = (
    "the same evidence backs another person's claim: not credited, flagged for review"
)


def _again(stored: Outcome, position: int) -> Outcome:
    return stored._replace(position=position, replayed=True)


def _conflict(position: int, event_id: str) -> Outcome:
    return Outcome(
        position,
        event_id,
        OutcomeKind.CONFLICT,
        reason="conflict",
        message=f"event {event_id} was already received with a different payload",
    )
