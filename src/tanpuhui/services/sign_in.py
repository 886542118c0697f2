"""Signing in to the pages: one-time codes, server-side sessions, sign out (everywhere), and
the users who sign in for an enterprise or the platform.

A person asks for a code (`request_code`); the `CodeSender` delivers it (SMS or an app in
production; the console and the demo page in the demo). Enterprise users, operators and
officials (government and verifier accounts of `officials`) get theirs from the CLI
(`issue_code`). Codes are hashed, live `CODE_TTL`, are spent once, die after
`MAX_CODE_ATTEMPTS` wrong guesses and at most `MAX_CODES_PER_WINDOW` are issued per
principal per window. Unknown accounts and wrong codes are refused alike (`invalid_code`), so
the form tells nobody which accounts exist. Sessions keep only the token's digest.
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from typing import Protocol

from tanpuhui.domain.errors import (
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
    RateLimitedError,
)
from tanpuhui.domain.officials import Official, OfficialKind
from tanpuhui.domain.sign_in import (
    CODE_DIGITS,
    CODE_TTL,
    CODE_WINDOW,
    MAX_CODES_PER_WINDOW,
    OFFICIAL_KINDS,
    SESSION_TTL,
    Principal,
    PrincipalKind,
    Session,
    SignInCode,
    WebUser,
    parse_principal_id,
    session_token,
    split_session_token,
)
from tanpuhui.services.audit import audited
from tanpuhui.services.context import Context
from tanpuhui.services.ports import UnitOfWork

DIGITS = "0123456789"


class CodeSender(Protocol):
    """Delivers a sign-in code to the principal (SMS, app push; the demo prints it)."""

    def send(self, principal: Principal, code: str) -> None: ...


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str  # the cookie's value, shown to nobody else
    session: Session


def add_web_user(
    ctx: Context, kind: PrincipalKind, name: str, enterprise_id: uuid.UUID | None = None
) -> WebUser:
    """An enterprise user (kind USER, of `enterprise_id`) or an operator."""
    if kind in OFFICIAL_KINDS:
        raise InvalidInputError("officials are added with `tanpuhui government|verifier add`")
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInputError("a user needs a name of 1-200 characters")
    if kind is PrincipalKind.PERSON or (kind is PrincipalKind.USER) != (enterprise_id is not None):
        raise InvalidInputError("an enterprise user needs an enterprise; an operator none")
    user = WebUser(ctx.ids.new(), kind, name, enterprise_id, ctx.wall_clock.now())
    with ctx.uow() as uow:
        if enterprise_id is not None:
            enterprise = uow.enterprises.find(enterprise_id)
            if enterprise is None:
                raise NotFoundError(f"no enterprise {enterprise_id}")
        uow.sign_in.add_user(user)
        audited(
            uow, ctx, "operator", "user.add", f"{kind.value}:{user.id}",
            after={"name": name, "enterprise": str(enterprise_id) if enterprise_id else None},
        )  # fmt: skip
        uow.commit()
    return user


def find_principal(uow: UnitOfWork, kind: PrincipalKind, raw_id: str) -> Principal | None:
    account_id = parse_principal_id(raw_id)
    if account_id is None:
        return None
    if kind is PrincipalKind.PERSON:
        return Principal(kind, account_id) if uow.persons.find(account_id) else None
    if kind in OFFICIAL_KINDS:
        return Principal(kind, account_id) if find_official(uow, kind, account_id) else None
    user = uow.sign_in.find_user(account_id)
    return user.principal if user is not None and user.kind is kind else None


def find_official(uow: UnitOfWork, kind: PrincipalKind, official_id: uuid.UUID) -> Official | None:
    """The live (not revoked) official of a government or verifier principal."""
    wanted = OfficialKind(kind.value)
    for official in uow.officials.list(wanted.value):
        if official.id == official_id and official.revoked_at is None:
            return official
    return None


def official_of(ctx: Context, session: Session) -> Official:
    """The official a signed-in government or verifier session is (revoked: signed out)."""
    with ctx.uow(write=False) as uow:
        found = find_official(uow, session.principal.kind, session.principal.id)
    if found is None:
        raise AuthenticationError("this official's account was revoked", code="account_revoked")
    return found


def issue_code(ctx: Context, kind: PrincipalKind, raw_id: str) -> tuple[Principal, str]:
    """A new one-time code for the principal (the CLI shows it; `request_code` sends it)."""
    now = ctx.wall_clock.now()
    code = ctx.secrets.random_code(DIGITS, CODE_DIGITS)
    with ctx.uow() as uow:
        principal = find_principal(uow, kind, raw_id)
        if principal is None:
            raise NotFoundError(f"no {kind.value} {raw_id.strip()!r}")
        uow.locks.acquire([f"sign-in:{principal.key}"])
        if uow.sign_in.codes_since(principal, now - CODE_WINDOW) >= MAX_CODES_PER_WINDOW:
            raise RateLimitedError(
                "too many sign-in codes; wait a few minutes", retry_after_s=CODE_WINDOW.seconds
            )
        uow.sign_in.add_code(
            SignInCode(ctx.ids.new(), principal, ctx.secrets.digest(code), now, now + CODE_TTL)
        )
        uow.commit()
    return principal, code


def request_code(ctx: Context, kind: PrincipalKind, raw_id: str, sender: CodeSender) -> None:
    """Send a code to the principal. Nothing tells an unknown account from a known one."""
    try:
        principal, code = issue_code(ctx, kind, raw_id)
    except NotFoundError:
        return
    sender.send(principal, code)


def sign_in(ctx: Context, kind: PrincipalKind, raw_id: str, code: str) -> SignedIn:
    """Spend a code and open a session; every failure is `invalid_code` (and counts)."""
    refused = AuthenticationError("unknown, used or expired code", code="invalid_code")
    now = ctx.wall_clock.now()
    clean = code.strip().replace(" ", "")
    with ctx.uow() as uow:
        principal = find_principal(uow, kind, raw_id)
        stored = uow.sign_in.latest_code(principal) if principal else None
        if stored is None or not stored.usable(now):
            raise refused
        if not hmac.compare_digest(stored.digest, ctx.secrets.digest(clean)):
            uow.sign_in.count_attempt(stored)
            uow.commit()
            raise refused
        if not uow.sign_in.spend_code(stored, now):
            raise refused
        secret = ctx.secrets.new_token()
        session = Session(
            ctx.secrets.digest(secret), stored.principal.shard, stored.principal, now,
            now + SESSION_TTL,
        )  # fmt: skip
        uow.sign_in.add_session(session)
        uow.commit()
    return SignedIn(session_token(session.shard, secret), session)


def session_of(ctx: Context, token: str | None) -> Session | None:
    """The live session a cookie's token names, or None."""
    parts = split_session_token(token) if token else None
    if parts is None:
        return None
    shard, secret = parts
    with ctx.uow(write=False) as uow:
        session = uow.sign_in.find_session(shard, ctx.secrets.digest(secret))
    return session if session is not None and session.valid(ctx.wall_clock.now()) else None


def sign_out(ctx: Context, session: Session) -> None:
    with ctx.uow() as uow:
        uow.sign_in.revoke_session(session.shard, session.digest, ctx.wall_clock.now())
        uow.commit()


def sign_out_everywhere(ctx: Context, session: Session) -> int:
    """End every session of the session's principal (one shard); how many were live."""
    with ctx.uow() as uow:
        ended = uow.sign_in.revoke_all(session.principal, ctx.wall_clock.now())
        uow.commit()
    return ended


def users_of(ctx: Context, enterprise_id: uuid.UUID) -> list[WebUser]:
    with ctx.uow(write=False) as uow:
        return uow.sign_in.users_of(enterprise_id)
