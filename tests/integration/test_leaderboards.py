"""Leaderboards on a real database (SQLite and PostgreSQL): only opted-in people appear, ranked
among themselves; ties are broken deterministically; a reversed or re-quantified reduction
moves the board."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import pytest

from tanpuhui.bootstrap import App
from tanpuhui.domain.errors import InvalidInputError, NotFoundError
from tanpuhui.domain.leaderboard import BoardKind, pseudonymous_key
from tanpuhui.domain.ledger import person_account
from tanpuhui.domain.parties import Enterprise, Role
from tanpuhui.services.catalogue import publish_version
from tanpuhui.services.intake import submit_events
from tanpuhui.services.leaderboards import (
    board_spec,
    board_view,
    find_display_name,
    leaderboard,
    set_display_name,
)
from tanpuhui.services.parties import add_enterprise, add_person, bind_subject
from tanpuhui.services.requantify import requantify
from tests.builders import event
from tests.conftest import NOW
from tests.integration.test_requantify import CODE, version_3

DAY = date(2026, 11, 17)  # NOW's local day: the builders' rides end on it


def person_with_rides(
    app: App, bikes: Enterprise, subject: str, rides: int, region: str = "420106",
    start: datetime | None = None,
) -> uuid.UUID:  # fmt: skip
    """A person bound to `subject`, with `rides` 3.42 km rides an hour apart from `start`."""
    person = add_person(app.ctx)
    bind_subject(app.ctx, bikes.id, subject, person.id)
    first = start or NOW - timedelta(hours=9)
    batch = [
        event(subject=subject, event_id=f"{subject}-{i}", region=region,
              start=first + timedelta(hours=i))
        for i in range(rides)
    ]  # fmt: skip
    submit_events(app.ctx, bikes.id, batch)
    return person.id


def board(app: App, kind: BoardKind = BoardKind.BEHAVIOUR, code: str = "bike_share_ride",
          region: str | None = None, top: int = 10) -> list[tuple[int, str, int]]:  # fmt: skip
    spec = board_spec(kind, code, region, DAY, DAY)
    placings = board_view(leaderboard(app.ctx, spec, top))["placings"]
    return [(p["rank"], p["display_name"], p["grams"]) for p in placings]


def test_opted_out_people_never_appear_and_leave_no_gap_in_the_ranks(app: App) -> None:
    bikes = add_enterprise(app.ctx, "Bikes", {Role.SCENE})
    top = person_with_rides(app, bikes, "u-top", 4)  # the most grams, but opts out
    quiet = person_with_rides(app, bikes, "u-quiet", 3)  # never chose a name: out by default
    second = person_with_rides(app, bikes, "u-second", 2)
    third = person_with_rides(app, bikes, "u-third", 1)
    set_display_name(app.ctx, top, "Top Rider", opted_in=True)
    set_display_name(app.ctx, top, None, opted_in=False)
    set_display_name(app.ctx, second, "骑行达人", opted_in=True)
    set_display_name(app.ctx, third, "Third", opted_in=True)
    assert find_display_name(app.ctx, quiet) is None
    assert board(app) == [(1, "骑行达人", 2 * 319), (2, "Third", 319)]
    # a name alone keeps the choice: still out
    set_display_name(app.ctx, top, "Renamed", opted_in=None)
    assert [name for _, name, _ in board(app)] == ["骑行达人", "Third"]
    set_display_name(app.ctx, top, None, opted_in=True)
    assert board(app)[0] == (1, "Renamed", 4 * 319)


def test_ties_go_to_who_reached_the_total_first_then_a_stable_pseudonymous_key(app: App) -> None:
    bikes = add_enterprise(app.ctx, "Bikes", {Role.SCENE})
    late = person_with_rides(app, bikes, "u-late", 1, start=NOW - timedelta(hours=3))
    early = person_with_rides(app, bikes, "u-early", 1, start=NOW - timedelta(hours=6))
    for person, name in ((late, "Late"), (early, "Early")):
        set_display_name(app.ctx, person, name, opted_in=True)
    assert board(app) == [(1, "Early", 319), (2, "Late", 319)]

    same = NOW - timedelta(hours=5)
    twins = [person_with_rides(app, bikes, f"u-twin-{i}", 1, start=same) for i in range(3)]
    for i, person in enumerate(twins):
        set_display_name(app.ctx, person, f"Twin {i}", opted_in=True)
    by_key = sorted(range(3), key=lambda i: pseudonymous_key(person_account(twins[i])))
    shown = [name for _, name, _ in board(app)]
    assert shown == ["Early", *(f"Twin {i}" for i in by_key), "Late"]
    assert [name for _, name, _ in board(app)] == shown  # the same every time


def test_a_reversed_or_requantified_reduction_moves_the_board(app: App) -> None:
    """Wuhan rides are re-quantified down (319 g → 34 g each): the Beijing rider (2 × 52 g)
    overtakes."""
    bikes = add_enterprise(app.ctx, "Bikes", {Role.SCENE})
    wuhan = person_with_rides(app, bikes, "u-wuhan", 2)
    beijing = person_with_rides(app, bikes, "u-beijing", 2, region="110105")
    set_display_name(app.ctx, wuhan, "Wuhan", opted_in=True)
    set_display_name(app.ctx, beijing, "Beijing", opted_in=True)
    before = board(app)
    assert [name for _, name, _ in before] == ["Wuhan", "Beijing"]
    assert before[0][2] == 2 * 319
    publish_version(app.ctx, version_3(app, value="10"), NOW.date() + timedelta(days=1))
    requantify(app.ctx, CODE, 2, 3, apply=True)
    after = board(app)
    assert [(rank, name) for rank, name, _ in after] == [(1, "Beijing"), (2, "Wuhan")]
    assert after == [(1, "Beijing", 2 * 52), (2, "Wuhan", 2 * 34)]


def test_boards_by_group_region_and_period(app: App) -> None:
    bikes = add_enterprise(app.ctx, "Bikes", {Role.SCENE})
    wuhan = person_with_rides(app, bikes, "u-wuhan", 2)
    beijing = person_with_rides(app, bikes, "u-beijing", 1, region="110105")
    set_display_name(app.ctx, wuhan, "Wuhan", opted_in=True)
    set_display_name(app.ctx, beijing, "Beijing", opted_in=True)
    assert [n for _, n, _ in board(app, BoardKind.GROUP, "mobility")] == ["Wuhan", "Beijing"]
    assert [n for _, n, _ in board(app, region="110000")] == ["Beijing"]  # a province
    assert [n for _, n, _ in board(app, region="420100")] == ["Wuhan"]  # a prefecture
    assert [n for _, n, _ in board(app, region="420106")] == ["Wuhan"]  # a county
    assert board(app, top=1) == [(1, "Wuhan", 2 * 319)]
    spec = board_spec(
        BoardKind.BEHAVIOUR, "bike_share_ride", None, DAY + timedelta(1), DAY + timedelta(2)
    )
    assert leaderboard(app.ctx, spec, 10).placings == []  # other days


def test_bad_boards_and_names_are_refused(app: App) -> None:
    with pytest.raises(NotFoundError):
        board(app, BoardKind.BEHAVIOUR, "teleporting")
    with pytest.raises(NotFoundError):
        board(app, BoardKind.GROUP, "no-such-group")
    with pytest.raises(NotFoundError):
        board(app, BoardKind.PROGRAMME, "no.such")
    with pytest.raises(InvalidInputError):
        board_spec(BoardKind.BEHAVIOUR, "bike_share_ride", None, DAY, DAY - timedelta(days=1))
    with pytest.raises(InvalidInputError):
        board_spec(BoardKind.BEHAVIOUR, "bike_share_ride", "42", DAY, DAY)
    with pytest.raises(InvalidInputError):
        board(app, top=0)
    person = add_person(app.ctx).id
    with pytest.raises(InvalidInputError):
        set_display_name(app.ctx, person, "  ", opted_in=True)
    with pytest.raises(InvalidInputError):
        set_display_name(app.ctx, person, "x" * 33, opted_in=True)
    with pytest.raises(InvalidInputError):
        set_display_name(app.ctx, person, None, opted_in=True)  # no name chosen yet
    with pytest.raises(NotFoundError):
        set_display_name(app.ctx, uuid.uuid4(), "Ghost", opted_in=True)
