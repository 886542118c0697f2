"""Storage of the exclusion register (domain/exclusions.py)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from tanpuhui.adapters.db import schema as t
from tanpuhui.adapters.db.bulk import any_of
from tanpuhui.domain.exclusions import Exclusion

x = t.exclusions.c


class SqlExclusions:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, exclusion: Exclusion) -> None:
        values = exclusion._asdict()
        values["behaviours"] = json.dumps(list(exclusion.behaviours))
        self.conn.execute(t.exclusions.insert().values(**values))

    def register_for(self, keys: Sequence[str]) -> dict[str, list[Exclusion]]:
        """The declarations of `keys` (one query)."""
        if not keys:
            return {}
        found: dict[str, list[Exclusion]] = defaultdict(list)
        for r in self.conn.execute(COLUMNS.where(any_of(self.conn, x.key, list(keys)))):
            found[r.key].append(_exclusion(r))
        return dict(found)

    def all(self) -> list[Exclusion]:
        """The whole register, by key, then by declaration time."""
        query = COLUMNS.order_by(x.key, x.declared_at, x.id)
        return [_exclusion(r) for r in self.conn.execute(query)]


COLUMNS = sa.select(
    x.id, x.key, x.mechanism, x.behaviours, x.valid_from, x.valid_to, x.declared_by,
    x.declared_at, x.note,
)  # fmt: skip


def _exclusion(r: Any) -> Exclusion:
    return Exclusion(
        r.id, r.key, r.mechanism, tuple(json.loads(r.behaviours)), r.valid_from, r.valid_to,
        r.declared_by, r.declared_at, r.note,
    )  # fmt: skip
