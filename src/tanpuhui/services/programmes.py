"""Points programmes: publish a version file, list and show them (domain/programmes.py).

A published version is immutable: publishing the same code@version again with the same
content is a no-op, with other content an `immutable_version` conflict.
"""

from __future__ import annotations

from tanpuhui.domain.errors import ImmutableVersionError, NotFoundError
from tanpuhui.domain.programmes import Programme
from tanpuhui.services.audit import audited
from tanpuhui.services.context import Context, retry_races


def publish_programme(
    ctx: Context, programme: Programme, content: str, actor: str = "operator"
) -> tuple[Programme, bool]:
    """Publish a programme version (parsed from its file, with its canonical JSON); returns the
    version and whether it was new."""

    def publish() -> tuple[Programme, bool]:
        with ctx.uow() as uow:
            for stored in uow.market.programme_versions(programme.code):
                if stored.version == programme.version:
                    if stored.content_hash != programme.content_hash:
                        raise ImmutableVersionError(
                            f"{programme.ref} is published with other content; "
                            "publish a new version"
                        )
                    return stored, False
            uow.market.add_programme(programme, content, ctx.clock.now())
            audited(
                uow,
                ctx,
                actor,
                "programme.publish",
                f"programme:{programme.ref}",
                after={"content_hash": programme.content_hash},
            )
            uow.commit()
        return programme, True

    return retry_races(publish)


def list_programmes(ctx: Context) -> list[Programme]:
    with ctx.uow(write=False) as uow:
        return uow.market.programme_versions()


def get_programme(ctx: Context, code: str) -> Programme:
    """The newest version of a programme."""
    with ctx.uow(write=False) as uow:
        versions = uow.market.programme_versions(code)
    if not versions:
        raise NotFoundError(f"no points programme {code!r}")
    return versions[-1]
