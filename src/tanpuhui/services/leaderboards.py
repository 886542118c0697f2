"""Display names and leaderboards (issue 13 item 3; the ranking rules are domain/leaderboard.py).

A person takes part only after choosing a display name and opting in (default out); a board
shows display names only — never person ids — and ranks among opted-in people only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from tanpuhui.domain.errors import InvalidInputError, NotFoundError
from tanpuhui.domain.leaderboard import (
    BoardKind,
    BoardSpec,
    Placing,
    check_display_name,
    check_period,
    check_top,
    rank,
    scope_prefix,
)
from tanpuhui.domain.ledger import person_account
from tanpuhui.domain.programmes import Programme
from tanpuhui.services.certificate_ports import DisplayName
from tanpuhui.services.context import Context, retry_races
from tanpuhui.services.ports import UnitOfWork


@dataclass(frozen=True, slots=True)
class Board:
    spec: BoardSpec
    placings: list[Placing]


def set_display_name(
    ctx: Context, person_id: uuid.UUID, name: str | None, opted_in: bool | None
) -> DisplayName:
    """Choose or change a display name and/or opt in or out. A first call needs a name; a
    name alone leaves the choice as it was (out, for a new one)."""
    cleaned = check_display_name(name) if name is not None else None

    def attempt() -> DisplayName:
        with ctx.uow() as uow:
            if uow.persons.find(person_id) is None:
                raise NotFoundError(f"no person {person_id}")
            old = uow.certificates.find_display_name(person_id)
            chosen = cleaned if cleaned is not None else (old.name if old else None)
            if chosen is None:
                raise InvalidInputError(
                    "choose a display name before opting in or out", code="no_display_name"
                )
            keep = bool(old and old.opted_in)
            new = DisplayName(
                person_id, chosen, keep if opted_in is None else opted_in, ctx.clock.now()
            )
            uow.certificates.set_display_name(new)
            uow.commit()
            return new

    return retry_races(attempt)


def find_display_name(ctx: Context, person_id: uuid.UUID) -> DisplayName | None:
    with ctx.uow(write=False) as uow:
        return uow.certificates.find_display_name(person_id)


def board_spec(
    kind: BoardKind, code: str, region: str | None, first: date, last: date
) -> BoardSpec:
    """A checked board specification (the catalogue is checked when the board is read)."""
    check_period(first, last)
    if region is not None:
        scope_prefix(region)
    if not code.strip():
        raise InvalidInputError(f"name the {kind.value}")
    return BoardSpec(kind, code, region, first, last)


def leaderboard(ctx: Context, spec: BoardSpec, top: int) -> Board:
    check_top(top)
    with ctx.uow(write=False) as uow:
        return Board(spec, placings_in(uow, ctx, spec, top))


def placings_in(uow: UnitOfWork, ctx: Context, spec: BoardSpec, top: int) -> list[Placing]:
    """The board's first `top` placings, read in `uow`."""
    behaviours, group, prefixes = _selection(uow, ctx, spec)
    first, last = spec.first, spec.last
    if spec.kind is BoardKind.PROGRAMME:
        first, last = _clip(_programme(uow, spec.code), first, last)
    if first > last:
        return []
    tallies = uow.certificates.tallies(behaviours, group, prefixes, first, last)
    ids = [uuid.UUID(t.holder.removeprefix("person:")) for t in tallies]
    names = {person_account(p): n for p, n in uow.certificates.opted_in_names(ids).items()}
    return rank(tallies, names, top)


def _selection(
    uow: UnitOfWork, ctx: Context, spec: BoardSpec
) -> tuple[list[str] | None, str | None, list[str]]:
    prefixes = [scope_prefix(spec.region)] if spec.region else []
    catalogue = ctx.catalogues.current(uow).catalogue
    if spec.kind is BoardKind.PROGRAMME:
        programme = _programme(uow, spec.code)
        return (
            [r.behaviour for r in programme.rules],
            None,
            [*prefixes, scope_prefix(programme.region)],
        )
    if spec.kind is BoardKind.BEHAVIOUR:
        if not catalogue.knows_behaviour(spec.code):
            raise NotFoundError(f"no behaviour {spec.code!r} in the catalogue")
        return [spec.code], None, prefixes
    if spec.code not in catalogue.groups:
        raise NotFoundError(f"no behaviour group {spec.code!r} in the catalogue")
    return None, spec.code, prefixes


def _programme(uow: UnitOfWork, code: str) -> Programme:
    versions = uow.market.programme_versions(code)
    if not versions:
        raise NotFoundError(f"no points programme {code!r}")
    return versions[-1]


def _clip(programme: Programme, first: date, last: date) -> tuple[date, date]:
    """The board's days inside the programme's window."""
    end = min(last, programme.valid_to) if programme.valid_to else last
    return max(first, programme.valid_from), end


def board_view(board: Board) -> dict[str, Any]:
    """The board as the CLI, the API and the pages show it (display names only)."""
    spec = board.spec
    return {
        "board": {
            "kind": spec.kind.value,
            "code": spec.code,
            "region": spec.region,
            "from": str(spec.first),
            "to": str(spec.last),
        },
        "placings": [
            {"rank": p.rank, "display_name": p.display_name, "grams": p.grams}
            for p in board.placings
        ],
    }
