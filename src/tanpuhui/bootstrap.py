"""The composition root: settings → engine → unit of work → service context.

Entrypoints (CLI, API) call `build` once and pass the resulting `App` around.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError

from tanpuhui.adapters.catalogue_files import (
    bundled_catalogue_dir,
    load_regions,
    read_catalogue_dir,
)
from tanpuhui.adapters.crypto import Ed25519Verifier, SystemSecrets, checkpoint_signer
from tanpuhui.adapters.db.engine import create_engine
from tanpuhui.adapters.db.migrate import current_revision, head_revision, upgrade
from tanpuhui.adapters.db.unit_of_work import SqlUnitOfWork, writable
from tanpuhui.adapters.system import FixedClock, SystemClock, Uuid7Source
from tanpuhui.config import Settings
from tanpuhui.domain.errors import ConfigurationError
from tanpuhui.services.catalogue import PublishReport, VersionFile, publish_catalogue
from tanpuhui.services.context import Context, Limits
from tanpuhui.services.ports import Clock


@dataclass(frozen=True)
class App:
    settings: Settings
    engine: Engine
    ctx: Context

    def close(self) -> None:
        self.engine.dispose()


def tune_runtime() -> None:
    """Process-wide tuning for batch work, called once by each entrypoint.

    Intake builds and drops hundreds of thousands of small tuples per second; with CPython's
    default thresholds the cyclic collector rescans them constantly (measured: a quarter of
    the pipeline's time). They hold no cycles, so collect far less often, and freeze what
    startup created (catalogue, regions) out of the collector's view.
    """
    gc.set_threshold(100_000, 50, 1000)
    gc.freeze()


def build(settings: Settings | None = None, *, clock: Clock | None = None) -> App:
    settings = settings or Settings()
    try:
        engine = create_engine(settings.database_url, pool_size=settings.pool_size)
    except (ArgumentError, ImportError) as exc:
        raise ConfigurationError(
            f"unusable TANPUHUI_DATABASE_URL {settings.database_url!r}: use sqlite:///path.db "
            f"or postgresql://… ({exc.__class__.__name__})"
        ) from None

    def uow(*, write: bool = True) -> SqlUnitOfWork:
        return SqlUnitOfWork(engine, write=write)

    ctx = Context(
        uow=uow,
        clock=clock or business_clock(settings),
        ids=Uuid7Source(),
        regions=load_regions(),
        tz=settings.tz(),
        wall_clock=SystemClock(),
        verifier=Ed25519Verifier(),
        secrets=SystemSecrets(),
        log_signer=checkpoint_signer(settings.checkpoint_origin, settings.checkpoint_key),
        limits=Limits(
            rate_per_s=settings.rate_limit_per_s,
            burst=settings.rate_limit_burst,
            max_body_bytes=settings.max_body_bytes,
            max_batch=settings.max_batch,
            max_subjects_per_transaction=settings.max_subjects_per_transaction,
            min_persons=settings.min_persons,
        ),
    )
    return App(settings, engine, ctx)


def business_clock(settings: Settings) -> Clock:
    """The system clock, or the moment TANPUHUI_NOW names: business time stands still there,
    so that every command of a session (each its own process) sees the same now."""
    return FixedClock(settings.now) if settings.now is not None else SystemClock()


def database_ready(app: App) -> bool:
    """The database answers, its schema is at the newest migration, and a write could start
    now (SQLite: no other process holds the writer lock past a short wait)."""
    try:
        if current_revision(app.engine) != head_revision(app.engine):
            return False
        return writable(app.engine, app.settings.ready_write_timeout_s)
    except Exception:
        return False


def upgrade_database(app: App, catalogue_dir: Path | None = None) -> PublishReport:
    """Migrate the schema to head and publish the catalogue (the bundled one by default)."""
    upgrade(app.engine)
    return publish_directory(app, catalogue_dir or bundled_catalogue_dir())


def publish_directory(app: App, directory: Path) -> PublishReport:
    files = read_catalogue_dir(directory, app.ctx.regions)
    versions = [VersionFile(name, lm.methodology, lm.content) for name, lm in files.methodologies]
    return publish_catalogue(app.ctx, files.groups, versions)
