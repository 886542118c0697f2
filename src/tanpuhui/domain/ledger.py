"""The double-entry ledger: accounts, assets, postings and entries.

Invariants kept here (DESIGN.md §5): an `Entry` cannot be built unless its postings sum to zero
per asset and every amount is non-zero; amounts are integers (grams CO2e or points). Holder
accounts (persons, pending subjects, enterprises) may never go negative — the storage enforces
that on balances; issuance accounts go negative by design.

Accounts are strings with a kind prefix:
    person:{person_id}  pending:{enterprise_id}:{subject}  enterprise:{enterprise_id}
    retired:{enterprise_id}  exported:{registry}  issuance:{methodology_code}
    exporting:{enterprise_id} (an enterprise's grams locked by a pending export: a holder
    account, so it never goes negative and keeps lineage; domain/retirement.py)
Assets: `co2e:{group}:{province}:{YYYY-MM}` (grams, by provenance class) and
`points:{programme}`.

What the per-shard Merkle logs commit to (an entry's digest, one leaf per holder line) is in
`domain/checkpoint.py`; the trees themselves in `domain/merkle.py`.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

from tanpuhui.domain.errors import UnbalancedEntryError

HOLDER_KINDS = frozenset({"person", "pending", "enterprise", "exporting"})
#: Entry kinds that move grams between holders and keep the lineage rollup (holding_deltas).
LINEAGE_KINDS = frozenset({"sale", "retirement", "export_lock", "export", "export_return"})
ISSUANCE_KINDS = frozenset({"issuance"})


def person_account(person_id: uuid.UUID) -> str:
    return f"person:{person_id}"


def pending_account(enterprise_id: uuid.UUID, subject: str) -> str:
    return f"pending:{enterprise_id}:{subject}"


def enterprise_account(enterprise_id: uuid.UUID) -> str:
    return f"enterprise:{enterprise_id}"


def issuance_account(methodology_code: str) -> str:
    return f"issuance:{methodology_code}"


def account_kind(account: str) -> str:
    return account.partition(":")[0]


def is_holder(account: str) -> bool:
    return account_kind(account) in HOLDER_KINDS


def co2e_asset(group: str, province: str, vintage: date) -> str:
    return f"co2e:{group}:{province}:{vintage:%Y-%m}"


def points_asset(programme: str) -> str:
    return f"points:{programme}"


class Posting(NamedTuple):
    account: str
    asset: str
    amount: int
    reduction_id: uuid.UUID | None = None

    def canonical(self) -> str:
        rid = "" if self.reduction_id is None else str(self.reduction_id)
        return f"{self.account}|{self.asset}|{self.amount}|{rid}"


@dataclass(frozen=True, slots=True)
class Entry:
    id: uuid.UUID
    kind: str  # issuance | binding | correction | ...
    created_at: datetime
    postings: tuple[Posting, ...]
    memo: str = ""

    def __post_init__(self) -> None:
        if not self.postings:
            raise UnbalancedEntryError("an entry needs postings")
        totals: dict[str, int] = defaultdict(int)
        for p in self.postings:
            if p.amount == 0 or not isinstance(p.amount, int):
                raise UnbalancedEntryError(f"posting amounts must be non-zero integers: {p}")
            totals[p.asset] += p.amount
        unbalanced = {asset: t for asset, t in totals.items() if t != 0}
        if unbalanced:
            raise UnbalancedEntryError(
                f"entry {self.id} does not balance: {unbalanced}",
                details={"imbalance": unbalanced},
            )


def issuance_entry(
    entry_id: uuid.UUID,
    created_at: datetime,
    credits: Iterable[tuple[Posting, str]],
    memo: str = "",
) -> Entry:
    """An issuance entry: each credit line plus, per (methodology, asset), the issuance posting
    that balances it. `credits` pairs each holder posting with its methodology code."""
    lines: list[Posting] = []
    offsets: dict[tuple[str, str], int] = defaultdict(int)
    for posting, methodology_code in credits:
        lines.append(posting)
        offsets[(issuance_account(methodology_code), posting.asset)] -= posting.amount
    counter = [Posting(acc, asset, amount) for (acc, asset), amount in sorted(offsets.items())]
    return Entry(entry_id, "issuance", created_at, (*lines, *counter), memo)


def balance_deltas(entry: Entry) -> dict[tuple[str, str], int]:
    """How an entry changes each (account, asset) balance."""
    deltas: dict[tuple[str, str], int] = defaultdict(int)
    for p in entry.postings:
        deltas[(p.account, p.asset)] += p.amount
    return {k: v for k, v in deltas.items() if v != 0}
