"""No traceback reaches a user of the CLI (issue 8 item 4): every command of the Typer app, given
bad input — bad arguments, a missing or undecodable file, an unreachable, un-migrated or
unusable database, a URL where a path is expected — answers exactly one line
`error[code]: message` on stderr and the exit status docs/operations.md documents.

The commands are enumerated from the app: a new command without bad-input cases below fails
`test_every_command_has_bad_input_cases`. The cases run in-process through `common.run` (the
same path `main()` takes, without an interpreter start per case); a few run as real
subprocesses to show `main()` is wired to it.

Before: `tanpuhui demo --db sqlite:///x.db`, `db upgrade` on an unreachable database,
`sample` into a missing directory and a non-UTF-8 CSV ended in raw tracebacks, and Click's
usage errors were a boxed multi-line panel."""

from __future__ import annotations

import re
import signal
import socket
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import NamedTuple

import pytest
import typer

from tanpuhui.cli import common
from tanpuhui.cli.main import cli
from tanpuhui.domain.certificates import CertificateKind, make_serial
from tests.db_fixtures import fresh_database_url
from tests.e2e.cli_support import assert_no_traceback, ride, run_cli, write_jsonl

UNREACHABLE = "postgresql://nobody@127.0.0.1:1/none"
NOBODY = str(uuid.UUID(int=7))
ERROR_LINE = re.compile(r"^error\[([a-z_]+)\]: \S.*$")


class Case(NamedTuple):
    args: tuple[str, ...]
    db: str | None  # migrated | unmigrated | unreachable | unusable | None (not needed)
    code: str
    status: int


def case(*args: str, db: str | None = None, code: str, status: int) -> Case:
    return Case(args, db, code, status)


USAGE = {"code": "usage", "status": 2}
INVALID = {"code": "invalid_input", "status": 2}
FILE = {"code": "file_error", "status": 2}
NOT_FOUND = {"code": "not_found", "status": 3}
DOWN = {"db": "unreachable", "code": "database_unavailable", "status": 5}
UNMIGRATED = {"db": "unmigrated", "code": "not_migrated", "status": 5}
M = "migrated"
UNKNOWN_REGION = {"code": "unknown_region", "status": 3}
DAYS = ("--from", "2026-11-01", "--to", "2026-11-02")
REVERSED_DAYS = ("--from", "2026-11-30", "--to", "2026-11-01")
#: a well-formed serial no certificate has
UNKNOWN_SERIAL = make_serial(CertificateKind.LEADERBOARD, date(2026, 6, 3), 1, 1)

CASES: dict[str, list[Case]] = {
    "serve": [
        case("--port", "0", **USAGE),
        case("--workers", "2", db=M, **INVALID),
        case("--port", "{taken}", db=M, code="port_in_use", status=5),
    ],
    "demo": [
        case("--db", "sqlite:///x.db", **INVALID),
        case("--db", "no/such/dir/demo.db", **FILE),
        case("--persons", "1", **USAGE),
        case("--port", "{taken}", code="port_in_use", status=5),
    ],
    "ingest": [
        case("missing.jsonl", "--enterprise", "E", db=M, **USAGE),
        case("sqlite:///events.jsonl", "--enterprise", "E", db=M, **USAGE),
        case("events.jsonl", "--enterprise", "Nobody", db=M, **NOT_FOUND),
        case("events.jsonl", "--enterprise", "E", "--format", "xml", db=M, **INVALID),
        case("binary.csv", "--enterprise", "E", db=M, **FILE),
        case("events.jsonl", "--enterprise", "E", "--outcomes", "events.jsonl", db=M, **INVALID),
        case("events.jsonl", "--enterprise", "E", **DOWN),
        case("events.jsonl", "--enterprise", "E", **UNMIGRATED),
    ],
    "sample": [
        case("no/such/dir/sample.jsonl", **FILE),
        case("sample.jsonl", "--days", "30", **INVALID),
        case("sample.jsonl", "--persons", "0", **USAGE),
    ],
    "requantify": [
        case("--methodology", "walking.national", "--from", "1", "--to", "2", **DOWN),
        case("--methodology", "nope", "--from", "1", "--to", "2", db=M, **NOT_FOUND),
        case("--methodology", "nope", "--from", "0", "--to", "2", **USAGE),
    ],
    "bind": [
        case("s-1", "--enterprise", "E", "--person", "nobody", db=M, **INVALID),
        case("s-1", "--enterprise", "Nobody", "--person", NOBODY, db=M, **NOT_FOUND),
        case("s-1", "--enterprise", "E", "--person", NOBODY, **DOWN),
    ],
    "db upgrade": [
        case(**DOWN),
        case(db="unusable", code="configuration", status=5),
        case("--catalogue", "no/such/dir", db=M, **FILE),
        case("--pg-partitions", "1", **USAGE),
        case("--pg-partitions", "4", db=M, **INVALID),  # SQLite has no hash partitions
    ],
    "db citus-ddl": [
        case("--shard-count", "0", **USAGE),
        case("--shard-count", "many", **USAGE),
    ],
    "enterprise add": [
        case("E", "--role", "scene", db=M, code="conflict", status=4),
        case("E2", "--role", "wizard", **USAGE),
        case("E2", "--role", "scene", **UNMIGRATED),
    ],
    "enterprise list": [case(**DOWN), case(db="unusable", code="configuration", status=5)],
    "enterprise credential create": [
        case("Nobody", db=M, **NOT_FOUND),
        case("E", "--public-key", "bad.pem", db=M, **INVALID),
        case("E", "--public-key", "missing.pem", db=M, **USAGE),
        case("E", "--out", "no/such/dir/key.pem", db=M, **FILE),
    ],
    "enterprise credential list": [case("Nobody", db=M, **NOT_FOUND), case("E", **DOWN)],
    "enterprise credential rotate": [
        case("not-an-id", db=M, **INVALID),
        case(NOBODY, db=M, **NOT_FOUND),
        case(NOBODY, "--grace-hours", "-1", **USAGE),
    ],
    "enterprise credential revoke": [
        case("not-an-id", db=M, **INVALID),
        case(NOBODY, db=M, **NOT_FOUND),
    ],
    "person add": [case(**UNMIGRATED), case(**DOWN)],
    "person token": [case("nobody", db=M, **INVALID), case(NOBODY, db=M, **NOT_FOUND)],
    "person binding-code": [case("nobody", db=M, **INVALID), case(NOBODY, db=M, **NOT_FOUND)],
    "ledger show": [
        case(NOBODY, db=M, **NOT_FOUND),
        case("s-1", "--enterprise", "Nobody", db=M, **NOT_FOUND),
        case(NOBODY, **DOWN),
    ],
    "ledger verify": [case(**UNMIGRATED), case(**DOWN)],
    "ledger checkpoint": [case(**UNMIGRATED), case(**DOWN)],
    "ledger prove": [
        case("nope", db=M, code="bad_id", status=2),
        case(NOBODY, db=M, code="no_checkpoint", status=3),
        case(NOBODY, **DOWN),
    ],
    "ledger consistency": [
        case("2", "1", db=M, code="bad_range", status=2),
        case("1", "2", db=M, code="no_checkpoint", status=3),
    ],
    "ledger key": [case("extra", **USAGE), case("--nope", **USAGE)],
    "ledger keygen": [case("--out", "missing-dir/key", **FILE), case("extra", **USAGE)],
    "ledger cosign": [
        case("1", "not a line", db=M, code="bad_signature_line", status=2),
        case("1", "\u2014 w.example AAAAAAAA", db=M, code="no_checkpoint", status=3),
    ],
    "methodology list": [case(**DOWN), case(**UNMIGRATED)],
    "methodology show": [
        case("nope", db=M, **NOT_FOUND),
        case("nope@2", db=M, **NOT_FOUND),
    ],
    "methodology validate": [case("missing.yaml", db=M, **USAGE), case(".", db=M, **USAGE)],
    "methodology publish": [
        case("bad.yaml", db=M, code="invalid_methodology", status=2),
        case("binary.yaml", db=M, code="invalid_methodology", status=2),
        case("missing.yaml", db=M, **USAGE),
    ],
    "methodology retire": [
        case("nope@1", "--from", "2026-01-01", db=M, **NOT_FOUND),
        case("walking.national@1", "--from", "yesterday", **USAGE),
    ],
    "methodology diff": [
        case("a", "b", db=M, **INVALID),
        case("nope@1", "nope@2", db=M, **NOT_FOUND),
    ],
    "issuer authorise": [
        case("wuhan-metro", "--enterprise", "E", db=M, code="invalid_issuer", status=2),
        case("transit:sz-metro", "--enterprise", "Nobody", db=M, **NOT_FOUND),
        case("transit:sz-metro", **USAGE),
        case("transit:sz-metro", "--enterprise", "E", **DOWN),
    ],
    "issuer list": [case(**DOWN), case(**UNMIGRATED)],
    "exclusion add": [
        case("person:x", "--mechanism", "ccer", db=M, code="invalid_exclusion", status=2),
        case("meter:1", "--mechanism", "carbon-magic", db=M, code="invalid_exclusion", status=2),
        case("meter:1", "--mechanism", "ccer", "--from", "yesterday", **USAGE),
        case("meter:1", "--mechanism", "ccer", "--enterprise", "Nobody", db=M, **NOT_FOUND),
        case(
            "meter:1",
            "--mechanism",
            "ccer",
            "--enterprise",
            "E",
            db=M,
            code="not_entitled",
            status=1,
        ),
        case("meter:1", "--mechanism", "ccer", **UNMIGRATED),
    ],
    "exclusion list": [case(**DOWN), case(db="unusable", code="configuration", status=5)],
    "bench ingest": [case("--engine", "mysql", **INVALID), case("--events", "5", **USAGE)],
    "bench api": [
        case("--engine", "mysql", **INVALID),
        case("--engine", "sqlite", "--workers", "2", **INVALID),
        case("--port", "{taken}", code="port_in_use", status=5),
    ],
    "docs methodologies": [
        case("--catalogue", "no/such/dir", **FILE),
        case("--catalogue", "bad.yaml", **FILE),
    ],
    "settle": [
        case(**DOWN),
        case(**UNMIGRATED),
        case("--jsn", **USAGE),
    ],
    # the market (issue 11)
    "bench market": [case("--engine", "mysql", **INVALID), case("--sellers", "0", **USAGE)],
    "offer create": [
        case(
            "E",
            "--budget-grams",
            "100",
            "--coupons",
            "events.jsonl",
            db=M,
            code="not_platform",
            status=1,
        ),
        case("E", "--budget-grams", "0", "--coupons", "events.jsonl", db=M, **INVALID),
        case("Nobody", "--budget-grams", "100", "--coupons", "events.jsonl", db=M, **NOT_FOUND),
        case("E", "--budget-grams", "100", "--coupons", "missing.txt", **USAGE),
        case("E", "--budget-grams", "100", "--points-per-kg", "5", **UNMIGRATED),
    ],
    "offer list": [case(**DOWN), case("--enterprise", "Nobody", db=M, **NOT_FOUND)],
    "offer pause": [
        case("not-an-id", db=M, code="invalid_request", status=2),
        case(NOBODY, db=M, **NOT_FOUND),
    ],
    "offer resume": [case(NOBODY, db=M, **NOT_FOUND), case(NOBODY, **DOWN)],
    "offer close": [case(NOBODY, db=M, **NOT_FOUND), case(NOBODY, **UNMIGRATED)],
    "sell": [
        case(NOBODY, "--offer", NOBODY, "--grams", "10", db=M, **NOT_FOUND),
        case("nobody", "--offer", NOBODY, "--grams", "10", db=M, code="invalid_request", status=2),
        case(
            NOBODY,
            "--offer",
            NOBODY,
            "--grams",
            "10",
            "--request-id",
            "a b",
            db=M,
            code="invalid_request",
            status=2,
        ),
        case(NOBODY, "--offer", NOBODY, **USAGE),
        case(NOBODY, "--offer", NOBODY, "--grams", "10", **DOWN),
    ],
    "hold confirm": [
        case(NOBODY, db=M, **NOT_FOUND),
        case("x", db=M, code="invalid_request", status=2),
    ],
    "hold void": [case(NOBODY, db=M, **NOT_FOUND), case(NOBODY, **DOWN)],
    "hold expire": [case(**DOWN), case(**UNMIGRATED)],
    "programme publish": [
        case("bad.yaml", db=M, code="invalid_methodology", status=2),
        case("binary.yaml", db=M, **FILE),
        case("missing.yaml", db=M, **USAGE),
    ],
    "programme list": [case(**DOWN), case(**UNMIGRATED)],
    "programme show": [case("nope", db=M, **NOT_FOUND), case("nope", **DOWN)],
    "programme expire-points": [case(**DOWN), case(**UNMIGRATED)],
    "redeem": [
        case(
            NOBODY, "--programme", "p", "--merchant", "Nobody", "--points", "1", db=M, **NOT_FOUND
        ),
        case(NOBODY, "--programme", "p", "--merchant", "E", "--points", "0", db=M, **INVALID),
        case(NOBODY, "--programme", "p", "--merchant", "E", **USAGE),
    ],
    "retire": [
        case("Nobody", "--grams", "5", "--beneficiary", "B", "--purpose", "P", db=M, **NOT_FOUND),
        case("E", "--grams", "5", "--beneficiary", "B", **USAGE),
        case("E", "--grams", "x", "--beneficiary", "B", "--purpose", "P", **USAGE),
        case("E", "--grams", "5", "--beneficiary", "B", "--purpose", "P", **DOWN),
        case("E", "--grams", "0", "--beneficiary", "B", "--purpose", "P", **INVALID),
        case(
            "E",
            "--grams",
            "5",
            "--beneficiary",
            "B",
            "--purpose",
            "P",
            "--period",
            "soon",
            code="invalid_period",
            status=2,
        ),
    ],
    "export create": [
        case("--enterprise", "Nobody", "--tonnes", "1", "--registry", "R", db=M, **NOT_FOUND),
        case("--enterprise", "E", "--tonnes", "1", **USAGE),
        case("--enterprise", "E", "--tonnes", "1", "--registry", "R", **UNMIGRATED),
        case(
            "--enterprise",
            "E",
            "--tonnes",
            "1",
            "--registry",
            "a b",
            code="invalid_registry",
            status=2,
        ),
    ],
    "export mark": [
        case(NOBODY, "--returned", db=M, **NOT_FOUND),
        case(NOBODY, **INVALID),
        case(NOBODY, "--exported", "--returned", **INVALID),
        case("x", "--returned", db=M, code="invalid_request", status=2),
        case(NOBODY, "--exported", "--reference", "R", **DOWN),
    ],
    "export file": [
        case(NOBODY, "--out", "x.csv", db=M, **NOT_FOUND),
        case(NOBODY, **USAGE),
        case("x", "--out", "x.csv", db=M, code="invalid_request", status=2),
    ],
    "audit": [case("--since", "yesterday", db=M, **INVALID), case(**DOWN)],
    "bench pages": [case("--engine", "mysql", **INVALID), case("--events", "5", **USAGE)],
    "bench regions": [
        case("--engine", "mysql", **INVALID),
        case("--reductions", "0", **INVALID),
        case("--sample", "0", **INVALID),
    ],
    "enterprise user-add": [case("Nobody", "Ann", db=M, **NOT_FOUND), case("E", "Ann", **DOWN)],
    "government add": [
        case("Shenzhen", **USAGE),
        case("Shenzhen", "--region", "999999", db=M, code="unknown_region", status=3),
    ],
    "mrv batch approve": [
        case(NOBODY, "--token", "x", db=M, code="invalid_token", status=1),
        case("not-an-id", "--token", "x", db=M, **USAGE),
    ],
    "mrv batch create": [
        case("--methodology", "nope@1", **USAGE),
        case("--month", "2026-11", db=M, code="invalid_batch", status=2),
        case("--enterprise", "Nobody", "--month", "2026-11", db=M, **NOT_FOUND),
        case(
            "--methodology", "nope@1", "--month", "2026-13", db=M, code="invalid_period", status=2
        ),
    ],
    "mrv batch reject": [
        case(NOBODY, "--token", "x", **USAGE),
        case(NOBODY, "--token", "x", "--comment", "c", **DOWN),
    ],
    "mrv batch sample": [
        case(NOBODY, "--token", "x", **USAGE),
        case(NOBODY, "--seed", "1", "--token", "x", **DOWN),
    ],
    "mrv batch show": [case(NOBODY, db=M, code="unknown_batch", status=3), case(NOBODY, **DOWN)],
    "mrv verify": [case("extra", **USAGE), case(**DOWN)],
    "operator add": [case(**USAGE), case("Olga", **DOWN)],
    "regions info": [case("extra", **USAGE), case("--json", "--nope", **USAGE)],
    "regions show": [case("999999", **UNKNOWN_REGION), case("abc", **UNKNOWN_REGION)],
    "sign-in-code": [case(NOBODY, "--as", "robot", **USAGE), case("nobody", db=M, **NOT_FOUND)],
    "stats": [
        case("--region", "999999", db=M, code="unknown_region", status=1),
        case("--period", "2026-13", db=M, code="invalid_period", status=2),
    ],
    "verifier add": [case(**USAGE), case("Vera", **DOWN)],
    # leaderboards and certificates (issue 13)
    "person display-name": [
        case("not-an-id", "Name", db=M, code="invalid_request", status=2),
        case(NOBODY, "Name", "--opt-in", db=M, **NOT_FOUND),
        case(NOBODY, " ", db=M, code="invalid_display_name", status=2),
        case(NOBODY, "Name", **DOWN),
    ],
    "leaderboard": [
        case(*DAYS, db=M, **USAGE),  # no board named
        case("--behaviour", "bike_share_ride", "--group", "mobility", *DAYS, db=M, **USAGE),
        case("--behaviour", "bike_share_ride", *REVERSED_DAYS, db=M, **INVALID),
        case("--behaviour", "teleporting", *DAYS, db=M, **NOT_FOUND),
        case("--group", "mobility", "--region", "42", *DAYS, db=M, **INVALID),
        case("--group", "mobility", "--top", "0", *DAYS, db=M, **INVALID),
        case("--group", "mobility", "--from", "2026-13-01", "--to", "2026-11-02", **USAGE),
        case("--group", "mobility", *DAYS, **DOWN),
    ],
    "certificate issue": [
        case("--behaviour", "bike_share_ride", **USAGE),  # no days
        case("--milestone", "100", "--behaviour", "bike_share_ride", *DAYS, db=M, **USAGE),
        case("--programme", "no.such", *DAYS, db=M, **NOT_FOUND),
        case("--group", "mobility", *DAYS, **DOWN),
    ],
    "certificate pdf": [
        case(UNKNOWN_SERIAL, **USAGE),  # no --out
        case("TPH-nonsense", "--out", "c.pdf", db=M, code="invalid_serial", status=2),
        case(UNKNOWN_SERIAL, "--out", "c.pdf", db=M, code="certificate_not_found", status=3),
    ],
    "certificate show": [
        case("TPH-nonsense", db=M, code="invalid_serial", status=2),
        case(UNKNOWN_SERIAL, db=M, code="certificate_not_found", status=3),
        case(UNKNOWN_SERIAL, **DOWN),
    ],
    "certificate verify": [
        case(**USAGE),  # neither a serial nor a file
        case(UNKNOWN_SERIAL, "--file", "events.jsonl", **USAGE),
        case(UNKNOWN_SERIAL, db=M, code="certificate_not_found", status=1),
        case("TPH-nonsense", db=M, code="invalid_serial", status=1),
        case("--file", "missing.json", **FILE),
        case("--file", "plain.md", code="invalid_certificate", status=1),
        case("--file", "events.jsonl", code="invalid_certificate", status=1),
        case("--file", "events.jsonl", "--public-key", "bad.pem", **INVALID),
        case(UNKNOWN_SERIAL, **DOWN),
    ],
    "docs events": [
        case("--out", "no/such/events.md", **INVALID),
        case("--out", "plain.md", **INVALID),  # no generated-table markers
    ],
}


def commands() -> Iterator[str]:
    """Every command of the app, as its words: `enterprise credential create`, …"""

    def walk(command: object, path: tuple[str, ...]) -> Iterator[str]:
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            yield " ".join(path)
            return
        for name, sub in subcommands.items():
            yield from walk(sub, (*path, name))

    return walk(typer.main.get_command(cli), ())


def test_every_command_has_bad_input_cases() -> None:
    assert sorted(commands()) == sorted(CASES)
    assert all(len(cases) >= 2 for cases in CASES.values())


def _files(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "events.jsonl", [ride("r-1")])
    (tmp_path / "binary.csv").write_bytes(b"event_id,subject\n\xff\xfe\x00\x81,x\n")
    (tmp_path / "binary.yaml").write_bytes(b"code: x\n\xff\xfe\x00\x81\n")
    (tmp_path / "bad.pem").write_text("not a key\n")
    (tmp_path / "bad.yaml").write_text("code: [\n")
    (tmp_path / "plain.md").write_text("# Events\n\nno generated tables here\n")


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])


def _database(request: pytest.FixtureRequest, kind: str | None, tmp_path: Path) -> str | None:
    if kind == "migrated":
        url = fresh_database_url(request, "sqlite", tmp_path)
        assert common.run(cli, ["--database-url", url, "enterprise", "add", "E", "--role",
                                "scene"]) == 0  # fmt: skip
        return url
    return {
        "unmigrated": f"sqlite:///{tmp_path / 'never-upgraded.db'}",
        "unreachable": UNREACHABLE,
        "unusable": "mysql://someone@localhost/tanpuhui",
        None: None,
    }[kind]


@pytest.mark.parametrize(
    ("command", "bad"),
    [pytest.param(c, b, id=f"{c}-{i}") for c, cases in CASES.items() for i, b in enumerate(cases)],
)
def test_bad_input_is_one_error_line_and_the_documented_status(
    command: str,
    bad: Case,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    taken_port: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _files(tmp_path)
    url = _database(request, bad.db, tmp_path)
    capsys.readouterr()
    for name in [n for n in __import__("os").environ if n.startswith("TANPUHUI_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    args = [a.replace("{taken}", str(taken_port)) for a in bad.args]
    prefix = ["--database-url", url] if url else []
    status = common.run(cli, [*prefix, *command.split(), *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    lines = err.splitlines()
    assert lines, out
    match = ERROR_LINE.match(lines[0])
    assert match, err
    assert (match.group(1), status) == (bad.code, bad.status), err
    assert all(line.startswith("  ") for line in lines[1:]), err  # only listed problems follow


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        ("TANPUHUI_TIMEZONE", "Mars/Olympus",
         "error[configuration]: unusable settings: TANPUHUI_TIMEZONE='Mars/Olympus': unknown "
         "time zone 'Mars/Olympus'"),
        ("TANPUHUI_POOL_SIZE", "many",
         "error[configuration]: unusable settings: TANPUHUI_POOL_SIZE='many': Input should be a "
         "valid integer, unable to parse string as an integer"),
    ],
)  # fmt: skip
def test_unusable_settings_are_one_line_naming_the_variable(
    variable: str,
    value: str,
    line: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(variable, value)
    assert common.run(cli, ["enterprise", "list"]) == 5
    assert capsys.readouterr().err.splitlines() == [line]


def test_a_bug_is_one_internal_line_and_status_70_and_traceback_shows_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def broken(*_args: object) -> None:
        raise RuntimeError("something nobody expected\nsecond line")

    monkeypatch.setattr("tanpuhui.cli.main.list_enterprises", broken)
    url = f"sqlite:///{tmp_path / 'any.db'}"
    assert common.run(cli, ["--database-url", url, "enterprise", "list"]) == 70
    _, err = capsys.readouterr()
    assert err.splitlines() == [
        "error[internal]: unexpected RuntimeError: something nobody expected — this is a bug, "
        "please report it (`tanpuhui --traceback …` shows where)"
    ]
    assert common.run(cli, ["--traceback", "--database-url", url, "enterprise", "list"]) == 70
    _, err = capsys.readouterr()
    assert "Traceback" in err and err.splitlines()[-1].startswith("error[internal]")


@pytest.mark.parametrize(
    ("raised", "line", "status"),
    [
        (KeyboardInterrupt(), "error[interrupted]: interrupted (Ctrl-C)", 130),
        (BrokenPipeError(32, "Broken pipe"), "error[file_error]: Broken pipe", 2),
    ],
)
def test_interruptions_and_os_errors_are_one_line(
    raised: BaseException,
    line: str,
    status: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    def interrupted(*_args: object) -> None:
        raise raised

    monkeypatch.setattr("tanpuhui.cli.main.list_enterprises", interrupted)
    url = f"sqlite:///{tmp_path / 'any.db'}"
    assert common.run(cli, ["--database-url", url, "enterprise", "list"]) == status
    assert capsys.readouterr().err.splitlines() == [line]
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # the command's handlers are gone


@pytest.mark.parametrize("group", [[], ["db"], ["enterprise", "credential"]])
def test_a_group_without_a_command_prints_its_help_and_exits_2(
    group: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert common.run(cli, group) == 2
    out, err = capsys.readouterr()
    assert "Usage:" in out + err and "Traceback" not in out + err


@pytest.mark.parametrize(
    ("args", "database_url", "expected", "status"),
    [
        (["ingest"], None, "error[usage]: Missing argument 'file'.", 2),
        (["demo", "--db", "sqlite:///x.db"], None, "error[invalid_input]: --db takes", 2),
        (["db", "upgrade"], UNREACHABLE, "error[database_unavailable]: cannot reach", 5),
        (["sample", "no/such/dir/x.jsonl"], None, "error[file_error]: no/such/dir/x.jsonl", 2),
    ],
)
def test_the_real_command_answers_the_same_way(
    args: list[str], database_url: str | None, expected: str, status: int, tmp_path: Path
) -> None:
    done = run_cli(*args, cwd=tmp_path, database_url=database_url, timeout=60)
    assert_no_traceback(done)
    assert done.returncode == status, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(expected), line
