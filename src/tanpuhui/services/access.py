"""API access: enterprise credentials, admitting a signed request, persons' tokens and
binding codes.

Admitting a request (`admit_request`) checks, in order: the signature headers are present and
in their one accepted spelling, and the timestamp is within ±5 minutes of real time
(`screen_request`: no body, key or database needed, so the API runs it first); the request is
addressed to this deployment's host (when configured); the Ed25519 signature verifies over the
canonical request (domain.signing; version 1 only during its deprecation period) with the
credential's key — an unknown credential is verified against a key nobody holds, so unknown,
revoked and wrongly signed requests cannot be told apart by anyone without the key; then the
credential is valid (not revoked, not past its rotation grace period); only then — so nobody
without the key can spend them — the nonce is recorded once (a replay within the window is
refused) and a token is taken from the credential's rate bucket.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from tanpuhui.domain.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    RateLimitedError,
)
from tanpuhui.domain.parties import (
    CODE_ALPHABET,
    Credential,
    Enterprise,
    Person,
    format_binding_code,
    normalise_binding_code,
)
from tanpuhui.domain.signing import (
    MAX_SKEW_S,
    SignatureHeaders,
    SignaturePolicy,
    canonical_request,
    canonical_request_v1,
    read_headers,
    timestamp_fresh,
)
from tanpuhui.services.audit import audit_bindings, audited
from tanpuhui.services.context import Context
from tanpuhui.services.parties import BindingResult, bind_in

# --- credentials ----------------------------------------------------------------------------


def register_credential(
    ctx: Context, enterprise_id: uuid.UUID, public_key: bytes, label: str = "",
    actor: str = "operator",
) -> Credential:  # fmt: skip
    """Register an enterprise's Ed25519 public key as a new credential."""
    now = ctx.wall_clock.now()
    credential = Credential(ctx.ids.new(), enterprise_id, public_key, label or "default", now)
    with ctx.uow() as uow:
        if uow.enterprises.find(enterprise_id) is None:
            raise NotFoundError(f"no enterprise {enterprise_id}")
        if uow.access.find_credential_by_key(public_key) is not None:
            raise ConflictError("that public key is registered already")
        uow.access.add_credential(credential)
        audited(
            uow,
            ctx,
            actor,
            "credential.register",
            f"credential:{credential.id}",
            after={"enterprise": str(enterprise_id), "label": credential.label},
        )
        uow.commit()
    return credential


def list_credentials(ctx: Context, enterprise_id: uuid.UUID) -> list[Credential]:
    with ctx.uow(write=False) as uow:
        if uow.enterprises.find(enterprise_id) is None:
            raise NotFoundError(f"no enterprise {enterprise_id}")
        return uow.access.credentials_of(enterprise_id)


def rotate_credential(
    ctx: Context, credential_id: uuid.UUID, new_public_key: bytes, grace: timedelta,
    actor: str = "operator",
) -> tuple[Credential, Credential]:  # fmt: skip
    """Issue a successor credential; the old one stays valid for `grace`, then expires."""
    now = ctx.wall_clock.now()
    with ctx.uow() as uow:
        old = uow.access.find_credential(credential_id)
        if old is None:
            raise NotFoundError(f"no credential {credential_id}")
        if not old.valid(now):
            raise ConflictError(f"credential {credential_id} is {old.status(now)}")
        if uow.access.find_credential_by_key(new_public_key) is not None:
            raise ConflictError("that public key is registered already")
        new = Credential(ctx.ids.new(), old.enterprise_id, new_public_key, old.label, now)
        uow.access.add_credential(new)
        ends = now + grace
        if old.expires_at is None or old.expires_at > ends:
            uow.access.set_credential_end(old.id, expires_at=ends)
        audited(
            uow, ctx, actor, "credential.rotate", f"credential:{old.id}",
            before={"expires_at": old.expires_at.isoformat() if old.expires_at else None},
            after={"expires_at": min(ends, old.expires_at or ends).isoformat(),
                   "successor": str(new.id), "enterprise": str(old.enterprise_id)},
        )  # fmt: skip
        uow.commit()
    return Credential(
        old.id, old.enterprise_id, old.public_key, old.label, old.created_at, ends, old.revoked_at
    ), new


def revoke_credential(
    ctx: Context, credential_id: uuid.UUID, actor: str = "operator"
) -> Credential:
    now = ctx.wall_clock.now()
    with ctx.uow() as uow:
        old = uow.access.find_credential(credential_id)
        if old is None:
            raise NotFoundError(f"no credential {credential_id}")
        if old.revoked_at is None:
            uow.access.set_credential_end(old.id, revoked_at=now)
            audited(
                uow,
                ctx,
                actor,
                "credential.revoke",
                f"credential:{old.id}",
                before={"revoked_at": None},
                after={"revoked_at": now.isoformat()},
            )
        uow.commit()
    return Credential(
        old.id, old.enterprise_id, old.public_key, old.label, old.created_at, old.expires_at,
        old.revoked_at or now,
    )  # fmt: skip


# --- admitting a signed request -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignedRequest:
    method: str
    host: str
    path_and_query: str
    body: bytes
    credential: str | None
    timestamp: str | None
    nonce: str | None
    signature: str | None


#: Unknown credentials are verified against this key, so that they cost, and answer, the same
#: as a bad signature (the public key of the seed 32 × 0x00: one that verifies is refused too).
_NOBODY = bytes.fromhex("3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29")


def screen_request(ctx: Context, request: SignedRequest) -> SignatureHeaders:
    """The checks that need no body, no key and no database: the headers' form and the
    timestamp's freshness. Cheap, so the API runs them before it reads the body."""
    headers = read_headers(request.credential, request.timestamp, request.nonce, request.signature)
    now = ctx.wall_clock.now()
    if not timestamp_fresh(headers.timestamp, now.timestamp()):
        raise AuthenticationError(
            f"the timestamp is more than {MAX_SKEW_S} s from the server's time "
            f"({int(now.timestamp())})",
            code="stale_timestamp",
        )
    return headers


def admit_request(
    ctx: Context, request: SignedRequest, policy: SignaturePolicy | None = None
) -> Enterprise:
    """The enterprise a signed request comes from, or an `AuthenticationError` /
    `RateLimitedError`. Before the signature verifies nothing about the credential is told:
    unknown, revoked and wrongly signed all answer `bad_signature`; `revoked_credential` is
    said only to a request its key signed."""
    policy = policy or SignaturePolicy()
    headers = screen_request(ctx, request)
    if policy.hosts and request.host.lower() not in policy.hosts:
        raise AuthenticationError(
            "the request is not addressed to this deployment's host", code="wrong_host"
        )
    now = ctx.wall_clock.now()
    with ctx.uow(write=False) as uow:
        credential = uow.access.find_credential(headers.credential_id)
        enterprise = uow.enterprises.find(credential.enterprise_id) if credential else None
    known = credential is not None and enterprise is not None
    key = credential.public_key if credential is not None and known else _NOBODY
    verified = _verifies(ctx, key, request, headers, policy.accepts_v1(now))
    if not (verified and known) or credential is None or enterprise is None:
        raise AuthenticationError(
            "the signature does not verify for this request and credential", code="bad_signature"
        )
    if not credential.valid(now):
        raise AuthenticationError(
            f"credential is {credential.status(now)}", code="revoked_credential"
        )
    _spend(ctx, credential, headers.nonce, now)
    return enterprise


def _verifies(
    ctx: Context, key: bytes, r: SignedRequest, h: SignatureHeaders, accept_v1: bool
) -> bool:
    v2 = canonical_request(
        r.method, r.host, r.path_and_query, h.credential_id, h.timestamp, h.nonce, r.body
    )
    if ctx.verifier.verify(key, h.signature, v2):
        return True
    if not accept_v1:
        return False
    v1 = canonical_request_v1(r.method, r.path_and_query, h.timestamp, h.nonce, r.body)
    return ctx.verifier.verify(key, h.signature, v1)


def _spend(ctx: Context, credential: Credential, nonce: str, now: datetime) -> None:
    """Record the nonce once and take a token from the credential's rate bucket."""
    limits = ctx.limits
    with ctx.uow() as uow:
        if not uow.access.remember_nonce(credential.id, nonce, now):
            raise AuthenticationError("this nonce was used already", code="replayed_nonce")
        wait = uow.access.take_token(credential.id, now, limits.rate_per_s, limits.burst)
        if now.second % 30 == 0 and now.microsecond < 50_000:  # now and then, forget old nonces
            uow.access.forget_nonces(now - timedelta(seconds=2 * MAX_SKEW_S))
        uow.commit()
    if wait > 0:
        raise RateLimitedError(
            f"rate limit of {limits.rate_per_s:g} requests/s exceeded", retry_after_s=wait
        )


# --- persons: tokens and binding codes ------------------------------------------------------


def issue_person_token(ctx: Context, person_id: uuid.UUID) -> str:
    """A bearer token for the person's own API calls (shown once; only its hash is kept)."""
    token = ctx.secrets.new_token()
    with ctx.uow() as uow:
        if uow.persons.find(person_id) is None:
            raise NotFoundError(f"no person {person_id}")
        uow.access.add_person_token(ctx.secrets.digest(token), person_id, ctx.wall_clock.now())
        uow.commit()
    return token


def authenticate_person(ctx: Context, token: str | None) -> Person:
    if not token:
        raise AuthenticationError("send Authorization: Bearer <token>", code="invalid_token")
    with ctx.uow(write=False) as uow:
        person_id = uow.access.person_of_token(ctx.secrets.digest(token))
        person = uow.persons.find(person_id) if person_id else None
    if person is None:
        raise AuthenticationError("unknown or revoked token", code="invalid_token")
    return person


@dataclass(frozen=True, slots=True)
class BindingCode:
    code: str  # as shown: ABCD-2345
    expires_at: datetime


def create_binding_code(ctx: Context, person_id: uuid.UUID) -> BindingCode:
    """A one-time code the person gives a scene enterprise to bind their account there."""
    now = ctx.wall_clock.now()
    expires = now + timedelta(minutes=ctx.limits.binding_code_minutes)
    with ctx.uow() as uow:
        if uow.persons.find(person_id) is None:
            raise NotFoundError(f"no person {person_id}")
        code = ctx.secrets.random_code(CODE_ALPHABET, 8)
        uow.access.add_binding_code(ctx.secrets.digest(code), person_id, now, expires)
        uow.commit()
    return BindingCode(format_binding_code(code), expires)


def bind_with_code(
    ctx: Context, enterprise_id: uuid.UUID, subject: str, code: str
) -> BindingResult:
    """Bind `subject` to the person who holds `code`, moving its pending reductions over —
    one transaction. Unknown, used and expired codes are refused alike; the same request
    again (a retry whose answer was lost) answers the binding it made, `created` False."""
    clean = normalise_binding_code(code)
    if len(clean) != 8 or any(ch not in CODE_ALPHABET for ch in clean):
        raise InvalidInputError("not a binding code", code="invalid_binding_code")
    now = ctx.wall_clock.now()
    with ctx.uow() as uow:
        redeemed = uow.access.redeem_binding_code(ctx.secrets.digest(clean), enterprise_id, now)
        if redeemed is None:
            raise InvalidInputError(
                "unknown, used or expired binding code", code="invalid_binding_code"
            )
        person_id, first_use = redeemed
        if not first_use:  # this enterprise redeemed it before: a retry after a lost answer
            existing = uow.bindings.find_active(enterprise_id, subject)
            if existing is None or existing.person_id != person_id:
                raise InvalidInputError(
                    "unknown, used or expired binding code", code="invalid_binding_code"
                )
        result = bind_in(uow, ctx, enterprise_id, subject, person_id)
        if result.created:
            audit_bindings(uow, ctx, f"enterprise:{enterprise_id}", [result.binding])
        uow.commit()
    return result
