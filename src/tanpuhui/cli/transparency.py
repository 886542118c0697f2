"""`tanpuhui ledger checkpoint|prove|consistency|key|keygen|cosign`: the transparency log from
the command line (the same services as the public `/v1/log` endpoints)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tanpuhui.adapters.crypto import generate_key, seed_base64
from tanpuhui.cli.common import JsonOption, console, emit_json, handled
from tanpuhui.cli.common import app as open_app
from tanpuhui.services.transparency import (
    add_cosignature,
    prove,
    prove_consistency,
    public_key_text,
    publish_checkpoint,
)


def register(ledger_cli: typer.Typer) -> None:
    ledger_cli.command("checkpoint")(checkpoint)
    ledger_cli.command("prove")(prove_command)
    ledger_cli.command("consistency")(consistency)
    ledger_cli.command("key")(key)
    ledger_cli.command("keygen")(keygen)
    ledger_cli.command("cosign")(cosign)


@handled
def checkpoint(as_json: JsonOption = False) -> None:
    """Sign and publish a checkpoint over every shard head (when any moved); print its note."""
    with open_app() as app:
        cp = publish_checkpoint(app.ctx)
    if as_json:
        emit_json({"id": cp.id, "size": cp.size, "note": cp.served()})
    else:
        typer.echo(cp.served(), nl=False)


@handled
def prove_command(
    ref: Annotated[str, typer.Argument(help="An entry id or a reduction id.")],
    checkpoint_id: Annotated[int | None, typer.Option("--checkpoint", min=1)] = None,
) -> None:
    """Print the inclusion proof (JSON) of an entry's lines or a reduction's issuance line."""
    with open_app() as app:
        emit_json(prove(app.ctx, ref, checkpoint_id))


@handled
def consistency(
    old: Annotated[int, typer.Argument(min=1)], new: Annotated[int, typer.Argument(min=1)]
) -> None:
    """Print the consistency proof (JSON) between two checkpoints."""
    with open_app() as app:
        emit_json(prove_consistency(app.ctx, old, new))


@handled
def key() -> None:
    """Print the platform's checkpoint verifier key (Go sumdb/note `name+hash+key`)."""
    with open_app() as app:
        typer.echo(public_key_text(app.ctx))


@handled
def keygen(
    out: Annotated[Path | None, typer.Option(help="Write the private seed to this file.")] = None,
) -> None:
    """Make a new Ed25519 checkpoint key: its base64 seed is TANPUHUI_CHECKPOINT_KEY."""
    seed = seed_base64(generate_key())
    if out is None:
        typer.echo(seed)
    else:
        out.write_text(seed + "\n")
        out.chmod(0o600)
        console.print(f"wrote {out}")


@handled
def cosign(
    checkpoint_id: Annotated[int, typer.Argument(min=1)],
    line: Annotated[str, typer.Argument(help="A witness's `— name base64` signature line.")],
) -> None:
    """Store a witness's co-signature of a checkpoint (served after the platform's)."""
    with open_app() as app:
        cp = add_cosignature(app.ctx, checkpoint_id, line)
    typer.echo(cp.served(), nl=False)
