"""Rate buckets in the database: the first requests of a credential, made at the same moment by
several server workers, must all be answered — not one of them may lose a race with a 500."""

from __future__ import annotations

import threading
import time
import uuid

from tanpuhui.bootstrap import App
from tests.conftest import NOW
from tests.db_fixtures import rows


def test_concurrent_first_requests_share_one_new_bucket(app: App) -> None:
    credential = uuid.uuid4()
    first_took = threading.Event()
    release = threading.Event()
    waits: list[float] = []
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with app.ctx.uow() as uow:
                waits.append(uow.access.take_token(credential, NOW, 1.0, 5.0))
                first_took.set()
                release.wait(10)  # hold the new bucket uncommitted while the second arrives
                uow.commit()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            first_took.set()

    def second() -> None:
        first_took.wait(10)
        try:
            with app.ctx.uow() as uow:  # on PostgreSQL: finds no committed bucket, then waits
                waits.append(uow.access.take_token(credential, NOW, 1.0, 5.0))
                uow.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_took.wait(10)
    time.sleep(0.3)  # let the second reach the bucket (ordering only; nothing asserts on time)
    release.set()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert waits == [0.0, 0.0]
    assert rows(app, "select tokens from rate_buckets")[0][0] == 3.0  # one bucket, two tokens taken
