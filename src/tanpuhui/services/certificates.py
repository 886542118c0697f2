"""Certificates (issue 13 items 4–5): issue them for a leaderboard's top N, a programme
milestone or an enterprise's retirement; sign their content with the platform's Ed25519 key
(the checkpoint key, `TANPUHUI_CHECKPOINT_KEY`: one platform key); look one up and verify it
by serial, or verify a certificate document offline with the public key alone.

Invariants kept here:
- one certificate per holder and award (a board placing, a milestone, a retirement serial):
  issuing again returns the one issued (the database's unique key decides races);
- a certificate is confirmed only if its stored content is canonical, names its own serial and
  carries a valid signature of the platform key over it: anything else is `certificate_altered`;
- what is public about a certificate is its content — the display name a person chose, never
  a person id, contact or any other personal data.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from tanpuhui.domain.certificates import (
    Certificate,
    CertificateKind,
    build_content,
    canonical,
    check_content,
    format_grams,
    make_serial,
    parse_content,
    read_serial,
    signed_message,
)
from tanpuhui.domain.errors import ConflictError, InvalidInputError, NotFoundError
from tanpuhui.domain.leaderboard import MAX_TOP, BoardKind, BoardSpec, Placing
from tanpuhui.domain.ledger import enterprise_account
from tanpuhui.domain.shards import shard_of_account
from tanpuhui.services.audit import audited
from tanpuhui.services.certificate_ports import StoredCertificate
from tanpuhui.services.context import Context, retry_races
from tanpuhui.services.leaderboards import board_spec, placings_in
from tanpuhui.services.ports import SignatureVerifier, UnitOfWork


@dataclass(frozen=True, slots=True)
class Issued:
    certificate: Certificate
    new: bool


def issue_leaderboard_certificates(
    ctx: Context, spec: BoardSpec, top: int, actor: str = "operator"
) -> list[Issued]:
    """A certificate for each of the board's first `top` placings (opted-in people only)."""
    if not 1 <= top <= MAX_TOP:
        raise InvalidInputError(f"--top must be between 1 and {MAX_TOP}, not {top}")

    def attempt() -> list[Issued]:
        with ctx.uow() as uow:
            issued = [
                _issue(uow, ctx, p.holder, f"leaderboard:{spec.title}", _placing(spec, p))
                for p in placings_in(uow, ctx, spec, top)
            ]
            _audit_issued(uow, ctx, actor, f"leaderboard:{spec.title}", issued)
            uow.commit()
            return issued

    return retry_races(attempt)


def issue_milestone_certificates(
    ctx: Context, programme: str, grams: int, first: date, last: date, actor: str = "operator"
) -> list[Issued]:
    """A certificate for every opted-in person whose credited grams in the programme's
    behaviours and region reached `grams` over the days `first`…`last` — at most `MAX_TOP`
    people, the first by the board's order (a limit of this version)."""
    if grams < 1:
        raise InvalidInputError("a milestone is at least 1 g")
    spec = board_spec(BoardKind.PROGRAMME, programme, None, first, last)

    def attempt() -> list[Issued]:
        with ctx.uow() as uow:
            reached = [p for p in placings_in(uow, ctx, spec, MAX_TOP) if p.grams >= grams]
            kind, award = CertificateKind.MILESTONE, f"milestone:{programme}:{grams}:{spec.period}"
            achievement = f"达成 {format_grams(grams)} 里程碑 · {programme} milestone reached"
            details = {"programme": programme}
            issued = [
                _issue(
                    uow,
                    ctx,
                    p.holder,
                    award,
                    (kind, p.display_name, achievement, p.grams, spec.period, details),
                )
                for p in reached
            ]
            _audit_issued(uow, ctx, actor, award, issued)
            uow.commit()
            return issued

    return retry_races(attempt)


def _audit_issued(
    uow: UnitOfWork, ctx: Context, actor: str, award: str, issued: list[Issued]
) -> None:
    serials = [i.certificate.serial for i in issued if i.new]
    if serials:
        audited(uow, ctx, actor, "certificate.issue", award, after={"serials": serials})


def issue_retirement_certificate(
    uow: UnitOfWork,
    ctx: Context,
    serial: str,
    enterprise: str,
    beneficiary: str,
    purpose: str,
    grams: int,
    period: str,
    issued_at: datetime,
) -> Certificate:
    """The certificate of a retirement, written in the retirement's own unit of work (the
    caller commits); `serial` is the retirement's serial, the award it certifies."""
    found = uow.enterprises.find_by_name(enterprise)
    if found is None:
        raise NotFoundError(f"no enterprise {enterprise!r}")
    achievement = f"注销 {format_grams(grams)} 碳减排量 · retired for {beneficiary}"
    details = {"retirement": serial, "beneficiary": beneficiary, "purpose": purpose}
    what = (CertificateKind.RETIREMENT, found.name, achievement, grams, period, details)
    holder = enterprise_account(found.id)
    return _issue(uow, ctx, holder, f"retirement:{serial}", what, issued_at).certificate


Award = tuple[CertificateKind, str, str, int, str, dict[str, str]]


def _placing(spec: BoardSpec, p: Placing) -> Award:
    region = f" · {spec.region}" if spec.region else ""
    achievement = f"排行榜第 {p.rank} 名 · rank {p.rank}, {spec.kind.value} {spec.code}{region}"
    details = {"board": spec.title, "rank": str(p.rank)}
    return CertificateKind.LEADERBOARD, p.display_name, achievement, p.grams, spec.period, details


def _issue(
    uow: UnitOfWork,
    ctx: Context,
    holder: str,
    award: str,
    what: Award,
    issued_at: datetime | None = None,
) -> Issued:
    shard = shard_of_account(holder)
    existing = uow.certificates.find_award(shard, holder, award)
    if existing is not None:
        return Issued(_certificate(existing), new=False)
    kind, recipient, achievement, grams, period, details = what
    now = issued_at or ctx.clock.now()
    local = now.astimezone(ctx.tz)  # the serial's day and the content's time: local
    serial = make_serial(kind, local.date(), shard, ctx.ids.new().int)
    issuer = f"碳普惠平台 tanpuhui ({ctx.log_signer.name})"
    content = build_content(
        serial, kind, recipient, achievement, grams, period, issuer, local.isoformat(), details
    )
    body = canonical(content)
    signature = base64.b64encode(ctx.log_signer.sign(signed_message(body))).decode()
    uow.certificates.add(
        StoredCertificate(
            shard, serial, kind.value, holder, award, body, signature, ctx.log_signer.name, now
        )
    )
    return Issued(Certificate(content, signature), new=True)


def _certificate(stored: StoredCertificate) -> Certificate:
    return Certificate(parse_content(stored.content), stored.signature)


def verify_certificate(ctx: Context, serial: str) -> Certificate:
    """The certificate `serial` if it is genuine: `invalid_serial` (422) for a malformed one,
    `certificate_not_found` (404) for an unknown one, `certificate_altered` (409) when its
    stored content or signature does not verify."""
    parts = read_serial(serial)
    with ctx.uow(write=False) as uow:
        stored = uow.certificates.find(parts.shard, serial)
    if stored is None:
        raise NotFoundError(f"no certificate {serial}", code="certificate_not_found")
    try:
        cert = _certificate(stored)
    except InvalidInputError:
        raise _altered(serial) from None
    if cert.serial != serial or cert.content["kind"] != stored.kind:
        raise _altered(serial)
    check_signature(ctx.verifier, ctx.log_signer.public_key, cert)
    return cert


def check_signature(verifier: SignatureVerifier, public_key: bytes, cert: Certificate) -> None:
    """Refuse a certificate whose signature does not verify under `public_key` (offline too)."""
    if not verifier.verify(public_key, cert.signature, signed_message(cert.canonical)):
        raise _altered(cert.serial)


def _altered(serial: str) -> ConflictError:
    return ConflictError(
        f"certificate {serial} does not verify: its content or signature was altered",
        code="certificate_altered",
    )


def read_document(data: Any) -> Certificate:
    """A certificate document (`document`'s shape, e.g. read from a file) as a certificate,
    checked for form only — `check_signature` verifies it."""
    if not isinstance(data, dict) or not isinstance(data.get("signature"), str):
        raise InvalidInputError(
            "not a tanpuhui certificate document: it has content and signature",
            code="invalid_certificate",
        )
    return Certificate(check_content(data.get("content")), data["signature"])


def document(ctx: Context, cert: Certificate) -> dict[str, Any]:
    """The certificate as a document to keep and verify offline: its content, the signature,
    the key's name and public key (base64), and the exact signed bytes' rule."""
    return {
        "content": cert.content,
        "signature": cert.signature,
        "key": ctx.log_signer.name,
        "public_key": base64.b64encode(ctx.log_signer.public_key).decode(),
        "signed": "Ed25519 over 'tanpuhui certificate v1\\n' + canonical JSON of content",
    }
