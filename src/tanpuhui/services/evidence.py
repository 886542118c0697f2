"""The issuer registry: which enterprises may cite an evidence issuer's references (evidence.py).

`authorise_issuer` is the operator's act: register the enterprise that *is* an issuer (its
references without an issuer name are that issuer's), or authorise another enterprise to cite
the issuer's references. Each issuer has at most one enterprise that is it, and each enterprise
is at most one issuer (the database enforces both).
"""

from __future__ import annotations

import uuid

from tanpuhui.domain.errors import ConflictError, InvalidInputError, NotFoundError
from tanpuhui.domain.evidence import ISSUER_NAMESPACES, IssuerGrant, issuer_namespace
from tanpuhui.services.audit import audited
from tanpuhui.services.context import Context, retry_races


def authorise_issuer(
    ctx: Context, issuer: str, enterprise_id: uuid.UUID, *, is_issuer: bool = False,
    actor: str = "operator",
) -> IssuerGrant:  # fmt: skip
    """Entitle an enterprise to cite `issuer` (`<namespace>:<name>`); idempotent."""
    if issuer_namespace(issuer) is None or len(issuer) > 128 or not issuer.isprintable():
        raise InvalidInputError(
            f"an issuer is <namespace>:<name>, with a namespace among "
            f"{', '.join(sorted(ISSUER_NAMESPACES))}; not {issuer[:64]!r}",
            code="invalid_issuer",
        )
    grant = IssuerGrant(issuer, enterprise_id, is_issuer, ctx.clock.now())

    def add() -> IssuerGrant:
        with ctx.uow() as uow:
            if uow.enterprises.find(enterprise_id) is None:
                raise NotFoundError(f"no enterprise {enterprise_id}")
            existing = uow.evidence.grants_of(issuer)
            for g in existing:
                if g.enterprise_id == enterprise_id and g.is_issuer == is_issuer:
                    return g
            if is_issuer and any(g.is_issuer for g in existing):
                raise ConflictError(f"another enterprise is registered as {issuer!r}")
            if is_issuer and (named := uow.evidence.issuer_identity(enterprise_id)) is not None:
                # before: the unique index refused it and the caller got 503 race_lost
                raise ConflictError(
                    f"the enterprise is already registered as the issuer {named!r}; an "
                    f"enterprise is the issuer of one name (partners are granted the others)"
                )
            uow.evidence.grant(grant)
            audited(
                uow,
                ctx,
                actor,
                "issuer.authorise",
                f"issuer:{issuer}",
                after={"enterprise": str(enterprise_id), "is_issuer": is_issuer},
            )
            uow.commit()
        return grant

    return retry_races(add)


def list_grants(ctx: Context) -> list[IssuerGrant]:
    """Every entry of the issuer registry (the operator's view)."""
    with ctx.uow(write=False) as uow:
        return uow.evidence.all_grants()
