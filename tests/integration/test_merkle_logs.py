"""The per-shard Merkle logs and signed checkpoints, on both engines: what `ledger verify`
and the independent Go verifier (tests/verifier/verify.go) accept, and every kind of
tampering they must refuse — a changed, deleted or reordered line in any shard, a replaced
checkpoint, a rewritten history between two checkpoints; and a proof for a line that is not
in the log is refused by the platform itself.

The ledger here is created with S = 4 shards (set before its first entry, as a ledger's S
is fixed at creation) so that every shard log holds several leaves.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tanpuhui.adapters.crypto import checkpoint_signer
from tanpuhui.adapters.db import schema as t
from tanpuhui.adapters.db.log_repository import INLINE_SEQUENCE_LINES
from tanpuhui.bootstrap import App
from tanpuhui.domain.checkpoint import Checkpoint, assemble_note, signature_line
from tanpuhui.domain.errors import ConflictError, InvalidInputError, NotFoundError
from tanpuhui.domain.ledger import person_account
from tanpuhui.domain.merkle import EMPTY_FRONTIER, append, leaf_hash
from tanpuhui.domain.parties import Role
from tanpuhui.services import views
from tanpuhui.services.intake import submit_events
from tanpuhui.services.ledger import show_ledger, verify_ledger
from tanpuhui.services.parties import add_enterprise, add_person, bind_subject
from tanpuhui.services.transparency import (
    add_cosignature,
    prove,
    prove_consistency,
    public_key_text,
    publish_checkpoint,
    publish_periodically,
)
from tests.builders import event
from tests.verifier import build as go

SHARDS = 4


@pytest.fixture(scope="session")
def go_verifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reason = go.missing()
    if reason is not None:
        pytest.skip(f"the independent Go verifier cannot be built: {reason}")
    try:
        return go.build(tmp_path_factory.mktemp("go"))
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"the Go verifier does not build: {exc}")


@pytest.fixture
def ledger(app: App) -> Iterator[dict[str, Any]]:
    with app.engine.begin() as conn:
        conn.exec_driver_sql(f"DELETE FROM log_heads WHERE shard >= {SHARDS}")
        conn.exec_driver_sql(f"UPDATE ledger_config SET shards = {SHARDS}")
    bikes = add_enterprise(app.ctx, "Bikes", {Role.SCENE})
    rides = [event(subject=f"u-{i}", event_id=f"ride-{i}") for i in range(12)]
    submit_events(app.ctx, bikes.id, rides)
    person = add_person(app.ctx)
    bound = bind_subject(app.ctx, bikes.id, "u-3", person.id)
    assert bound.moved_grams > 0
    publish_checkpoint(app.ctx)
    yield {"enterprise": bikes.id, "person": person.id}


def one(app: App, sql: str) -> Any:
    with app.engine.connect() as conn:
        return conn.execute(sa.text(sql)).one()


def ride(app: App, event_id: str) -> tuple[str, str]:
    entry_id, reduction_id = one(
        app, f"select entry_id, id from events where event_id = '{event_id}'"
    )
    return str(uuid.UUID(str(entry_id))), str(uuid.UUID(str(reduction_id)))


def tamper(app: App, *statements: str) -> None:
    """What a privileged attacker can do: switch the immutability triggers off and edit."""
    with app.engine.begin() as conn:
        if app.engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET session_replication_role = replica")
        else:
            for (name,) in conn.exec_driver_sql(
                "select name from sqlite_master where type = 'trigger'"
            ).all():
                conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
        for statement in statements:
            conn.execute(sa.text(statement))


def codes(app: App) -> set[str]:
    return {v.code for v in verify_ledger(app.ctx)}


def go_accepts(app: App, binary: Path, proof: dict[str, Any], tmp: Path, *flags: str) -> bool:
    trusted = (proof["new"] if flags else proof["checkpoint"])["note"]
    key = public_key_text(app.ctx) + "\n"
    return go.run(binary, key, trusted, json.dumps(proof), *flags, work=tmp)


def test_an_untouched_ledger_and_its_checkpoint_verify(app: App, ledger: dict[str, Any]) -> None:
    assert verify_ledger(app.ctx) == []
    heads = one(app, "select count(*), sum(size) from log_heads")
    assert heads[0] == SHARDS and heads[1] == 12 + 2  # 12 credits, a binding's two lines


def test_the_go_verifier_accepts_the_platforms_proofs(
    app: App, ledger: dict[str, Any], go_verifier: Path, tmp_path: Path
) -> None:
    _, reduction = ride(app, "ride-5")
    proof = prove(app.ctx, reduction)
    assert len(proof["leaves"]) == 1
    assert go_accepts(app, go_verifier, proof, tmp_path)
    binding = one(app, "select id from ledger_entries where kind = 'binding'")[0]
    both = prove(app.ctx, str(uuid.UUID(str(binding))))
    assert {x["shard"] for x in both["leaves"]} == {x["shard"] for x in both["leaves"]}
    assert len(both["leaves"]) == 2  # pending → person: a leaf in each holder's shard
    assert go_accepts(app, go_verifier, both, tmp_path)


def test_a_changed_line_fails_verify_and_its_proof(
    app: App, ledger: dict[str, Any], go_verifier: Path, tmp_path: Path
) -> None:
    entry, reduction = ride(app, "ride-7")
    tamper(app, "update events set grams = grams + 1000, live_grams = live_grams + 1000"
                " where event_id = 'ride-7'")  # fmt: skip
    found = {(v.code, v.subject) for v in verify_ledger(app.ctx)}
    assert {("entry_changed", entry), ("leaf_mismatch", entry)} <= found
    assert not go_accepts(app, go_verifier, prove(app.ctx, reduction), tmp_path)


def test_a_changed_posting_of_a_two_shard_entry_is_caught(
    app: App, ledger: dict[str, Any], go_verifier: Path, tmp_path: Path
) -> None:
    binding = str(
        uuid.UUID(str(one(app, "select id from ledger_entries where kind = 'binding'")[0]))
    )
    tamper(app, "update postings set amount = amount * 2 where line = 2 and entry_id in"
                " (select id from ledger_entries where kind = 'binding')")  # fmt: skip
    assert {"entry_changed", "leaf_mismatch", "entry_unbalanced"} <= codes(app)
    assert not go_accepts(app, go_verifier, prove(app.ctx, binding), tmp_path)


def test_a_deleted_leaf_is_caught_and_its_line_cannot_be_proved(
    app: App, ledger: dict[str, Any]
) -> None:
    _, reduction = ride(app, "ride-2")
    rid = reduction.replace("-", "") if app.engine.dialect.name == "sqlite" else reduction
    tamper(app, f"delete from log_leaves where reduction_id = '{rid}'")
    assert {"line_not_logged", "log_head_mismatch"} <= codes(app)
    with pytest.raises(ConflictError) as refused:
        prove(app.ctx, reduction)
    assert refused.value.code == "not_checkpointed"


def queue_depth(app: App) -> int:
    """Queued lines (52 bytes each; a row is one entry's lines in one shard)."""
    return int(one(app, "select coalesce(sum(length(lines)), 0) from log_queue")[0]) // 52


def test_a_batch_is_integrated_after_its_commit_and_a_small_unit_by_the_next_checkpoint(
    app: App, ledger: dict[str, Any]
) -> None:
    assert queue_depth(app) == 0  # the fixture's checkpoint integrated its units
    person = add_person(app.ctx)
    bind_subject(app.ctx, ledger["enterprise"], "u-5", person.id)  # two lines: they wait
    assert queue_depth(app) == 2
    assert verify_ledger(app.ctx) == []
    rides = [event(subject=f"w-{i}", event_id=f"w-{i}") for i in range(INLINE_SEQUENCE_LINES)]
    submit_events(app.ctx, ledger["enterprise"], rides)
    assert queue_depth(app) == 0  # the batch's pass took every queued row of its shards
    before = sum(n for n, _ in publish_checkpoint(app.ctx).heads)
    assert before == 12 + 2 + 2 + INLINE_SEQUENCE_LINES
    assert verify_ledger(app.ctx) == []


def queue_row(app: App, shard: int, entry_id: uuid.UUID, lines: bytes) -> None:
    with app.engine.begin() as conn:
        conn.execute(t.log_queue.insert().values(shard=shard, entry_id=entry_id, lines=lines))


def queued_line(reduction_id: str, digest: bytes) -> bytes:
    """A queued line of an event row, as docs/ledger.md packs it: posting line 0 ‖ reduction
    id ‖ leaf hash."""
    return bytes(4) + uuid.UUID(reduction_id).bytes + digest


def test_queued_lines_are_checked_like_logged_ones(app: App, ledger: dict[str, Any]) -> None:
    entry, reduction = ride(app, "ride-2")
    rid = reduction.replace("-", "") if app.engine.dialect.name == "sqlite" else reduction
    shard, digest = one(app, f"select shard, hash from log_leaves where reduction_id = '{rid}'")
    # a logged line queued again
    queue_row(app, shard, uuid.UUID(entry), queued_line(reduction, bytes(digest)))
    assert {(v.code, v.subject) for v in verify_ledger(app.ctx)} == {("leaf_without_line", entry)}
    # a line cut out of its log (the log shows the gap) but queued counts as that line's leaf
    tamper(app, f"delete from log_leaves where reduction_id = '{rid}'")
    found = codes(app)
    assert {"log_gap", "log_head_mismatch"} & found  # a gap, or a short log if it was last
    assert not {"line_not_logged", "leaf_mismatch"} & found
    # a queued line that does not match its line
    tamper(app, "delete from log_queue")
    queue_row(app, shard, uuid.UUID(entry), queued_line(reduction, leaf_hash(b"forged")))
    assert "leaf_mismatch" in codes(app)
    # a queue row that names no entry
    tamper(app, "delete from log_queue")
    stray = uuid.uuid4()
    queue_row(app, shard, stray, queued_line(reduction, bytes(digest)))
    assert ("leaf_without_line", str(stray)) in {
        (v.code, v.subject) for v in verify_ledger(app.ctx)
    }


def test_reordered_leaves_are_caught(
    app: App, ledger: dict[str, Any], go_verifier: Path, tmp_path: Path
) -> None:
    shard = one(app, "select shard from log_heads where size >= 2 order by shard limit 1")[0]
    tamper(
        app,
        f"update log_leaves set idx = -1 where shard = {shard} and idx = 0",
        f"update log_leaves set idx = 0 where shard = {shard} and idx = 1",
        f"update log_leaves set idx = 1 where shard = {shard} and idx = -1",
    )
    assert "log_head_mismatch" in codes(app)
    (moved,) = one(app, f"select entry_id from log_leaves where shard = {shard} and idx = 0")
    proof = prove(app.ctx, str(uuid.UUID(str(moved))))  # every line of the moved leaf's entry
    assert not go_accepts(app, go_verifier, proof, tmp_path)


def test_a_replaced_checkpoint_is_caught(
    app: App, ledger: dict[str, Any], go_verifier: Path, tmp_path: Path
) -> None:
    _, reduction = ride(app, "ride-1")
    proof = prove(app.ctx, reduction)
    size, root = one(app, "select size, root from checkpoints where id = 1")
    forged_root = bytes(32)
    other = checkpoint_signer(app.ctx.log_signer.name, "A" * 43 + "=")  # another key
    body = Checkpoint(app.ctx.log_signer.name, size, forged_root).body()
    forged = assemble_note(
        body, [signature_line(other.name, other.public_key, other.sign(body.encode()))]
    )
    note = forged.replace("'", "''")
    tamper(
        app, f"update checkpoints set note = '{note}', root = {blob(app, forged_root)} where id = 1"
    )
    assert "checkpoint_invalid" in codes(app)
    proof["checkpoint"]["note"] = forged
    assert not go_accepts(app, go_verifier, proof, tmp_path)
    assert root != forged_root


def blob(app: App, data: bytes) -> str:
    return (
        f"x'{data.hex()}'" if app.engine.dialect.name == "sqlite" else f"'\\x{data.hex()}'::bytea"
    )


def rewrite_first_leaf(app: App, shard: int) -> None:
    """Replace a shard's first leaf and recompute its head, as a thorough attacker would."""
    forged = leaf_hash(b"a line that was never there")
    tamper(
        app, f"update log_leaves set hash = {blob(app, forged)} where shard = {shard} and idx = 0"
    )
    with app.engine.connect() as conn:
        hashes = [bytes(h) for (h,) in conn.execute(sa.text(
            f"select hash from log_leaves where shard = {shard} order by idx"))]  # fmt: skip
    head, _ = append(EMPTY_FRONTIER, hashes)
    tamper(app, f"update log_heads set root = {blob(app, head.root())}, frontier = "
                f"{blob(app, head.pack())} where shard = {shard}")  # fmt: skip


def test_a_history_rewritten_between_checkpoints_fails_consistency(
    app: App, ledger: dict[str, Any], go_verifier: Path, tmp_path: Path
) -> None:
    """An attacker who rewrites a shard's past, recomputes its head and has a new checkpoint
    signed cannot show the earlier checkpoint is a prefix of it."""
    submit_events(app.ctx, ledger["enterprise"], [event(subject=f"v-{i}") for i in range(6)])
    assert publish_checkpoint(app.ctx).id == 2
    good = prove_consistency(app.ctx, 1, 2)
    assert good["shards"] and go_accepts(app, go_verifier, good, tmp_path, "--consistency")
    # A shard that was already non-empty at checkpoint 1: the empty tree is a prefix of every
    # tree, so rewriting a shard that checkpoint 1 saw empty proves nothing against it.
    shard = next(k for k, (size, _) in enumerate(good["old_heads"]) if size > 0)
    rewrite_first_leaf(app, shard)
    assert publish_checkpoint(app.ctx).id == 3
    assert {"leaf_mismatch", "checkpoint_head_mismatch"} <= codes(app)
    for old in (1, 2):
        bad = prove_consistency(app.ctx, old, 3)
        assert not go_accepts(app, go_verifier, bad, tmp_path, "--consistency")


def test_bad_references_are_refused_with_stable_codes(app: App, ledger: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError) as bad:
        prove(app.ctx, "not-a-uuid")
    assert bad.value.code == "bad_id"
    with pytest.raises(NotFoundError) as missing:
        prove(app.ctx, str(uuid.uuid4()))
    assert missing.value.code == "not_in_log"
    with pytest.raises(NotFoundError):
        prove_consistency(app.ctx, 1, 9)


def test_a_line_logged_after_the_checkpoint_waits_for_the_next_one(
    app: App, ledger: dict[str, Any]
) -> None:
    submit_events(app.ctx, ledger["enterprise"], [event(subject="late", event_id="late")])
    _, reduction = ride(app, "late")
    with pytest.raises(ConflictError):
        prove(app.ctx, reduction)
    publish_checkpoint(app.ctx)
    assert prove(app.ctx, reduction)["checkpoint"]["id"] == 2


def test_witness_cosignatures_are_stored_and_served(app: App, ledger: dict[str, Any]) -> None:
    witness = checkpoint_signer("witness.example/w1", "B" * 43 + "=")
    cp = publish_checkpoint(app.ctx)
    body = cp.note.split("\n\n")[0] + "\n"
    line = signature_line(witness.name, witness.public_key, witness.sign(body.encode()))
    served = add_cosignature(app.ctx, cp.id, line).served()
    assert served == cp.note + line
    assert publish_checkpoint(app.ctx).served() == served  # nothing moved: the same one
    assert verify_ledger(app.ctx) == []
    with pytest.raises(InvalidInputError):
        add_cosignature(app.ctx, cp.id, "— not a line")


def test_the_servers_periodic_hook_publishes_checkpoints(app: App, ledger: dict[str, Any]) -> None:
    submit_events(app.ctx, ledger["enterprise"], [event(subject="tick", event_id="tick")])
    stop, messages = threading.Event(), []
    worker = threading.Thread(
        target=publish_periodically, args=(app.ctx, 0.05, stop, messages.append), daemon=True
    )
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while one(app, "select max(id) from checkpoints")[0] < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(timeout=20)
    assert one(app, "select max(id) from checkpoints")[0] == 2  # one more: nothing else moved
    assert messages == []


def test_a_reductions_trace_links_its_proof(app: App, ledger: dict[str, Any]) -> None:
    view = show_ledger(app.ctx, person_account(ledger["person"]))
    (traced,) = view.reductions
    assert traced.proof == f"/v1/log/proofs/{traced.reduction.id}"
    assert views.ledger_view(view)["reductions"][0]["proof"] == traced.proof
    proof = prove(app.ctx, str(traced.reduction.id))
    assert proof["leaves"][0]["reduction_id"] == str(traced.reduction.id)


def test_proofs_and_cosignatures_need_a_checkpoint_and_a_witness_name(app: App) -> None:
    with pytest.raises(NotFoundError) as none_yet:
        prove(app.ctx, str(uuid.uuid4()))
    assert none_yet.value.code == "no_checkpoint"
    with pytest.raises(NotFoundError):
        add_cosignature(app.ctx, 1, signature_line("w.example", b"k" * 32, b"s" * 64))
    own = signature_line(app.ctx.log_signer.name, b"k" * 32, b"s" * 64)
    with pytest.raises(InvalidInputError) as refused:
        add_cosignature(app.ctx, 1, own)
    assert refused.value.code == "bad_signature_line"
