"""Publishing methodology versions and behaviour groups into the stored catalogue.

A published version is immutable: publishing the same code@version again with the same
content hash is a no-op; with different content it is refused (a fix is a new version).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from tanpuhui.domain.errors import (
    ImmutableVersionError,
    InvalidInputError,
    MethodologyFileError,
    NotFoundError,
)
from tanpuhui.domain.methodology import (
    Catalogue,
    Group,
    Methodology,
    catalogue_problems,
    superseded,
)
from tanpuhui.services.audit import audited
from tanpuhui.services.context import Context
from tanpuhui.services.ports import PublishedVersion, StoredCatalogue


@dataclass(frozen=True, slots=True)
class VersionFile:
    source_name: str
    methodology: Methodology
    content: str


@dataclass(frozen=True, slots=True)
class PublishReport:
    added: list[str]
    unchanged: list[str]


def publish_catalogue(
    ctx: Context, groups: Sequence[Group], versions: Sequence[VersionFile],
    actor: str = "operator",
) -> PublishReport:  # fmt: skip
    """Publish groups and versions (e.g. the bundled catalogue) in one transaction."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        stored = {v.methodology.key: v for v in uow.catalogue.versions()}
        added, unchanged = [], []
        for vf in versions:
            m = vf.methodology
            existing = stored.get(m.key)
            if existing is not None:
                if existing.methodology.content_hash != m.content_hash:
                    raise ImmutableVersionError(
                        f"{m.key} is already published with different content "
                        f"({existing.methodology.content_hash}); publish a new version instead",
                        details={"methodology": m.key},
                    )
                unchanged.append(m.key)
                continue
            uow.catalogue.add_version(
                PublishedVersion(ctx.ids.new(), m, vf.content, vf.source_name, now)
            )
            added.append(m.key)
        everything = superseded(
            [v.methodology for v in stored.values()]
            + [vf.methodology for vf in versions if vf.methodology.key in added]
        )
        problems = catalogue_problems(Catalogue(everything, groups))
        if problems:
            raise MethodologyFileError("the catalogue would be inconsistent", problems)
        filed = {k: v.methodology.effective_to for k, v in stored.items()}
        filed |= {vf.methodology.key: vf.methodology.effective_to for vf in versions}
        ids = {v.methodology.key: v.id for v in uow.catalogue.versions()}
        for m in everything:  # a later version closes the earlier open one of its code
            if filed[m.key] != m.effective_to:
                uow.catalogue.set_effective(ids[m.key], m.effective_from, m.effective_to)
        uow.catalogue.set_groups(groups, now)
        uow.catalogue.bump_revision()
        if added:
            after = {"versions": added, "groups": sorted(g.code for g in groups)}
            audited(uow, ctx, actor, "methodology.publish", "catalogue", after=after)
        uow.commit()
    return PublishReport(added, unchanged)


def current_catalogue(ctx: Context) -> StoredCatalogue:
    with ctx.uow(write=False) as uow:
        return ctx.catalogues.current(uow)


def get_methodology(ctx: Context, ref: str) -> list[Methodology]:
    """`code` (every version) or `code@version`."""
    catalogue = current_catalogue(ctx).catalogue
    code, _, version = ref.partition("@")
    found = [m for m in catalogue.versions(code) if not version or str(m.version) == version]
    if not found:
        raise NotFoundError(f"no published methodology {ref}")
    return found


@dataclass(frozen=True, slots=True)
class PublishResult:
    key: str
    created: bool  # False: the same content was published already
    effective_from: date
    closed: list[tuple[str, date]]  # earlier versions of the code now ending on that date


def _versions_with(
    published: Sequence[PublishedVersion], m: Methodology, effective: date | None
) -> tuple[Methodology, list[tuple[PublishedVersion, date]]]:
    """`m` as it would be published, and the open earlier versions of its code it closes."""
    if effective is not None:
        m = replace(m, effective_from=effective)
    closing = [
        (v, m.effective_from)
        for v in published
        if v.methodology.code == m.code
        and v.methodology.version < m.version
        and v.methodology.effective_from < m.effective_from
        and (v.methodology.effective_to is None or v.methodology.effective_to > m.effective_from)
    ]
    return m, closing


def catalogue_conflicts(ctx: Context, m: Methodology, effective: date | None = None) -> list[str]:
    """What publishing `m` would break, against the published catalogue (none: it may go)."""
    with ctx.uow(write=False) as uow:
        published = uow.catalogue.versions()
        groups = list(ctx.catalogues.current(uow).catalogue.groups.values())
    return _conflicts(published, groups, m, effective)


def _conflicts(
    published: Sequence[PublishedVersion], groups: Sequence[Group], m: Methodology,
    effective: date | None,
) -> list[str]:  # fmt: skip
    existing = next((v for v in published if v.methodology.key == m.key), None)
    if existing is not None:
        if existing.methodology.content_hash != m.content_hash:
            return [f"{m.key} is published already with other content: publish a new version"]
        return []
    m, closing = _versions_with(published, m, effective)
    closed = {v.methodology.key: date_ for v, date_ in closing}
    others = [
        replace(v.methodology, effective_to=closed[v.methodology.key])
        if v.methodology.key in closed
        else v.methodology
        for v in published
    ]
    problems = [p for p in catalogue_problems(Catalogue([*others, m], groups)) if m.key in p]
    later = [v.methodology.key for v in published
             if v.methodology.code == m.code and v.methodology.version > m.version]  # fmt: skip
    if later:
        problems.append(f"{m.key} is older than the published {', '.join(later)}")
    return problems


def publish_version(
    ctx: Context, vf: VersionFile, effective: date | None = None, actor: str = "operator"
) -> PublishResult:
    """Publish one version, effective from `effective` (else the file's date). An earlier
    version of the same code still open then is closed on that date. Immutable: publishing
    the same content again changes nothing; other content under the same version is refused."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        published = uow.catalogue.versions()
        groups = list(ctx.catalogues.current(uow).catalogue.groups.values())
        existing = next((v for v in published if v.methodology.key == vf.methodology.key), None)
        if (
            existing is not None
            and existing.methodology.content_hash == vf.methodology.content_hash
        ):
            return PublishResult(existing.methodology.key, False,
                                 existing.methodology.effective_from, [])  # fmt: skip
        problems = _conflicts(published, groups, vf.methodology, effective)
        if problems:
            if existing is not None:
                raise ImmutableVersionError(problems[0], details={"problems": problems})
            raise MethodologyFileError(f"{vf.methodology.key} cannot be published", problems)
        m, closing = _versions_with(published, vf.methodology, effective)
        for v, ends in closing:
            uow.catalogue.set_effective(v.id, v.methodology.effective_from, ends)
        version_id = ctx.ids.new()
        uow.catalogue.add_version(PublishedVersion(version_id, vf.methodology, vf.content,
                                                   vf.source_name, now))  # fmt: skip
        if m.effective_from != vf.methodology.effective_from:
            uow.catalogue.set_effective(version_id, m.effective_from, m.effective_to)
        uow.catalogue.bump_revision()
        audited(
            uow, ctx, actor, "methodology.publish", f"methodology:{m.key}",
            after={"content_hash": m.content_hash, "effective_from": m.effective_from.isoformat(),
                   "closes": [[v.methodology.key, ends.isoformat()] for v, ends in closing]},
        )  # fmt: skip
        uow.commit()
    return PublishResult(m.key, True, m.effective_from,
                         [(v.methodology.key, ends) for v, ends in closing])  # fmt: skip


def retire_version(ctx: Context, key: str, from_date: date, actor: str = "operator") -> Methodology:
    """The version stops applying to behaviours from `from_date` (what it credited stays)."""
    with ctx.uow() as uow:
        version = next((v for v in uow.catalogue.versions() if v.methodology.key == key), None)
        if version is None:
            raise NotFoundError(f"no published methodology {key}")
        m = version.methodology
        if from_date <= m.effective_from:
            raise InvalidInputError(
                f"{key} takes effect on {m.effective_from}; retire it from a later date"
            )
        uow.catalogue.set_effective(version.id, m.effective_from, from_date)
        uow.catalogue.bump_revision()
        audited(
            uow, ctx, actor, "methodology.retire", f"methodology:{key}",
            before={"effective_to": m.effective_to.isoformat() if m.effective_to else None},
            after={"effective_to": from_date.isoformat()},
        )  # fmt: skip
        uow.commit()
    return replace(m, effective_to=from_date)
