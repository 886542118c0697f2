"""The ledger invariants of DESIGN.md §5 as functions that return violations as data.

`ledger verify` streams the stored ledger through these; tests call them directly. Nothing here
raises on a violation: every one found is returned, so an operator sees the whole picture.

    1 asset_unbalanced, entry_unbalanced, balance_mismatch   balances sum to zero per asset
    2 holder_negative                                        holder accounts never negative
    3 credit_without_entry, reduction_lines_mismatch         one credit per event
      misplaced_row, binding_mismatch, key_mismatch          … and each row where its key
                                                             finds it (verify_repository.py)
    4 claims_overlap                                         no overlapping claims in a group
                                                             (of one meter, where they name one)
    5 cap_exceeded                                           no cap exceeded
    6 trace_mismatch, untraceable_credit                     every gram traces to its method
      quality_mismatch                                       … with the quality it states
    7 region_totals_mismatch                                 persons = regions = nation
    8 retired_moved, retired_balance_mismatch,               retired/exported never move;
      serial_overlap, block_lineage_mismatch,                serial ranges never overlap
      retirement_blocks_mismatch                             (adapters/db/retirement_repository.py)
    9 (domain/log_checks.py)                                 every log and checkpoint verifies
   10 lineage_mismatch, lot_negative,                        lineage sums to balances
      lineage_rollup_mismatch                                (adapters/db/market_repository.py)
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from tanpuhui.domain.caps import days_covered, spread
from tanpuhui.domain.claims import Claim
from tanpuhui.domain.dedup import same_act
from tanpuhui.domain.ledger import Posting, account_kind, is_holder
from tanpuhui.domain.methodology import FactorUse, Group, Methodology, factor_use
from tanpuhui.domain.models import quality_of, recompute
from tanpuhui.domain.quantity import format_decimal, to_grams


@dataclass(frozen=True, slots=True)
class Violation:
    invariant: int
    code: str
    subject: str  # what is wrong: an entry id, an account, an event …
    message: str


def check_entry_balanced(entry_id: uuid.UUID, postings: Iterable[Posting]) -> Iterator[Violation]:
    totals: dict[str, int] = defaultdict(int)
    for p in postings:
        totals[p.asset] += p.amount
        if p.amount == 0:
            yield Violation(1, "entry_unbalanced", str(entry_id), "zero-amount posting")
        if account_kind(p.account) in ("retired", "exported") and p.amount < 0:
            yield Violation(8, "retired_moved", str(entry_id), f"{p.account} was debited")
    for asset, total in sorted(totals.items()):
        if total != 0:
            yield Violation(
                1, "entry_unbalanced", str(entry_id), f"asset {asset} is off by {total}"
            )


def check_balances(
    stored: Mapping[tuple[str, str], int], computed: Mapping[tuple[str, str], int]
) -> Iterator[Violation]:
    """Stored balances against the sum of all lines; per-asset totals; holders non-negative."""
    for key in sorted(set(stored) | set(computed)):
        s, c = stored.get(key, 0), computed.get(key, 0)
        if s != c:
            yield Violation(
                1, "balance_mismatch", f"{key[0]} {key[1]}", f"stored {s}, lines sum to {c}"
            )
    per_asset: dict[str, int] = defaultdict(int)
    for (account, asset), amount in computed.items():
        per_asset[asset] += amount
        if is_holder(account) and amount < 0:
            yield Violation(2, "holder_negative", f"{account} {asset}", f"balance {amount}")
    for asset, total in sorted(per_asset.items()):
        if total != 0:
            yield Violation(1, "asset_unbalanced", asset, f"accounts sum to {total}, not 0")


def check_claims(
    claims_by_holder: Mapping[str, list[Claim]],
    groups: Mapping[str, Group],
    behaviour_caps: Mapping[str, int],
) -> Iterator[Violation]:
    """No overlaps within exclusive groups (4) and no daily cap exceeded (5), per holder."""
    for holder, claims in sorted(claims_by_holder.items()):
        by_group: dict[str, list[Claim]] = defaultdict(list)
        group_day: dict[tuple[str, date], int] = defaultdict(int)
        behaviour_day: dict[tuple[str, date], int] = defaultdict(int)
        for c in claims:
            by_group[c.group].append(c)
            for day, grams in spread(c.grams, c.day, days_covered(c.started_at, c.ended_at)):
                group_day[(c.group, day)] += grams
                behaviour_day[(c.behaviour, day)] += grams
        for code, members in by_group.items():
            group = groups.get(code)
            if group is None or not group.exclusive:
                continue
            skew = timedelta(seconds=group.clock_skew_s)
            for a, b in _overlaps(members, skew):
                yield Violation(
                    4,
                    "claims_overlap",
                    holder,
                    f"reductions {a.id} and {b.id} overlap in group {code}",
                )
        for (code, day), grams in sorted(group_day.items()):
            cap = groups[code].daily_cap_grams if code in groups else None
            if cap is not None and grams > cap:
                yield Violation(
                    5, "cap_exceeded", holder, f"{grams} g in group {code} on {day} > cap {cap}"
                )
        for (behaviour, day), grams in sorted(behaviour_day.items()):
            cap = behaviour_caps.get(behaviour)
            if cap is not None and grams > cap:
                yield Violation(
                    5, "cap_exceeded", holder, f"{grams} g of {behaviour} on {day} > cap {cap}"
                )


def _overlaps(members: list[Claim], skew: timedelta) -> Iterator[tuple[Claim, Claim]]:
    """Pairs of claims of one holder and exclusive group that are the same act, swept in
    start order per meter (claims.py: two meters' periods are two acts; a claim without a
    meter is compared with every meter's), each pair once."""
    meters = sorted({c.meter for c in members if c.meter is not None})
    lanes = [[c for c in members if c.meter in (m, None)] for m in meters] or [members]
    seen: set[tuple[uuid.UUID, uuid.UUID]] = set()
    for lane in lanes:
        lane.sort(key=lambda c: (c.started_at, c.id))
        latest_end: Claim | None = None
        for c in lane:
            pair = None if latest_end is None else (latest_end.id, c.id)
            if (
                latest_end is not None
                and pair not in seen
                and same_act(
                    latest_end.started_at, latest_end.ended_at, c.started_at, c.ended_at, skew
                )
            ):
                seen.add((latest_end.id, c.id))
                yield latest_end, c
            if latest_end is None or c.ended_at > latest_end.ended_at:
                latest_end = c


def check_trace(
    reduction_id: uuid.UUID,
    methodology: Methodology | None,
    trace: Mapping[str, object] | None,
    issued_grams: int,
) -> Iterator[Violation]:
    """Recompute a credited reduction from its trace and its methodology version (6)."""
    subject = str(reduction_id)
    if methodology is None or not trace:
        yield Violation(6, "untraceable_credit", subject, "no methodology version or trace")
        return
    if trace.get("content_hash") != methodology.content_hash:
        yield Violation(6, "trace_mismatch", subject, "methodology content hash differs")
        return
    factors_by_id = {f.id: f for f in methodology.factors}
    uses: dict[str, FactorUse] = {}
    traced = trace.get("factors")
    if not isinstance(traced, Mapping):
        yield Violation(6, "untraceable_credit", subject, "trace names no factors")
        return
    for role, used in traced.items():
        factor = factors_by_id.get(str(used.get("id"))) if isinstance(used, Mapping) else None
        if factor is None or format_decimal(factor.value) != used.get("value"):
            yield Violation(
                6, "trace_mismatch", subject, f"factor for {role} not in {methodology.key}"
            )
            return
        uses[role] = factor_use(role, factor)
    inputs = trace.get("inputs")
    if not isinstance(inputs, Mapping) or not inputs:
        yield Violation(6, "untraceable_credit", subject, "trace inputs missing")
        return
    quality = quality_of(methodology, uses.values()).value
    if "quality" in trace and trace["quality"] != quality:  # traces before 0004 have none
        yield Violation(6, "trace_mismatch", subject, f"trace says quality {trace['quality']}")
        return
    try:
        values = {str(k): Decimal(str(v)) for k, v in inputs.items()}
        exact = recompute(methodology, uses, values)
    except (KeyError, ArithmeticError, ValueError, AssertionError) as exc:
        yield Violation(6, "trace_mismatch", subject, f"trace cannot be recomputed: {exc!r}")
        return
    grams = to_grams(exact)
    if format_decimal(exact) != trace.get("exact_grams") or grams != trace.get("grams"):
        yield Violation(6, "trace_mismatch", subject, f"recomputes to {format_decimal(exact)} g")
    elif issued_grams > grams:
        yield Violation(
            6, "trace_mismatch", subject, f"{issued_grams} g credited but the trace gives {grams}"
        )


def check_quality(
    reduction_id: uuid.UUID, stored: str | None, trace: Mapping[str, object] | None
) -> Iterator[Violation]:
    """A reduction's stored quality tier is the one its current trace states (6)."""
    if trace is not None and "quality" in trace and trace["quality"] != stored:
        yield Violation(
            6,
            "quality_mismatch",
            str(reduction_id),
            f"stored quality {stored} but its trace says {trace['quality']}",
        )


def check_region_totals(
    reductions_total: int, region_total: int, national_total: int
) -> Iterator[Violation]:
    if not reductions_total == region_total == national_total:
        yield Violation(
            7,
            "region_totals_mismatch",
            "regions",
            f"reductions {reductions_total} g, regional aggregates {region_total} g, "
            f"issued nationally {national_total} g",
        )
