"""Repositories for parties, bindings, locks and the methodology catalogue."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from tanpuhui.adapters.db import schema as t
from tanpuhui.adapters.db.bulk import any_of, insert_rows
from tanpuhui.adapters.methodology_files import methodology_from_content
from tanpuhui.domain.methodology import Catalogue, DayMerge, Group, Methodology
from tanpuhui.domain.parties import Binding, Enterprise, Person, Role
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
        self.conn.execute(t.persons.insert().values(id=person.id, created_at=person.created_at))

    def add_many(self, persons: Sequence[Person]) -> None:
        insert_rows(
            self.conn, t.persons, ("id", "created_at"), [(p.id, p.created_at) for p in persons]
        )

    def find(self, person_id: uuid.UUID) -> Person | None:
        row = self.conn.execute(sa.select(t.persons).where(t.persons.c.id == person_id)).first()
        return Person(row.id, row.created_at) if row else None


class SqlBindings:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def active_for(self, enterprise_id: uuid.UUID, subjects: Sequence[str]) -> dict[str, uuid.UUID]:
        if not subjects:
            return {}
        b = t.bindings.c
        rows = self.conn.execute(
            sa.select(b.subject, b.person_id).where(
                b.enterprise_id == enterprise_id,
                b.ended_at.is_(None),
                any_of(self.conn, b.subject, subjects),
            )
        )
        return {r.subject: r.person_id for r in rows}

    def find_active(self, enterprise_id: uuid.UUID, subject: str) -> Binding | None:
        b = t.bindings.c
        row = self.conn.execute(
            sa.select(t.bindings).where(
                b.enterprise_id == enterprise_id, b.subject == subject, b.ended_at.is_(None)
            )
        ).first()
        return _binding(row) if row else None

    def add(self, binding: Binding) -> None:
        self.conn.execute(
            t.bindings.insert().values(
                id=binding.id,
                enterprise_id=binding.enterprise_id,
                subject=binding.subject,
                person_id=binding.person_id,
                bound_at=binding.bound_at,
                ended_at=binding.ended_at,
            )
        )

    def add_many(self, bindings: Sequence[Binding]) -> None:
        insert_rows(
            self.conn,
            t.bindings,
            ("id", "enterprise_id", "subject", "person_id", "bound_at", "ended_at"),
            [
                (b.id, b.enterprise_id, b.subject, b.person_id, b.bound_at, b.ended_at)
                for b in bindings
            ],
        )

    def end(self, binding_id: uuid.UUID, ended_at: datetime) -> None:
        self.conn.execute(
            t.bindings.update().where(t.bindings.c.id == binding_id).values(ended_at=ended_at)
        )

    def subjects_of(self, person_id: uuid.UUID) -> list[Binding]:
        rows = self.conn.execute(
            sa.select(t.bindings)
            .where(t.bindings.c.person_id == person_id)
            .order_by(t.bindings.c.bound_at)
        )
        return [_binding(r) for r in rows]


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
