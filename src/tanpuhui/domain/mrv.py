"""MRV verification of issuance batches: the monitoring report, the verifier's sample, and the
correcting entry of a rejected batch.

An issuance batch is one methodology version's active reductions in a region and month,
not yet in any other batch. The verifier draws a sample with a recorded seed — the same seed
over the same batch always draws the same reductions (`draw_sample`) — and recomputes each
sampled reduction from its event with the engine. Approving marks the batch's reductions
verified. Rejecting reverses them with one correcting entry (`plan_rejection`): each
reduction's grams go back to issuance as far as its holder still has them; what the holder no
longer has (sold, redeemed) is taken from the buffer account `buffer:{code}`, never from
whoever bought it — the rule re-quantification follows (requantify.py).

Invariants: a batch is decided once (open → approved | rejected); a rejected batch's
reductions back no grams afterwards; the entry balances per asset.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from enum import StrEnum

from tanpuhui.domain.errors import ConflictError
from tanpuhui.domain.ledger import Entry, Posting, issuance_account
from tanpuhui.domain.models import Quantification
from tanpuhui.domain.requantify import Correction, RequantifyPlan, StoredReduction, buffer_account

#: Sampled reductions by default: enough to find a systematic error, small enough to review.
DEFAULT_SAMPLE = 20


class BatchState(StrEnum):
    OPEN = "open"
    APPROVED = "approved"
    REJECTED = "rejected"


def draw_sample(ids: Sequence[uuid.UUID], seed: int, size: int) -> list[uuid.UUID]:
    """`size` of the batch's reductions, drawn reproducibly from `seed` (ids in sorted order,
    so the draw depends on the batch's content only)."""
    ordered = sorted(ids)
    return sorted(random.Random(seed).sample(ordered, min(size, len(ordered))))


def check_open(state: BatchState, batch_id: uuid.UUID) -> None:
    if state is not BatchState.OPEN:
        raise ConflictError(f"batch {batch_id} is {state.value} already", code="batch_decided")


def plan_rejection(
    reductions: Sequence[tuple[StoredReduction, Quantification]],
    balances: Mapping[tuple[str, str], int],
    code: str,
    entry_id: uuid.UUID,
    now: datetime,
    memo: str,
) -> RequantifyPlan:
    """Corrections of every reduction to zero grams, and the reversing entry."""
    available = dict(balances)
    postings: list[Posting] = []
    corrections: list[Correction] = []
    regions: dict[tuple[str, str, date], int] = defaultdict(int)
    for r, q in reductions:
        regions[(r.event.region, r.group, r.day)] -= r.live_grams
        have = max(0, available.get((r.holder, r.asset), 0))
        taken = min(r.live_grams, have)
        shortfall = r.live_grams - taken
        available[(r.holder, r.asset)] = have - taken
        if r.live_grams:
            postings.append(Posting(issuance_account(code), r.asset, r.live_grams, r.id))
        if taken:
            postings.append(Posting(r.holder, r.asset, -taken, r.id))
        if shortfall:
            postings.append(Posting(buffer_account(code), r.asset, -shortfall, r.id))
        corrections.append(
            Correction(
                r.id, r.holder, r.asset, r.event.region, r.group, r.day, r.live_grams, 0,
                taken, shortfall, q, False,
            )
        )  # fmt: skip
    entry = Entry(entry_id, "correction", now, tuple(postings), memo=memo) if postings else None
    return RequantifyPlan(corrections, [], entry, {k: v for k, v in regions.items() if v})
