"""The operator's commands end to end: credentials, the methodology lifecycle (validate,
publish, retire, diff), requantify, the generated docs, `serve` and the demo."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tanpuhui.adapters.catalogue_files import bundled_catalogue_dir
from tanpuhui.adapters.crypto import DEV_CHECKPOINT_SEED
from tests.e2e.cli_support import assert_no_traceback, ride, run_cli, write_jsonl
from tests.e2e.conftest import Run

CODE = "cycling.shared_bike.wuhan"
V2 = (bundled_catalogue_dir() / f"{CODE}@2.yaml").read_text(encoding="utf-8")


def test_credentials_are_created_listed_rotated_and_revoked(tanpuhui: Run, tmp_path: Path) -> None:
    tanpuhui("enterprise", "add", "Bikes", "--role", "scene", check=True)
    made = json.loads(tanpuhui("enterprise", "credential", "create", "Bikes", "--json",
                               check=True).stdout)  # fmt: skip
    assert made["status"] == "active" and "BEGIN PRIVATE KEY" in made["private_key"]
    key_file = tmp_path / "key.pem"
    rotated = json.loads(tanpuhui("enterprise", "credential", "rotate", made["id"],
                                  "--grace-hours", "1", "--out", str(key_file), "--json",
                                  check=True).stdout)  # fmt: skip
    assert "private_key" not in rotated and "BEGIN PRIVATE KEY" in key_file.read_text()
    assert rotated["replaces"]["status"] == "rotating"
    listed = json.loads(tanpuhui("enterprise", "credential", "list", "Bikes", "--json",
                                 check=True).stdout)  # fmt: skip
    assert sorted(c["status"] for c in listed) == ["active", "rotating"]
    revoked = tanpuhui("enterprise", "credential", "revoke", made["id"], "--json", check=True)
    assert json.loads(revoked.stdout)["status"] == "revoked"
    # the enterprise's own key, registered; the same key twice is a conflict
    public = tmp_path / "mine.pem"
    from tanpuhui.adapters.crypto import generate_key, public_pem, public_raw

    public.write_text(public_pem(public_raw(generate_key())))
    assert tanpuhui("enterprise", "credential", "create", "Bikes", "--public-key",
                    str(public)).returncode == 0  # fmt: skip
    again = tanpuhui("enterprise", "credential", "create", "Bikes", "--public-key", str(public))
    assert again.returncode == 4 and "error[conflict]" in again.stderr
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    refused = tanpuhui("enterprise", "credential", "create", "Bikes", "--public-key", str(bad))
    assert refused.returncode == 2 and "error[invalid_input]" in refused.stderr
    assert tanpuhui("enterprise", "credential", "revoke", "nope").returncode == 2
    assert_no_traceback(refused)


def test_the_methodology_lifecycle_and_requantify(tanpuhui: Run, tmp_path: Path) -> None:
    tanpuhui("enterprise", "add", "Bikes", "--role", "scene", check=True)
    write_jsonl(tmp_path / "rides.jsonl", [ride(f"r-{i}", subject=f"u-{i}") for i in range(6)])
    tanpuhui("ingest", "rides.jsonl", "--enterprise", "Bikes", check=True)

    fixed = tmp_path / f"{CODE}@3.yaml"
    fixed.write_text(
        V2.replace("version: 2", "version: 3")
        .replace('value: "93.3"', 'value: "80.1"')
        .replace("id: wuhan_bike_2025", "id: wuhan_bike_2025_fixed")
    )
    # same effective date as @2: overlapping versions are refused, naming both
    clash = tanpuhui("methodology", "validate", str(fixed))
    assert clash.returncode == 2 and "@2 and" in clash.stderr and "overlapping" in clash.stderr
    assert tanpuhui("methodology", "validate", str(fixed), "--effective", "2030-01-01",
                    check=True).stdout.strip().endswith("is valid")  # fmt: skip
    broken = tmp_path / "broken.yaml"
    broken.write_text(V2.replace('value: "93.3"', "value: 93.3"))
    problems = tanpuhui("methodology", "validate", str(broken))
    assert problems.returncode == 2 and "broken.yaml:17:" in problems.stderr

    published = json.loads(tanpuhui("methodology", "publish", str(fixed), "--effective",
                                    "2030-01-01", "--json", check=True).stdout)  # fmt: skip
    assert published["published"] and published["closed"] == [
        {"methodology": f"{CODE}@2", "effective_to": "2030-01-01"}
    ]
    again = json.loads(tanpuhui("methodology", "publish", str(fixed), "--json").stdout)
    assert again["published"] is False  # the same content: nothing changes
    changed = tmp_path / "changed.yaml"
    changed.write_text(fixed.read_text().replace('"80.1"', '"81"'))
    immutable = tanpuhui("methodology", "publish", str(changed))
    assert immutable.returncode == 4 and "error[immutable_version]" in immutable.stderr

    diff = tanpuhui("methodology", "diff", f"{CODE}@2", f"{CODE}@3", check=True).stdout
    assert "factor wuhan_bike_2025_fixed added: er = 80.1 g/km [2nd]" in diff

    dry = json.loads(tanpuhui("requantify", "--methodology", CODE, "--from", "2", "--to", "3",
                              "--json", check=True).stdout)  # fmt: skip
    assert (dry["applied"], dry["reductions"], dry["difference"]) == (False, 6, 6 * (273 - 319))
    done = json.loads(tanpuhui("requantify", "--methodology", CODE, "--from", "2", "--to", "3",
                               "--apply", "--json", check=True).stdout)  # fmt: skip
    assert (done["applied"], done["difference"]) == (True, dry["difference"])
    twice = json.loads(tanpuhui("requantify", "--methodology", CODE, "--from", "2", "--to", "3",
                                "--apply", "--json", check=True).stdout)  # fmt: skip
    assert twice["reductions"] == 0
    assert tanpuhui("ledger", "verify").returncode == 0
    unknown = tanpuhui("requantify", "--methodology", CODE, "--from", "2", "--to", "9")
    assert unknown.returncode == 3 and "error[not_found]" in unknown.stderr

    retired = tanpuhui("methodology", "retire", f"{CODE}@3", "--from", "2031-01-01", check=True)
    assert "before 2031-01-01" in retired.stdout
    too_early = tanpuhui("methodology", "retire", f"{CODE}@3", "--from", "2020-01-01")
    assert too_early.returncode == 2
    assert_no_traceback(too_early)


def test_docs_check_fails_when_the_generated_file_is_stale(tmp_path: Path) -> None:
    out = tmp_path / "methodologies.md"
    assert (
        run_cli("docs", "methodologies", "--check", "--out", str(out), cwd=tmp_path).returncode == 1
    )
    assert run_cli("docs", "methodologies", "--out", str(out), cwd=tmp_path).returncode == 0
    assert run_cli("docs", "methodologies", "--check", "--out", str(out),
                   cwd=tmp_path).returncode == 0  # fmt: skip
    committed = Path(__file__).parents[2] / "docs" / "methodologies.md"
    assert out.read_text(encoding="utf-8") == committed.read_text(encoding="utf-8")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_health_and_readiness(database_url: str, tmp_path: Path) -> None:
    port = _free_port()
    env_url = {"TANPUHUI_DATABASE_URL": database_url}
    server = subprocess.Popen(
        [sys.executable, "-m", "tanpuhui", "serve", "--port", str(port)],
        env={**__import__("os").environ, **env_url}, cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        assert httpx.get(f"{base}/readyz").json() == {"status": "ok"}
        assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "tanpuhui API"
        unsigned = httpx.post(f"{base}/v1/events", json={"events": []})
        assert unsigned.status_code == 401 and unsigned.json()["code"] == "missing_signature"
    finally:
        server.terminate()
        server.wait(30)


@pytest.mark.slow
def test_a_small_demo_runs_through_the_api_and_leaves_a_verified_ledger(tmp_path: Path) -> None:
    port = _free_port()
    done = run_cli(
        "demo", "--db", str(tmp_path / "demo.db"), "--persons", "120", "--days", "8",
        "--port", str(port), "--no-serve", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["ledger_violations"] == 0
    assert summary["events_posted"] > 1000
    assert {"credited", "duplicate", "rejected", "pending_binding"} <= set(summary["outcomes"])
    assert summary["replayed_events"] > 0 and summary["late_bindings"] > 0
    assert set(summary["grams_by_city"]) == {
        "Shenzhen 深圳", "Wuhan 武汉", "Beijing 北京", "Guangzhou 广州", "Luzhou 泸州",
    }  # fmt: skip
    verify = run_cli("ledger", "verify", cwd=tmp_path,
                     database_url=f"sqlite:///{tmp_path / 'demo.db'}")  # fmt: skip
    assert verify.returncode == 0, verify.stderr
    assert (tmp_path / "demo.db.credentials.json").exists()
    _the_demo_signed_a_checkpoint(tmp_path / "demo.db", summary)


def _the_demo_signed_a_checkpoint(db: Path, summary: dict[str, Any]) -> None:
    """The demo ends with a signed checkpoint over every log leaf (before: none, and
    /v1/log/checkpoint answered 404 no_checkpoint); `ledger verify` (run before this) replays
    it against the platform key, here the dev key the environment leaves configured."""
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        cp_id, size, note = conn.execute(sa.text("select id, size, note from checkpoints")).one()
        leaves = conn.execute(sa.text("select count(*) from log_leaves")).scalar_one()
    engine.dispose()
    assert summary["checkpoint"] == {"id": cp_id, "size": size} and size == leaves > 0
    body, _, signature = note.partition("\n\n")
    blob = base64.b64decode(signature.split(" ")[2].strip())
    dev = Ed25519PrivateKey.from_private_bytes(DEV_CHECKPOINT_SEED).public_key()
    dev.verify(blob[4:], (body + "\n").encode())  # raises when not signed by that key
