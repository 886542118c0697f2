"""The market from the command line (issue 11 item 6), the real `tanpuhui` in a subprocess on
both engines: publish a programme, create offers, sell (idempotent by request id), refusals as
one `error[code]` line with exit 1, holds confirmed and voided, `ledger show` with points, holds
and sales, and `ledger verify` clean afterwards."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.e2e.cli_support import assert_no_traceback, ride, run_cli, write_jsonl
from tests.e2e.conftest import Run

PROGRAMME = Path(__file__).parents[2] / "src/tanpuhui/programmes/luzhou.lvya@1.yaml"


def _json(tanpuhui: Run, *args: str) -> Any:
    done = tanpuhui(*args, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert_no_traceback(done)
    return json.loads(done.stdout)


def _seller(tanpuhui: Run, tmp_path: Path) -> tuple[str, int]:
    tanpuhui("enterprise", "add", "Bikes", "--role", "scene", check=True)
    person = tanpuhui("person", "add", check=True).stdout.strip()
    tanpuhui("bind", "u-1", "--enterprise", "Bikes", "--person", person, check=True)
    write_jsonl(tmp_path / "e.jsonl", [ride("r1", hours_ago=30), ride("r2", hours_ago=5)])
    tanpuhui("ingest", "e.jsonl", "--enterprise", "Bikes", check=True)
    return person, _json(tanpuhui, "ledger", "show", person)["total_grams"]


def test_a_person_sells_to_a_points_offer_from_the_command_line(
    tanpuhui: Run, tmp_path: Path
) -> None:
    person, grams = _seller(tanpuhui, tmp_path)
    published = _json(tanpuhui, "programme", "publish", str(PROGRAMME))
    assert published["published"] and published["ref"] == "luzhou.lvya@1"
    assert _json(tanpuhui, "programme", "show", "luzhou.lvya")["rules"][0]["points"] == 10
    tanpuhui("enterprise", "add", "Maps", "--role", "platform", check=True)
    offer = _json(
        tanpuhui,
        "offer",
        "create",
        "Maps",
        "--budget-grams",
        "100000",
        "--points-per-kg",
        "100",
        "--programme",
        "luzhou.lvya",
        "--group",
        "mobility",
    )
    sale = _json(
        tanpuhui, "sell", person, "--offer", offer["id"], "--grams", "200", "--request-id", "q1"
    )
    assert sale["status"] == "completed" and sale["incentive"]["points"] == 20
    again = _json(
        tanpuhui, "sell", person, "--offer", offer["id"], "--grams", "200", "--request-id", "q1"
    )
    assert again["id"] == sale["id"] and again["replayed"]
    too_much = tanpuhui("sell", person, "--offer", offer["id"], "--grams", str(grams))
    assert too_much.returncode == 1
    assert too_much.stderr.strip().startswith("error[insufficient_balance]")
    assert_no_traceback(too_much)
    ledger = _json(tanpuhui, "ledger", "show", person)
    assert ledger["total_grams"] == grams - 200
    assert ledger["points"] == {"luzhou.lvya": 20}
    assert [s["id"] for s in ledger["sales"]] == [sale["id"]]
    listed = _json(tanpuhui, "offer", "list")
    assert listed[0]["remaining_grams"] == 100000 - 200
    assert _json(tanpuhui, "offer", "pause", offer["id"])["status"] == "paused"
    paused = tanpuhui("sell", person, "--offer", offer["id"], "--grams", "100")
    assert paused.returncode == 1 and "error[offer_closed]" in paused.stderr
    assert _json(tanpuhui, "offer", "close", offer["id"])["status"] == "closed"
    assert tanpuhui("ledger", "verify").returncode == 0


def test_coupon_holds_are_confirmed_or_voided_from_the_command_line(
    tanpuhui: Run, tmp_path: Path
) -> None:
    person, grams = _seller(tanpuhui, tmp_path)
    tanpuhui("enterprise", "add", "Coffee", "--role", "platform", check=True)
    (tmp_path / "codes.txt").write_text("A-1\nA-2\n\n", encoding="utf-8")
    offer = _json(
        tanpuhui,
        "offer",
        "create",
        "Coffee",
        "--budget-grams",
        "5000",
        "--coupons",
        "codes.txt",
        "--hold-minutes",
        "30",
    )
    assert offer["incentive"] == {"kind": "coupon", "coupons_left": 2}
    first = _json(tanpuhui, "sell", person, "--offer", offer["id"], "--grams", "100")
    assert first["status"] == "held" and first["incentive"]["code"] == "A-1"
    assert _json(tanpuhui, "ledger", "show", person)["holds"][0]["id"] == first["id"]
    assert _json(tanpuhui, "hold", "confirm", first["id"])["status"] == "confirmed"
    second = _json(tanpuhui, "sell", person, "--offer", offer["id"], "--grams", "100")
    assert _json(tanpuhui, "hold", "void", second["id"])["status"] == "voided"
    late = tanpuhui("hold", "confirm", second["id"])
    assert late.returncode == 1 and late.stderr.startswith("error[hold_not_held]")
    assert _json(tanpuhui, "ledger", "show", person)["total_grams"] == grams - 100
    assert _json(tanpuhui, "hold", "expire") == {"expired": 0}
    assert tanpuhui("ledger", "verify").returncode == 0


def test_a_person_redeems_points_at_a_partner_merchant_from_the_command_line(
    tanpuhui: Run, tmp_path: Path
) -> None:
    tanpuhui("programme", "publish", str(PROGRAMME), check=True)
    tanpuhui("enterprise", "add", "Luzhou Bus", "--role", "scene", "--role", "platform", check=True)
    person = tanpuhui("person", "add", check=True).stdout.strip()
    tanpuhui("bind", "u-1", "--enterprise", "Luzhou Bus", "--person", person, check=True)
    bus = {"behaviour": "bus_ride", "region": "510502", "quantity": {"distance_km": "5"}}
    rides = [ride(f"b{i}", hours_ago=3 + i, minutes=10, **bus) for i in range(3)]
    write_jsonl(tmp_path / "bus.jsonl", rides)
    tanpuhui("ingest", "bus.jsonl", "--enterprise", "Luzhou Bus", check=True)
    assert _json(tanpuhui, "ledger", "show", person)["points"] == {"luzhou.lvya": 30}
    args = ("redeem", person, "--programme", "luzhou.lvya", "--merchant", "Luzhou Bus")
    done = _json(tanpuhui, *args, "--points", "12", "--request-id", "t1")
    assert done["points"] == 12 and not done["replayed"]
    assert _json(tanpuhui, *args, "--points", "12", "--request-id", "t1")["replayed"]
    short = tanpuhui(*args, "--points", "19")
    assert short.returncode == 1 and short.stderr.startswith("error[insufficient_balance]")
    assert _json(tanpuhui, "ledger", "show", person)["points"] == {"luzhou.lvya": 18}
    assert _json(tanpuhui, "programme", "expire-points") == {"expired_points": 0}
    assert tanpuhui("ledger", "verify").returncode == 0


@pytest.mark.slow
def test_the_demo_shows_the_market_loop(tmp_path: Path) -> None:
    """Issue 11 item 7: a platform enterprise with an offer, people selling to it, a Luzhou
    points programme with a partner merchant where people redeem — and a verified ledger."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = tmp_path / "demo.db"
    done = run_cli(
        "demo", "--db", str(db), "--persons", "120", "--days", "8", "--port", str(port),
        "--no-serve", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ledger_violations"] == 0
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        statuses = dict(
            conn.execute(sa.text("select status, count(*) from sales group by status")).all()
        )
        redeemed = conn.execute(sa.text("select count(*) from redemptions")).scalar_one()
        retired = conn.execute(sa.text("select certificate, grams from retirements")).all()
        serials = [r[0] for r in conn.execute(sa.text("select serial from serial_blocks"))]
    engine.dispose()
    assert statuses.get("completed", 0) > 0 and statuses.get("confirmed", 0) > 0
    assert redeemed > 0
    # issue 13 item 6: the map app retires part of its purchase in serial-numbered blocks
    ((certificate, grams),) = retired
    assert grams > 0 and certificate.startswith("TPH-R") and serials
