"""`tanpuhui person display-name`, `leaderboard`, `certificate …`: leaderboards and certificates
from the command line (services/leaderboards.py, services/certificates.py).

`certificate verify` answers as `ledger verify` does: exit 0 and the content when the
certificate is genuine, exit 1 with one `error[code]` line when it is unknown, malformed or
altered — also for a certificate document checked offline (`--file`, no database needed).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tanpuhui.adapters.certificate_pdf import certificate_pdf, verification_url
from tanpuhui.adapters.crypto import Ed25519Verifier, checkpoint_signer, load_public_key
from tanpuhui.cli.common import JsonOption, console, emit_json, handled, report, settings
from tanpuhui.cli.common import app as open_app
from tanpuhui.domain.certificates import Certificate, format_grams
from tanpuhui.domain.errors import InvalidInputError, TanpuhuiError
from tanpuhui.domain.leaderboard import BoardKind, BoardSpec
from tanpuhui.services.certificates import (
    Issued,
    check_signature,
    document,
    issue_leaderboard_certificates,
    issue_milestone_certificates,
    read_document,
    verify_certificate,
)
from tanpuhui.services.leaderboards import (
    board_spec,
    board_view,
    leaderboard,
    set_display_name,
)

certificate_cli = typer.Typer(
    help="Certificates: issue, render as PDF, verify (online or offline).", no_args_is_help=True
)
DAY = ["%Y-%m-%d"]
#: What `certificate verify` answers with exit 1: the certificate is not genuine.
REFUSALS = {"invalid_serial", "invalid_certificate", "certificate_not_found", "certificate_altered"}
FromOption = Annotated[datetime, typer.Option("--from", formats=DAY, help="First local day.")]
ToOption = Annotated[datetime, typer.Option("--to", formats=DAY, help="Last local day.")]
Programme = Annotated[str | None, typer.Option("--programme", help="A points programme code.")]
Behaviour = Annotated[str | None, typer.Option("--behaviour", help="A behaviour code.")]
Group = Annotated[str | None, typer.Option("--group", help="A behaviour group code.")]
Region = Annotated[str | None, typer.Option("--region", help="A region code (any level).")]


def _board(
    programme: str | None,
    behaviour: str | None,
    group: str | None,
    region: str | None,
    first: datetime,
    last: datetime,
) -> BoardSpec:
    chosen = [
        (kind, code)
        for kind, code in (
            (BoardKind.PROGRAMME, programme),
            (BoardKind.BEHAVIOUR, behaviour),
            (BoardKind.GROUP, group),
        )
        if code is not None
    ]
    if len(chosen) != 1:
        raise InvalidInputError(
            "name exactly one of --programme, --behaviour or --group", code="usage"
        )
    kind, code = chosen[0]
    return board_spec(kind, code, region, first.date(), last.date())


def display_name(
    person: Annotated[str, typer.Argument(help="The person's id.")],
    name: Annotated[str, typer.Argument(help="The name shown on leaderboards and certificates.")],
    opt_in: Annotated[
        bool | None,
        typer.Option("--opt-in/--opt-out", help="Take part in leaderboards (default: out)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Choose a person's display name and whether they appear on leaderboards."""
    try:
        person_id = uuid.UUID(person)
    except ValueError:
        raise InvalidInputError(f"{person!r} is not a person id", code="invalid_request") from None
    with open_app() as app:
        chosen = set_display_name(app.ctx, person_id, name, opt_in)
    data = {"person": str(person_id), "display_name": chosen.name, "opted_in": chosen.opted_in}
    if as_json:
        emit_json(data)
    else:
        state = "opted in" if chosen.opted_in else "opted out (not on leaderboards)"
        console.print(f"{chosen.name!r}: {state}", highlight=False, markup=False)


def show_leaderboard(
    first: FromOption,
    last: ToOption,
    programme: Programme = None,
    behaviour: Behaviour = None,
    group: Group = None,
    region: Region = None,
    top: Annotated[int, typer.Option("--top", help="How many places.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """The leaderboard: opted-in people by credited grams (net of reversals) over the days."""
    spec = _board(programme, behaviour, group, region, first, last)
    with open_app() as app:
        data = board_view(leaderboard(app.ctx, spec, top))
    if as_json:
        emit_json(data)
        return
    table = Table(title=spec.title)
    for column in ("rank", "display name", "CO2e"):
        table.add_column(column)
    for p in data["placings"]:
        table.add_row(str(p["rank"]), p["display_name"], format_grams(p["grams"]))
    console.print(table)


def _issued_view(base_url: str, issued: list[Issued]) -> list[dict[str, Any]]:
    return [
        {
            "serial": i.certificate.serial,
            "new": i.new,
            "recipient": i.certificate.content["recipient"],
            "grams": i.certificate.content["grams"],
            "verify": verification_url(base_url, i.certificate.serial),
        }
        for i in issued
    ]


@certificate_cli.command("issue")
@handled
def certificate_issue(
    first: FromOption,
    last: ToOption,
    leaderboard_: Annotated[
        bool, typer.Option("--leaderboard", help="For the board's top N (the default).")
    ] = True,
    milestone: Annotated[
        int | None, typer.Option("--milestone", help="Instead: grams a programme milestone is.")
    ] = None,
    programme: Programme = None,
    behaviour: Behaviour = None,
    group: Group = None,
    region: Region = None,
    top: Annotated[int, typer.Option("--top", help="How many places.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """Issue certificates for a leaderboard's top N (or a programme milestone); again: the same."""
    if milestone is not None and (programme is None or behaviour or group or region):
        raise InvalidInputError("--milestone goes with --programme alone", code="usage")
    base_url = settings().public_base_url
    with open_app() as app:
        if milestone is not None and programme is not None:
            issued = issue_milestone_certificates(
                app.ctx, programme, milestone, first.date(), last.date()
            )
        else:
            spec = _board(programme, behaviour, group, region, first, last)
            issued = issue_leaderboard_certificates(app.ctx, spec, top)
    rows = _issued_view(base_url, issued)
    if as_json:
        emit_json({"certificates": rows})
        return
    for r in rows:
        console.print(
            f"{r['serial']}  {r['recipient']}  {format_grams(r['grams'])}  verify at {r['verify']}",
            highlight=False,
            markup=False,
        )
    console.print(f"{sum(r['new'] for r in rows)} issued, {len(rows)} in all", highlight=False)


@certificate_cli.command("pdf")
@handled
def certificate_pdf_command(
    serial: Annotated[str, typer.Argument(help="The certificate's serial.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the PDF.")],
) -> None:
    """Render a (verified) certificate as a PDF with its verification QR code."""
    base_url = settings().public_base_url
    with open_app() as app:
        cert = verify_certificate(app.ctx, serial)
        pdf = certificate_pdf(cert, base_url, document(app.ctx, cert))
    out.write_bytes(pdf)
    console.print(f"wrote {out} ({len(pdf)} bytes)", highlight=False, markup=False)


@certificate_cli.command("show")
@handled
def certificate_show(
    serial: Annotated[str, typer.Argument(help="The certificate's serial.")],
) -> None:
    """The certificate document (content, signature, public key) as JSON: keep it to verify
    offline with `certificate verify --file`."""
    with open_app() as app:
        emit_json(document(app.ctx, verify_certificate(app.ctx, serial)))


@certificate_cli.command("verify")
@handled  # (only what the checks below do not answer: a stop signal, a bug)
def certificate_verify(
    serial: Annotated[str | None, typer.Argument(help="The serial to look up.")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="Verify a certificate document offline.")
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option("--public-key", help="The platform's public key (PEM or base64 raw)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Is a certificate genuine? By serial (the database), or a document offline (the key)."""
    try:
        if (serial is None) == (file is None):
            raise InvalidInputError("give a SERIAL or --file, not both", code="usage")
        cert = _verify_file(file, public_key) if file is not None else _verify_serial(serial)
    except (TanpuhuiError, OSError, UnicodeDecodeError) as exc:
        status = report(exc)
        refused = getattr(exc, "code", "") in REFUSALS
        raise typer.Exit(1 if refused else status) from None
    if as_json:
        emit_json({"valid": True, "content": cert.content})
    else:
        c = cert.content
        console.print(
            f"valid: {c['serial']} — {c['recipient']}, {c['achievement']}, "
            f"{format_grams(c['grams'])}, {c['period']}",
            highlight=False,
            markup=False,
        )


def _verify_serial(serial: str | None) -> Certificate:
    with open_app() as app:
        return verify_certificate(app.ctx, str(serial))


def _verify_file(file: Path, public_key: Path | None) -> Certificate:
    if public_key is not None:
        key = load_public_key(public_key.read_text(encoding="utf-8").strip())
    else:  # the configured platform key: no database needed
        current = settings()
        key = checkpoint_signer(current.checkpoint_origin, current.checkpoint_key).public_key
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise InvalidInputError(f"{file} is not JSON", code="invalid_certificate") from None
    cert = read_document(data)
    check_signature(Ed25519Verifier(), key, cert)
    return cert
