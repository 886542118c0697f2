"""MRV verification of issuance batches: the monitoring report, the verifier's sample, and the
correcting entry of a rejected batch.

An issuance batch is one methodology version's active reductions in a region and month,
not yet in any other batch. The verifier draws a sample with a recorded seed — the same seed
over the same batch always draws the same reductions (`draw_sample`) — and recomputes each
sampled reduction from its event with the engine. Approving marks the batch's reductions
verified. Rejecting reverses them with one correcting entry (`plan_rejection`): each
reduction's grams go back to issuance as far as its holder still has them; what the holder no
longer has (sold, redeemed) is taken from the buffer account `buffer:{code}`, never from
whoever bought it — the rule re-quantification follows (requantify.py).

Invariants: a batch is decided once (open → approved | rejected); a rejected batch's
reductions back no grams afterwards; the entry balances per asset.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from tanpuhui.domain.errors import ConflictError, InvalidInputError
from tanpuhui.domain.ledger import Entry, Posting, issuance_account
from tanpuhui.domain.models import Quantification
from tanpuhui.domain.requantify import Correction, RequantifyPlan, StoredReduction, buffer_account

#: Sampled reductions by default: enough to find a systematic error, small enough to review.
DEFAULT_SAMPLE = 20


class BatchState(StrEnum):
    OPEN = "open"
    APPROVED = "approved"
    REJECTED = "rejected"


def draw_sample(ids: Sequence[uuid.UUID], seed: int, size: int) -> list[uuid.UUID]:
    """`size` of the batch's reductions, drawn reproducibly from `seed` (ids in sorted order,
    so the draw depends on the batch's content only)."""
    ordered = sorted(ids)
    return sorted(random.Random(seed).sample(ordered, min(size, len(ordered))))


def check_open(state: BatchState, batch_id: uuid.UUID) -> None:
    if state is not BatchState.OPEN:
        raise ConflictError(f"batch {batch_id} is {state.value} already", code="batch_decided")


def plan_rejection(
    reductions: Sequence[tuple[StoredReduction, Quantification]],
    balances: Mapping[tuple[str, str], int],
    code: str,
    entry_id: uuid.UUID,
    now: datetime,
    memo: str,
) -> RequantifyPlan:
    """Corrections of every reduction to zero grams, and the reversing entry."""
    available = dict(balances)
    postings: list[Posting] = []
    corrections: list[Correction] = []
    regions: dict[tuple[str, str, date], int] = defaultdict(int)
    for r, q in reductions:
        regions[(r.event.region, r.group, r.day)] -= r.live_grams
        have = max(0, available.get((r.holder, r.asset), 0))
        taken = min(r.live_grams, have)
        shortfall = r.live_grams - taken
        available[(r.holder, r.asset)] = have - taken
        if r.live_grams:
            postings.append(Posting(issuance_account(code), r.asset, r.live_grams, r.id))
        if taken:
            postings.append(Posting(r.holder, r.asset, -taken, r.id))
        if shortfall:
            postings.append(Posting(buffer_account(code), r.asset, -shortfall, r.id))
        corrections.append(
            Correction(
                r.id, r.holder, r.asset, r.event.region, r.group, r.day, r.live_grams, 0,
                taken, shortfall, q, False,
            )
        )  # fmt: skip
    entry = Entry(entry_id, "correction", now, tuple(postings), memo=memo) if postings else None
    return RequantifyPlan(corrections, [], entry, {k: v for k, v in regions.items() if v})


# --- signed statements --------------------------------------------------------------------

#: What every MRV statement signature covers: this prefix, then the statement's exact text.
STATEMENT_CONTEXT = b"tanpuhui mrv statement v1\n"
ACTIONS = ("create", "sample", "approve", "reject")
#: A signed statement is accepted this long around the platform's clock (a replay later fails).
FRESHNESS = timedelta(minutes=10)
#: The actor of a creation statement: the platform, signing with its own key.
PLATFORM = "platform"


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def content_sha256(value: Any) -> str:
    return hashlib.sha256(canonical(value).encode()).hexdigest()


def members_sha256(ids: Iterable[uuid.UUID]) -> str:
    """The hash of a batch's membership: its reduction ids, sorted, one a line."""
    return hashlib.sha256("".join(f"{i}\n" for i in sorted(ids)).encode()).hexdigest()


def statement_text(
    batch_id: uuid.UUID, action: str, actor: str, at: datetime, report_sha256: str,
    members: str, **fields: Any,
) -> str:  # fmt: skip
    """The canonical statement of one state change; `fields` are the action's own (comment,
    seed, size). The actor signs STATEMENT_CONTEXT + this text."""
    return canonical(
        {
            "v": 1, "batch": str(batch_id), "action": action, "actor": actor,
            "at": at.astimezone(UTC).isoformat(), "report_sha256": report_sha256,
            "members_sha256": members, **fields,
        }
    )  # fmt: skip


def signed_bytes(text: str) -> bytes:
    return STATEMENT_CONTEXT + text.encode()


@dataclass(frozen=True, slots=True)
class Statement:
    """A state change of a batch as stored: the text that was signed, its signature and key."""

    id: uuid.UUID
    batch_id: uuid.UUID
    action: str
    actor: str
    at: datetime
    text: str
    signature: str  # base64 Ed25519 over signed_bytes(text)
    public_key: bytes


def read_statement(
    text: str, batch_id: uuid.UUID, action: str, actor: str, now: datetime,
    report_sha256: str, members: str,
) -> dict[str, Any]:  # fmt: skip
    """The fields of a statement the caller signed, checked against what it must say: this
    batch, this action, this actor, the batch's report and membership as they are now, a time
    within FRESHNESS of `now`. Raises `invalid_statement` naming the first mismatch."""
    try:
        parsed = json.loads(text)
    except ValueError:
        raise _bad("the statement is not JSON") from None
    if not isinstance(parsed, dict) or canonical(parsed) != text:
        raise _bad("the statement is not canonical JSON (sorted keys, no spaces, UTF-8)")
    expected = {
        "v": 1, "batch": str(batch_id), "action": action, "actor": actor,
        "report_sha256": report_sha256, "members_sha256": members,
    }  # fmt: skip
    for key, value in expected.items():
        if parsed.get(key) != value:
            raise _bad(f"the statement's {key} is {parsed.get(key)!r}, not {value!r}")
    try:
        at = datetime.fromisoformat(str(parsed.get("at")))
    except ValueError:
        raise _bad("the statement's at is not an ISO 8601 time") from None
    if at.tzinfo is None or abs(at - now) > FRESHNESS:
        raise _bad(f"the statement's at must be within {FRESHNESS} of {now.isoformat()}")
    return parsed


def _bad(message: str) -> InvalidInputError:
    return InvalidInputError(message, code="invalid_statement")


Verify = Callable[[bytes, str, bytes], bool]


def check_statements(
    batch_id: uuid.UUID, state: BatchState, statements: Sequence[Statement],
    keys: Mapping[str, bytes | None], report_sha256: str, members: str, verify: Verify,
    sample_seed: int | None = None, decision: tuple[str, str] | None = None,
) -> list[str]:  # fmt: skip
    """What is wrong with a batch's signed record (nothing: []): every signature verifies
    with the key stored beside it, which is its actor's registered key (`keys`); every
    statement is about this batch, its report and its membership as they are now; there is
    one creation, and a decision statement exactly when the batch is decided."""
    problems: list[str] = []
    said: dict[str, dict[str, Any]] = {}  # the last verified statement of each action
    for s in statements:
        where = f"statement {s.id} ({s.action} by {s.actor})"
        if not verify(s.public_key, s.signature, signed_bytes(s.text)):
            problems.append(f"{where}: the signature does not verify")
            continue
        try:
            parsed = json.loads(s.text)
        except ValueError:
            problems.append(f"{where}: not JSON")
            continue
        # a pages decision is attested by the platform's key on the verifier's behalf
        signer = PLATFORM if parsed.get("attested_by") == PLATFORM else s.actor
        if keys.get(signer) != s.public_key:
            problems.append(f"{where}: signed with a key that is not its actor's")
        names = (parsed.get("batch"), parsed.get("action"), parsed.get("actor"))
        if names != (str(batch_id), s.action, s.actor):
            problems.append(f"{where}: says {names}")
        said[s.action] = parsed | {"actor": s.actor}
        if parsed.get("report_sha256") != report_sha256:
            problems.append(f"{where}: the monitoring report changed since it was signed")
        if parsed.get("members_sha256") != members:
            problems.append(f"{where}: the batch's reductions changed since it was signed")
    actions = [s.action for s in statements]
    if actions.count("create") != 1:
        problems.append(f"{actions.count('create')} creation statements, not 1")
    decisions = [a for a in actions if a in ("approve", "reject")]
    wanted = {"open": [], "approved": ["approve"], "rejected": ["reject"]}[state.value]
    if decisions != wanted:
        problems.append(f"the batch is {state.value} but its decision statements are {decisions}")
    if "sample" in said and said["sample"].get("seed") != sample_seed:
        problems.append(f"the batch's sample seed {sample_seed} is not the one signed")
    signed = said.get(wanted[0]) if wanted else None
    if signed is not None and decision != (signed["actor"], signed.get("comment", "")):
        problems.append("the batch's decision (who, comment) is not the one signed")
    return problems
