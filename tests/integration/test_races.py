"""Races between concurrent writers end in the precise answer or a retryable refusal — never in
a driver exception (which the API would turn into a 500)."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime

import pytest

from tanpuhui.bootstrap import App
from tanpuhui.domain.errors import ConflictError
from tanpuhui.domain.parties import Enterprise, Role
from tanpuhui.services.context import retry_races
from tanpuhui.services.parties import add_enterprise
from tanpuhui.services.ports import RaceLostError


def test_two_enterprises_named_alike_at_the_same_moment_get_a_conflict(app: App) -> None:
    """The second sees no committed name, inserts, loses on the unique index — and is then
    told the name exists (409), as if it had come a moment later."""
    inserted, release = threading.Event(), threading.Event()
    outcome: list[object] = []

    def first() -> None:
        with app.ctx.uow() as uow:
            uow.enterprises.add(
                Enterprise(uuid.uuid4(), "Green Bikes", frozenset({Role.SCENE}), datetime.now(UTC))
            )
            inserted.set()
            release.wait(10)
            uow.commit()

    def second() -> None:
        inserted.wait(10)
        try:
            outcome.append(add_enterprise(app.ctx, "Green Bikes", {Role.SCENE}))
        except Exception as exc:
            outcome.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    inserted.wait(10)
    time.sleep(0.3)  # let the second reach the name (ordering only; nothing asserts on time)
    release.set()
    for thread in threads:
        thread.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], ConflictError), outcome


def test_a_race_lost_every_time_is_a_retryable_refusal() -> None:
    calls = []

    def always_loses() -> None:
        calls.append(1)
        raise RaceLostError("duplicate key value violates unique constraint")

    with pytest.raises(RaceLostError) as caught:
        retry_races(always_loses, attempts=3)
    assert len(calls) == 3
    assert caught.value.code == "concurrent_write"
    assert "duplicate key" not in caught.value.message  # the driver's words stay inside
