"""Publishing methodology versions and behaviour groups into the stored catalogue.

A published version is immutable: publishing the same code@version again with the same
content hash is a no-op; with different content it is refused (a fix is a new version).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tanpuhui.domain.errors import ImmutableVersionError, MethodologyFileError, NotFoundError
from tanpuhui.domain.methodology import Catalogue, Group, Methodology, catalogue_problems
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
    ctx: Context, groups: Sequence[Group], versions: Sequence[VersionFile]
) -> PublishReport:
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
        merged = Catalogue(
            [v.methodology for v in stored.values()]
            + [vf.methodology for vf in versions if vf.methodology.key in added],
            groups,
        )
        problems = catalogue_problems(merged)
        if problems:
            raise MethodologyFileError("the catalogue would be inconsistent", problems)
        uow.catalogue.set_groups(groups, now)
        uow.catalogue.bump_revision()
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
