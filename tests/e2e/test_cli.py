"""The command line end to end: the database, enterprises, persons, bindings, ledgers,
methodologies and settings, each command run for real in a subprocess against a fresh database
of each engine (the `tanpuhui` fixture)."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from tanpuhui.adapters.catalogue_files import bundled_catalogue_dir
from tests.db_fixtures import fresh_database_url
from tests.e2e.cli_support import assert_no_traceback, ride, run_cli, write_jsonl
from tests.e2e.conftest import Run

BUNDLED = sorted(p.stem for p in bundled_catalogue_dir().glob("*@*.yaml"))


@pytest.fixture
def sqlite_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated SQLite database, for what does not depend on the engine."""
    return fresh_database_url(request, "sqlite", tmp_path)


# --- the database ----------------------------------------------------------------------------


def test_db_upgrade_of_a_migrated_database_changes_nothing(tanpuhui: Run) -> None:
    done = tanpuhui("db", "upgrade", check=True)
    assert done.stdout.strip() == (
        f"database at head; methodologies: 0 published, {len(BUNDLED)} unchanged"
    )
    assert_no_traceback(done)


def test_database_url_option_overrides_the_environment(
    database_url: str, tanpuhui: Run, tmp_path: Path
) -> None:
    added = run_cli(
        "--database-url",
        database_url,
        "enterprise",
        "add",
        "Override Bikes",
        "--role",
        "scene",
        cwd=tmp_path,
        database_url="this is not a database url",
    )
    assert added.returncode == 0, added.stderr
    enterprise_id = added.stdout.strip()
    # the fixture's environment names the same database: the enterprise is there
    listed = json.loads(tanpuhui("enterprise", "list", "--json", check=True).stdout)
    assert listed == [{"id": enterprise_id, "name": "Override Bikes", "roles": ["scene"]}]


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("this is not a database url", id="garbage"),
        pytest.param("mysql://someone@localhost/tanpuhui", id="unsupported-dialect"),
        pytest.param("postgresql://nobody@127.0.0.1:1/none", id="unreachable-postgres"),
        pytest.param("sqlite:///no/such/directory/tanpuhui.db", id="sqlite-in-missing-dir"),
    ],
)
def test_a_bad_database_url_is_a_clear_error_not_a_traceback(url: str, tmp_path: Path) -> None:
    done = run_cli("enterprise", "list", cwd=tmp_path, database_url=url, timeout=60)
    assert done.returncode != 0
    assert_no_traceback(done)
    assert done.stderr.startswith("error"), done.stderr
    assert len(done.stderr.strip().splitlines()) <= 3, done.stderr


def test_an_unmigrated_database_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    done = run_cli(
        "enterprise",
        "list",
        cwd=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'never-upgraded.db'}",
    )
    assert done.returncode != 0
    assert_no_traceback(done)
    assert "db upgrade" in done.stderr, done.stderr


# --- error messages -------------------------------------------------------------------------


def test_errors_are_one_line_naming_their_code(sqlite_url: str, tmp_path: Path) -> None:
    """common.py: project errors become `error[code]: message` on stderr."""

    def cli(*args: str) -> tuple[int, str]:
        done = run_cli(*args, cwd=tmp_path, database_url=sqlite_url)
        return done.returncode, done.stderr.strip()

    assert cli("enterprise", "add", "Bikes", "--role", "scene")[0] == 0
    got = [
        cli("enterprise", "add", "Bikes", "--role", "scene"),
        cli("ledger", "show", str(uuid.uuid4())),
        cli("bind", "u-1", "--enterprise", "Bikes", "--person", "not-a-uuid"),
    ]
    assert [(code, text.split(":", 1)[0]) for code, text in got] == [
        (4, "error[conflict]"),
        (3, "error[not_found]"),
        (2, "error[invalid_input]"),
    ], got


# --- enterprises and persons -----------------------------------------------------------------


def test_enterprise_add_list_duplicates_and_roles(tanpuhui: Run) -> None:
    done = tanpuhui("enterprise", "add", "Demo Bikes", "--role", "scene", "--role", "platform")
    assert done.returncode == 0, done.stderr
    bikes = done.stdout.strip()
    assert str(uuid.UUID(bikes)) == bikes

    metro = json.loads(
        tanpuhui("enterprise", "add", "Metro Co", "--role", "scene", "--json", check=True).stdout
    )
    assert metro["name"] == "Metro Co"
    uuid.UUID(metro["id"])

    duplicate = tanpuhui("enterprise", "add", "Demo Bikes", "--role", "scene")
    assert duplicate.returncode == 4
    assert duplicate.stdout == ""
    assert "an enterprise named 'Demo Bikes' exists already" in duplicate.stderr
    assert_no_traceback(duplicate)

    existing = tanpuhui("enterprise", "add", "Demo Bikes", "--role", "scene", "--exist-ok")
    assert existing.returncode == 0, existing.stderr
    assert existing.stdout.strip() == bikes

    bad_role = tanpuhui("enterprise", "add", "Bogus Co", "--role", "bogus")
    assert bad_role.returncode == 2
    assert "bogus" in bad_role.stderr
    assert "--role" in bad_role.stderr
    assert_no_traceback(bad_role)

    table = tanpuhui("enterprise", "list", check=True).stdout
    assert re.search(rf"{bikes}\s*│\s*Demo Bikes\s*│\s*platform, scene", table), table
    assert re.search(rf"{metro['id']}\s*│\s*Metro Co\s*│\s*scene\s", table), table
    assert "Bogus Co" not in table

    listed = json.loads(tanpuhui("enterprise", "list", "--json", check=True).stdout)
    assert listed == [
        {"id": bikes, "name": "Demo Bikes", "roles": ["platform", "scene"]},
        {"id": metro["id"], "name": "Metro Co", "roles": ["scene"]},
    ]


def test_bind_moves_pending_grams_and_ledger_show_traces_them(
    tanpuhui: Run, tmp_path: Path
) -> None:
    enterprise = tanpuhui("enterprise", "add", "Bikes", "--role", "scene", check=True)
    enterprise_id = enterprise.stdout.strip()
    write_jsonl(
        tmp_path / "rides.jsonl",
        [
            ride("r-1", subject="rider-1", hours_ago=5),
            ride("r-2", subject="rider-1", hours_ago=3),
            ride("r-3", subject="rider-2", hours_ago=3),
        ],
    )
    tanpuhui("ingest", "rides.jsonl", "--enterprise", "Bikes", check=True)

    # before binding: the subject's grams wait in its pending account
    pending = json.loads(
        tanpuhui("ledger", "show", "rider-1", "--enterprise", "Bikes", "--json", check=True).stdout
    )
    assert pending["account"] == f"pending:{enterprise_id}:rider-1"
    assert pending["total_grams"] == 638
    assert sum(pending["balances"].values()) == 638
    assert all(a.startswith("co2e:mobility:420000:") for a in pending["balances"])
    assert sorted(r["event_id"] for r in pending["reductions"]) == ["r-1", "r-2"]
    for r in pending["reductions"]:
        assert r["outcome"] == "pending_binding"
        assert r["live_grams"] == 319
        assert r["trace"]["methodology"] == "cycling.shared_bike.wuhan@2"
        assert r["trace"]["inputs"] == {"distance_km": "3.42"}
        assert r["trace"]["exact_grams"] == "319.086"
        (factor,) = r["trace"]["factors"]
        assert factor["value"] == "93.3"
        assert factor["unit"] == "g/km"
        assert factor["confidence"] == "2nd"
        assert "93.3 g/km" in factor["source"]

    person = json.loads(tanpuhui("person", "add", "--json", check=True).stdout)["id"]
    uuid.UUID(person)

    malformed = tanpuhui("bind", "rider-1", "--enterprise", "Bikes", "--person", "nobody")
    assert malformed.returncode == 2
    assert "'nobody' is not a person id" in malformed.stderr
    assert_no_traceback(malformed)
    unknown = str(uuid.uuid4())
    missing = tanpuhui("bind", "rider-1", "--enterprise", "Bikes", "--person", unknown)
    assert missing.returncode == 3
    assert f"no person {unknown}" in missing.stderr
    assert_no_traceback(missing)

    # by enterprise id as well as by name
    bound = tanpuhui(
        "bind", "rider-1", "--enterprise", enterprise_id, "--person", person, "--json", check=True
    )
    result = json.loads(bound.stdout)
    assert result["created"] is True
    assert result["moved_grams"] == 638
    assert result["reversed_grams"] == 0
    assert len(result["reductions"]) == 2

    # a bound subject's new events are credited to the person straight away
    write_jsonl(tmp_path / "later.jsonl", [ride("r-4", subject="rider-1", hours_ago=1)])
    later = json.loads(
        tanpuhui("ingest", "later.jsonl", "--enterprise", "Bikes", "--json", check=True).stdout
    )
    assert later["outcomes"] == {"credited": 1}
    assert later["grams_credited"] == 319

    mine = json.loads(tanpuhui("ledger", "show", person, "--json", check=True).stdout)
    assert mine["account"] == f"person:{person}"
    assert mine["total_grams"] == 3 * 319
    assert sum(mine["balances"].values()) == 3 * 319
    assert sorted(r["event_id"] for r in mine["reductions"]) == ["r-1", "r-2", "r-4"]
    assert all(
        f["source"] and f["confidence"] for r in mine["reductions"] for f in r["trace"]["factors"]
    )

    text = tanpuhui("ledger", "show", person, check=True).stdout
    assert f"person:{person}: 957 g CO2e" in text
    assert "cycling.shared_bike.wuhan@2" in text
    assert "er = 93.3 g/km [2nd]" in text

    # the subject now names the person's account; the other subject still waits
    via_subject = json.loads(
        tanpuhui("ledger", "show", "rider-1", "--enterprise", "Bikes", "--json", check=True).stdout
    )
    assert via_subject["account"] == f"person:{person}"
    other = json.loads(
        tanpuhui("ledger", "show", "rider-2", "--enterprise", "Bikes", "--json", check=True).stdout
    )
    assert other["account"] == f"pending:{enterprise_id}:rider-2"
    assert other["total_grams"] == 319

    verified = tanpuhui("ledger", "verify", "--json")
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout) == {
        "ok": True,
        "violations": [],
    }


def test_ledger_show_of_unknown_persons_and_enterprises(tanpuhui: Run) -> None:
    unknown = str(uuid.uuid4())
    done = tanpuhui("ledger", "show", unknown)
    assert done.returncode == 3
    assert f"no person {unknown}" in done.stderr
    assert_no_traceback(done)

    not_an_id = tanpuhui("ledger", "show", "rider-1")
    assert not_an_id.returncode == 3
    assert "give --enterprise for a subject" in not_an_id.stderr

    no_enterprise = tanpuhui("ledger", "show", "rider-1", "--enterprise", "Nobody Inc")
    assert no_enterprise.returncode == 3
    assert "no enterprise 'Nobody Inc'" in no_enterprise.stderr
    assert_no_traceback(no_enterprise)


# --- methodologies ---------------------------------------------------------------------------


def test_methodology_list_and_show(tanpuhui: Run) -> None:
    listed = json.loads(tanpuhui("methodology", "list", "--json", check=True).stdout)
    assert sorted(m["key"] for m in listed) == BUNDLED
    for m in listed:
        assert m["key"] == f"{m['code']}@{m['version']}"
        assert m["behaviours"], m["key"]
        assert m["region"] is None or re.fullmatch(r"[1-9]\d{5}", m["region"]), m["key"]
        assert all(f["source"] and f["confidence"] for f in m["factors"]), m["key"]
    by_key = {m["key"]: m for m in listed}
    assert by_key["bus.shenzhen@1"]["behaviours"] == ["bus_ride"]
    assert by_key["bus.shenzhen@1"]["region"] == "440300"
    assert by_key["walking.national@1"]["region"] is None

    table = tanpuhui("methodology", "list", check=True).stdout
    assert "cycling.shared_bike.wuhan@2" in table
    assert "bike_share_ride" in table

    shenzhen = tanpuhui("methodology", "show", "bus.shenzhen", check=True).stdout
    assert shenzhen.startswith("bus.shenzhen@1 — ")
    assert "formula:" in shenzhen
    assert "region 440300" in shenzhen
    assert f"content hash: {by_key['bus.shenzhen@1']['content_hash']}" in shenzhen
    assert "26.9" in shenzhen
    assert "g/pkm" in shenzhen

    wuhan = tanpuhui("methodology", "show", "cycling.shared_bike.wuhan", check=True).stdout
    headings = re.findall(r"^(cycling\.shared_bike\.wuhan@\d) — ", wuhan, re.MULTILINE)
    assert headings == ["cycling.shared_bike.wuhan@1", "cycling.shared_bike.wuhan@2"]

    second = json.loads(
        tanpuhui("methodology", "show", "cycling.shared_bike.wuhan@2", "--json", check=True).stdout
    )
    assert second["key"] == "cycling.shared_bike.wuhan@2"
    assert second["version"] == 2
    assert second["effective_from"] == "2025-01-01"
    assert [f["value"] for f in second["factors"]] == ["93.3"]

    unknown = tanpuhui("methodology", "show", "teleport.national")
    assert unknown.returncode == 3
    assert "no published methodology teleport.national" in unknown.stderr
    assert_no_traceback(unknown)
