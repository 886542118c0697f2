"""Display names, leaderboard tallies and issued certificates (services/leaderboards.py,
services/certificates.py).

A board's tallies are read from the event rows' *live* grams (what each reduction backs now:
zero once reversed, the corrected amount after re-quantification), of active reductions held
by persons, by local day — so reversals and corrections move the board, and a sale does not
(the person still earned the grams). Nothing is maintained on the intake path for it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from tanpuhui.adapters.db import schema as t
from tanpuhui.domain.leaderboard import Tally
from tanpuhui.domain.shards import shard_of_person
from tanpuhui.services.certificate_ports import DisplayName, StoredCertificate

_CHUNK = 500
_NEVER = datetime.max.replace(tzinfo=UTC)


class SqlCertificates:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def set_display_name(self, name: DisplayName) -> None:
        d = t.display_names
        shard = shard_of_person(name.person_id)
        values = {"name": name.name, "opted_in": name.opted_in, "updated_at": name.updated_at}
        done = self.conn.execute(
            sa.update(d).where(d.c.shard == shard, d.c.person_id == name.person_id).values(**values)
        )
        if not done.rowcount:  # a concurrent first insert loses the key race: retried
            self.conn.execute(sa.insert(d).values(shard=shard, person_id=name.person_id, **values))

    def find_display_name(self, person_id: uuid.UUID) -> DisplayName | None:
        d = t.display_names
        row = self.conn.execute(
            sa.select(d.c.name, d.c.opted_in, d.c.updated_at).where(
                d.c.shard == shard_of_person(person_id), d.c.person_id == person_id
            )
        ).one_or_none()
        return DisplayName(person_id, row.name, row.opted_in, row.updated_at) if row else None

    def opted_in_names(self, person_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        """The display names of those of `person_ids` who opted in."""
        d, names = t.display_names, {}
        for start in range(0, len(person_ids), _CHUNK):
            chunk = person_ids[start : start + _CHUNK]
            rows = self.conn.execute(
                sa.select(d.c.person_id, d.c.name).where(
                    d.c.opted_in.is_(True),
                    d.c.shard.in_({shard_of_person(p) for p in chunk}),
                    d.c.person_id.in_(chunk),
                )
            )
            names.update({r.person_id: r.name for r in rows})
        return names

    def tallies(
        self,
        behaviours: Sequence[str] | None,
        group: str | None,
        prefixes: Sequence[str],
        first: date,
        last: date,
    ) -> list[Tally]:
        """Per person: live grams of active reductions on local days `first`…`last`, of the
        given behaviours (or group), in regions starting with every one of `prefixes`."""
        e = t.events
        total = sa.func.sum(e.c.live_grams)
        query = (
            sa.select(e.c.holder, total.label("grams"), sa.func.max(e.c.ended_at).label("at"))
            .where(
                e.c.state == "active",
                e.c.holder.like("person:%"),
                e.c.day >= first,
                e.c.day <= last,
                *(e.c.region.like(f"{p}%") for p in prefixes),
            )
            .group_by(e.c.holder)
            .having(total > 0)
        )
        if behaviours is not None:
            query = query.where(e.c.behaviour.in_(behaviours))
        if group is not None:
            query = query.where(e.c.group_code == group)
        return [Tally(r.holder, int(r.grams), r.at or _NEVER) for r in self.conn.execute(query)]

    def find_award(self, shard: int, holder: str, award: str) -> StoredCertificate | None:
        c = t.certificates
        row = self.conn.execute(
            sa.select(c).where(c.c.shard == shard, c.c.holder == holder, c.c.award == award)
        ).one_or_none()
        return _stored(row) if row else None

    def find(self, shard: int, serial: str) -> StoredCertificate | None:
        c = t.certificates
        row = self.conn.execute(
            sa.select(c).where(c.c.shard == shard, c.c.serial == serial)
        ).one_or_none()
        return _stored(row) if row else None

    def add(self, cert: StoredCertificate) -> None:
        self.conn.execute(
            sa.insert(t.certificates).values(
                shard=cert.shard,
                serial=cert.serial,
                kind=cert.kind,
                holder=cert.holder,
                award=cert.award,
                content=cert.content.decode(),
                signature=cert.signature,
                key_name=cert.key_name,
                issued_at=cert.issued_at,
            )
        )


def _stored(row: Any) -> StoredCertificate:
    return StoredCertificate(
        row.shard,
        row.serial,
        row.kind,
        row.holder,
        row.award,
        row.content.encode(),
        row.signature,
        row.key_name,
        row.issued_at,
    )
