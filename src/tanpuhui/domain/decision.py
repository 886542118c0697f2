"""The second pure phase of intake: `decide_batch` settles each event of a prepared batch
against the loaded state, in batch order, deterministically — one named step per rule:

    replay (same enterprise + event_id)  → the stored outcome again, nothing new
      … with a different payload         → `conflict` (a stored *rejection* may be corrected)
    refused (invalid …, an issuer it may not cite, claimed elsewhere) → `rejected`
    a day claim or a meter's period in its window → `provisional`, settled later
                                           (settlement.py, households.py)
    evidence fingerprint already claimed → `duplicate` of the claim (evidence.py)
    the same act in an exclusive group   → `duplicate` of the earlier claim (dedup.py); for a
                                           meter's period, whoever has it (households.py)
    over the methodology's frequency     → `rejected` (`too_frequent`)
    a day-level quantity (steps)         → merged with the day's count (merge.py): only what
                                           it adds is credited, nothing → `duplicate`
    daily caps (group, methodology)      → credited in part (`capped`) or not at all, per day
                                           of the period a claim covers (caps.py)
    otherwise                            → `credited` to the person, or `pending_binding`

Invariants kept: one outcome per event; no event credited twice; no two credited claims of a
holder are one act in an exclusive group; a merged day credits at most its largest count; no
cap exceeded; the issuance entry balances (the ledger module refuses otherwise).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta

from tanpuhui.domain.caps import days_covered
from tanpuhui.domain.claims import Claim, ClaimBook
from tanpuhui.domain.events import Reason
from tanpuhui.domain.evidence import CONTESTED
from tanpuhui.domain.households import meter_of
from tanpuhui.domain.intake import (
    BatchDecision,
    Candidate,
    EventRecord,
    Held,
    IntakeState,
    Outcome,
    OutcomeKind,
    Prepared,
    PreparedBatch,
    Refused,
    StoredOutcome,
    holder_of,
)
from tanpuhui.domain.ledger import Posting, issuance_entry
from tanpuhui.domain.merge import merge_into_day
from tanpuhui.domain.settlement import excluding_claim, held_message


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
        self.held: list[Held] = []
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
        """A day claim or a meter's period whose window is open is held `provisional`
        (settlement.py, households.py)."""
        ev = c.event
        if self.settling or c.settle_after is None:
            return False
        until = ev.ended_at + c.settle_after
        if self.now >= until:
            return False
        outcome = Outcome(
            c.position,
            ev.event_id,
            OutcomeKind.PROVISIONAL,
            methodology=c.quantification.methodology.key,
            message=held_message(until, c.meter is not None),
        )
        self.outcomes.append(outcome)
        self.held.append(Held(c, until))
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
        meter = meter_of(ev) if c.meter is not None else None  # exclusive per meter
        same = self.claims.overlapping(holder, c.group, ev.started_at, ev.ended_at, meter)
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
            meter = meter_of(ev) if c.meter is not None else None
            claim = Claim(
                record_id, c.group.code, ev.behaviour, ev.started_at, ev.ended_at, c.day,
                credited, meter,
            )  # fmt: skip
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
