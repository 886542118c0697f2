"""Merging day-level quantities (融合汇总): several sources counting one person's day are one act.

Two step counters (a phone's health app and a watch maker's, a bank app relaying one of them)
count the same steps; their counts are merged, never summed. The rule, for every group marked
`day_merge: largest` (groups.yaml) and the same in intake and binding:

    per holder, group and local day, the largest single claim counts once: a claim credits
    only what it adds above the grams already credited that day (a smaller or equal count
    credits nothing and is a `duplicate` of the day's largest claim; a larger one credits the
    difference, naming the claim it tops up), and the day's caps apply to that difference.

Whatever order the counts arrive in, the day is credited min(largest count, cap): the total
does not depend on arrival order. It is conservative: a source that reports its day in parts
(morning, afternoon) is credited its largest part — report the day's total, or a running total
(each larger running total credits the difference).
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import NamedTuple

from tanpuhui.domain.claims import ClaimBook
from tanpuhui.domain.methodology import Group


class Merged(NamedTuple):
    """What a day-level claim adds to its day: `grams` above the day's credited total, and
    the day's largest claim so far (None on the day's first claim)."""

    grams: int
    tops_up: uuid.UUID | None


def merge_into_day(book: ClaimBook, holder: str, group: Group, day: date, grams: int) -> Merged:
    credited = book.group_day.get((holder, group.code, day), 0)
    largest = book.largest_on(holder, group.code, day)
    return Merged(max(0, grams - credited), largest.id if largest is not None else None)
