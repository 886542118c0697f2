"""MRV and the audit trail from the command line, on both engines: `mrv batch create`, a
verifier's `sample` (the same seed draws the same reductions), `approve`, and `audit` listing
who did what, filtered by actor and kind; each step a statement signed with the verifier's key
(`--key`), which `mrv verify` checks again."""

from __future__ import annotations

import json
from pathlib import Path

from tanpuhui.adapters.system import FixedClock
from tanpuhui.bootstrap import build, upgrade_database
from tanpuhui.config import Settings
from tanpuhui.domain.parties import Role
from tanpuhui.services.intake import submit_events
from tanpuhui.services.parties import add_enterprise, add_persons, bind_subjects
from tests.builders import event
from tests.conftest import CST, NOW
from tests.e2e.cli_support import assert_no_traceback
from tests.e2e.conftest import Run

MONTH = NOW.astimezone(CST).strftime("%Y-%m")


def _seed(database_url: str) -> str:
    app = build(Settings(database_url=database_url), clock=FixedClock(NOW))
    try:
        upgrade_database(app)
        bikes = add_enterprise(app.ctx, "Bikes", {Role.SCENE}).id
        subjects = [f"s-{i}" for i in range(8)]
        persons = add_persons(app.ctx, len(subjects))
        bind_subjects(app.ctx, [(bikes, s, p.id) for s, p in zip(subjects, persons, strict=True)])
        out = submit_events(app.ctx, bikes, [event(subject=s, event_id=s) for s in subjects])
        assert out[0].methodology is not None
        return out[0].methodology
    finally:
        app.close()


def test_a_verifier_samples_and_approves_a_batch_and_the_audit_shows_it(
    tanpuhui: Run, database_url: str, tmp_path: Path
) -> None:
    methodology = _seed(database_url)
    made = json.loads(
        tanpuhui("mrv", "batch", "create", "--methodology", methodology, "--month", MONTH,
                 "--region", "420000", "--json", check=True).stdout
    )  # fmt: skip
    batch, report = made["id"], made["report"]
    assert (report["reductions"], report["persons"]) == (8, 8)
    key = tmp_path / "cqc.pem"
    verifier = json.loads(
        tanpuhui("verifier", "add", "CQC", "--out", str(key), "--json", check=True).stdout
    )
    token = verifier["token"]
    assert "private_key" not in verifier and "BEGIN PUBLIC KEY" in verifier["public_key"]
    unsigned = tanpuhui("mrv", "batch", "sample", batch, "--seed", "5", "--token", token)
    assert unsigned.returncode == 2 and "error[key_required]" in unsigned.stderr
    assert_no_traceback(unsigned)
    drawn = [
        json.loads(
            tanpuhui(
                "mrv",
                "batch",
                "sample",
                batch,
                "--seed",
                "5",
                "--size",
                "3",
                "--token",
                token,
                "--key",
                str(key),
                "--json",
                check=True,
            ).stdout
        )
        for _ in range(2)
    ]
    assert drawn[0] == drawn[1] and len(drawn[0]["sample"]) == 3
    assert all(r["consistent"] for r in drawn[0]["sample"])
    anonymous = tanpuhui("mrv", "batch", "approve", batch, "--comment", "ok", "--key", str(key))
    assert anonymous.returncode == 1 and "invalid_token" in anonymous.stderr
    assert_no_traceback(anonymous)
    other = tmp_path / "other.pem"
    tanpuhui("verifier", "add", "Other", "--out", str(other), check=True)
    forged = tanpuhui("mrv", "batch", "approve", batch, "--token", token, "--key", str(other))
    assert forged.returncode == 1 and "error[invalid_signature]" in forged.stderr
    assert_no_traceback(forged)
    approved = json.loads(
        tanpuhui("mrv", "batch", "approve", batch, "--comment", "ok", "--token", token,
                 "--key", str(key), "--json", check=True).stdout
    )  # fmt: skip
    assert approved["state"] == "approved" and approved["signatures"]["valid"] is True
    shown = json.loads(tanpuhui("mrv", "batch", "show", batch, "--json", check=True).stdout)
    assert (shown["state"], shown["verification"]) == ("approved", {"verified": 8})
    assert [s["action"] for s in shown["statements"]] == ["create", "sample", "sample", "approve"]
    assert json.loads(tanpuhui("mrv", "verify", "--json", check=True).stdout) == {
        "valid": True, "problems": [],
    }  # fmt: skip

    actor = f"verifier:{verifier['id']}"
    mine = json.loads(tanpuhui("audit", "--actor", actor, "--json", check=True).stdout)
    assert [r["kind"] for r in mine] == ["mrv.sample", "mrv.sample", "mrv.approve"]
    assert mine[-1]["before"] == {"state": "open"} and mine[-1]["after"]["state"] == "approved"
    kinds = json.loads(tanpuhui("audit", "--kind", "mrv.batch_create", "--json", check=True).stdout)
    assert [r["subject"] for r in kinds] == [f"batch:{batch}"]
    assert json.loads(tanpuhui("audit", "--since", "2999-01-01", "--json", check=True).stdout) == []
    bad = tanpuhui("audit", "--since", "yesterday")
    assert bad.returncode == 2
