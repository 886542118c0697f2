"""Onboarding and binding refuse what they cannot do, with the error the entrypoints map to a
stable code — on SQLite and PostgreSQL — and bulk binding settles in parts as large as the
limits allow, with the same result as one transaction would give."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from tanpuhui.bootstrap import App
from tanpuhui.domain.errors import ConflictError, InvalidInputError, NotFoundError
from tanpuhui.domain.intake import OutcomeKind
from tanpuhui.domain.parties import Role
from tanpuhui.services.intake import submit_events
from tanpuhui.services.parties import (
    add_enterprise,
    add_person,
    add_persons,
    bind_subject,
    bind_subjects,
    get_enterprise,
    resolve_enterprise,
)
from tests.builders import event


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_an_enterprise_needs_a_name_of_1_to_200_characters(app: App, name: str) -> None:
    with pytest.raises(InvalidInputError, match="1-200 characters"):
        add_enterprise(app.ctx, name, {Role.SCENE})


def test_an_enterprise_needs_a_role(app: App) -> None:
    with pytest.raises(InvalidInputError, match="at least one role"):
        add_enterprise(app.ctx, "Bikes", set())


def test_a_second_enterprise_of_the_same_name_is_a_conflict(app: App) -> None:
    add_enterprise(app.ctx, "Bikes", {Role.SCENE})
    with pytest.raises(ConflictError, match="exists already"):
        add_enterprise(app.ctx, " Bikes ", {Role.SCENE})


def test_unknown_enterprises_are_not_found_by_id_or_name(app: App) -> None:
    with pytest.raises(NotFoundError):
        get_enterprise(app.ctx, uuid.UUID(int=7))
    with pytest.raises(NotFoundError):
        resolve_enterprise(app.ctx, "Nobody")
    bikes = add_enterprise(app.ctx, "Bikes", {Role.SCENE})
    assert resolve_enterprise(app.ctx, str(bikes.id)) == resolve_enterprise(app.ctx, "Bikes")


@pytest.mark.parametrize("count", [0, -1, 1_000_001])
def test_persons_are_added_1_to_a_million_at_a_time(app: App, count: int) -> None:
    with pytest.raises(InvalidInputError, match="1 to 1,000,000"):
        add_persons(app.ctx, count)


def test_binding_refuses_a_bad_subject_an_unknown_party_and_a_taken_subject(app: App) -> None:
    bikes = add_enterprise(app.ctx, "Bikes", {Role.SCENE})
    ann, bob = add_person(app.ctx), add_person(app.ctx)
    with pytest.raises(InvalidInputError, match="printable ASCII"):
        bind_subject(app.ctx, bikes.id, "has space", ann.id)
    with pytest.raises(NotFoundError, match="no enterprise"):
        bind_subject(app.ctx, uuid.UUID(int=7), "u-1", ann.id)
    with pytest.raises(NotFoundError, match="no person"):
        bind_subject(app.ctx, bikes.id, "u-1", uuid.UUID(int=7))

    first = bind_subject(app.ctx, bikes.id, "u-1", ann.id)
    again = bind_subject(app.ctx, bikes.id, "u-1", ann.id)
    assert (first.created, again.created) == (True, False)
    assert again.binding == first.binding
    with pytest.raises(ConflictError, match="bound to another person"):
        bind_subject(app.ctx, bikes.id, "u-1", bob.id)


def test_bulk_binding_refuses_a_repeated_subject_an_unknown_enterprise_or_person(app: App) -> None:
    bikes = add_enterprise(app.ctx, "Bikes", {Role.SCENE})
    ann = add_person(app.ctx)
    assert bind_subjects(app.ctx, []) == []
    with pytest.raises(InvalidInputError, match="appears twice"):
        bind_subjects(app.ctx, [(bikes.id, "u-1", ann.id), (bikes.id, "u-1", ann.id)])
    with pytest.raises(NotFoundError, match="no enterprise"):
        bind_subjects(app.ctx, [(bikes.id, "u-1", ann.id), (uuid.UUID(int=7), "u-2", ann.id)])
    # a binding lives in its subject's shard, its person in another: no foreign key checks
    # the person, the service does — and nothing of the part is written
    nobody = uuid.UUID(int=8)
    with pytest.raises(NotFoundError, match=f"no person {nobody}"):
        bind_subjects(app.ctx, [(bikes.id, "u-1", ann.id), (bikes.id, "u-2", nobody)])
    with app.ctx.uow(write=False) as uow:
        assert uow.bindings.active_for(bikes.id, ["u-1", "u-2"]) == {}
        assert uow.bindings.subjects_of(ann.id) == []


def test_bulk_binding_settles_in_parts_and_moves_what_was_pending(app: App) -> None:
    """Five subjects in parts of two: the plain ones are bound in bulk, the one with a pending
    ride takes the careful path and its grams move to the person."""
    bikes = add_enterprise(app.ctx, "Bikes", {Role.SCENE})
    people = add_persons(app.ctx, 5)
    [ride] = submit_events(app.ctx, bikes.id, [event(event_id="r-1", subject="u-3")])
    assert ride.kind == OutcomeKind.PENDING_BINDING
    small = replace(app.ctx, limits=replace(app.ctx.limits, max_subjects_per_transaction=2))
    items = [(bikes.id, f"u-{i}", p.id) for i, p in enumerate(people)]

    results = bind_subjects(small, items)

    assert [(r.binding.subject, r.created) for r in results] == [(f"u-{i}", True) for i in range(5)]
    moved = {r.binding.subject: r.moved_grams for r in results}
    assert moved["u-3"] == ride.grams > 0
    assert sum(moved.values()) == ride.grams
