"""The unit of work: one connection, one transaction, every repository bound to it.

Only the service that opens a unit of work commits it; leaving the `with` block without a
commit rolls back. After a commit, the lines a batch queued for the shard logs are integrated
in a second, short transaction (`_sequence`; a unit with a handful of lines leaves them to the
next pass or checkpoint). Database errors that mean "a concurrent writer won a
race" (unique violations, deadlocks) become `RaceLostError` so the service can retry the whole
unit; SQLite's "database is locked", a full lock table and a schema not migrated yet become
the other `TransientError`s (503 + Retry-After); a holder balance going negative becomes
`InsufficientBalanceError`.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Self

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tanpuhui.adapters.db.access_repository import SqlAccess
from tanpuhui.adapters.db.aggregates_repository import SqlAggregates
from tanpuhui.adapters.db.audit_repository import SqlAudit
from tanpuhui.adapters.db.certificates_repository import SqlCertificates
from tanpuhui.adapters.db.corrections_repository import SqlCorrections
from tanpuhui.adapters.db.engine import WRITE
from tanpuhui.adapters.db.evidence_repository import SqlEvidence
from tanpuhui.adapters.db.exclusions_repository import SqlExclusions
from tanpuhui.adapters.db.intake_repository import SqlIntake
from tanpuhui.adapters.db.ledger_repository import SqlLedger
from tanpuhui.adapters.db.log_repository import INLINE_SEQUENCE_LINES, SqlLogs
from tanpuhui.adapters.db.market_repository import SqlMarket
from tanpuhui.adapters.db.mrv_repository import SqlMrv
from tanpuhui.adapters.db.officials_repository import SqlOfficials
from tanpuhui.adapters.db.page_queries import SqlPages
from tanpuhui.adapters.db.queries import SqlQueries
from tanpuhui.adapters.db.repositories import (
    SqlBindings,
    SqlCatalogue,
    SqlEnterprises,
    SqlLocks,
    SqlPersons,
)
from tanpuhui.adapters.db.retirement_repository import SqlRetirement
from tanpuhui.adapters.db.settlement_repository import SqlSettlement
from tanpuhui.adapters.db.sign_in_repository import SqlSignIn
from tanpuhui.adapters.db.verify_repository import SqlVerify
from tanpuhui.domain.errors import (
    DatabaseLockedError,
    InsufficientBalanceError,
    LockTableFullError,
    NotMigratedError,
    RaceLostError,
    UnavailableError,
)

RACE_SQLSTATES = {"23505", "40P01", "40001"}  # unique violation, deadlock, serialization


_SQLITE_WRITERS: dict[int, threading.Lock] = {}
_REGISTRY = threading.Lock()


def _writer_lock(engine: Engine) -> threading.Lock | None:
    """SQLite has one writer at a time. Threads of one process queue for it here; left to
    SQLite's busy handler they would sleep in growing steps (up to 100 ms) instead."""
    if engine.dialect.name != "sqlite":
        return None
    with _REGISTRY:
        return _SQLITE_WRITERS.setdefault(id(engine), threading.Lock())


class SqlUnitOfWork:
    def __init__(self, engine: Engine, *, write: bool = True) -> None:
        self.engine = engine
        self.write = write
        self._queue = _writer_lock(engine) if write else None

    def __enter__(self) -> Self:
        if self._queue is not None:
            self._queue.acquire()
        try:
            return self._begin()
        except BaseException:
            if self._queue is not None:
                self._queue.release()
            raise

    def _begin(self) -> Self:
        try:
            conn = self.engine.connect()
        except sa.exc.DBAPIError as exc:
            raise UnavailableError(
                f"cannot reach the database: {str(exc.orig).splitlines()[0]}",
                code="database_unavailable",
            ) from None
        if self.write:
            conn = conn.execution_options(**{WRITE: True})
        self.conn = conn
        try:
            self._tx = conn.begin()  # SQLite: BEGIN IMMEDIATE waits for the writer lock here
        except sa.exc.DBAPIError as exc:
            conn.close()
            translated = translate(exc)
            if translated is not None:
                raise translated from exc
            raise
        self.enterprises = SqlEnterprises(conn)
        self.persons = SqlPersons(conn)
        self.bindings = SqlBindings(conn)
        self.locks = SqlLocks(conn)
        self.catalogue = SqlCatalogue(conn)
        self.intake = SqlIntake(conn)
        self.ledger = SqlLedger(conn)
        self.verify = SqlVerify(conn)
        self.logs = SqlLogs(conn)
        self.queries = SqlQueries(conn)
        self.access = SqlAccess(conn)
        self.corrections = SqlCorrections(conn)
        self.evidence = SqlEvidence(conn)
        self.exclusions = SqlExclusions(conn)
        self.settlement = SqlSettlement(conn)
        self.sign_in, self.pages = SqlSignIn(conn), SqlPages(conn)
        self.aggregates = SqlAggregates(conn)
        self.officials = SqlOfficials(conn)
        self.mrv = SqlMrv(conn)
        self.audit = SqlAudit(conn)
        self.market = SqlMarket(conn)
        self.certificates = SqlCertificates(conn)
        self.retirement = SqlRetirement(conn)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._tx.is_active:
                self._tx.rollback()
        finally:
            self.conn.close()
            if self._queue is not None:
                self._queue.release()
        if isinstance(exc, sa.exc.DBAPIError):
            translated = translate(exc)
            if translated is not None:
                raise translated from exc

    def commit(self) -> None:
        try:
            self._tx.commit()
        except sa.exc.DBAPIError as exc:
            translated = translate(exc)
            if translated is not None:
                raise translated from exc
            raise
        logs = (self.ledger.logs, self.logs)
        if sum(x.queued_lines_count for x in logs) >= INLINE_SEQUENCE_LINES:
            self._sequence(logs[0].queued | logs[1].queued)
        for x in logs:
            x.queued.clear()
            x.queued_lines_count = 0

    def _sequence(self, shards: set[int]) -> None:
        """Integrate the lines this unit queued into their shard logs, in a transaction of its
        own after the commit: a shard whose head another sequencer holds is skipped, never
        waited for — its lines stay queued for the next pass over it, and every checkpoint
        integrates whatever is queued first. What was committed stands either way."""
        try:
            with self.conn.begin():
                SqlLogs(self.conn).sequence(shards, wait=False)
        except sa.exc.OperationalError:
            pass  # the database went away or SQLite stayed busy: the lines stay queued

    def rollback(self) -> None:
        self._tx.rollback()


def translate(exc: sa.exc.DBAPIError) -> Exception | None:
    """The project error a driver error stands for, or None when it is a bug."""
    text = str(exc.orig)
    if "no such table" in text or getattr(exc.orig, "sqlstate", None) == "42P01":
        return NotMigratedError(text.splitlines()[0])
    if isinstance(exc, sa.exc.OperationalError) and (
        "database is locked" in text or "database table is locked" in text
    ):  # SQLite: another process kept the writer lock past the busy timeout
        return DatabaseLockedError(text.splitlines()[0])
    if isinstance(exc, sa.exc.OperationalError) and (
        getattr(exc.orig, "sqlstate", None) in (None, "08000", "08001", "08006", "57P01", "57P03")
        and ("connect" in text or "unable to open" in text or "terminat" in text)
    ):
        return UnavailableError(
            f"cannot reach the database: {text.splitlines()[0]}", code="database_unavailable"
        )
    if "holder_not_negative" in text:
        return InsufficientBalanceError("a holder balance would go negative")
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate == "53200":  # out of shared memory: the lock table is full
        return LockTableFullError(text.splitlines()[0])
    if sqlstate in RACE_SQLSTATES:
        return RaceLostError(text.splitlines()[0])
    if isinstance(exc, sa.exc.IntegrityError) and "UNIQUE constraint failed" in text:
        return RaceLostError(text)
    return None


def writable(engine: Engine, timeout_s: float) -> bool:
    """Whether a write could start within `timeout_s` (readiness). SQLite: take the writer
    lock with a short busy timeout and roll back at once — another process holding it (a
    long transaction, a stuck tool) makes this False; this process writing makes it True.
    PostgreSQL has no database-wide writer lock: True."""
    queue = _writer_lock(engine)
    if queue is None:
        return True
    if not queue.acquire(blocking=False):
        return True  # a thread of this process is writing right now: writes do go through
    try:
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            (usual,) = cursor.execute("PRAGMA busy_timeout").fetchone()
            cursor.execute(f"PRAGMA busy_timeout={max(1, int(timeout_s * 1000))}")
            try:
                cursor.execute("BEGIN IMMEDIATE")
                cursor.execute("ROLLBACK")
                return True
            except Exception as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    return False
                raise
            finally:
                cursor.execute(f"PRAGMA busy_timeout={int(usual)}")
                cursor.close()
        finally:
            raw.close()
    finally:
        queue.release()
