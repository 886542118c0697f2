"""The operator uses the two registers from the command line (issue 9 exclusion register, issue 15
evidence ownership): `issuer authorise|list` and `exclusion add|list`, then `ingest` shows
their effect. Both engines, the real `tanpuhui` in a subprocess.

Before: both registers existed only as services (`authorise_issuer`,
`declare_claimed_elsewhere`); an operator had no command to fill or read them, so a
registered issuer's partners' reports were all refused and nothing could be declared claimed
elsewhere."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tests.builders import event
from tests.conftest import CST, NOW
from tests.e2e.cli_support import assert_no_traceback, write_jsonl
from tests.e2e.conftest import Run

METRO = {"behaviour": "metro_ride", "region": "440304", "quantity": {"distance_km": "8"}}


def _ago(hours: float) -> datetime:
    """The commands run on the tests' fixed clock (TANPUHUI_NOW): events are placed from it."""
    return NOW - timedelta(hours=hours)


def _ingest(tanpuhui: Run, tmp_path: Path, enterprise: str, *events: dict[str, Any]) -> list[Any]:
    write_jsonl(tmp_path / "events.jsonl", events)
    done = tanpuhui("ingest", "events.jsonl", "--enterprise", enterprise, "--outcomes", "out.jsonl")
    assert done.returncode == 0, done.stderr
    assert_no_traceback(done)
    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def _onboard(tanpuhui: Run, *names: str) -> str:
    """Scene enterprises whose subject u-1 is bound to one person; returns the person id."""
    person = tanpuhui("person", "add", check=True).stdout.strip()
    for name in names:
        tanpuhui("enterprise", "add", name, "--role", "scene", check=True)
        tanpuhui("bind", "u-1", "--enterprise", name, "--person", person, check=True)
    return person


def test_an_issuer_authorised_with_the_cli_makes_two_enterprises_reports_one_act(
    tanpuhui: Run, tmp_path: Path
) -> None:
    """Without `issuer authorise … --enterprise Wallet` the wallet's report naming the metro's
    registered issuer would be refused `issuer_not_entitled`, like the unauthorised one's."""
    _onboard(tanpuhui, "Metro", "Wallet", "Stranger")
    done = tanpuhui("issuer", "authorise", "transit:sz-metro", "--enterprise", "Metro",
                    "--is-issuer")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Metro" in done.stdout and "is transit:sz-metro" in done.stdout
    tanpuhui("issuer", "authorise", "transit:sz-metro", "--enterprise", "Wallet", check=True)

    tap = {"ref": "tap-9001", "issuer": "transit:sz-metro"}
    (own,) = _ingest(
        tanpuhui,
        tmp_path,
        "Metro",
        event(event_id="m-1", start=_ago(5), evidence={"ref": "tap-9001"}, **METRO),
    )
    (wallet,) = _ingest(
        tanpuhui, tmp_path, "Wallet", event(event_id="w-1", start=_ago(3), evidence=tap, **METRO)
    )
    (stranger,) = _ingest(
        tanpuhui, tmp_path, "Stranger", event(event_id="s-1", start=_ago(1), evidence=tap, **METRO)
    )

    assert own["kind"] == "credited" and own["grams"] > 0
    assert (wallet["kind"], wallet["grams"]) == ("duplicate", 0)
    assert wallet["duplicate_of"]
    assert (stranger["kind"], stranger["reason"]) == ("rejected", "issuer_not_entitled")
    verify = tanpuhui("ledger", "verify")
    assert verify.returncode == 0, verify.stderr


def test_an_exclusion_declared_with_the_cli_rejects_matching_events_claimed_elsewhere(
    tanpuhui: Run, tmp_path: Path
) -> None:
    _onboard(tanpuhui, "Grid")
    since = (NOW.astimezone(CST).date() - timedelta(days=90)).isoformat()
    done = tanpuhui("exclusion", "add", "meter:PV-0042", "--mechanism", "green_certificate",
                    "--from", since, "--note", "GEC batch 2026-07")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip()) == 36  # the declaration's id

    def pv(event_id: str, meter: str) -> dict[str, Any]:
        return event(event_id=event_id, behaviour="rooftop_pv_generation", region="110105",
                     start=_ago(31 * 24), minutes=30 * 24 * 60, quantity={"kwh": "30"},
                     evidence={"ref": f"read-{event_id}", "issuer": meter})  # fmt: skip

    certified, other = _ingest(
        tanpuhui, tmp_path, "Grid", pv("g-1", "meter:PV-0042"), pv("g-2", "meter:PV-0043")
    )
    assert (certified["kind"], certified["reason"], certified["grams"]) == (
        "rejected",
        "claimed_elsewhere",
        0,
    )
    assert "green_certificate" in certified["message"]
    # the uncertified reading is held until no rival report of its period can arrive
    assert (other["kind"], other["grams"]) == ("provisional", 0)


def test_the_registers_list_as_text_and_json(tanpuhui: Run, tmp_path: Path) -> None:
    tanpuhui("enterprise", "add", "Canteen", "--role", "scene", check=True)
    tanpuhui("enterprise", "add", "Food", "--role", "scene", check=True)
    plant = tanpuhui("enterprise", "add", "Plant", "--role", "scene", check=True).stdout.strip()
    tanpuhui("issuer", "authorise", "canteen:tsinghua-3", "--enterprise", "Food", check=True)
    tanpuhui("issuer", "authorise", "canteen:tsinghua-3", "--enterprise", "Canteen",
             "--is-issuer", check=True)  # fmt: skip
    again = tanpuhui("issuer", "authorise", "canteen:tsinghua-3", "--enterprise", "Canteen",
                     "--is-issuer", "--json")  # fmt: skip
    assert again.returncode == 0, again.stderr  # idempotent
    tanpuhui("exclusion", "add", "meter:PV-1", "--mechanism", "ccer", "--from", "2026-01-01",
             "--until", "2027-01-01", check=True)  # fmt: skip
    tanpuhui("exclusion", "add", f"enterprise:{plant}", "--mechanism", "ets", "--behaviour",
             "household_electricity_saved", "--behaviour", "rooftop_pv_generation",
             "--enterprise", "Plant", "--note", "in the Beijing ETS", check=True)  # fmt: skip

    grants = json.loads(tanpuhui("issuer", "list", "--json", check=True).stdout)
    assert [(g["issuer"], g["enterprise"], g["is_issuer"]) for g in grants] == [
        ("canteen:tsinghua-3", "Canteen", True),  # the issuer itself first
        ("canteen:tsinghua-3", "Food", False),
    ]
    assert all(g["since"] and g["enterprise_id"] for g in grants)
    assert json.loads(again.stdout) == grants[0]

    text = tanpuhui("issuer", "list", check=True).stdout
    assert "canteen:tsinghua-3" in text and "Canteen" in text and "Food" in text

    exclusions = json.loads(tanpuhui("exclusion", "list", "--json", check=True).stdout)
    assert [
        (x["key"], x["mechanism"], x["behaviours"], x["valid_from"], x["valid_to"],
         x["declared_by"], x["declared_by_name"], x["note"])
        for x in exclusions
    ] == [
        (f"enterprise:{plant}", "ets", ["household_electricity_saved", "rooftop_pv_generation"],
         None, None, plant, "Plant", "in the Beijing ETS"),
        ("meter:PV-1", "ccer", [], "2026-01-01", "2027-01-01", None, "operator", ""),
    ]  # fmt: skip

    text = tanpuhui("exclusion", "list", check=True).stdout
    for shown in ("meter:PV-1", "ccer", "2027-01-01", "operator", "Plant", "in the Beijing ETS"):
        assert shown in text


def test_empty_registers_list_as_empty(tanpuhui: Run) -> None:
    tanpuhui("db", "upgrade", check=True)
    assert json.loads(tanpuhui("issuer", "list", "--json", check=True).stdout) == []
    assert json.loads(tanpuhui("exclusion", "list", "--json", check=True).stdout) == []
