"""Repositories for parties, bindings, locks and the methodology catalogue."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from tanpuhui.adapters.db import schema as t
from tanpuhui.adapters.db.bulk import any_of, chunks, in_shards, insert_rows
from tanpuhui.adapters.methodology_files import methodology_from_content
from tanpuhui.domain.methodology import Catalogue, DayMerge, Group, Methodology
from tanpuhui.domain.parties import Binding, Enterprise, Person, Role
from tanpuhui.domain.shards import shard_of_person, shard_of_subject
from tanpuhui.services.ports import PublishedVersion, StoredCatalogue


class SqlEnterprises:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, enterprise: Enterprise) -> None:
        self.conn.execute(
            t.enterprises.insert().values(
                id=enterprise.id,
                name=enterprise.name,
                is_scene=Role.SCENE in enterprise.roles,
                is_platform=Role.PLATFORM in enterprise.roles,
                created_at=enterprise.created_at,
            )
        )

    def find(self, enterprise_id: uuid.UUID) -> Enterprise | None:
        row = self.conn.execute(
            sa.select(t.enterprises).where(t.enterprises.c.id == enterprise_id)
        ).first()
        return _enterprise(row) if row else None

    def find_by_name(self, name: str) -> Enterprise | None:
        row = self.conn.execute(
            sa.select(t.enterprises).where(t.enterprises.c.name == name)
        ).first()
        return _enterprise(row) if row else None

    def list(self) -> list[Enterprise]:
        rows = self.conn.execute(sa.select(t.enterprises).order_by(t.enterprises.c.name))
        return [_enterprise(r) for r in rows]


def _enterprise(row: sa.Row[Any]) -> Enterprise:
    roles = {Role.SCENE} if row.is_scene else set()
    if row.is_platform:
        roles.add(Role.PLATFORM)
    return Enterprise(row.id, row.name, frozenset(roles), row.created_at)


class SqlPersons:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, person: Person) -> None:
        self.add_many([person])

    def add_many(self, persons: Sequence[Person]) -> None:
        insert_rows(
            self.conn,
            t.persons,
            ("shard", "id", "created_at"),
            [(shard_of_person(p.id), p.id, p.created_at) for p in persons],
        )

    def find(self, person_id: uuid.UUID) -> Person | None:
        p = t.persons.c
        row = self.conn.execute(
            sa.select(t.persons).where(p.shard == shard_of_person(person_id), p.id == person_id)
        ).first()
        return Person(row.id, row.created_at) if row else None

    def missing(self, person_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        """Which of `person_ids` are no person (what a foreign key to `persons` checked before
        rows about a person moved to other shards than the person's)."""
        wanted = set(person_ids)
        p = t.persons.c
        found: set[uuid.UUID] = set()
        for part in chunks(sorted(wanted), 2000):
            found.update(
                self.conn.execute(
                    sa.select(p.id).where(
                        any_of(self.conn, p.shard, sorted({shard_of_person(i) for i in part})),
                        any_of(self.conn, p.id, part),
                    )
                ).scalars()
            )
        return wanted - found


class SqlBindings:
    """Bindings in their subject's shard; each also listed in its person's shard
    (`person_bindings`), written in the same transaction."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def active_for(self, enterprise_id: uuid.UUID, subjects: Sequence[str]) -> dict[str, uuid.UUID]:
        b = t.bindings.c
        found: dict[str, uuid.UUID] = {}
        for part in chunks(list(subjects), 5000):  # two parameters a subject on SQLite
            shards = [shard_of_subject(enterprise_id, s) for s in part]
            rows = self.conn.execute(
                sa.select(b.subject, b.person_id).where(
                    in_shards(self.conn, b.shard, shards),
                    b.enterprise_id == enterprise_id,
                    b.ended_at.is_(None),
                    any_of(self.conn, b.subject, part),
                )
            )
            found.update((r.subject, r.person_id) for r in rows)
        return found

    def find_active(self, enterprise_id: uuid.UUID, subject: str) -> Binding | None:
        b = t.bindings.c
        row = self.conn.execute(
            sa.select(t.bindings).where(
                b.shard == shard_of_subject(enterprise_id, subject),
                b.enterprise_id == enterprise_id,
                b.subject == subject,
                b.ended_at.is_(None),
            )
        ).first()
        return _binding(row) if row else None

    def add(self, binding: Binding) -> None:
        self.add_many([binding])

    def add_many(self, bindings: Sequence[Binding]) -> None:
        if not bindings:
            return
        shards = [shard_of_subject(b.enterprise_id, b.subject) for b in bindings]
        insert_rows(
            self.conn,
            t.bindings,
            ("shard", "id", "enterprise_id", "subject", "person_id", "bound_at", "ended_at"),
            [
                (k, b.id, b.enterprise_id, b.subject, b.person_id, b.bound_at, b.ended_at)
                for k, b in zip(shards, bindings, strict=True)
            ],
        )
        insert_rows(
            self.conn,
            t.person_bindings,
            ("shard", "person_id", "binding_id", "binding_shard", "bound_at"),
            [
                (shard_of_person(b.person_id), b.person_id, b.id, k, b.bound_at)
                for k, b in zip(shards, bindings, strict=True)
            ],
        )

    def end(self, binding: Binding, ended_at: datetime) -> None:
        b = t.bindings.c
        self.conn.execute(
            t.bindings.update()
            .where(b.shard == shard_of_subject(binding.enterprise_id, binding.subject))
            .where(b.id == binding.id)
            .values(ended_at=ended_at)
        )

    def subjects_of(self, person_id: uuid.UUID) -> list[Binding]:
        """A person's bindings, oldest first: their keys from the person's shard, then each
        from its subject's shard by key."""
        pb = t.person_bindings.c
        keys = self.conn.execute(
            sa.select(pb.binding_shard, pb.binding_id).where(
                pb.shard == shard_of_person(person_id), pb.person_id == person_id
            )
        ).all()
        if not keys:
            return []
        b = t.bindings.c
        found: list[Binding] = []
        for part in chunks(keys, 2000):
            rows = self.conn.execute(
                sa.select(t.bindings).where(
                    any_of(self.conn, b.shard, sorted({k.binding_shard for k in part})),
                    any_of(self.conn, b.id, [k.binding_id for k in part]),
                )
            )
            found += [_binding(r) for r in rows]
        return sorted(found, key=lambda x: (x.bound_at, str(x.id)))


def _binding(row: sa.Row[Any]) -> Binding:
    return Binding(
        row.id, row.enterprise_id, row.subject, row.person_id, row.bound_at, row.ended_at
    )


def lock_key(name: str) -> int:
    """A signed 64-bit advisory-lock key for a name (collisions only cost some waiting)."""
    return int.from_bytes(
        hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True
    )


class SqlLocks:
    """Transaction-scoped exclusive locks by name: PostgreSQL advisory locks, taken in sorted
    key order (deadlock-free between callers that all do so). SQLite has one writer at a time
    already (`BEGIN IMMEDIATE`), so there is nothing to take."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def acquire(self, keys: Sequence[str]) -> None:
        if self.conn.dialect.name != "postgresql" or not keys:
            return
        ordered = sorted({lock_key(k) for k in keys})
        self.conn.exec_driver_sql(
            "SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%(keys)s::int8[]) AS k",
            {"keys": ordered},
        )


class SqlCatalogue:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def revision(self) -> int:
        return int(
            self.conn.execute(
                sa.select(t.catalogue_revisions.c.revision).where(t.catalogue_revisions.c.id == 1)
            ).scalar_one()
        )

    def bump_revision(self) -> None:
        c = t.catalogue_revisions.c
        self.conn.execute(
            t.catalogue_revisions.update().where(c.id == 1).values(revision=c.revision + 1)
        )

    def versions(self) -> list[PublishedVersion]:
        m = t.methodology_versions.c
        rows = self.conn.execute(sa.select(t.methodology_versions).order_by(m.code, m.version))
        versions = []
        for r in rows:
            methodology = methodology_from_content(r.content)
            if methodology.effective_to != r.effective_to or (
                methodology.effective_from != r.effective_from
            ):
                methodology = _with_dates(methodology, r.effective_from, r.effective_to)
            versions.append(
                PublishedVersion(r.id, methodology, r.content, r.source_name, r.published_at)
            )
        return versions

    def load(self) -> StoredCatalogue:
        revision = self.revision()
        versions = self.versions()
        g = t.behaviour_groups.c
        groups = [
            Group(
                r.code,
                r.title,
                r.exclusive,
                r.clock_skew_s,
                r.daily_cap_grams,
                day_merge=DayMerge(r.day_merge) if r.day_merge else None,
                day_claims=json.loads(r.day_claims) if r.day_claims else {},
            )
            for r in self.conn.execute(sa.select(t.behaviour_groups).order_by(g.code))
        ]
        return StoredCatalogue(
            revision=revision,
            catalogue=Catalogue([v.methodology for v in versions], groups),
            ids={v.methodology.key: v.id for v in versions},
        )

    def add_version(self, version: PublishedVersion) -> None:
        m = version.methodology
        self.conn.execute(
            t.methodology_versions.insert().values(
                id=version.id,
                code=m.code,
                version=m.version,
                content_hash=m.content_hash,
                content=version.content,
                source_name=version.source_name,
                effective_from=m.effective_from,
                effective_to=m.effective_to,
                published_at=version.published_at,
            )
        )

    def set_effective(
        self, version_id: uuid.UUID, effective_from: date, effective_to: date | None
    ) -> None:
        m = t.methodology_versions
        self.conn.execute(
            m.update()
            .where(m.c.id == version_id)
            .values(effective_from=effective_from, effective_to=effective_to)
        )

    def set_groups(self, groups: Sequence[Group], updated_at: datetime) -> None:
        existing = {r.code for r in self.conn.execute(sa.select(t.behaviour_groups.c.code))}
        for g in groups:
            values = {
                "title": g.title,
                "exclusive": g.exclusive,
                "clock_skew_s": g.clock_skew_s,
                "day_merge": g.day_merge.value if g.day_merge else None,
                "day_claims": json.dumps(dict(g.day_claims), sort_keys=True)
                if g.day_claims
                else None,
                "daily_cap_grams": g.daily_cap_grams,
                "updated_at": updated_at,
            }
            if g.code in existing:
                self.conn.execute(
                    t.behaviour_groups.update()
                    .where(t.behaviour_groups.c.code == g.code)
                    .values(**values)
                )
            else:
                self.conn.execute(t.behaviour_groups.insert().values(code=g.code, **values))


def _with_dates(m: Methodology, effective_from: date, effective_to: date | None) -> Methodology:
    """A version's effective period as published (publish/retire may set it), not as filed."""
    return replace(m, effective_from=effective_from, effective_to=effective_to)
