"""Races between concurrent writers end in the precise answer or a retryable refusal — never in
a driver exception (which the API would turn into a 500)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tanpuhui.bootstrap import App
from tanpuhui.domain.errors import ConflictError, RaceLostError
from tanpuhui.domain.parties import Enterprise, Role
from tanpuhui.services.context import retry_races
from tanpuhui.services.parties import add_enterprise
from tests.conftest import NOW
from tests.db_fixtures import rows


def race(app: App, first: Callable[[Any], object], second: Callable[[], object]) -> list[object]:
    """Run `first(uow)` in one transaction and hold it open (uncommitted) while `second()`
    starts in another thread and reaches the same rows; then commit the first. Returns what
    each returned or raised, first's then second's. On PostgreSQL the second finds nothing
    committed and has to wait on the first; SQLite's single writer makes it queue."""
    done, release = threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def hold() -> None:
        try:
            with app.ctx.uow() as uow:
                results["first"] = first(uow)
                done.set()
                release.wait(10)
                uow.commit()
        except Exception as exc:  # pragma: no cover - reported by the caller's assertions
            results["first"] = exc
            done.set()

    def contend() -> None:
        done.wait(10)
        try:
            results["second"] = second()
        except Exception as exc:
            results["second"] = exc

    threads = [threading.Thread(target=hold), threading.Thread(target=contend)]
    for thread in threads:
        thread.start()
    done.wait(10)
    time.sleep(0.3)  # let the second reach the rows (ordering only; nothing asserts on time)
    release.set()
    for thread in threads:
        thread.join(30)
    return [results.get("first"), results.get("second")]


def test_two_enterprises_named_alike_at_the_same_moment_get_a_conflict(app: App) -> None:
    """The second sees no committed name, inserts, loses on the unique index — and is then
    told the name exists (409), as if it had come a moment later."""
    bikes = Enterprise(uuid.uuid4(), "Green Bikes", frozenset({Role.SCENE}), datetime.now(UTC))
    first, second = race(
        app,
        lambda uow: uow.enterprises.add(bikes),
        lambda: add_enterprise(app.ctx, "Green Bikes", {Role.SCENE}),
    )
    assert first is None
    assert isinstance(second, ConflictError), second


def test_concurrent_first_requests_of_a_credential_share_one_new_bucket(app: App) -> None:
    """Several server workers answering a credential's first requests at the same moment: each
    takes a token from the one bucket (this used to end in a unique violation and a 500)."""
    credential = uuid.uuid4()

    def take() -> float:
        with app.ctx.uow() as uow:
            wait = uow.access.take_token(credential, NOW, 1.0, 5.0)
            uow.commit()
        return wait

    waits = race(app, lambda uow: uow.access.take_token(credential, NOW, 1.0, 5.0), take)
    assert waits == [0.0, 0.0]
    assert rows(app, "select tokens from rate_buckets")[0][0] == 3.0  # one bucket, two tokens


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
