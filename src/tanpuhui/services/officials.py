"""Officials' accounts: add a government (scoped to a region), verifier or operator account
with a bearer token shown once, and authenticate a request's token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tanpuhui.domain.errors import AuthenticationError, InvalidInputError, NotFoundError
from tanpuhui.domain.officials import Official, OfficialKind
from tanpuhui.services.audit import audited
from tanpuhui.services.context import Context


@dataclass(frozen=True)
class NewOfficial:
    official: Official
    token: str  # shown once: only its hash is stored


def add_official(
    ctx: Context, kind: OfficialKind, name: str, region: str | None = None,
    public_key: bytes | None = None,
) -> NewOfficial:  # fmt: skip
    """The account, with a bearer token shown once and, given, the Ed25519 public key its MRV
    statements verify with (the CLI makes the pair and shows the private key once)."""
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInputError("a name is 1-200 characters", code="invalid_name")
    if kind is OfficialKind.GOVERNMENT:
        if region is None or region not in ctx.regions:
            raise NotFoundError(
                f"no region {region} in the code list ({ctx.regions.version})",
                code="unknown_region",
            )
    elif region is not None:
        raise InvalidInputError(f"a {kind.value} account has no region", code="invalid_request")
    if public_key is not None and len(public_key) != 32:
        raise InvalidInputError("an Ed25519 public key has 32 bytes", code="invalid_key")
    official = Official(
        ctx.ids.new(), kind, name, region, ctx.wall_clock.now(), public_key=public_key
    )
    token = ctx.secrets.new_token()
    with ctx.uow() as uow:
        uow.officials.add(official, ctx.secrets.digest(token))
        audited(
            uow,
            ctx,
            "operator",
            "official.add",
            f"{kind.value}:{official.id}",
            after={
                "name": name,
                "region": region,
                "public_key": public_key.hex() if public_key else None,
            },
        )
        uow.commit()
    return NewOfficial(official, token)


def record_export(ctx: Context, official: Official, what: str, params: dict[str, Any]) -> None:
    """An export leaves the platform: who took what, recorded in the audit trail."""
    with ctx.uow() as uow:
        audited(uow, ctx, f"{official.kind.value}:{official.id}", "export", what, after=params)
        uow.commit()


def authenticate_official(ctx: Context, token: str | None, kind: OfficialKind) -> Official:
    """The official whose token this is, of `kind`; 401 for anyone else."""
    if not token:
        raise AuthenticationError("send Authorization: Bearer <token>", code="invalid_token")
    with ctx.uow(write=False) as uow:
        official = uow.officials.find_by_token(ctx.secrets.digest(token))
    if official is None or official.kind is not kind:
        raise AuthenticationError("unknown or revoked token", code="invalid_token")
    return official
