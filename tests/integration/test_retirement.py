"""Retirement and carbon-market export on SQLite and PostgreSQL (issue 13 items 1 and 2):
serial blocks that sum to the retirement and whose lineage sums to their size, idempotency,
refusals, the export state machine (return, a second attempt of the same block), locked grams,
the export file, and the database refusing to move retired or exported grams even when the
services are bypassed. Every test that moves grams ends with `verify_ledger` clean.

The world (a platform enterprise holding ~1.1 t of verified bike rides) is built once per
engine and copied for each test (a file copy, or CREATE DATABASE … TEMPLATE).
"""

from __future__ import annotations

import csv
import io
import itertools
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tanpuhui.adapters.db import schema as t
from tanpuhui.adapters.system import FixedClock
from tanpuhui.bootstrap import App, build
from tanpuhui.config import Settings
from tanpuhui.demo.retirement import run_retirement
from tanpuhui.domain.certificates import SERIAL
from tanpuhui.domain.errors import (
    ConflictError,
    ForbiddenError,
    InsufficientBalanceError,
    InvalidInputError,
    TanpuhuiError,
)
from tanpuhui.domain.ledger import enterprise_account
from tanpuhui.domain.parties import Role
from tanpuhui.domain.retirement import (
    TONNE,
    BlockStatus,
    ExportStatus,
    RetirementRequest,
    exported_account,
    exporting_account,
    parse_serial,
    retired_account,
)
from tanpuhui.services.certificates import verify_certificate
from tanpuhui.services.export import create_export, export_csv, export_file, mark_export
from tanpuhui.services.ledger import verify_ledger
from tanpuhui.services.market import holdings_of
from tanpuhui.services.parties import add_enterprise
from tanpuhui.services.retirement import retire_reductions
from tests.conftest import NOW
from tests.db_fixtures import ENGINES, rows
from tests.retirement_world import World, bought_world

ASK = RetirementRequest(5_000, "Maps Ltd", "offsetting its 2026 scope 1-3 emissions", "2026")


@pytest.fixture(scope="module", params=ENGINES)
def world_template(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, str, World]:
    engine = str(request.param)
    if engine == "sqlite":
        path = tmp_path_factory.mktemp("world") / "world.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        server, template = (
            request.getfixturevalue("pg_server"),
            request.getfixturevalue("pg_template"),
        )
        name = f"w_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        admin.dispose()
        url = sa.engine.make_url(server).set(database=name).render_as_string(hide_password=False)
    app = build(Settings(database_url=url), clock=FixedClock(NOW))
    world = bought_world(app, persons=11, days=12, platforms=2)
    app.close()
    return engine, url, world


@pytest.fixture
def world(
    world_template: tuple[str, str, World], request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[App, World]]:
    engine, url, built = world_template
    if engine == "sqlite":
        path = tmp_path / "tanpuhui.db"
        shutil.copyfile(sa.engine.make_url(url).database or "", path)
        copy = f"sqlite:///{path}"
    else:
        name = f"t_{uuid.uuid4().hex[:12]}"
        source = sa.engine.make_url(url)
        admin = sa.create_engine(source.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{source.database}"')
        admin.dispose()
        copy = source.set(database=name).render_as_string(hide_password=False)
    app = build(Settings(database_url=copy), clock=FixedClock(NOW))
    yield app, built
    app.close()


def _balance(app: App, account: str) -> int:
    found = rows(app, "select amount from balances where account = :a", a=account)
    return sum(int(r.amount) for r in found)


def test_a_retirement_moves_grams_into_serial_blocks_that_sum_to_it(
    world: tuple[App, World],
) -> None:
    app, w = world
    before = _balance(app, w.holder)
    done = retire_reductions(app.ctx, w.platform, ASK, "r-1")
    # its certificate is issued with it, signed by the platform key, and verifies by serial
    certificate = verify_certificate(app.ctx, done.retirement.certificate)
    assert certificate.content["grams"] == ASK.grams
    assert certificate.content["details"]["retirement"] == str(done.retirement.id)
    assert sum(b.grams for b in done.blocks) == ASK.grams
    for block in done.blocks:
        assert sum(lot.grams for lot in block.lots) == block.grams == block.end - block.start + 1
        cls, start, end = parse_serial(block.serial)
        assert (cls, start, end) == (block.asset_class, block.start, block.end)
        assert block.status is BlockStatus.RETIRED
    assert done.blocks[0].serial.startswith("TPH-mobility-420000-202611-Q2-000000000001-")
    assert _balance(app, w.holder) == before - ASK.grams
    assert _balance(app, retired_account(w.platform)) == ASK.grams
    assert verify_ledger(app.ctx) == []


def test_retirements_continue_their_class_serials_across_enterprises(
    world: tuple[App, World],
) -> None:
    app, w = world
    first = retire_reductions(app.ctx, w.platform, ASK)
    other = retire_reductions(app.ctx, w.platforms[1], ASK._replace(beneficiary="Taxi Co"))
    third = retire_reductions(app.ctx, w.platform, ASK._replace(grams=123))
    ranges = [(b.start, b.end) for r in (first, other, third) for b in r.blocks]
    assert ranges == [(1, 5_000), (5_001, 10_000), (10_001, 10_123)]  # contiguous, disjoint
    certificates = {r.retirement.certificate for r in (first, other, third)}
    assert len(certificates) == 3 and all(SERIAL.fullmatch(c) for c in certificates)
    assert verify_ledger(app.ctx) == []


def test_a_retirement_is_idempotent_by_request_id(world: tuple[App, World]) -> None:
    app, w = world
    done = retire_reductions(app.ctx, w.platform, ASK, "r-1")
    again = retire_reductions(app.ctx, w.platform, ASK, "r-1")
    assert again.replayed and again.retirement == done.retirement
    assert [b.serial for b in again.blocks] == [b.serial for b in done.blocks]
    assert _balance(app, retired_account(w.platform)) == ASK.grams
    with pytest.raises(ConflictError) as clash:
        retire_reductions(app.ctx, w.platform, ASK._replace(grams=6_000), "r-1")
    assert clash.value.code == "request_conflict"


def test_a_retirement_beyond_the_holdings_is_refused_and_moves_nothing(
    world: tuple[App, World],
) -> None:
    app, w = world
    held = _balance(app, w.holder)
    with pytest.raises(InsufficientBalanceError) as refused:
        retire_reductions(app.ctx, w.platform, ASK._replace(grams=held + 1))
    assert refused.value.code == "insufficient_balance"
    assert refused.value.details == {"available_grams": held, "requested_grams": held + 1}
    assert _balance(app, w.holder) == held
    assert rows(app, "select * from serial_blocks") == []


@pytest.mark.parametrize(
    ("ask", "code"),
    [
        (ASK._replace(grams=0), "invalid_input"),
        (ASK._replace(beneficiary=" "), "invalid_input"),
        (ASK._replace(purpose="x" * 501), "invalid_input"),
        (ASK._replace(period="last year"), "invalid_period"),
    ],
)
def test_bad_retirement_requests_are_refused_with_a_code(
    world: tuple[App, World], ask: RetirementRequest, code: str
) -> None:
    app, w = world
    with pytest.raises(InvalidInputError) as refused:
        retire_reductions(app.ctx, w.platform, ask)
    assert refused.value.code == code


def test_only_a_platform_enterprise_retires(world: tuple[App, World]) -> None:
    app, w = world
    with pytest.raises(ForbiddenError) as refused:
        retire_reductions(app.ctx, w.scene, ASK)
    assert refused.value.code == "not_platform"


def _posting_around_the_service(app: App, account: str, asset: str) -> None:
    """Write an entry debiting `account` straight into the tables."""
    entry = uuid.uuid4()
    with app.engine.begin() as conn:
        conn.execute(
            t.ledger_entries.insert().values(
                shard=0, id=entry, kind="sale", created_at=NOW, memo="bypass"
            )
        )
        conn.execute(
            t.postings.insert(),
            [
                {"shard": 0, "entry_id": entry, "line": 1, "account": account, "asset": asset,
                 "amount": -1},
                {"shard": 0, "entry_id": entry, "line": 2, "account": "enterprise:thief",
                 "asset": asset, "amount": 1},
            ],
        )  # fmt: skip


def test_the_database_refuses_to_move_retired_grams_around_the_service(
    world: tuple[App, World],
) -> None:
    """Invariant 8 in the database: no debit of a retired account, no lowering of its
    balance, no rewriting of its blocks or their lineage."""
    app, w = world
    done = retire_reductions(app.ctx, w.platform, ASK)
    account, asset = retired_account(w.platform), done.blocks[0].lots[0].asset
    with pytest.raises(sa.exc.DBAPIError, match="never move"):
        _posting_around_the_service(app, account, asset)
    for statement in (
        f"update balances set amount = amount - 1 where account = '{account}'",
        f"delete from balances where account = '{account}'",
        "update serial_blocks set status = 'pending_export'",
        'update serial_blocks set "end" = "end" + 1, grams = grams + 1',
        "delete from serial_blocks",
        "update block_lineage set grams = grams - 1",
        "delete from block_lineage",
        "update retirements set grams = 1",
        "delete from retirements",
    ):
        with pytest.raises(sa.exc.DBAPIError), app.engine.begin() as conn:
            conn.exec_driver_sql(statement)
    assert verify_ledger(app.ctx) == []


def test_two_blocks_of_a_class_cannot_start_at_the_same_number(world: tuple[App, World]) -> None:
    app, w = world
    retire_reductions(app.ctx, w.platform, ASK)
    with pytest.raises(sa.exc.IntegrityError), app.engine.begin() as conn:
        conn.exec_driver_sql(
            'insert into serial_blocks (class, start, "end", grams, id, serial, shard,'
            " enterprise_id, status, retirement_id, export_id, created_at)"
            " select class, start, \"end\", grams, id || 'x', serial || 'x', shard,"
            " enterprise_id, status, retirement_id, export_id, created_at from serial_blocks"
            if app.engine.dialect.name == "sqlite"
            else 'insert into serial_blocks select class, start, "end", grams,'
            " gen_random_uuid(), serial || 'x', shard, enterprise_id, status, retirement_id,"
            " export_id, created_at from serial_blocks"
        )


def test_an_overlapping_range_is_refused_on_postgresql_and_named_by_verify(
    world: tuple[App, World],
) -> None:
    """A block starting inside another of its class: PostgreSQL's exclusion constraint refuses
    it; on SQLite (the key only refuses equal starts) `ledger verify` names it."""
    app, w = world
    (block,) = retire_reductions(app.ctx, w.platform, ASK).blocks
    overlapping = {
        "class": block.asset_class.key, "start": 10, "end": 20, "grams": 11,
        "id": uuid.uuid4(), "serial": "overlap", "shard": 0, "enterprise_id": w.platform,
        "status": "pending_export", "retirement_id": None, "export_id": uuid.uuid4(),
        "created_at": NOW,
    }  # fmt: skip
    if app.engine.dialect.name == "postgresql":
        with pytest.raises(sa.exc.IntegrityError), app.engine.begin() as conn:
            conn.execute(t.serial_blocks.insert().values(overlapping))
        return
    with app.engine.begin() as conn:
        conn.execute(t.serial_blocks.insert().values(overlapping))
    assert "serial_overlap" in {v.code for v in verify_ledger(app.ctx)}


# --- export -------------------------------------------------------------------------------


def _lots(app: App, account: str) -> dict[uuid.UUID, int]:
    return {
        lot.reduction_id: lot.grams
        for lots in holdings_of(app.ctx, account).values()
        for lot in lots
    }


def test_an_export_locks_whole_tonnes_and_a_return_gives_them_back_unchanged(
    world: tuple[App, World],
) -> None:
    app, w = world
    before = _lots(app, w.holder)
    pending = create_export(app.ctx, w.platform, 1, "CCER")
    (block,) = pending.blocks
    assert (pending.export.status, block.status, block.grams) == (
        ExportStatus.PENDING_EXPORT, BlockStatus.PENDING_EXPORT, TONNE,
    )  # fmt: skip
    assert sum(lot.grams for lot in block.lots) == TONNE
    assert _balance(app, exporting_account(w.platform)) == TONNE
    left = _balance(app, w.holder)
    # locked: neither retired nor exported again (they are not among the holdings)
    with pytest.raises(InsufficientBalanceError):
        retire_reductions(app.ctx, w.platform, ASK._replace(grams=left + 1))
    with pytest.raises(InsufficientBalanceError):
        create_export(app.ctx, w.platform, 1, "CCER")
    assert verify_ledger(app.ctx) == []

    returned = mark_export(app.ctx, pending.export.id, ExportStatus.RETURNED)
    assert returned.export.status is ExportStatus.RETURNED
    assert [b.status for b in returned.blocks] == [BlockStatus.RETURNED]
    assert _lots(app, w.holder) == before  # the same grams of the same reductions
    assert _balance(app, exporting_account(w.platform)) == 0
    with pytest.raises(ConflictError) as late:
        mark_export(app.ctx, pending.export.id, ExportStatus.EXPORTED, "REF-1")
    assert late.value.code == "export_not_pending"
    assert verify_ledger(app.ctx) == []


def test_a_returned_block_is_exported_again_as_a_new_attempt(world: tuple[App, World]) -> None:
    app, w = world
    first = create_export(app.ctx, w.platform, 1, "CCER")
    mark_export(app.ctx, first.export.id, ExportStatus.RETURNED)
    second = create_export(app.ctx, w.platform, 1, "CCER")
    assert second.export.id != first.export.id
    assert [b.serial for b in second.blocks] == [b.serial for b in first.blocks]
    assert [b.lots for b in second.blocks] == [b.lots for b in first.blocks]
    done = mark_export(app.ctx, second.export.id, ExportStatus.EXPORTED, "CCER-2026-0042")
    assert (done.export.status, done.export.reference) == (ExportStatus.EXPORTED, "CCER-2026-0042")
    again = mark_export(app.ctx, second.export.id, ExportStatus.EXPORTED, "CCER-2026-0042")
    assert again.replayed
    with pytest.raises(ConflictError):
        mark_export(app.ctx, second.export.id, ExportStatus.RETURNED)
    assert _balance(app, exported_account("CCER")) == TONNE
    assert _balance(app, exporting_account(w.platform)) == 0
    # exported is final, in the database too
    for statement in (
        "update serial_blocks set status = 'returned' where status = 'exported'",
        "update serial_blocks set status = 'pending_export' where status = 'exported'",
        "update exports set status = 'returned' where status = 'exported'",
    ):
        with pytest.raises(sa.exc.DBAPIError), app.engine.begin() as conn:
            conn.exec_driver_sql(statement)
    with pytest.raises(sa.exc.DBAPIError, match="never move"):
        _posting_around_the_service(app, exported_account("CCER"), done.blocks[0].lots[0].asset)
    assert verify_ledger(app.ctx) == []


def test_retired_and_exported_serials_never_overlap(world: tuple[App, World]) -> None:
    app, w = world
    retire_reductions(app.ctx, w.platform, ASK)
    export = create_export(app.ctx, w.platform, 1, "CCER")
    retire_reductions(app.ctx, w.platform, ASK._replace(grams=7))
    found = sorted(
        (r[0], int(r[1]), int(r[2]))
        for r in rows(app, 'select class, start, "end" from serial_blocks')
    )
    for (c1, _, e1), (c2, s2, _) in itertools.pairwise(found):
        assert c1 != c2 or s2 == e1 + 1
    assert export.blocks[0].start == ASK.grams + 1
    assert verify_ledger(app.ctx) == []


def test_the_export_file_names_serials_vintages_methodologies_regions_and_quality(
    world: tuple[App, World],
) -> None:
    app, w = world
    export = create_export(app.ctx, w.platform, 1, "CCER")
    data = export_file(app.ctx, export.export.id)
    (row,) = data["blocks"]
    assert row == {
        "serial": export.blocks[0].serial, "start": 1, "end": TONNE,
        "quantity_grams": TONNE, "quantity_tonnes": 1, "programme": "TPH",
        "behaviour_group": "mobility", "province": "420000", "vintage": "2026-11",
        "quality_tier": "Q2", "quality": "2nd",
        "methodologies": ["cycling.shared_bike.wuhan@2"], "status": "pending_export",
    }  # fmt: skip
    (line,) = list(csv.DictReader(io.StringIO(export_csv(data))))
    assert (
        line["serial"] == row["serial"] and line["methodologies"] == "cycling.shared_bike.wuhan@2"
    )
    assert (data["registry"], data["status"], data["tonnes"]) == ("CCER", "pending_export", 1)


def test_unverified_grams_are_not_exported(app: App) -> None:
    w = bought_world(app, persons=10, days=12, verify=False)
    assert w.bought > TONNE
    with pytest.raises(InsufficientBalanceError) as refused:
        create_export(app.ctx, w.platform, 1, "CCER")
    assert refused.value.details["available_tonnes"] == 0


def test_an_unknown_enterprise_or_bad_registry_is_refused(world: tuple[App, World]) -> None:
    app, w = world
    with pytest.raises(TanpuhuiError) as unknown:
        create_export(app.ctx, uuid.uuid4(), 1, "CCER")
    assert unknown.value.code == "not_found"
    with pytest.raises(InvalidInputError) as bad:
        create_export(app.ctx, w.platform, 1, "no spaces please")
    assert bad.value.code == "invalid_registry"
    with pytest.raises(InvalidInputError):
        create_export(app.ctx, w.platform, 0, "CCER")


# --- concurrency --------------------------------------------------------------------------


def test_concurrent_retirements_get_disjoint_serial_ranges(world: tuple[App, World]) -> None:
    """N threads retire at once for two enterprises on one class: on PostgreSQL the class's
    counter row orders them (the enterprises' locks do not); SQLite has one writer."""
    app, w = world
    start = threading.Barrier(8)
    results: list[object] = []

    def retire(i: int) -> None:
        start.wait()
        who = w.platforms[i % 2]
        results.append(retire_reductions(app.ctx, who, ASK._replace(grams=1_000 + i)))

    threads = [threading.Thread(target=retire, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    found = sorted(
        (int(r[0]), int(r[1])) for r in rows(app, 'select start, "end" from serial_blocks')
    )
    assert len(found) == 8
    assert found[0][0] == 1
    for (_, end), (nxt, _) in itertools.pairwise(found):
        assert nxt == end + 1  # disjoint and contiguous
    certificates = {c for (c,) in rows(app, "select certificate from retirements")}
    assert len(certificates) == 8
    assert verify_ledger(app.ctx) == []


def test_a_scene_enterprise_holding_nothing_cannot_export(world: tuple[App, World]) -> None:
    app, _ = world
    other = add_enterprise(app.ctx, "Empty", {Role.PLATFORM}).id
    with pytest.raises(InsufficientBalanceError):
        create_export(app.ctx, other, 1, "CCER")
    assert enterprise_account(other) not in {
        r[0] for r in rows(app, "select account from balances")
    }


def test_the_demo_retires_half_of_a_purchase_and_prints_its_serials(
    world: tuple[App, World],
) -> None:
    app, w = world
    said: list[str] = []
    done = run_retirement(app, said.append, buyer="Maps")
    assert _balance(app, retired_account(w.platform)) == w.bought // 2
    (line,) = said
    assert done["certificate"] in line and all(s in line for s in done["serials"])
