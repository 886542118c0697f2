"""Enterprises, persons and bindings.

`bind_subject` links an enterprise's subject to a person and, in the same transaction, moves
the subject's pending reductions to the person (re-checked against the person's own claims and
caps, see domain.binding). Binding the same subject to the same person again is a no-op;
to another person while bound is a conflict.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from tanpuhui.domain.binding import Move, PendingReduction, plan_binding
from tanpuhui.domain.claims import Claimed, ClaimScope, claim_scopes
from tanpuhui.domain.errors import ConflictError, InvalidInputError, NotFoundError
from tanpuhui.domain.events import valid_id
from tanpuhui.domain.ledger import pending_account, person_account
from tanpuhui.domain.methodology import Catalogue
from tanpuhui.domain.parties import Binding, Enterprise, Person, Role
from tanpuhui.services.aggregates import changes_between
from tanpuhui.services.audit import audit_bindings, audited
from tanpuhui.services.context import Context, retry_races
from tanpuhui.services.points import award_in, moved_credits
from tanpuhui.services.ports import UnitOfWork


def add_enterprise(ctx: Context, name: str, roles: set[Role]) -> Enterprise:
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInputError("an enterprise needs a name of 1-200 characters")
    if not roles:
        raise InvalidInputError("an enterprise needs at least one role (scene, platform)")
    enterprise = Enterprise(ctx.ids.new(), name, frozenset(roles), ctx.clock.now())

    def add() -> Enterprise:
        with ctx.uow() as uow:
            if uow.enterprises.find_by_name(name) is not None:
                raise ConflictError(f"an enterprise named {name!r} exists already")
            uow.enterprises.add(enterprise)
            audited(
                uow,
                ctx,
                "operator",
                "enterprise.add",
                f"enterprise:{enterprise.id}",
                after={"name": name, "roles": sorted(str(r) for r in roles)},
            )
            uow.commit()
        return enterprise

    return retry_races(add)


def get_enterprise(ctx: Context, enterprise_id: uuid.UUID) -> Enterprise:
    with ctx.uow(write=False) as uow:
        enterprise = uow.enterprises.find(enterprise_id)
    if enterprise is None:
        raise NotFoundError(f"no enterprise {enterprise_id}")
    return enterprise


def resolve_enterprise(ctx: Context, ref: str) -> Enterprise:
    """An enterprise by id or by exact name."""
    with ctx.uow(write=False) as uow:
        try:
            found = uow.enterprises.find(uuid.UUID(ref))
        except ValueError:
            found = uow.enterprises.find_by_name(ref)
    if found is None:
        raise NotFoundError(f"no enterprise {ref!r}")
    return found


def list_enterprises(ctx: Context) -> list[Enterprise]:
    with ctx.uow(write=False) as uow:
        return uow.enterprises.list()


def add_person(ctx: Context) -> Person:
    person = Person(ctx.ids.new(), ctx.clock.now())
    with ctx.uow() as uow:
        uow.persons.add(person)
        uow.commit()
    return person


def add_persons(ctx: Context, count: int) -> list[Person]:
    """Create `count` persons in one transaction (onboarding in bulk)."""
    if not 1 <= count <= 1_000_000:
        raise InvalidInputError("add 1 to 1,000,000 persons at a time")
    now = ctx.clock.now()
    persons = [Person(ctx.ids.new(), now) for _ in range(count)]
    with ctx.uow() as uow:
        uow.persons.add_many(persons)
        uow.commit()
    return persons


@dataclass(frozen=True, slots=True)
class BindingResult:
    binding: Binding
    created: bool
    moves: list[Move]

    @property
    def moved_grams(self) -> int:
        return sum(m.moved for m in self.moves)

    @property
    def reversed_grams(self) -> int:
        return sum(m.reversed for m in self.moves)


def bind_subject(
    ctx: Context, enterprise_id: uuid.UUID, subject: str, person_id: uuid.UUID,
    actor: str = "operator",
) -> BindingResult:  # fmt: skip
    with ctx.uow() as uow:
        result = bind_in(uow, ctx, enterprise_id, subject, person_id)
        if result.created:
            audit_bindings(uow, ctx, actor, [result.binding])
        uow.commit()
    return result


def bind_subjects(
    ctx: Context, items: list[tuple[uuid.UUID, str, uuid.UUID]], actor: str = "operator"
) -> list[BindingResult]:
    """Bind many (enterprise, subject, person) at once — onboarding an enterprise's existing
    users — in one transaction. Subjects with nothing pending are bound in bulk; any with
    pending reductions (or bound already) take the one-by-one path, which moves them."""
    if not items:
        return []
    if len({(e, s) for e, s, _ in items}) != len(items):
        raise InvalidInputError("a subject appears twice in one bulk binding")
    results: list[BindingResult] = []
    step = ctx.limits.max_subjects_per_transaction
    for at in range(0, len(items), step):
        results += _bind_part(ctx, items[at : at + step], actor)
    return results


def _bind_part(
    ctx: Context, items: list[tuple[uuid.UUID, str, uuid.UUID]], actor: str
) -> list[BindingResult]:
    now = ctx.clock.now()
    with ctx.uow() as uow:
        known_enterprises = {e.id for e in uow.enterprises.list()}
        missing = {e for e, _, _ in items} - known_enterprises
        if missing:
            raise NotFoundError(f"no enterprise {sorted(missing)[0]}")
        nobody = uow.persons.missing(p for _, _, p in items)
        if nobody:
            raise NotFoundError(f"no person {sorted(nobody)[0]}")
        subjects_by_enterprise: dict[uuid.UUID, list[str]] = {}
        for e, s, _ in items:
            subjects_by_enterprise.setdefault(e, []).append(s)
        uow.locks.acquire([pending_account(e, s) for e, s, _ in items])
        bound = {
            (e, s)
            for e, subjects in subjects_by_enterprise.items()
            for s in uow.bindings.active_for(e, subjects)
        }
        waiting = uow.intake.holders_with_claims([pending_account(e, s) for e, s, _ in items])
        simple, careful = [], []
        for e, s, p in items:
            if (e, s) in bound or pending_account(e, s) in waiting:
                careful.append((e, s, p))
            else:
                simple.append(Binding(ctx.ids.new(), e, s, p, now))
        uow.bindings.add_many(simple)
        results = [BindingResult(b, True, []) for b in simple]
        results += [bind_in(uow, ctx, e, s, p) for e, s, p in careful]
        audit_bindings(uow, ctx, actor, [r.binding for r in results if r.created])
        uow.commit()
    return results


def bind_in(
    uow: UnitOfWork, ctx: Context, enterprise_id: uuid.UUID, subject: str, person_id: uuid.UUID
) -> BindingResult:
    """Bind inside the caller's unit of work (which commits)."""
    if not valid_id(subject):
        raise InvalidInputError(
            "a subject is 1-128 printable ASCII characters without spaces", code="invalid_request"
        )
    now = ctx.clock.now()
    pending, person = pending_account(enterprise_id, subject), person_account(person_id)
    if uow.enterprises.find(enterprise_id) is None:
        raise NotFoundError(f"no enterprise {enterprise_id}")
    if uow.persons.find(person_id) is None:
        raise NotFoundError(f"no person {person_id}")
    uow.locks.acquire([pending])
    uow.locks.acquire([person])
    existing = uow.bindings.find_active(enterprise_id, subject)
    if existing is not None:
        if existing.person_id == person_id:
            return BindingResult(existing, False, [])
        raise ConflictError(f"subject {subject} is bound to another person already")
    binding = Binding(ctx.ids.new(), enterprise_id, subject, person_id, now)
    uow.bindings.add(binding)
    moves: list[Move] = []
    reductions = uow.intake.pending_reductions(pending)
    if reductions:
        catalogue = ctx.catalogues.current(uow).catalogue
        plan = plan_binding(
            pending,
            person,
            reductions,
            uow.intake.claims_of(person, binding_scopes(reductions, catalogue)),
            catalogue,
            ctx.ids.new(),
            now,
        )
        before = uow.aggregates.snapshots([r.id for r in reductions])
        uow.intake.apply_moves(person, plan.moves, now)
        after = uow.aggregates.snapshots([r.id for r in reductions])
        if plan.entry is not None:
            uow.ledger.open(plan.entry)
            uow.ledger.record(plan.entry, lines_on_events=False)
        uow.intake.add_region_totals(plan.region_deltas)
        uow.aggregates.record(changes_between(before, after))
        award_in(uow, ctx, moved_credits(person, reductions, plan.moves), now)
        moves = plan.moves
    return BindingResult(binding, True, moves)


def binding_scopes(reductions: list[PendingReduction], catalogue: Catalogue) -> list[ClaimScope]:
    """The person's claims that the moving reductions must be checked against."""
    return claim_scopes(
        (Claimed(r.group, r.day, r.started_at, r.ended_at) for r in reductions), catalogue
    )


def unbind_subject(
    ctx: Context, enterprise_id: uuid.UUID, subject: str, actor: str = "operator"
) -> Binding:
    """End a binding: new events of the subject go pending again; nothing credited moves."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        uow.locks.acquire([pending_account(enterprise_id, subject)])
        existing = uow.bindings.find_active(enterprise_id, subject)
        if existing is None:
            raise NotFoundError(f"subject {subject} is not bound")
        uow.bindings.end(existing, now)
        audited(
            uow, ctx, actor, "binding.end", f"binding:{existing.id}",
            before={"enterprise": str(enterprise_id), "subject": subject,
                    "person": str(existing.person_id), "ended_at": None},
            after={"ended_at": now.isoformat()},
        )  # fmt: skip
        uow.commit()
    return Binding(existing.id, enterprise_id, subject, existing.person_id, existing.bound_at, now)
