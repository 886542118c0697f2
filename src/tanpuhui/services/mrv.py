"""MRV (issue 12 item 4): the operator groups reductions into issuance batches with a generated
monitoring report; a verifier draws a seeded sample, recomputes it with the engine, and
approves (the reductions become `verified`) or rejects (a correcting entry reverses them, the
buffer account covering grams already sold or redeemed). A batch covers one methodology version
in a region, or one scene enterprise's reductions. Every state change is stored as a statement
signed by its actor's Ed25519 key (domain/mrv.py): the verifier signs its sample and decision
(API, CLI), the platform its creation; a decision made on the pages, after sign-in, is attested
by the platform's key on the verifier's behalf and says so. `verify_batches` re-checks every
stored signature. One transaction per use case."""

from __future__ import annotations

import base64
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from tanpuhui.domain.aggregates import parse_period, scope_bounds
from tanpuhui.domain.checks import Violation
from tanpuhui.domain.errors import AuthenticationError, InvalidInputError, NotFoundError
from tanpuhui.domain.events import Rejection
from tanpuhui.domain.methodology import Catalogue, Methodology
from tanpuhui.domain.models import Quantification, quantify
from tanpuhui.domain.mrv import (
    PLATFORM,
    BatchState,
    Statement,
    check_open,
    check_statements,
    content_sha256,
    draw_sample,
    members_sha256,
    plan_rejection,
    read_statement,
    signed_bytes,
    statement_text,
)
from tanpuhui.domain.officials import Official, OfficialKind
from tanpuhui.domain.requantify import StoredReduction
from tanpuhui.services.aggregates import changes_between
from tanpuhui.services.audit import audited
from tanpuhui.services.context import Context
from tanpuhui.services.officials import authenticate_official
from tanpuhui.services.ports import BatchCandidate, IssuanceBatch, UnitOfWork


def _month_days(month: str) -> tuple[date, date]:
    if parse_period(month).kind != "month":
        raise InvalidInputError(
            f"a batch covers a month (2026-11), not {month!r}", code="invalid_period"
        )
    first = date(int(month[:4]), int(month[5:7]), 1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return first, last


@dataclass(frozen=True)
class SignedStatement:
    """A statement as its actor signed it: the exact text and the base64 Ed25519 signature
    over `STATEMENT_CONTEXT + text` (domain/mrv.py)."""

    text: str
    signature: str


def create_batch(
    ctx: Context, methodology: str | None, region: str | None, month: str,
    actor: str = "operator", enterprise: uuid.UUID | None = None,
) -> IssuanceBatch:  # fmt: skip
    """A batch of every active reduction of `methodology` (code@version) in `region` (None:
    the nation) and `month` — or, given `enterprise`, of that scene enterprise's events in
    `month`, whatever their methodology — that is in no batch yet, with its monitoring report
    and the platform's signed creation statement."""
    if (methodology is None) == (enterprise is None):
        raise InvalidInputError(
            "a batch covers a methodology (--methodology) or a scene enterprise (--enterprise)",
            code="invalid_batch",
        )
    if enterprise is not None and region is not None:
        raise InvalidInputError(
            "an enterprise's batch covers all its regions", code="invalid_batch"
        )
    if region is not None and region not in ctx.regions:
        raise NotFoundError(f"no region {region}", code="unknown_region")
    first, last = _month_days(month)
    with ctx.uow() as uow:
        stored = ctx.catalogues.current(uow)
        if enterprise is not None:
            found = uow.enterprises.find(enterprise)
            if found is None:
                raise NotFoundError(f"no enterprise {enterprise}", code="unknown_enterprise")
            members = uow.mrv.enterprise_candidates(enterprise, first, last)
            names = {v: k for k, v in stored.ids.items()}
            report = enterprise_report(found.name, enterprise, month, members, names, stored)
            version_id, what = None, f"enterprise {found.name}"
        else:
            assert methodology is not None
            m = stored.catalogue.get(methodology)
            if m is None:
                raise NotFoundError(f"no methodology {methodology}", code="unknown_methodology")
            members = uow.mrv.candidates(stored.ids[m.key], scope_bounds(region), first, last)
            report = monitoring_report(m, region, month, members)
            version_id, what = stored.ids[m.key], f"{m.key} in {region or 'the nation'}"
        if not members:
            raise InvalidInputError(
                f"no unbatched reductions of {what} in {month}", code="empty_batch"
            )
        batch = IssuanceBatch(
            ctx.ids.new(), version_id, region, month, BatchState.OPEN, report, actor,
            ctx.clock.now(), enterprise_id=enterprise,
        )  # fmt: skip
        uow.mrv.add(batch, members)
        _platform_signs(uow, ctx, batch, [c.id for c in members], "create", requested_by=actor)
        audited(
            uow,
            ctx,
            actor,
            "mrv.batch_create",
            f"batch:{batch.id}",
            after={"state": "open", "reductions": len(members), "grams": batch.report["grams"]},
        )
        uow.commit()
    return batch


def _platform_signs(
    uow: UnitOfWork, ctx: Context, batch: IssuanceBatch, members: list[uuid.UUID],
    action: str, actor: str = PLATFORM, **fields: Any,
) -> None:  # fmt: skip
    """Store a statement signed by the platform's key: its own (a creation), or one it attests
    for a signed-in verifier of the pages (`attested_by: platform`)."""
    now = ctx.wall_clock.now()
    if actor != PLATFORM:
        fields["attested_by"] = PLATFORM
    text = statement_text(
        batch.id, action, actor, now, content_sha256(batch.report), members_sha256(members),
        **fields,
    )  # fmt: skip
    signature = base64.b64encode(ctx.log_signer.sign(signed_bytes(text))).decode()
    uow.mrv.add_statement(
        Statement(ctx.ids.new(), batch.id, action, actor, now, text, signature,
                  ctx.log_signer.public_key)
    )  # fmt: skip


def _accept(
    uow: UnitOfWork, ctx: Context, batch: IssuanceBatch, members: list[uuid.UUID],
    action: str, verifier: Official, signed: SignedStatement | None, **fields: Any,
) -> dict[str, Any]:  # fmt: skip
    """The fields of the action: from the verifier's signed statement (checked: it says this
    batch, action and verifier, the report and reductions as they are, a fresh time, and its
    signature verifies with the verifier's key) — or, on the pages (`signed` None), `fields`
    in a statement the platform attests. The statement is stored either way."""
    if signed is None:
        _platform_signs(uow, ctx, batch, members, action, verifier.actor, **fields)
        return fields
    if verifier.public_key is None:
        raise AuthenticationError(
            f"{verifier.actor} has no signing key (an account made before keys): add it again",
            code="no_signing_key",
        )
    now = ctx.wall_clock.now()
    parsed = read_statement(
        signed.text, batch.id, action, verifier.actor, now, content_sha256(batch.report),
        members_sha256(members),
    )  # fmt: skip
    if not ctx.verifier.verify(verifier.public_key, signed.signature, signed_bytes(signed.text)):
        raise AuthenticationError(
            f"the statement's signature does not verify with {verifier.actor}'s key",
            code="invalid_signature",
        )
    if uow.mrv.statement_seen(signed.text):
        raise InvalidInputError("this statement was submitted already", code="invalid_statement")
    uow.mrv.add_statement(
        Statement(ctx.ids.new(), batch.id, action, verifier.actor, now, signed.text,
                  signed.signature, verifier.public_key)
    )  # fmt: skip
    return parsed


def prepare_statement(
    ctx: Context, batch_id: uuid.UUID, action: str, actor: str, **fields: Any
) -> str:
    """The statement text a verifier signs for `action` on the batch as it is now (what a
    client builds from `show_batch`'s `report_sha256` and `members_sha256`)."""
    shown = show_batch(ctx, batch_id)
    return statement_text(
        batch_id, action, actor, ctx.wall_clock.now(), shown["report_sha256"],
        shown["members_sha256"], **fields,
    )  # fmt: skip


def enterprise_report(
    name: str, enterprise: uuid.UUID, month: str, members: list[BatchCandidate],
    versions: dict[uuid.UUID, str], stored: Any,
) -> dict[str, Any]:  # fmt: skip
    """The monitoring report of a scene enterprise's batch: as a methodology batch's, with
    the grams by methodology version and each version's content hash and factors."""
    by_version: Counter[str] = Counter()
    for c in members:
        assert c.methodology_id is not None
        by_version[versions[c.methodology_id]] += c.grams
    methodologies = []
    for key in sorted(by_version):
        m = stored.catalogue.get(key)
        assert m is not None
        methodologies.append(
            {"methodology": m.key, "content_hash": m.content_hash, "model": m.model,
             "factors": [{"id": f.id, "value": str(f.value), "source": f.source}
                         for f in m.factors]}
        )  # fmt: skip
    return {
        "enterprise": str(enterprise),
        "enterprise_name": name,
        "methodology": None,
        "methodologies": methodologies,
        "by_methodology": dict(sorted(by_version.items())),
        **_totals(None, month, members),
    }


def _totals(region: str | None, month: str, members: list[BatchCandidate]) -> dict[str, Any]:
    by_region: Counter[str] = Counter()
    by_behaviour: Counter[str] = Counter()
    by_day: Counter[str] = Counter()
    for c in members:
        by_region[c.region] += c.grams
        by_behaviour[c.behaviour] += c.grams
        by_day[c.day.isoformat()] += c.grams
    return {
        "region": region,
        "month": month,
        "reductions": len(members),
        "grams": sum(c.grams for c in members),
        "persons": len({c.holder for c in members}),
        "by_region": dict(sorted(by_region.items())),
        "by_behaviour": dict(sorted(by_behaviour.items())),
        "by_day": dict(sorted(by_day.items())),
    }


def monitoring_report(
    m: Methodology, region: str | None, month: str, members: list[BatchCandidate]
) -> dict[str, Any]:
    """What the verifier reviews, generated from the data: totals, breakdowns, the version."""
    return {
        "methodology": m.key,
        "title": m.title,
        "content_hash": m.content_hash,
        "model": m.model,
        "factors": [{"id": f.id, "value": str(f.value), "source": f.source} for f in m.factors],
        **_totals(region, month, members),
    }


def show_batch(ctx: Context, batch_id: uuid.UUID) -> dict[str, Any]:
    """A batch with its signed statements, each signature checked again (`signatures`)."""
    with ctx.uow(write=False) as uow:
        batch = uow.mrv.get(batch_id)
        members = uow.mrv.members(batch_id)
        states = Counter(uow.mrv.verification(members).values()) if members else Counter()
        statements = uow.mrv.statements(batch_id)
        problems = _batch_problems(uow, ctx, batch, members, statements)
    return {
        "id": str(batch.id),
        "state": batch.state.value,
        "enterprise": str(batch.enterprise_id) if batch.enterprise_id else None,
        "region": batch.region,
        "month": batch.month,
        "created_by": batch.created_by,
        "created_at": batch.created_at.isoformat(),
        "report": batch.report,
        "reductions": len(members),
        "verification": dict(sorted(states.items())),
        "sample_seed": batch.sample_seed,
        "sample": batch.sample,
        "decided_by": str(batch.decided_by) if batch.decided_by else None,
        "decided_at": batch.decided_at.isoformat() if batch.decided_at else None,
        "comment": batch.comment,
        "report_sha256": content_sha256(batch.report),
        "members_sha256": members_sha256(members),
        "statements": [
            {"action": s.action, "actor": s.actor, "at": s.at.isoformat(), "statement": s.text,
             "signature": s.signature, "public_key": base64.b64encode(s.public_key).decode()}
            for s in statements
        ],
        "signatures": {"valid": not problems, "problems": problems},
    }  # fmt: skip


def _batch_problems(
    uow: UnitOfWork, ctx: Context, batch: IssuanceBatch, members: list[uuid.UUID],
    statements: list[Statement],
) -> list[str]:  # fmt: skip
    officials = {uuid.UUID(s.actor.partition(":")[2]) for s in statements if ":" in s.actor}
    keys: dict[str, bytes | None] = {
        f"verifier:{k}": v for k, v in uow.officials.keys(sorted(officials)).items()
    }
    keys[PLATFORM] = ctx.log_signer.public_key
    decision = (f"verifier:{batch.decided_by}", batch.comment or "") if batch.decided_by else None
    return check_statements(
        batch.id, batch.state, statements, keys, content_sha256(batch.report),
        members_sha256(members), ctx.verifier.verify, batch.sample_seed, decision,
    )  # fmt: skip


def verify_batches(ctx: Context) -> list[Violation]:
    """Every batch's signed statements checked again (`mrv verify`, `ledger verify`)."""
    found: list[Violation] = []
    with ctx.uow(write=False) as uow:
        for batch_id in uow.mrv.batch_ids():
            batch = uow.mrv.get(batch_id)
            members = uow.mrv.members(batch_id)
            statements = uow.mrv.statements(batch_id)
            for p in _batch_problems(uow, ctx, batch, members, statements):
                found.append(Violation(9, "mrv_statement_invalid", f"batch:{batch_id}", p))
    return found


def sample_batch(
    ctx: Context, batch_id: uuid.UUID, token: str | None, signed: SignedStatement
) -> list[dict[str, Any]]:
    """Draw the statement's `size` reductions with its `seed` and recompute each from its
    event with the engine; the draw, its results and the signed statement are recorded."""
    verifier = authenticate_official(ctx, token, OfficialKind.VERIFIER)
    return _sample(ctx, batch_id, verifier, signed, None, None)


def sample_batch_as(
    ctx: Context, batch_id: uuid.UUID, verifier: Official, seed: int, size: int = 20
) -> list[dict[str, Any]]:
    """`sample_batch` by a verifier signed in on the pages (the platform attests it)."""
    return _sample(ctx, batch_id, verifier, None, seed, size)


def _sample(
    ctx: Context, batch_id: uuid.UUID, verifier: Official, signed: SignedStatement | None,
    seed: int | None, size: int | None,
) -> list[dict[str, Any]]:  # fmt: skip
    _check_verifier(verifier)
    with ctx.uow() as uow:
        batch = uow.mrv.get(batch_id)
        check_open(batch.state, batch_id)
        members = uow.mrv.members(batch_id)
        said = _accept(uow, ctx, batch, members, "sample", verifier, signed, seed=seed, size=size)
        seed, size = _int(said, "seed", 0, 2**62), _int(said, "size", 1, 1000)
        drawn = draw_sample(members, seed, size)
        stored = ctx.catalogues.current(uow)
        results = []
        for version_id, ids in _by_version(uow, batch, drawn).items():
            m = _version(stored.catalogue, stored.ids, version_id)
            rows = uow.corrections.reductions_at(version_id, None, None, len(ids), ids)
            results += [_recompute(r, m, stored.catalogue) for r in rows]
        results.sort(key=lambda r: r["reduction_id"])
        uow.mrv.record_sample(batch_id, seed, results, verifier.id)
        audited(
            uow,
            ctx,
            verifier.actor,
            "mrv.sample",
            f"batch:{batch_id}",
            after={"seed": seed, "size": size, "drawn": [r["reduction_id"] for r in results]},
        )
        uow.commit()
    return results


def _int(fields: dict[str, Any], name: str, low: int, high: int) -> int:
    value = fields.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInputError(
            f"a sample's {name} is a whole number from {low} to {high}", code="invalid_sample"
        )
    return value


def _comment(fields: dict[str, Any]) -> str:
    value = fields.get("comment", "")
    if not isinstance(value, str) or len(value) > 4000:
        raise InvalidInputError(
            "a comment is text of up to 4000 characters", code="invalid_request"
        )
    return value


def _by_version(
    uow: UnitOfWork, batch: IssuanceBatch, ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The reductions by the version they are quantified with (one, unless an enterprise's)."""
    if batch.methodology_id is not None:
        return {batch.methodology_id: sorted(ids)}
    return uow.mrv.versions_of(ids)


def _check_verifier(official: Official) -> None:
    if official.kind is not OfficialKind.VERIFIER or official.revoked_at is not None:
        raise AuthenticationError("only a verifier reviews batches", code="invalid_token")


def _version(catalogue: Catalogue, ids: Any, version_id: uuid.UUID) -> Methodology:
    key = next(k for k, v in ids.items() if v == version_id)
    found = catalogue.get(key)
    assert found is not None
    return found


def _quantified(r: StoredReduction, m: Methodology, catalogue: Catalogue) -> Quantification:
    q = quantify(m, r.event, r.day, catalogue)
    if isinstance(q, Rejection):
        raise InvalidInputError(
            f"reduction {r.id} no longer quantifies with {m.key}: {q.message}",
            code="not_recomputable",
        )
    return q


def _recompute(r: StoredReduction, m: Methodology, catalogue: Catalogue) -> dict[str, Any]:
    q = quantify(m, r.event, r.day, catalogue)
    recomputed = None if isinstance(q, Rejection) else q.grams
    return {
        "reduction_id": str(r.id),
        "event_id": r.event.event_id,
        "methodology": m.key,
        "credited_grams": r.live_grams,
        "recomputed_grams": recomputed,
        # credited may be less than recomputed (a cap cut it), never more
        "consistent": recomputed is not None and r.live_grams <= recomputed,
    }


def approve_batch(
    ctx: Context, batch_id: uuid.UUID, token: str | None, signed: SignedStatement
) -> None:
    """Approve as the verifier whose signed statement (with its comment) this is."""
    verifier = authenticate_official(ctx, token, OfficialKind.VERIFIER)
    _approve(ctx, batch_id, verifier, signed, "")


def approve_batch_as(ctx: Context, batch_id: uuid.UUID, verifier: Official, comment: str) -> None:
    """`approve_batch` by a verifier signed in on the pages (the platform attests it)."""
    _approve(ctx, batch_id, verifier, None, comment)


def _approve(
    ctx: Context, batch_id: uuid.UUID, verifier: Official, signed: SignedStatement | None,
    comment: str,
) -> None:  # fmt: skip
    _check_verifier(verifier)
    with ctx.uow() as uow:
        batch = uow.mrv.get(batch_id)
        check_open(batch.state, batch_id)
        members = uow.mrv.members(batch_id)
        said = _accept(uow, ctx, batch, members, "approve", verifier, signed, comment=comment)
        comment = _comment(said)
        uow.mrv.decide(batch_id, BatchState.APPROVED, verifier.id, ctx.clock.now(), comment, None)
        audited(
            uow,
            ctx,
            verifier.actor,
            "mrv.approve",
            f"batch:{batch_id}",
            before={"state": "open"},
            after={"state": "approved", "comment": comment},
        )
        uow.commit()


def reject_batch(
    ctx: Context, batch_id: uuid.UUID, token: str | None, signed: SignedStatement
) -> int:
    """Reverse every reduction of the batch; returns the grams the buffer covered."""
    verifier = authenticate_official(ctx, token, OfficialKind.VERIFIER)
    return _reject(ctx, batch_id, verifier, signed, "")


def reject_batch_as(ctx: Context, batch_id: uuid.UUID, verifier: Official, comment: str) -> int:
    """`reject_batch` by a verifier signed in on the pages (the platform attests it)."""
    if not comment.strip():
        raise InvalidInputError("a rejection says why (--comment)", code="comment_required")
    return _reject(ctx, batch_id, verifier, None, comment)


def _reject(
    ctx: Context, batch_id: uuid.UUID, verifier: Official, signed: SignedStatement | None,
    comment: str,
) -> int:  # fmt: skip
    _check_verifier(verifier)
    now = ctx.clock.now()
    with ctx.uow() as uow:
        batch = uow.mrv.get(batch_id)
        check_open(batch.state, batch_id)
        members = uow.mrv.members(batch_id)
        said = _accept(uow, ctx, batch, members, "reject", verifier, signed, comment=comment)
        comment = _comment(said)
        if not comment.strip():
            raise InvalidInputError("a rejection says why (--comment)", code="comment_required")
        stored = ctx.catalogues.current(uow)
        before = uow.aggregates.snapshots(members)
        entries: list[uuid.UUID] = []
        covered = 0
        for version_id, ids in _by_version(uow, batch, members).items():
            m = _version(stored.catalogue, stored.ids, version_id)
            rows = _locked_reductions(uow, version_id, ids)
            plan = plan_rejection(
                [(r, _quantified(r, m, stored.catalogue)) for r in rows],
                uow.corrections.balances_for([(r.holder, r.asset) for r in rows]),
                m.code, ctx.ids.new(), now, f"mrv reject {batch_id}",
            )  # fmt: skip
            if plan.entry is not None:
                uow.ledger.open(plan.entry)
            new_ids = [ctx.ids.new() for _ in plan.corrections]
            uow.corrections.record(plan, version_id, version_id, new_ids, now)
            if plan.entry is not None:
                uow.ledger.record(plan.entry, lines_on_events=False)
                entries.append(plan.entry.id)
            uow.intake.add_region_totals(plan.region_deltas)
            covered += sum(c.shortfall for c in plan.corrections)
        uow.aggregates.record(changes_between(before, uow.aggregates.snapshots(members)))
        entry_id = entries[0] if entries else None
        uow.mrv.decide(batch_id, BatchState.REJECTED, verifier.id, now, comment, entry_id)
        audited(
            uow,
            ctx,
            verifier.actor,
            "mrv.reject",
            f"batch:{batch_id}",
            before={"state": "open"},
            after={
                "state": "rejected",
                "comment": comment,
                "entry": str(entry_id) if entry_id else None,
                "entries": [str(e) for e in entries],
                "buffer_grams": covered,
            },
        )
        uow.commit()
    return covered


def _locked_reductions(
    uow: UnitOfWork, version_id: uuid.UUID, members: list[uuid.UUID]
) -> list[StoredReduction]:
    """The batch's active reductions, their holders locked (fixed order) and read again."""
    rows = uow.corrections.reductions_at(version_id, None, None, len(members), members)
    uow.locks.acquire(sorted({r.holder for r in rows}))
    return uow.corrections.reductions_at(version_id, None, None, len(members), members)
