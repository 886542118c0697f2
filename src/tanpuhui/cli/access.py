"""`tanpuhui enterprise credential …` and the person's token and binding-code commands."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tanpuhui.adapters.crypto import generate_key, load_public_key, private_pem, public_raw
from tanpuhui.cli.common import app as open_app
from tanpuhui.cli.common import console, emit_json, handled
from tanpuhui.domain.errors import InvalidInputError
from tanpuhui.domain.parties import Credential
from tanpuhui.services.access import (
    create_binding_code,
    issue_person_token,
    list_credentials,
    register_credential,
    revoke_credential,
    rotate_credential,
)
from tanpuhui.services.parties import resolve_enterprise

credential_cli = typer.Typer(
    help="API credentials (Ed25519 keys) of an enterprise.", no_args_is_help=True
)
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
PublicKeyOption = Annotated[
    Path | None,
    typer.Option("--public-key", exists=True, dir_okay=False,
                  help="Register this Ed25519 public key (PEM) instead of generating a pair."),
]  # fmt: skip
OutOption = Annotated[
    Path | None,
    typer.Option("--out", dir_okay=False, help="Write the new private key (PEM) to this file."),
]


def _uuid(text: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise InvalidInputError(f"{text!r} is not a {what} id") from None


def _new_key(public_key: Path | None, out: Path | None) -> tuple[bytes, str | None]:
    """(public key, private PEM or None when the enterprise brought its own key)."""
    if public_key is not None:
        return load_public_key(public_key.read_bytes()), None
    key = generate_key()
    pem = private_pem(key)
    if out is not None:
        out.write_text(pem)
        out.chmod(0o600)
    return public_raw(key), pem


def _view(c: Credential, pem: str | None = None) -> dict[str, object]:
    from datetime import UTC, datetime

    data: dict[str, object] = {
        "id": str(c.id),
        "enterprise_id": str(c.enterprise_id),
        "label": c.label,
        "status": c.status(datetime.now(UTC)),
        "created_at": c.created_at.isoformat(),
        "expires_at": c.expires_at.isoformat() if c.expires_at else None,
        "revoked_at": c.revoked_at.isoformat() if c.revoked_at else None,
    }
    if pem is not None:
        data["private_key"] = pem
    return data


def _print_new(data: dict[str, object], out: Path | None, as_json: bool) -> None:
    if as_json:
        emit_json(data)
        return
    console.print(f"credential {data['id']}", highlight=False)
    if out is not None:
        console.print(f"private key written to {out} — the server keeps only the public key")
    elif "private_key" in data:
        console.print("private key (shown once; the server keeps only the public key):")
        console.print(str(data["private_key"]), highlight=False, markup=False)


@credential_cli.command("create")
@handled
def create(
    enterprise: Annotated[str, typer.Argument(help="Enterprise id or name.")],
    public_key: PublicKeyOption = None,
    out: OutOption = None,
    label: Annotated[str, typer.Option(help="What this key is for.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Issue an API credential: a new Ed25519 key pair, or register the enterprise's own
    public key with --public-key."""
    raw, pem = _new_key(public_key, out)
    with open_app() as app:
        ent = resolve_enterprise(app.ctx, enterprise)
        credential = register_credential(app.ctx, ent.id, raw, label)
    _print_new(_view(credential, pem if out is None else None), out, as_json)


@credential_cli.command("list")
@handled
def list_(
    enterprise: Annotated[str, typer.Argument(help="Enterprise id or name.")],
    as_json: JsonOption = False,
) -> None:
    """Every credential of an enterprise with its status."""
    with open_app() as app:
        ent = resolve_enterprise(app.ctx, enterprise)
        rows = [_view(c) for c in list_credentials(app.ctx, ent.id)]
    if as_json:
        emit_json(rows)
        return
    table = Table("id", "label", "status", "created", "expires", "revoked")
    for r in rows:
        table.add_row(
            *(
                str(r[k] or "")
                for k in ("id", "label", "status", "created_at", "expires_at", "revoked_at")
            )
        )
    console.print(table)


@credential_cli.command("rotate")
@handled
def rotate(
    credential: Annotated[str, typer.Argument(help="The credential to replace.")],
    grace_hours: Annotated[
        float, typer.Option(min=0, max=24 * 30, help="How long the old one keeps working.")
    ] = 24,
    public_key: PublicKeyOption = None,
    out: OutOption = None,
    as_json: JsonOption = False,
) -> None:
    """Issue a successor; both work during the grace period, then the old one expires."""
    raw, pem = _new_key(public_key, out)
    with open_app() as app:
        old, new = rotate_credential(
            app.ctx, _uuid(credential, "credential"), raw, timedelta(hours=grace_hours)
        )
    data = _view(new, pem if out is None else None)
    data["replaces"] = _view(old)
    _print_new(data, out, as_json)
    if not as_json:
        console.print(f"the old credential {old.id} works until {old.expires_at}")


@credential_cli.command("revoke")
@handled
def revoke(
    credential: Annotated[str, typer.Argument(help="The credential to revoke now.")],
    as_json: JsonOption = False,
) -> None:
    """Revoke a credential immediately."""
    with open_app() as app:
        revoked = revoke_credential(app.ctx, _uuid(credential, "credential"))
    if as_json:
        emit_json(_view(revoked))
    else:
        console.print(f"credential {revoked.id} revoked at {revoked.revoked_at}")


def person_token(person: str, as_json: bool) -> None:
    with open_app() as app:
        token = issue_person_token(app.ctx, _uuid(person, "person"))
    if as_json:
        emit_json({"person_id": person, "token": token})
    else:
        console.print(token, highlight=False)


def person_binding_code(person: str, as_json: bool) -> None:
    with open_app() as app:
        code = create_binding_code(app.ctx, _uuid(person, "person"))
    if as_json:
        emit_json({"code": code.code, "expires_at": code.expires_at.isoformat()})
    else:
        console.print(f"{code.code} (valid until {code.expires_at:%H:%M:%S} UTC)", highlight=False)
