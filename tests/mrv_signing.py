"""A verifier with its key pair, and its signed MRV statements, for tests (what the CLI does:
build the statement of the batch as it is, sign it with the private key, hand it over)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tanpuhui.adapters.crypto import generate_key, public_raw, sign
from tanpuhui.domain.mrv import signed_bytes
from tanpuhui.domain.officials import Official, OfficialKind
from tanpuhui.services.context import Context
from tanpuhui.services.mrv import (
    SignedStatement,
    approve_batch,
    prepare_statement,
    reject_batch,
    sample_batch,
)
from tanpuhui.services.officials import add_official


@dataclass(frozen=True)
class Verifier:
    official: Official
    token: str
    key: Ed25519PrivateKey

    def statement(
        self, ctx: Context, batch_id: uuid.UUID, action: str, **fields: Any
    ) -> SignedStatement:
        text = prepare_statement(ctx, batch_id, action, self.official.actor, **fields)
        return SignedStatement(text, sign(self.key, signed_bytes(text)))

    def sample(self, ctx: Context, batch_id: uuid.UUID, seed: int, size: int = 20) -> Any:
        signed = self.statement(ctx, batch_id, "sample", seed=seed, size=size)
        return sample_batch(ctx, batch_id, self.token, signed)

    def approve(self, ctx: Context, batch_id: uuid.UUID, comment: str = "") -> None:
        signed = self.statement(ctx, batch_id, "approve", comment=comment)
        approve_batch(ctx, batch_id, self.token, signed)

    def reject(self, ctx: Context, batch_id: uuid.UUID, comment: str) -> int:
        signed = self.statement(ctx, batch_id, "reject", comment=comment)
        return reject_batch(ctx, batch_id, self.token, signed)


def new_verifier(ctx: Context, name: str = "CQC") -> Verifier:
    key = generate_key()
    new = add_official(ctx, OfficialKind.VERIFIER, name, public_key=public_raw(key))
    return Verifier(new.official, new.token, key)
