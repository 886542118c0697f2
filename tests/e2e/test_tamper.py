"""Tampering with the stored ledger is detected by `tanpuhui ledger verify`, which names it
(tests/integration/test_merkle_logs.py tampers with every part of the logs and checkpoints and
checks the independent verifier too); `ledger checkpoint` and `ledger prove` from the CLI."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import sqlalchemy as sa

from tanpuhui.adapters.db.engine import create_engine
from tests.builders import event
from tests.e2e.conftest import Run


def _ledger_with_rides(tanpuhui: Run, tmp_path: Path) -> None:
    enterprise = tanpuhui(
        "enterprise", "add", "Bikes", "--role", "scene", check=True
    ).stdout.strip()
    lines = [json.dumps(event(subject=f"u-{i}", event_id=f"ride-{i}")) for i in range(20)]
    (tmp_path / "rides.jsonl").write_text("\n".join(lines) + "\n")
    tanpuhui("ingest", "rides.jsonl", "--enterprise", enterprise, check=True)
    assert tanpuhui("ledger", "verify").returncode == 0


def _tamper(database_url: str, statement: str) -> None:
    """What a privileged attacker can do: switch the immutability triggers off and edit."""
    engine = create_engine(database_url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET session_replication_role = replica")  # triggers off
        else:
            for (name,) in conn.exec_driver_sql(
                "select name from sqlite_master where type = 'trigger'"
            ).all():
                conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
        conn.execute(sa.text(statement))
    engine.dispose()


def test_a_changed_credit_breaks_its_leaf_and_is_named(
    tanpuhui: Run, database_url: str, tmp_path: Path
) -> None:
    _ledger_with_rides(tanpuhui, tmp_path)
    _tamper(
        database_url,
        "update events set grams = grams + 1000, live_grams = live_grams + 1000"
        " where event_id = 'ride-7'",
    )
    done = tanpuhui("ledger", "verify", "--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    codes = {v["code"] for v in report["violations"]}
    assert {"entry_changed", "leaf_mismatch", "entry_unbalanced", "balance_mismatch"} <= codes
    engine = create_engine(database_url)
    with engine.connect() as conn:
        entry_id, reduction_id = conn.execute(
            sa.text("select entry_id, id from events where event_id = 'ride-7'")
        ).one()
    engine.dispose()
    named = {v["subject"] for v in report["violations"]}
    assert str(uuid.UUID(str(entry_id))) in named
    assert str(uuid.UUID(str(reduction_id))) in named  # its trace no longer gives 1,319 g


def test_a_changed_posting_or_balance_is_named(
    tanpuhui: Run, database_url: str, tmp_path: Path
) -> None:
    _ledger_with_rides(tanpuhui, tmp_path)
    _tamper(
        database_url,
        "update balances set amount = amount + 5 where account like 'pending:%'"
        " and amount = (select max(amount) from balances)",
    )
    done = tanpuhui("ledger", "verify")
    assert done.returncode == 1
    assert "balance_mismatch" in done.stderr
    assert "pending:" in done.stderr


def test_checkpoint_and_prove_from_the_command_line(
    tanpuhui: Run, database_url: str, tmp_path: Path
) -> None:
    _ledger_with_rides(tanpuhui, tmp_path)
    note = tanpuhui("ledger", "checkpoint", check=True).stdout
    origin, size, _root, blank, signature = note.split("\n")[:5]
    assert (origin, size, blank) == ("tanpuhui.example/ledger", "20", "")
    assert signature.startswith("\u2014 tanpuhui.example/ledger ")
    engine = create_engine(database_url)
    with engine.connect() as conn:
        (reduction,) = conn.execute(
            sa.text("select id from events where event_id = 'ride-3'")
        ).one()
    engine.dispose()
    proof = json.loads(
        tanpuhui("ledger", "prove", str(uuid.UUID(str(reduction))), check=True).stdout
    )
    assert proof["checkpoint"]["note"] == note
    assert [leaf["tree_size"] > leaf["index"] for leaf in proof["leaves"]] == [True]
    assert json.loads(tanpuhui("ledger", "verify", "--json", check=True).stdout)["ok"] is True
    bad = tanpuhui("ledger", "prove", "nope")
    assert bad.returncode != 0 and "bad_id" in bad.stderr + bad.stdout
